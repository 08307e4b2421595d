"""The optimizer: a known optimum of a synthetic convex objective, projection
to buildable values, constraints at the reported optimum, non-dominated and
reproducible Pareto fronts, scalarisations, and clear errors."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dse._api import evaluate_design
from dse.cli import main
from hwmodels import get_design
from optimizers import (
    SEARCH_SPACE,
    Limits,
    chebyshev,
    check_space,
    grid_size,
    neighbours,
    optimize_design,
    pareto_designs,
    pareto_front,
    project,
    search,
    weighted_log_sum,
)
from optimizers._space import to_values


def _on_grid(values, space=SEARCH_SPACE):
    for k, (lo, hi, (kind, arg)) in space.items():
        v = values[k]
        if not lo - 1e-9 * lo <= v <= hi + 1e-9 * hi:
            return False
        if kind == "step" and not math.isclose(v / arg, round(v / arg), abs_tol=1e-9):
            return False
        if kind == "set" and v not in arg:
            return False
    return True


def test_projection_lands_on_the_grid_inside_the_box():
    rng = np.random.default_rng(1)
    for _ in range(50):
        values = {
            k: lo * (hi / lo) ** rng.uniform(-0.2, 1.2) for k, (lo, hi, _) in SEARCH_SPACE.items()
        }
        p = project(values)
        assert _on_grid(p)
        assert project(p) == p  # idempotent
        assert all(_on_grid(nb) for nb in neighbours(p))


# ----------------------------------------------------------------------------
# A synthetic convex objective with a known optimum on the grid
# ----------------------------------------------------------------------------

_SPACE = check_space(
    {
        "arrays_per_chip": (16.0, 512.0, ("step", 4.0)),
        "clock_hz": (0.8e9, 2.2e9, ("step", 0.05e9)),
        "hbm_stacks": (1.0, 8.0, ("step", 1.0)),
        "scaleout_bw_bytes_per_s": (12.5e9, 200e9, ("set", (12.5e9, 25e9, 50e9, 100e9, 200e9))),
    }
)
_OPT = {
    "arrays_per_chip": 132.0,
    "clock_hz": 1.75e9,
    "hbm_stacks": 5.0,
    "scaleout_bw_bytes_per_s": 50e9,
}


class _ConvexProblem:
    """Stands in for ``DesignProblem``: metric 0 is ``sum cosh(ln v - ln v*)``
    (convex in the log box, minimum at ``_OPT``), metric 1 a linear cost."""

    space = _SPACE
    counts = [8]
    d0 = get_design("h100-like")
    cands = jnp.zeros((1, 1))
    logp = jnp.zeros((1, 1))

    def _smooth_one(self, values, k, cands, logp, temperature):
        f = sum(jnp.cosh(jnp.log(values[p] / _OPT[p])) for p in _SPACE)
        c = 1.0 + values["hbm_stacks"]
        return jnp.stack([f, c, c, c]), {}

    def smooth(self, z, k, temperature):
        values = to_values(z, _SPACE)
        return jax.vmap(lambda v: self._smooth_one(v, 0, None, None, temperature))(values)

    def exact(self, values_list, ks):
        out = []
        for v in values_list:
            m, _ = self._smooth_one({p: jnp.asarray(x) for p, x in v.items()}, 0, None, None, 0)
            names = ("time_to_train_s", "total_gbp", "run_cost_gbp", "energy_j")
            out.append(
                dict(
                    metrics=dict(zip(names, map(float, m), strict=True)),
                    ratios={},
                    feasible=True,
                    power_w=1.0,
                )
            )
        return out


def test_search_recovers_the_known_optimum_of_a_convex_objective():
    run = search(
        _ConvexProblem(),
        ks=np.zeros(4, dtype=int),
        weights=np.ones((4, 1)),
        metric_idx=(0,),
        steps=150,
        learning_rate=0.1,
    )
    best = min(
        (c for c in run["chosen"] if c),
        key=lambda c: run["evaluated"][c]["metrics"]["time_to_train_s"],
    )
    assert run["evaluated"][best]["values"] == pytest.approx(_OPT, rel=1e-9)
    # The relaxed optimum itself is close to the optimum before projection.
    rel = min(run["relaxed"], key=lambda r: r["metrics"]["time_to_train_s"])
    for p, v in _OPT.items():
        assert rel["values"][p] == pytest.approx(v, rel=0.05), p


# ----------------------------------------------------------------------------
# Scalarisations
# ----------------------------------------------------------------------------


def test_scalarisations_are_what_they_claim():
    log_f = jnp.asarray([0.3, -0.2])
    w = jnp.asarray([0.25, 0.75])
    assert float(weighted_log_sum(log_f, w)) == pytest.approx(0.25 * 0.3 - 0.75 * 0.2)
    u = jnp.asarray([-1.0, -1.0])
    d = np.asarray(w * (log_f - u))
    c = float(chebyshev(log_f, w, u))
    # A smooth maximum: above the maximum, by at most T ln 2 plus the augmentation.
    assert d.max() < c <= d.max() + 0.02 * math.log(2) + 0.01 * d.sum() + 1e-9
    g = jax.grad(lambda x: chebyshev(x, w, u))(log_f)
    assert np.all(np.isfinite(g)) and np.all(np.asarray(g) > 0)


# ----------------------------------------------------------------------------
# The real model
# ----------------------------------------------------------------------------


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


def test_reported_optimum_is_the_exact_model(budget_run):
    best = budget_run["best"]
    import dataclasses

    d = dataclasses.replace(get_design("h100-like"), **best["design"])
    res = evaluate_design(d, workload="gpt3-175b", accelerators=best["accelerators"])
    assert res["time_to_train_s"] == pytest.approx(best["time_to_train_s"], rel=1e-5)
    assert res["total_gbp"] == pytest.approx(best["total_gbp"], rel=1e-5)


@pytest.fixture(scope="module")
def front_run():
    return pareto_designs("gpt3-175b", counts=(256, 512), points=4, steps=20, polish_rounds=2)


def test_pareto_front_is_non_dominated_buildable_and_sorted(front_run):
    front = front_run["front"]
    assert len(front) >= 2
    t = [f["time_to_train_s"] for f in front]
    c = [f["total_gbp"] for f in front]
    assert t == sorted(t)
    assert list(pareto_front(t, c)) == list(range(len(front)))
    for f in front:
        assert f["feasible"] and _on_grid(f["design"])
        assert f["accelerators"] in (256, 512)
        assert all(v <= 1.0 for v in f["constraint_ratios"].values())
    # At most `points` designs are shown, spread over the non-dominated set.
    assert len(front) <= min(front_run["points"], front_run["front_size"])


def test_same_seed_same_front(front_run):
    again = pareto_designs("gpt3-175b", counts=(256, 512), points=4, steps=20, polish_rounds=2)
    assert [f["design"] for f in again["front"]] == [f["design"] for f in front_run["front"]]
    assert [f["time_to_train_s"] for f in again["front"]] == [
        f["time_to_train_s"] for f in front_run["front"]
    ]


def test_pareto_front_filter():
    t = np.asarray([1.0, 2.0, 3.0, 2.0, 1.0])
    c = np.asarray([5.0, 3.0, 1.0, 4.0, 5.0])
    assert list(pareto_front(t, c)) == [0, 1, 2]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="objective='speed'"):
        optimize_design("gpt3-175b", objective="speed")
    with pytest.raises(ValueError, match="max_gbp=-1"):
        optimize_design("gpt3-175b", limits=Limits(max_gbp=-1))
    with pytest.raises(ValueError, match="starts=0"):
        optimize_design("gpt3-175b", starts=0)
    with pytest.raises(ValueError, match="accelerators=500"):
        optimize_design("gpt3-175b", accelerators=500)
    with pytest.raises(ValueError, match="points=0"):
        pareto_designs("gpt3-175b", points=0)
    with pytest.raises(ValueError, match="scalarisation='max'"):
        pareto_designs("gpt3-175b", counts=(512,), scalarisation="max", steps=2)
    with pytest.raises(ValueError, match="'warp_drive' is not allowed"):
        check_space({"warp_drive": (1.0, 2.0, ("step", 1.0))})
    with pytest.raises(ValueError, match=r"clock_hz: \[1e\+07"):
        check_space({"clock_hz": (1e7, 2e9, ("step", 1e8))})
    assert grid_size(_SPACE) == 125 * 29 * 8 * 5


def test_cli_optimize_json(capsys):
    args = ["optimize", "--workload", "gpt3-175b", "--objective", "cost", "--steps", "6"]
    assert main(args + ["--starts", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["objective_metric"] == "total_gbp"
    assert {"design", "time_to_train_s", "total_gbp", "active_constraints"} <= set(out["best"])


def test_cli_pareto_json_and_plot(capsys, tmp_path):
    plot = tmp_path / "front.png"
    args = ["pareto", "--accelerators", "256,512", "--points", "4", "--steps", "20"]
    assert main(args + ["--systems", "h100-sxm", "--plot", str(plot), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["front"] and plot.exists()
    for f in out["front"]:
        assert {"time_to_train_s", "total_gbp", "energy_j", "design", "feasible"} <= set(f)
    assert {p["system"] for p in out["systems"]} == {"h100-sxm"}
    with pytest.raises(SystemExit):
        main(["pareto", "--accelerators", "12x"])
    assert "accelerators='12x' is not allowed" in capsys.readouterr().err


def test_system_shape_fields_are_not_searchable():
    from optimizers._space import check_space

    for field in ("servers", "accelerators_per_server", "scaleup_domain_size"):
        with pytest.raises(ValueError, match=f"search space field '{field}' is not allowed"):
            check_space({field: (1.0, 64.0, ("step", 1.0))})
