"""Bring-your-own-model tracing: Flax modules and JAX functions become op lists."""

import textwrap

import jax
import jax.numpy as jnp
import pytest

from workloads import (
    OpWorkload,
    TransformerWorkload,
    get_workload,
    load_user_workload,
    ops_from_flax,
    ops_from_function,
    traced_matmul_flops,
    workload_from_flax,
)
from workloads._flax_examples import GPT, ResNet50
from workloads._trace import _trace_flax

BATCH = 2
# Small GPT: vocab, layers, hidden, heads, sequence.
V, L, H, NH, S = 512, 4, 256, 4, 128


def _fwd(ops):
    return sum(op.forward_flops for op in ops)


def _step(ops):
    return sum(op.forward_flops + op.backward_flops for op in ops)


def _transformer(causal: bool) -> TransformerWorkload:
    return TransformerWorkload(
        name="tiny-gpt",
        n_layers=L,
        hidden_size=H,
        n_heads=NH,
        n_kv_heads=NH,
        ffn_size=4 * H,
        seq_len=S,
        vocab_size=V,
        causal=causal,
        convergence_batch=(8.0,),
        convergence_samples=(1e6,),
        eval_interval_samples=1e5,
        eval_samples=1e3,
        quality_target="n/a",
        sources="test",
        tied_embeddings=False,
    )


@pytest.fixture(scope="module")
def tokens():
    return jax.ShapeDtypeStruct((BATCH, S), jnp.int32)


@pytest.fixture(scope="module")
def gpt_ops(tokens):
    return ops_from_flax(GPT(V, L, H, NH, S), tokens, batch_size=BATCH)


@pytest.fixture(scope="module")
def resnet():
    image = jax.ShapeDtypeStruct((BATCH, 224, 224, 3), jnp.float32)
    return _trace_flax(ResNet50(), image, batch_size=BATCH)


# -- transformer ------------------------------------------------------------------


def test_gpt_matches_transformer_formula(gpt_ops):
    """Traced forward + backward equals ``TransformerWorkload.flops_per_sample``.

    Both count the logit layer and no embedding matmul (``nn.Embed`` is a
    gather). The traced causal attention computes every score (the mask is a
    ``where``), so it matches ``causal=False``; the ``causal=True`` formula
    (flash attention skips the masked half) is lower by exactly half the
    attention FLOPs."""
    traced = _step(gpt_ops)
    full = _transformer(causal=False).flops_per_sample()
    assert traced == pytest.approx(full, rel=0.02)
    assert traced == pytest.approx(full, rel=1e-9)  # same convention: exact
    attn = [op for op in gpt_ops if op.kind == "attention"]
    assert len(attn) == L
    assert all((op.m, op.n, op.k, op.backward) == (S, S, H, True) for op in attn)
    attn_step = sum(op.forward_flops + op.backward_flops for op in attn)
    causal = _transformer(causal=True).flops_per_sample()
    assert traced - 0.5 * attn_step == pytest.approx(causal, rel=1e-9)


def test_gpt_ops_reproduce_the_real_gradient_step(gpt_ops, tokens):
    """The op convention (backward 2x forward) equals the dots of value_and_grad."""
    module = GPT(V, L, H, NH, S)
    params = jax.eval_shape(module.init, jax.random.key(0), tokens)["params"]
    real = traced_matmul_flops(
        jax.value_and_grad(lambda p, t: module.apply({"params": p}, t).sum()), params, tokens
    )
    assert _step(gpt_ops) == pytest.approx(real / BATCH, rel=1e-9)


def test_gpt_op_shapes(gpt_ops):
    gemms = [op for op in gpt_ops if op.kind == "gemm"]
    assert len(gemms) == 4 * L + 1  # QKV, out, MLP up and down per layer; logits
    assert all(op.m == S and op.trainable and op.backward for op in gemms)
    assert {(op.n, op.k) for op in gemms} == {(3 * H, H), (H, H), (4 * H, H), (H, 4 * H), (V, H)}
    emb = [op for op in gpt_ops if op.kind == "embedding"]
    assert len(emb) == 1 and emb[0].bytes == S * H * 2.0 and emb[0].trainable
    assert sum(op.bytes for op in gpt_ops if op.kind == "elementwise") > 0


