"""Gradient search over hardware designs: relax, descend, project, polish.

The free parameters of a design (``SEARCH_SPACE``) live in an unconstrained
space: each is ``lo * (hi / lo) ** sigmoid(z)`` (a log-space box), so Adam
(Optax) can move them freely and every value stays inside its physical range.
Many starts run at once (``jax.vmap``). The loss is the log of the objective
(time-to-train, total pounds, pounds per run or energy, through
``hwmodels.derive`` and the smooth strategy search) plus quadratic penalties
on the smooth excess of every constraint: the hardware's own (reticle, power
density, HBM per stack, shoreline, precision floors) and the user's (budget,
power cap, time limit). The penalty weight grows and the softmin temperature
of the strategy search falls between the two phases of the search, so the
relaxed problem tightens as it converges.

Then each start's design is projected to a buildable one (``project``: whole
arrays in fours, clock on a 50 MHz grid, whole HBM stacks of a real capacity,
links in whole 50 GB/s lanes, a real NIC speed), re-evaluated with the exact
model (the best strategy, not the smooth one), and polished by a
coordinate-wise neighbourhood search on that grid. The best feasible projected
design is returned with the gap between its objective and the relaxed one, and
the constraints active at it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dse._api import candidates_for, evaluate, resolve_precision, resolve_workload
from dse._calibration import Calibration, load_calibration
from dse._cost import CostModel, check_cost_model
from dse._search import DEFAULT_TEMPERATURE, search_strategies
from dse._strategy import StrategyPins, stack_strategies
from hwmodels import (
    CONSTRAINTS,
    DesignParams,
    check_design,
    derive,
    derive_checked,
    get_design,
    technology,
    violated_constraints,
)

__all__ = ["OBJECTIVES", "SEARCH_SPACE", "Limits", "optimize_design", "project"]

# Objective name -> index in the metric vector of ``_metrics``.
OBJECTIVES = {"time": 0, "cost": 1, "run-cost": 2, "energy": 3}
_METRIC_KEYS = ("time_to_train_s", "total_gbp", "run_cost_gbp", "energy_j")

# Free parameter -> (low, high, grid): the search box (SI) and the buildable
# values a final design is projected to. Grid: ("step", s) multiples of s,
# ("set", values) the nearest allowed value (in log distance).
GiB = 2.0**30
SEARCH_SPACE: dict[str, tuple[float, float, tuple]] = {
    # Matrix arrays in groups of four (GPC-like clusters).
    "arrays_per_chip": (16.0, 512.0, ("step", 4.0)),
    # Array clock on a 50 MHz grid.
    "clock_hz": (0.8e9, 2.2e9, ("step", 0.05e9)),
    # Shared SRAM in 8 MB slices.
    "sram_bytes": (8e6, 256e6, ("step", 8e6)),
    # Whole HBM stacks.
    "hbm_stacks": (1.0, 8.0, ("step", 1.0)),
    # HBM3/HBM3E stack capacities (technology-costs.md s2: 16-36 GB).
    "hbm_bytes_per_stack": (16 * GiB, 36 * GiB, ("set", (16 * GiB, 24 * GiB, 32 * GiB, 36 * GiB))),
    # Stack bandwidth on a 0.05 TB/s grid (HBM2e 0.41 to HBM4 2.0 TB/s, s2).
    "hbm_bw_bytes_per_s_per_stack": (0.4e12, 2.0e12, ("step", 0.05e12)),
    # Scale-up in whole 50 GB/s links (NVLink4: 18 x 50 GB/s, s4).
    "scaleup_bw_bytes_per_s": (50e9, 1800e9, ("step", 50e9)),
    # Scale-out: one NIC of 100, 200, 400, 800 or 1600 Gb/s per accelerator.
    "scaleout_bw_bytes_per_s": (12.5e9, 200e9, ("set", (12.5e9, 25e9, 50e9, 100e9, 200e9))),
}
FREE = tuple(SEARCH_SPACE)

_ACTIVE_RATIO = 0.97  # a constraint at >= 97% of its limit is reported active


def _to_values(z):
    """Unconstrained ``z`` -> parameter values in their log boxes."""
    out = {}
    for k in FREE:
        lo, hi, _ = SEARCH_SPACE[k]
        out[k] = lo * (hi / lo) ** jax.nn.sigmoid(z[k])
    return out


def _to_z(values: dict) -> dict:
    out = {}
    for k in FREE:
        lo, hi, _ = SEARCH_SPACE[k]
        u = math.log(values[k] / lo) / math.log(hi / lo)
        u = min(max(u, 1e-3), 1.0 - 1e-3)
        out[k] = math.log(u / (1.0 - u))
    return out


def project(values: dict) -> dict:
    """The nearest buildable value of each free parameter (see ``SEARCH_SPACE``)."""
    out = {}
    for k in FREE:
        lo, hi, (kind, arg) = SEARCH_SPACE[k]
        v = min(max(float(values[k]), lo), hi)
        if kind == "step":
            v = min(
                max(round(v / arg) * arg, math.ceil(lo / arg) * arg), math.floor(hi / arg) * arg
            )
        else:
            v = min(arg, key=lambda a, v=v: abs(math.log(a / v)))
        out[k] = v
    return out


def _neighbours(values: dict) -> list[dict]:
    """Designs one grid step away in one parameter."""
    out = []
    for k in FREE:
        lo, hi, (kind, arg) = SEARCH_SPACE[k]
        if kind == "step":
            options = [values[k] - arg, values[k] + arg]
        else:
            i = list(arg).index(values[k])
            options = [arg[j] for j in (i - 1, i + 1) if 0 <= j < len(arg)]
        for v in options:
            if lo - 1e-9 * abs(lo) <= v <= hi + 1e-9 * abs(hi):
                out.append(dict(values, **{k: v}))
    return out


@dataclasses.dataclass(frozen=True)
class Limits:
    """User constraints (``None``: none)."""

    max_gbp: float | None = None
    max_time_to_train_s: float | None = None
    max_power_w: float | None = None


def _limit_ratios(limits: Limits, total_gbp, time_to_train_s, power_w) -> dict:
    """Each user limit given as value / limit (feasible when <= 1); works on
    traced and plain values alike."""
    ratios = {}
    if limits.max_gbp is not None:
        ratios["budget"] = total_gbp / limits.max_gbp
    if limits.max_time_to_train_s is not None:
        ratios["time_to_train"] = time_to_train_s / limits.max_time_to_train_s
    if limits.max_power_w is not None:
        ratios["power"] = power_w / limits.max_power_w
    return ratios


def _check_limits(limits: Limits):
    for name in ("max_gbp", "max_time_to_train_s", "max_power_w"):
        v = getattr(limits, name)
        if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name}={v!r} is not allowed: a positive number (or none)")


def optimize_design(
    workload,
    *,
    base: str | DesignParams = "h100-like",
    accelerators: int = 512,
    objective: str = "time",
    limits: Limits | None = None,
    pins: StrategyPins | None = None,
    calibration: Calibration | str | None = None,
    costs: CostModel | None = None,
    starts: int = 8,
    steps: int = 150,
    learning_rate: float = 0.08,
    seed: int = 0,
    polish_rounds: int = 3,
    progress=None,
) -> dict:
    """Search the free parameters of a design for the best buildable design.

    Args:
        workload: Workload name or object.
        base: The design whose other parameters (array shape, node, precision,
            scale-up domain, server size) stay fixed; name, file or object.
        accelerators: Accelerator count of the system (fixed).
        objective: ``time``, ``cost`` (total pounds), ``run-cost`` (pounds of
            one run) or ``energy`` (of one run).
        limits: Budget, time and power constraints (``Limits``).
        pins: Strategy pins (default: the global batch of the workload's
            typical submissions is searched with the rest).
        calibration: ``Calibration``, a file, or ``None`` (the shipped fit).
        costs: ARIA cost constants.
        starts: Random starts run at once (vmapped).
        steps: Adam steps (split into two phases: warm, then cold).
        learning_rate: Adam learning rate in the unconstrained space.
        seed: Random seed of the starts.
        polish_rounds: Rounds of the discrete neighbourhood search.
        progress: Optional callable ``(fraction, message)``.

    Returns:
        Dict with ``best`` (the design's free parameters, its exact metrics,
        strategy, feasibility and the constraints active at it), ``relaxed``
        (the best relaxed objective and its parameters), ``gap`` (relative gap
        of the projected to the relaxed objective), ``history`` (loss per step,
        best start) and ``evaluations`` (exact model evaluations used).

    Raises:
        ValueError: bad objective, limits or counts (named).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective={objective!r} is not allowed: one of {list(OBJECTIVES)}")
    for name, v, lo in (
        ("starts", starts, 1),
        ("steps", steps, 2),
        ("accelerators", accelerators, 1),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{name}={v!r} is not allowed: a whole number >= {lo}")
    limits = limits or Limits()
    _check_limits(limits)
    pins = pins or StrategyPins()
    cal = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
    costs = check_cost_model(costs or CostModel())
    wl = resolve_workload(workload)
    d0 = base if isinstance(base, DesignParams) else get_design(base)
    check_design(d0)
    tech = technology(d0.process_node)
    n = int(accelerators)
    d0 = dataclasses.replace(d0, servers=n / float(d0.accelerators_per_server))
    spec0, _ = derive_checked(d0, tech)
    precision = resolve_precision(spec0, spec0, pins.precision, wl)
    cands = stack_strategies(candidates_for(wl, spec0, n, precision, pins))
    k_obj = OBJECTIVES[objective]

    def metrics_and_penalties(values, temperature):
        d = dataclasses.replace(d0, **values)
        spec, report = derive(d, tech)
        r = search_strategies(spec, wl, cands, cal, costs, temperature=temperature)
        m = jnp.stack([r.time_to_train_s, r.total_gbp, r.run_cost_gbp, r.energy_j])
        power = spec.server_power_w * n / d0.accelerators_per_server
        ratios = dict(report["constraints"])
        ratios.update(_limit_ratios(limits, r.total_gbp, r.time_to_train_s, power))
        return m, ratios

    def loss(z, temperature, weight):
        m, ratios = metrics_and_penalties(_to_values(z), temperature)
        excess = sum(jax.nn.softplus((r - 1.0) / 0.01) * 0.01 for r in ratios.values())
        return jnp.log(m[k_obj]) + weight * excess**2 + 10.0 * excess

    rng = np.random.default_rng(seed)
    z0 = {k: jnp.asarray(rng.normal(0.0, 1.2, size=starts)) for k in FREE}
    # Start 0 at the base design's own values (clipped into the box).
    base_z = _to_z({k: float(getattr(d0, k)) for k in FREE})
    z0 = {k: z0[k].at[0].set(base_z[k]) for k in FREE}

    opt = optax.chain(optax.clip_by_global_norm(10.0), optax.adam(learning_rate))

    def make_step(temperature, weight):
        grad_fn = jax.value_and_grad(loss)

        @jax.jit
        def step(z, state):
            values, grads = jax.vmap(lambda zz: grad_fn(zz, temperature, weight))(z)
            updates, state = opt.update(grads, state)
            return optax.apply_updates(z, updates), state, values

        return step

    phases = [
        (DEFAULT_TEMPERATURE * 4.0, 30.0, steps // 2),
        (DEFAULT_TEMPERATURE, 300.0, steps - steps // 2),
    ]
    z, state = z0, opt.init(z0)
    history = []
    done = 0
    t0 = time.perf_counter()
    for temperature, weight, count in phases:
        step = make_step(temperature, weight)
        for _ in range(count):
            z, state, values = step(z, state)
            values = np.asarray(values)
            history.append(float(np.nanmin(values)))
            done += 1
            if progress and (done % 10 == 0 or done == steps):
                progress(
                    done / steps,
                    f"step {done}/{steps}: best loss {history[-1]:.4f} "
                    f"({time.perf_counter() - t0:.0f} s)",
                )

    # Relaxed optimum per start (exact-temperature smooth objective).
    relaxed_values = jax.vmap(_to_values)(z)
    relaxed_m, relaxed_ratios = jax.vmap(lambda v: metrics_and_penalties(v, DEFAULT_TEMPERATURE))(
        relaxed_values
    )
    relaxed_obj = np.asarray(relaxed_m[:, k_obj])
    relaxed_ok = np.all(
        np.stack([np.asarray(r) <= 1.0 + 1e-3 for r in relaxed_ratios.values()]), axis=0
    )

    evaluations = 0
    cache: dict[tuple, dict] = {}

    def exact(values: dict) -> dict:
        nonlocal evaluations
        key = tuple(values[k] for k in FREE)
        if key in cache:
            return cache[key]
        d = dataclasses.replace(d0, **values)
        try:
            check_design(d)
            spec, report = derive_checked(d, tech)
        except ValueError as err:
            out = dict(ok=False, objective=math.inf, reason=str(err))
            cache[key] = out
            return out
        res = evaluate(
            workload=wl, system=spec, accelerators=n, pins=pins, calibration=cal, costs=costs
        )
        evaluations += 1
        power = float(spec.server_power_w) * n / float(d0.accelerators_per_server)
        ratios = dict(report["constraints"])
        ratios.update(_limit_ratios(limits, res["total_gbp"], res["time_to_train_s"], power))
        violated = sorted(k for k, r in ratios.items() if r > 1.0)
        feasible = bool(res["feasible"]) and not violated
        out = dict(
            ok=feasible,
            objective=float(res[_METRIC_KEYS[k_obj]]) if feasible else math.inf,
            values=values,
            result=res,
            report=report,
            ratios=ratios,
            violated=violated,
            power_w=power,
        )
        cache[key] = out
        return out

    candidates = []
    for i in range(starts):
        v = project({k: float(np.asarray(relaxed_values[k])[i]) for k in FREE})
        candidates.append(exact(v))
    best = min(candidates, key=lambda c: c["objective"])
    # Discrete polish: coordinate-wise neighbourhood on the grid.
    for _ in range(polish_rounds):
        if not best.get("values"):
            break
        improved = False
        for nb in _neighbours(best["values"]):
            c = exact(nb)
            if c["objective"] < best["objective"] * (1.0 - 1e-9):
                best, improved = c, True
        if progress:
            progress(1.0, f"polish: objective {best['objective']:.6g} ({evaluations} evaluations)")
        if not improved:
            break

    i_rel = int(np.argmin(np.where(relaxed_ok, relaxed_obj, np.inf)))
    relaxed = dict(
        objective=float(relaxed_obj[i_rel]),
        feasible=bool(relaxed_ok[i_rel]),
        values={k: float(np.asarray(relaxed_values[k])[i_rel]) for k in FREE},
    )
    out: dict[str, Any] = dict(
        workload=wl.name,
        base_design=d0.name,
        accelerators=n,
        objective=objective,
        objective_metric=_METRIC_KEYS[k_obj],
        limits=dataclasses.asdict(limits),
        relaxed=relaxed,
        history=history,
        evaluations=evaluations,
        starts=starts,
        steps=steps,
    )
    if not math.isfinite(best["objective"]):
        out.update(best=None, gap=None, reason="no projected design is feasible")
        return out
    res = best["result"]
    active = sorted(k for k, r in best["ratios"].items() if r >= _ACTIVE_RATIO)
    out["best"] = dict(
        design={k: best["values"][k] for k in FREE},
        time_to_train_s=res["time_to_train_s"],
        total_gbp=res["total_gbp"],
        run_cost_gbp=res["run_cost_gbp"],
        energy_j=res["energy_j"],
        power_w=best["power_w"],
        peak_bf16_flops_per_s=best["report"]["peak_bf16_flops_per_s"],
        die_area_mm2=best["report"]["die_area_mm2"],
        accelerator_power_w=best["report"]["power_w"],
        capital_gbp_per_accelerator=best["report"]["capital_gbp_per_accelerator"],
        strategy=res["strategy"],
        feasible=True,
        active_constraints=active,
        constraint_ratios=best["ratios"],
        constraint_meaning={k: CONSTRAINTS.get(k, k) for k in active},
    )
    out["gap"] = best["objective"] / relaxed["objective"] - 1.0
    out["violated_constraints"] = violated_constraints(best["report"])
    return out
