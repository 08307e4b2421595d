"""Uncertainty by Monte Carlo over the technology table's ranges."""

import json

import numpy as np
import pytest

from dse._uncertainty import LIMIT_FIELDS, design_uncertainty, sample_technology
from dse.cli import main
from hwmodels import TECHNOLOGY_FIELDS
from hwmodels._technology import technology_table


def test_samples_stay_within_the_documented_ranges():
    techs, varied = sample_technology("N5", 200, seed=1)
    table = technology_table("N5")
    assert varied
    for f in TECHNOLOGY_FIELDS:
        x = np.asarray(getattr(techs, f))
        assert x.shape == (200,)
        assert np.all(x >= table[f]["low"] - 1e-12 * abs(table[f]["low"]))
        assert np.all(x <= table[f]["high"] + 1e-12 * abs(table[f]["high"]))
    for f in LIMIT_FIELDS:  # limits stay at their values
        assert f not in varied
        assert np.all(np.asarray(getattr(techs, f)) == table[f]["value"])
    again, _ = sample_technology("N5", 200, seed=1)
    assert np.array_equal(np.asarray(again.wafer_cost_usd), np.asarray(techs.wafer_cost_usd))
    with pytest.raises(ValueError, match="samples=0"):
        sample_technology("N5", 0)


def test_percentiles_are_ordered_and_bracket_the_nominal_design():
    u = design_uncertainty("gpt3-175b", "h100-like", accelerators=512, samples=64)
    for metric, p in u["percentiles"].items():
        assert p["p10"] <= p["p50"] <= p["p90"], metric
    # Prices are uncertain, so pounds spread; the nominal design lies inside.
    p = u["percentiles"]["total_gbp"]
    assert p["p10"] < u["nominal"]["total_gbp"] < p["p90"]
    assert p["p90"] / p["p10"] > 1.05
    assert u["feasible_share"] == 1.0


def test_cli_samples(capsys):
    assert main(["evaluate", "--design", "h100-like", "--samples", "16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["uncertainty"]["percentiles"]["time_to_train_s"]) == {"p10", "p50", "p90"}
    assert main(["evaluate", "--system", "h100-sxm", "--samples", "16"]) == 2
    assert "--samples needs --design" in capsys.readouterr().err
    # The percentiles describe the printed run: pinned strategy parts apply to
    # the samples too, and flags the samples cannot apply are refused.
    pinned = ["evaluate", "--design", "h100-like", "--samples", "4", "--tp", "1", "--pp", "16"]
    assert main([*pinned, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    nominal = out["uncertainty"]["nominal"]["time_to_train_s"]
    assert nominal == pytest.approx(out["time_to_train_s"], rel=1e-3)
    assert main([*pinned, "--include-network"]) == 2
    assert "--samples with --include-network is not allowed" in capsys.readouterr().err


def test_robust_optimize_minimises_a_percentile_and_holds_constraints():
    from optimizers import Limits, optimize_design

    out = optimize_design(
        "gpt3-175b",
        objective="cost",
        starts=2,
        steps=12,
        limits=Limits(max_time_to_train_s=3600.0),
        robust=(90.0, 8, 0),
    )
    best, r = out["best"], out["robust"]
    assert best["feasible"] and best["time_to_train_s"] <= 3600.0
    assert r["percentile"] == 90.0 and r["samples"] == 8
    # The 90th percentile of pounds lies above the nominal pounds (prices
    # are uncertain upwards as much as downwards, and the mode is nominal).
    assert r["value"] > best["total_gbp"]
    with pytest.raises(ValueError, match="percentile=120"):
        optimize_design("gpt3-175b", robust=(120.0, 8, 0))