def test_scanned_rematerialised_gpt_counts_like_the_unrolled_one(gpt_ops, tokens):
    scanned = ops_from_flax(GPT(V, L, H, NH, S, scan=True), tokens, batch_size=BATCH)
    assert _step(scanned) == pytest.approx(_step(gpt_ops), rel=1e-12)
    gemm = lambda ops: sum(op.weight_elems for op in ops if op.kind == "gemm")  # noqa: E731
    assert gemm(scanned) == gemm(gpt_ops)  # stacked weights: count = layers


# -- ResNet-50 ---------------------------------------------------------------------


def test_resnet50_forward_flops_and_params(resnet):
    assert _fwd(resnet.ops) == pytest.approx(8.2e9, rel=0.02)
    assert resnet.trainable_params == pytest.approx(25.56e6, rel=0.01)
    assert resnet.trainable_params == 25_557_032  # torchvision resnet50
    convs = [op for op in resnet.ops if op.kind == "gemm" and op.a_elems > 0]
    assert len(convs) == 53  # stem, 16 blocks x 3, 4 projections
    stem = convs[0]
    assert (stem.m, stem.n, stem.k, stem.a_elems) == (112 * 112, 64, 7 * 7 * 3, 224 * 224 * 3)


def test_resnet50_matches_builtin_workload(resnet):
    try:
        builtin = get_workload("resnet50")
    except ValueError:
        pytest.skip("built-in resnet50 workload not available yet")
    if not isinstance(builtin, OpWorkload):
        pytest.skip("built-in resnet50 is not an OpWorkload yet")
    assert _step(resnet.ops) == pytest.approx(builtin.flops_per_sample(), rel=0.02)


def test_resnet50_convention_versus_real_gradient_step(resnet):
    """JAX computes no input gradient for the stem convolution (its input is the
    image); the op convention counts it (2x backward), as the built-in does."""
    module = ResNet50()
    image = jax.ShapeDtypeStruct((BATCH, 224, 224, 3), jnp.float32)
    variables = jax.eval_shape(module.init, jax.random.key(0), image)

    def loss(p, stats, x):
        out, _ = module.apply({"params": p, "batch_stats": stats}, x, mutable=["batch_stats"])
        return out.sum()

    step = jax.value_and_grad(loss)
    real = traced_matmul_flops(step, variables["params"], variables["batch_stats"], image) / BATCH
    stem = resnet.ops[0]
    assert _step(resnet.ops) - stem.forward_flops == pytest.approx(real, rel=1e-9)


# -- functions, frozen weights, scans ---------------------------------------------


def _scan_model():
    layers, d, b = 5, 32, 4
    params = {
        "stack": jnp.zeros((layers, d, d)),
        "shared": jnp.zeros((d, d)),
        "head": jnp.zeros((d, 3)),
    }
    x = jnp.zeros((b, 16, d))

    def loss(p, x):
        def body(h, w):
            return jnp.tanh(h @ w) @ p["shared"], None

        h, _ = jax.lax.scan(body, x, p["stack"])
        return (h @ p["head"]).sum()

    return loss, params, x, b


def test_scan_multiplies_and_stacks_weights():
    loss, params, x, b = _scan_model()
    ops = ops_from_function(loss, params, x, batch_size=b)
    assert _fwd(ops) * b == pytest.approx(traced_matmul_flops(loss, params, x), rel=1e-12)
    gemms = [op for op in ops if op.kind == "gemm"]
    stacked, shared, head = gemms
    assert (stacked.count, stacked.m, stacked.weight_elems) == (5, 16, 5 * 32 * 32)
    assert (shared.count, shared.m, shared.weight_elems) == (1, 5 * 16, 32 * 32)
    assert head.weight_elems == 32 * 3
    real = traced_matmul_flops(jax.value_and_grad(loss), params, x) / b
    assert _step(ops) == pytest.approx(real, rel=1e-12)


