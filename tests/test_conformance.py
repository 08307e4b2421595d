"""Conformance over every built-in workload and every preset, and op-level FLOPs counts.

For each workload, all presets are stacked into one batched ``SystemSpec`` and
searched at once (``vmap``): time-to-train, pounds and their gradients with
respect to every continuous system field must be finite, and memory
feasibility must be reported as 0 or 1. FLOPs per sample are checked against
independent published counts (ResNet-50, Stable Diffusion's UNet) and an
analytic count (GPT-3, Llama).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dse import CostModel, enumerate_strategies, search_strategies, stack_strategies
from hwmodels import SYSTEM_FIELDS, get_system, list_presets
from workloads import Op, OpWorkload, get_workload, list_workloads

ACCELERATORS = 64


def _stacked_presets():
    # One batched spec: the static name and family must agree across the batch.
    specs = [dataclasses.replace(get_system(p), name="batch", family="") for p in list_presets()]
    return jax.tree_util.tree_map(lambda *xs: np.asarray(xs, dtype=np.float32), *specs)


@pytest.mark.parametrize("name", list_workloads())
def test_every_workload_on_every_preset(name, cal):
    wl = get_workload(name)
    cands = enumerate_strategies(wl, ACCELERATORS, precision="bf16", scaleup_domain_size=8.0)
    cands = stack_strategies(cands[:: max(1, len(cands) // 24)], dtype=np.float32)
    systems = _stacked_presets()
    fields = [f for f in SYSTEM_FIELDS if f != "scaleup_domain_size"]

    def objective(values, spec):
        spec = dataclasses.replace(spec, **values)
        r = search_strategies(spec, wl, cands, cal, CostModel())
        return jnp.log(r.time_to_train_s) + jnp.log(r.total_gbp), r

    def one(spec):
        values = {f: getattr(spec, f) for f in fields}
        (_, r), g = jax.value_and_grad(objective, has_aux=True)(values, spec)
        return r, g

    r, g = jax.jit(jax.vmap(one))(systems)
    n = len(list_presets())
    assert np.all(np.isfinite(np.asarray(r.time_to_train_s))), name
    assert np.all(np.asarray(r.time_to_train_s) > 0)
    assert np.all(np.isfinite(np.asarray(r.total_gbp)))
    assert np.all(np.isfinite(np.asarray(r.best.time_to_train_s)))
    feasible = np.asarray(r.best.feasible)
    assert feasible.shape == (n,) and set(np.unique(feasible)) <= {0.0, 1.0}
    for f, v in g.items():
        assert np.all(np.isfinite(np.asarray(v))), (name, f)
    # More of every bandwidth or throughput never slows training down.
    assert np.all(np.asarray(g["peak_bf16_flops_per_s"]) <= 1e-6)
    assert np.all(np.asarray(g["hbm_bw_bytes_per_s"]) <= 1e-6)


def test_resnet50_flops_and_parameters_match_published_counts():
    wl = get_workload("resnet50")
    # torchvision resnet50: 4.09 GMAC per 224x224 image and 25,557,032
    # parameters (torchvision.models.ResNet50_Weights.IMAGENET1K_V1 meta).
    assert wl.forward_flops_per_sample() == pytest.approx(2 * 4.09e9, rel=0.02)
    assert wl.params == pytest.approx(25_557_032, rel=0.001)
    # Training: forward + input and weight gradients (3x forward).
    assert wl.flops_per_sample() == pytest.approx(3 * wl.forward_flops_per_sample(), rel=1e-9)


def test_stable_diffusion_unet_parameters_match_published_count():
    wl = get_workload("stable-diffusion-v2")
    # stabilityai/stable-diffusion-2 UNet2DConditionModel: 865,910,724
    # parameters, of which our matmul weights are all but the norms and biases.
    assert wl.params == pytest.approx(865_910_724, rel=0.005)


@pytest.mark.parametrize("name", ["gpt3-175b", "llama31-405b"])
def test_transformer_flops_match_6nd_plus_attention(name):
    wl = get_workload(name)
    s = wl.tokens
    # 6 FLOPs per matmul weight per token, plus causal attention 6 s h per
    # token per layer (4 s h forward halved by the mask, x3 with backward).
    expected = 6.0 * wl.matmul_params * s + 6.0 * wl.n_layers * s * s * wl.hidden_size
    assert wl.flops_per_sample() == pytest.approx(expected, rel=1e-9)


def test_op_workload_identities():
    wl = get_workload("retinanet")
    frozen = [op for op in wl.ops if not op.backward]
    assert frozen, "RetinaNet's stem and first stage are frozen"
    assert all(op.backward_flops == 0.0 for op in frozen)
    # The ResNeXt50-32x4d backbone at 800x800 against an independent count:
    # torchvision's 4.23 GMAC at 224x224 (ResNeXt50_32X4D_Weights meta) scaled
    # by the pixel ratio (every stride divides both sizes), less the classifier.
    backbone = sum(op.forward_flops for op in wl.ops if op.name.startswith(("stem", "layer")))
    expected = 2 * (4.23e9 - 2048 * 1000) * (800 / 224) ** 2
    assert backbone == pytest.approx(expected, rel=0.02)
    conv = next(op for op in wl.ops if op.name == "layer2.0.conv2")
    assert conv.count == 32  # grouped convolution: one GEMM per group


def test_op_errors_name_the_field():
    with pytest.raises(ValueError, match="kind='conv'"):
        Op(name="x", kind="conv", m=1, n=1, k=1)
    with pytest.raises(ValueError, match="m, n, k > 0"):
        Op(name="x", kind="gemm", m=0, n=1, k=1)
    with pytest.raises(ValueError, match="bytes=-1"):
        Op(name="x", kind="elementwise", bytes=-1)
    with pytest.raises(ValueError, match="trainable=True needs backward=True"):
        Op(name="x", kind="gemm", m=1, n=1, k=1, backward=False)
    op = Op(name="x", kind="gemm", m=1, n=1, k=1)
    with pytest.raises(ValueError, match="strictly ascending"):
        OpWorkload(
            name="w",
            ops=(op,),
            convergence_batch=(2.0, 1.0),
            convergence_samples=(1.0, 1.0),
            eval_interval_samples=1.0,
            eval_samples=0.0,
            quality_target="",
            sources="",
        )


def test_data_parallel_strategy_pins_are_checked():
    wl = get_workload("resnet50")
    from dse import StrategyPins

    with pytest.raises(ValueError, match="tp=2 is not allowed"):
        enumerate_strategies(wl, 8, precision="bf16", pins=StrategyPins(tp=2))
    (s,) = enumerate_strategies(wl, 8, precision="bf16", pins=StrategyPins(global_batch=3200))
    assert s["dp"] == 8 and s["microbatch"] == 400 and s["global_batch"] == 3200


def test_spatial_parallelism_only_where_the_workload_allows_it():
    from dse import StrategyPins

    with pytest.raises(ValueError, match="cp=2 is not allowed"):
        enumerate_strategies(get_workload("resnet50"), 8, precision="bf16", pins=StrategyPins(cp=2))
    wl = get_workload("unet3d")
    assert wl.max_spatial_parallel == 8
    cands = enumerate_strategies(wl, 768, precision="bf16", pins=StrategyPins(global_batch=84))
    assert sorted({c["cp"] for c in cands}) == [1.0, 2.0, 4.0, 8.0]
    assert all(c["cp"] * c["dp"] == 768 for c in cands)
    with pytest.raises(ValueError, match="cp=16 is not allowed"):
        enumerate_strategies(wl, 768, precision="bf16", pins=StrategyPins(cp=16))


def test_spatial_parallelism_splits_the_work_and_pays_halos():
    """cp = 8 on 768 accelerators: each replica group of 8 shares one sample;
    the per-accelerator compute falls, halo exchanges appear (zero at cp = 1),
    and activation memory falls 8x."""
    from dse import StrategyPins, simulate
    from dse._calibration import load_calibration

    wl = get_workload("unet3d")
    system = get_system("h100-sxm")
    cal = load_calibration()
    runs = {}
    for cp in (1, 8):
        (s,) = enumerate_strategies(
            wl,
            768,
            precision="bf16",
            pins=StrategyPins(global_batch=84, cp=cp),
        )
        runs[cp] = simulate(system, wl, stack_strategies([s]), cal, CostModel())
    one, eight = runs[1], runs[8]
    assert float(eight.compute_s[0]) < float(one.compute_s[0]) / 4
    assert float(one.tp_comm_s[0]) == 0.0 and float(eight.tp_comm_s[0]) > 0.0
    assert float(eight.memory_activations_bytes[0]) == pytest.approx(
        float(one.memory_activations_bytes[0]) / 8, rel=1e-5
    )
    assert float(eight.time_to_train_s[0]) < float(one.time_to_train_s[0])
