"""Gradient design search: projection to buildable values, feasibility of the
result, user constraints honoured, and clear errors."""

import json
import math

import pytest

from dse.cli import main
from optimizers import SEARCH_SPACE, Limits, optimize_design, project


def test_projection_lands_on_the_grid_inside_the_box():
    values = {k: (lo * hi) ** 0.5 * 1.013 for k, (lo, hi, _) in SEARCH_SPACE.items()}
    p = project(values)
    for k, (lo, hi, (kind, arg)) in SEARCH_SPACE.items():
        assert lo <= p[k] <= hi, k
        if kind == "step":
            assert math.isclose(p[k] / arg, round(p[k] / arg), abs_tol=1e-9), k
        else:
            assert p[k] in arg, k


@pytest.fixture(scope="module")
def budget_run():
    # A budget below the unconstrained fastest design's pounds.
    return optimize_design(
        "gpt3-175b", objective="time", starts=2, steps=16, limits=Limits(max_gbp=4.2e6)
    )


def test_search_returns_a_feasible_buildable_design_within_budget(budget_run):
    best = budget_run["best"]
    assert best is not None and best["feasible"]
    assert best["total_gbp"] <= 4.2e6
    assert project(best["design"]) == best["design"]
    assert best["time_to_train_s"] > 0 and budget_run["evaluations"] >= 2
    assert all(v <= 1.0 for v in best["constraint_ratios"].values())
    assert math.isfinite(budget_run["gap"])
    assert len(budget_run["history"]) == 16


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="objective='speed'"):
        optimize_design("gpt3-175b", objective="speed")
    with pytest.raises(ValueError, match="max_gbp=-1"):
        optimize_design("gpt3-175b", limits=Limits(max_gbp=-1))
    with pytest.raises(ValueError, match="starts=0"):
        optimize_design("gpt3-175b", starts=0)


def test_cli_optimize_json(capsys):
    args = ["optimize", "--workload", "gpt3-175b", "--objective", "cost", "--steps", "6"]
    assert main(args + ["--starts", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["objective_metric"] == "total_gbp"
    assert {"design", "time_to_train_s", "total_gbp", "active_constraints"} <= set(out["best"])