def test_frozen_weights_get_input_gradients_only():
    loss, params, x, b = _scan_model()
    ops = ops_from_function(loss, params, x, batch_size=b, frozen=["stack", "head"])
    stacked, shared, head = [op for op in ops if op.kind == "gemm"]
    assert (stacked.trainable, stacked.backward) == (False, True)
    assert (shared.trainable, shared.backward) == (True, True)
    assert (head.trainable, head.backward) == (False, True)
    frozen_all = ops_from_function(loss, params, x, batch_size=b, frozen=lambda path: True)
    assert not any(op.backward for op in frozen_all)
    assert _step(frozen_all) == pytest.approx(_fwd(frozen_all))


# -- workloads and user files -------------------------------------------------------

_MLP = """
import jax
import jax.numpy as jnp
import flax.linen as nn
from workloads import workload_from_flax


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(10)(nn.relu(nn.Dense(64)(x)))


def make_workload():
    return workload_from_flax(
        "user-mlp",
        MLP(),
        jax.ShapeDtypeStruct((2, 32), jnp.float32),
        batch_size=2,
        convergence_batch=(64, 256),
        convergence_samples=(1e6, 1.5e6),
        eval_interval_samples=1e5,
        eval_samples=1e4,
    )


def not_a_workload():
    return {"name": "x"}


VALUE = 3
"""


@pytest.fixture()
def user_file(tmp_path):
    path = tmp_path / "my_model.py"
    path.write_text(textwrap.dedent(_MLP))
    return path


def test_workload_from_flax_counts_parameters(user_file):
    w = load_user_workload(f"{user_file}:make_workload")
    assert isinstance(w, OpWorkload) and w.name == "user-mlp"
    assert w.params == 32 * 64 + 64 + 64 * 10 + 10  # biases in extra_params
    assert w.extra_params == 64 + 10
    assert w.flops_per_sample() == pytest.approx(3 * 2 * (32 * 64 + 64 * 10))
    assert w.convergence_batch == (64.0, 256.0)


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        (":not_a_workload", "returned dict; allowed: OpWorkload or TransformerWorkload"),
        (":missing", "defines no 'missing'"),
        (":VALUE", "is not callable \\(type int\\)"),
        ("", "expected 'path/to/file.py:function_name'"),
    ],
)
def test_load_user_workload_errors(user_file, suffix, message):
    with pytest.raises(ValueError, match=message) as err:
        load_user_workload(f"{user_file}{suffix}")
    assert str(user_file) in str(err.value) or suffix == ""


def test_load_user_workload_missing_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_user_workload(f"{tmp_path / 'nope.py'}:make_workload")


def test_argument_errors(tokens):
    module = GPT(V, 1, 64, 2, S)
    with pytest.raises(ValueError, match="batch_size=0"):
        ops_from_flax(module, tokens, batch_size=0)
    with pytest.raises(ValueError, match="loss='max'"):
        ops_from_flax(module, tokens, batch_size=BATCH, loss="max")
    with pytest.raises(ValueError, match="unknown argument 'epochs'"):
        workload_from_flax(
            "x",
            module,
            tokens,
            batch_size=BATCH,
            convergence_batch=1,
            convergence_samples=1,
            eval_interval_samples=1,
            eval_samples=1,
            epochs=3,
        )


def test_cli_evaluates_a_user_workload(user_file, capsys):
    """``dse evaluate --workload FILE.py:FUNCTION`` simulates the traced model."""
    import json

    from dse.cli import main

    args = ["evaluate", "--workload", f"{user_file}:make_workload", "--system", "h100-sxm"]
    assert main([*args, "--accelerators", "8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["workload"] == "user-mlp" and out["feasible"]
    assert out["strategy"]["dp"] == 8 and out["strategy"]["precision"] == "bf16"
    assert out["time_to_train_s"] > 0
    assert main([*args, "--workload", f"{user_file}:VALUE", "--accelerators", "8"]) == 2
    assert "VALUE" in capsys.readouterr().err
