"""Conformance over every workload, and FLOPs per sample against independent counts."""

import math

import pytest

from dse import evaluate
from workloads import get_workload, list_workloads


def test_catalogue():
    assert {"gpt3-175b", "llama31-405b", "llama31-8b", "llama2-70b-lora"} <= set(list_workloads())


@pytest.mark.parametrize("name", list_workloads())
@pytest.mark.parametrize("system,n", [("h100-sxm", 512), ("gb200", 144), ("mi325x", 64)])
def test_every_workload_evaluates(name, system, n):
    r = evaluate(workload=name, system=system, accelerators=n)
    for key in ("time_to_train_s", "step_time_s", "total_gbp", "energy_j"):
        assert math.isfinite(r[key]) and r[key] > 0, key
    if not r["feasible"]:
        assert "no strategy fits in memory" in r["infeasible_reason"]
    s = r["strategy"]
    assert s["tp"] * s["cp"] * s["pp"] * s["dp"] == n


def test_gpt3_flops_per_sample_matches_megatron_formula():
    """Narayanan et al. 2021: 72 s L h^2 (1 + s/6h + V/12Lh) per sample without
    recomputation; causal attention halves the s/6h term."""
    w = get_workload("gpt3-175b")
    s, L, h, V = w.seq_len, w.n_layers, w.hidden_size, w.vocab_size
    independent = 72 * s * L * h**2 * (1 + s / (12 * h) + V / (12 * L * h))
    assert w.flops_per_sample() == pytest.approx(independent, rel=1e-9)


@pytest.mark.parametrize(
    "name,published_params",
    [
        ("llama31-8b", 8.030e9),  # Meta Llama 3.1 8B model card (8.03B)
        ("llama2-70b-lora", 68.977e9),  # Llama-2-70b: 68,976,648,192 parameters (HF)
    ],
)
def test_llama_params_and_flops(name, published_params):
    """Parameters against the published count; FLOPs per sample against
    6 x (parameters - input embedding) x tokens (+ causal attention), frozen
    base weights of LoRA costing 4 instead of 6 per parameter per token."""
    w = get_workload(name)
    assert w.params_total == pytest.approx(published_params, rel=0.005)
    s = w.seq_len
    matmul = published_params - w.vocab_size * w.hidden_size
    per_param = 4.0 if w.lora_rank else 6.0
    attention = 3 * 4 * w.n_layers * s * s * w.hidden_size * 0.5
    assert w.flops_per_sample() == pytest.approx(per_param * matmul * s + attention, rel=0.01)


def test_lora_trains_only_adapters():
    w = get_workload("llama2-70b-lora")
    assert 0 < w.trainable_fraction_per_layer < 1e-3
    r_lora = evaluate(workload="llama2-70b-lora", system="h100-sxm", accelerators=8)
    m = r_lora["memory_per_device"]
    assert m["grads_bytes"] < 0.01 * m["weights_bytes"]
    assert m["optimizer_bytes"] < 0.01 * m["weights_bytes"]
