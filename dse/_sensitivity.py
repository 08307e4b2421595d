"""Sensitivity reports: what each knob of a system or a design is worth.

Elasticities ``d ln(metric) / d ln(parameter)`` of time-to-train, total pounds,
the pounds of one run and its energy come from ``jax.jacrev`` through the
smooth strategy search (the softmin over every valid strategy; see
``dse.search_strategies``): for a preset or system file with respect to every
continuous field of its ``SystemSpec``, for a design with respect to every
continuous design parameter and every technology constant of its node (through
``hwmodels.derive``).

"What is it worth" lines then take the largest elasticities, predict the
change of a metric when the parameter grows by ``step`` (``(1 + step) ** e -
1``), and check it by re-evaluating the exact model (the best strategy, not
the smooth one) with the parameter changed. The two differ where the best
strategy switches, or where the metric is far from log-linear over the step.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from dse._api import (
    candidates_for,
    evaluate,
    resolve_precision,
    resolve_system,
    resolve_workload,
)
from dse._calibration import Calibration, apply_calibration, load_calibration
from dse._cost import CostModel, check_cost_model
from dse._search import search_strategies
from dse._strategy import StrategyPins, stack_strategies
from hwmodels import (
    DESIGN_FIELDS,
    SYSTEM_FIELDS,
    TECHNOLOGY_FIELDS,
    DesignParams,
    check_design,
    derive,
    derive_checked,
    get_design,
    technology,
)

__all__ = ["METRICS", "sensitivity"]

# Metric name -> key of ``evaluate``'s result.
METRICS = ("time_to_train_s", "total_gbp", "run_cost_gbp", "energy_j")

# Counts the model uses piecewise (rank placement in scale-up domains) or not
# at all for a fixed accelerator count: their elasticities are reported but
# flagged, and never used for "worth" lines.
PIECEWISE = {
    "system.scaleup_domain_size",
    "system.accelerators_per_server",
    "design.scaleup_domain_size",
    "design.accelerators_per_server",
    "design.servers",
}


def _positive(obj, fields) -> list[str]:
    return [f for f in fields if float(getattr(obj, f)) > 0.0]


def _metrics_of(result) -> jnp.ndarray:
    return jnp.log(
        jnp.stack([result.time_to_train_s, result.total_gbp, result.run_cost_gbp, result.energy_j])
    )


def sensitivity(
    workload,
    *,
    system=None,
    design: str | DesignParams | None = None,
    accelerators: int | None = None,
    pins: StrategyPins | None = None,
    calibration: Calibration | str | None = None,
    costs: CostModel | None = None,
    include_network: bool = False,
    step: float = 0.10,
    top: int = 5,
) -> dict:
    """Elasticities of every metric with respect to every continuous parameter,
    ranked, and "what is it worth" lines checked by re-evaluation.

    Args:
        workload: Workload name or object.
        system: Preset name, system file or ``SystemSpec`` (exclusive with
            ``design``).
        design: Built-in design name, design file or ``DesignParams``.
        accelerators: Accelerator count (default: 512 for a system, the
            design's servers x accelerators per server for a design).
        pins: Strategy pins (``StrategyPins``), precision included.
        calibration: ``Calibration``, a file path, or ``None`` (shipped fit).
        costs: ARIA cost constants.
        include_network: For a design: network in capital (``hwmodels.derive``).
        step: Relative change of the "worth" lines (0.10: +10%).
        top: Parameters per metric in the "worth" lines.

    Returns:
        Dict with ``subject``, ``accelerators``, ``precision``, ``metrics``
        (the exact model's values), ``elasticities`` (metric -> parameter ->
        elasticity; parameters named ``system.<field>``, ``design.<field>`` or
        ``technology.<field>``), ``ranked`` (metric -> [[parameter, e], ...] by
        |e|), ``worth`` (one entry per checked line) and ``piecewise`` (the
        parameters used piecewise, flagged).

    Raises:
        ValueError: neither or both of ``system`` and ``design``, or bad input.
    """
    if (system is None) == (design is None):
        raise ValueError("give exactly one of system= or design=")
    if not (isinstance(step, int | float) and 0.0 < step <= 1.0):
        raise ValueError(f"step={step!r} is not allowed: a relative change in (0, 1]")
    if not (isinstance(top, int) and top >= 1):
        raise ValueError(f"top={top!r} is not allowed: a whole number >= 1")
    pins = pins or StrategyPins()
    cal = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
    costs = check_cost_model(costs or CostModel())
    wl = resolve_workload(workload)

    if design is not None:
        d0 = design if isinstance(design, DesignParams) else get_design(design)
        check_design(d0)
        t0 = technology(d0.process_node)
        spec0, _ = derive_checked(d0, t0, include_network=include_network)
        n = (
            int(accelerators)
            if accelerators is not None
            else int(round(float(d0.servers) * float(d0.accelerators_per_server)))
        )
        precision = resolve_precision(spec0, spec0, pins.precision, wl)
        cands = stack_strategies(candidates_for(wl, spec0, n, precision, pins))
        dfields = _positive(d0, DESIGN_FIELDS)
        tfields = _positive(t0, TECHNOLOGY_FIELDS)

        def f(x):
            d = dataclasses.replace(d0, **{k: jnp.exp(x["design." + k]) for k in dfields})
            t = dataclasses.replace(t0, **{k: jnp.exp(x["technology." + k]) for k in tfields})
            spec, _ = derive(d, t, include_network=include_network)
            return _metrics_of(search_strategies(spec, wl, cands, cal, costs))

        x0 = {"design." + k: math.log(float(getattr(d0, k))) for k in dfields}
        x0 |= {"technology." + k: math.log(float(getattr(t0, k))) for k in tfields}

        def system_with(param: str | None, factor: float):
            d, t = d0, t0
            if param is not None:
                kind, field = param.split(".", 1)
                if kind == "design":
                    d = check_design(
                        dataclasses.replace(d0, **{field: float(getattr(d0, field)) * factor})
                    )
                else:
                    t = t0.replace(**{field: float(getattr(t0, field)) * factor})
            return derive_checked(d, t, include_network=include_network)[0]

        subject = dict(kind="design", name=d0.name, process_node=d0.process_node)
    else:
        raw = resolve_system(system)
        n = int(accelerators) if accelerators is not None else 512
        precision = resolve_precision(system, raw, pins.precision, wl)
        spec_cal = apply_calibration(raw, cal, precision, wl)
        cands = stack_strategies(candidates_for(wl, spec_cal, n, precision, pins))
        sfields = _positive(raw, SYSTEM_FIELDS)

        def f(x):
            s = dataclasses.replace(spec_cal, **{k: jnp.exp(x["system." + k]) for k in sfields})
            return _metrics_of(search_strategies(s, wl, cands, cal, costs))

        x0 = {"system." + k: math.log(float(getattr(spec_cal, k))) for k in sfields}

        def system_with(param: str | None, factor: float):
            if param is None:
                return raw
            field = param.split(".", 1)[1]
            return dataclasses.replace(raw, **{field: float(getattr(raw, field)) * factor})

        subject = dict(kind="system", name=raw.name)

    x0 = {k: jnp.asarray(v) for k, v in x0.items()}
    jac = jax.jit(jax.jacrev(f))(x0)
    elasticities = {m: {p: float(jac[p][i]) for p in x0} for i, m in enumerate(METRICS)}
    ranked = {
        m: [[p, e] for p, e in sorted(v.items(), key=lambda kv: -abs(kv[1]))]
        for m, v in elasticities.items()
    }

    def exact(param: str | None, factor: float = 1.0) -> dict:
        """The exact model (best strategy) with one parameter scaled."""
        return evaluate(
            workload=wl,
            system=system_with(param, factor),
            accelerators=n,
            pins=pins,
            calibration=cal,
            costs=costs,
        )

    base = exact(None)
    metrics = {m: float(base[m]) for m in METRICS}
    worth = []
    cache: dict[str, dict | str] = {}
    for m in METRICS:
        chosen = [p for p, e in ranked[m] if p not in PIECEWISE and abs(e) > 1e-4][:top]
        for p in chosen:
            if p not in cache:
                try:
                    cache[p] = exact(p, 1.0 + step)
                except ValueError as err:
                    cache[p] = str(err)
            e = elasticities[m][p]
            predicted = (1.0 + step) ** e - 1.0
            entry = dict(
                parameter=p,
                metric=m,
                change=step,
                elasticity=e,
                predicted_relative=predicted,
                predicted_delta=predicted * metrics[m],
            )
            got = cache[p]
            if isinstance(got, str):
                entry.update(reevaluated_relative=None, reevaluated_delta=None, note=got)
            else:
                rel = float(got[m]) / metrics[m] - 1.0
                entry.update(reevaluated_relative=rel, reevaluated_delta=rel * metrics[m])
            worth.append(entry)
    return dict(
        workload=wl.name,
        subject=subject,
        accelerators=n,
        precision=precision,
        metrics=metrics,
        strategy=base["strategy"],
        feasible=bool(base["feasible"]),
        elasticities=elasticities,
        ranked=ranked,
        worth=worth,
        piecewise=sorted(p for p in x0 if p in PIECEWISE),
        step=step,
    )
