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


# -- reference convergence points by MLPerf round ---------------------------


def test_round_rcps_replace_the_convergence_curve():
    """Stable Diffusion at global batch 512: 2.56 M images in v3.1-v4.1 RCPs,
    2.10 M in v5.0 (mlperf-logging rcp_checker/training_*/rcps_stable_diffusion*.json)."""
    from workloads import convergence_rounds, workload_for_round

    sd = get_workload("stable-diffusion-v2")
    assert convergence_rounds(sd.name)[:4] == ["v3.1", "v4.0", "v4.1", "v5.0"]
    for rnd in ("v3.1", "v4.0", "v4.1"):
        assert float(workload_for_round(sd, rnd).samples_to_converge(512.0)) == pytest.approx(
            2.56e6, rel=1e-6
        )
    assert float(workload_for_round(sd, "v5.0").samples_to_converge(512.0)) == pytest.approx(
        2104889, rel=1e-6
    )
    # Below the smallest RCP batch the smallest point applies (rcp_checker rule).
    assert float(workload_for_round(sd, "v3.1").samples_to_converge(256.0)) == pytest.approx(
        2.56e6, rel=1e-6
    )
    # A round before every file takes the oldest; a later one the newest earlier file.
    assert workload_for_round(sd, "v2.0").convergence_samples == (
        workload_for_round(sd, "v3.1").convergence_samples
    )
    assert workload_for_round(sd, "v9.9").convergence_samples == sd.convergence_samples
    # Only the curve changes.
    assert workload_for_round(sd, "v4.0").ops == sd.ops


def test_newest_round_rcps_equal_the_default_tables():
    """The default curves (workloads/data/*_convergence.csv) are the newest RCP files."""
    from workloads import convergence_rounds, workload_for_round

    for name in list_workloads():
        rounds = convergence_rounds(name)
        if not rounds:
            continue
        wl = get_workload(name)
        newest = workload_for_round(wl, rounds[-1])
        assert newest.convergence_batch == wl.convergence_batch, name
        assert newest.convergence_samples == pytest.approx(wl.convergence_samples, rel=1e-6), name


def test_round_must_be_named_like_v4_1():
    from workloads import workload_for_round

    with pytest.raises(ValueError, match="round='4.1' is not allowed"):
        workload_for_round(get_workload("bert-large"), "4.1")


def test_workloads_without_round_rcps_are_unchanged():
    from workloads import workload_for_round

    wl = get_workload("llama31-8b")
    assert workload_for_round(wl, "v5.1") is wl
