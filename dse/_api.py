"""The Python API: evaluate a workload on a system, with the strategy searched.

``evaluate`` takes names (or a ``SystemSpec``), validates every input at
config time, enumerates the valid strategies, runs the jitted search, and
returns a plain ``dict`` with the same keys as ``dse evaluate --json``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np

from dse._calibration import (
    Calibration,
    apply_calibration,
    apply_software_maturity,
    load_calibration,
)
from dse._cost import CostModel, check_cost_model
from dse._search import SearchResult, search_jit
from dse._strategy import (
    StrategyPins,
    describe_strategy,
    enumerate_strategies,
    stack_strategies,
    strategy_at,
)
from hwmodels import (
    CONSTRAINTS,
    DesignParams,
    SystemSpec,
    default_precision,
    derive_checked,
    get_design,
    get_system,
    violated_constraints,
)
from workloads import OpWorkload, TransformerWorkload, get_workload

__all__ = [
    "design_dict",
    "evaluate",
    "evaluate_design",
    "resolve_system",
    "resolve_precision",
    "candidates_for",
    "result_dict",
]


def resolve_system(system: str | SystemSpec, **overrides) -> SystemSpec:
    """A preset name, a file path or a spec, with validated field overrides (SI)."""
    spec = system if isinstance(system, SystemSpec) else get_system(system)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return spec.replace(**overrides) if overrides else spec


def resolve_precision(
    system: str | SystemSpec, spec: SystemSpec, precision: str | None, workload=None
) -> str:
    """The requested precision, or the documented default; checked.

    The default is the system's (``default_precision``), except for op-level
    workloads that do not train in fp8 by default (``fp8_training``): bf16.
    """
    if precision is None and workload is not None and not getattr(workload, "fp8_training", True):
        precision = "bf16"
    if precision is None:
        precision = (
            default_precision(system)
            if isinstance(system, str)
            else ("fp8" if spec.supports_fp8() else "bf16")
        )
    if precision not in ("bf16", "fp8"):
        raise ValueError(f"precision={precision!r} is not allowed: choose 'bf16' or 'fp8'")
    if precision == "fp8" and not spec.supports_fp8():
        raise ValueError(
            f"precision='fp8' is not allowed on system '{spec.name}': it has no fp8 matrix "
            "unit (peak_fp8_tflops is 0); use 'bf16'"
        )
    return precision


def resolve_workload(workload):
    """A workload object, a built-in name, or ``FILE.py:FUNCTION`` (a user's
    function returning a workload, e.g. one traced from a Flax module with
    ``workloads.workload_from_flax``)."""
    if isinstance(workload, TransformerWorkload | OpWorkload):
        return workload
    if isinstance(workload, str) and ".py:" in workload:
        from workloads import load_user_workload

        return load_user_workload(workload)
    return get_workload(workload)


def candidates_for(workload: TransformerWorkload, spec: SystemSpec, accelerators, precision, pins):
    """Valid strategies (list of dicts) for a concrete system."""
    return enumerate_strategies(
        workload,
        accelerators,
        precision=precision,
        pins=pins,
        scaleup_domain_size=float(spec.scaleup_domain_size),
    )


def result_dict(result: SearchResult, candidates, workload, spec, costs: CostModel) -> dict:
    """Plain-number dict of a search result (the ``--json`` schema)."""
    best = jax.tree_util.tree_map(lambda x: float(np.asarray(x)), result.best)
    idx = int(result.best_index)
    strategy = describe_strategy(strategy_at(candidates, idx))
    feasible = bool(float(result.any_feasible) > 0.5)
    out = {
        "workload": workload.name,
        "system": spec.name,
        "accelerators": int(
            round(strategy["tp"] * strategy["cp"] * strategy["pp"] * strategy["dp"])
        ),
        "feasible": feasible,
        "infeasible_reason": None,
        "time_to_train_s": best.time_to_train_s,
        "time_to_train_min": best.time_to_train_s / 60.0,
        "step_time_s": best.step_time_s,
        "steps": best.steps,
        "samples_to_converge": best.samples_to_converge,
        "capital_gbp": best.cost.capital_gbp,
        "operating_gbp": best.cost.operating_gbp,
        "total_gbp": best.cost.total_gbp,
        "run_cost_gbp": best.cost.run_cost_gbp,
        "energy_j": best.cost.energy_j,
        "servers": best.cost.servers,
        "mfu": best.mfu,
        "strategy": strategy,
        "strategies_searched": int(np.asarray(candidates.tp).shape[0]),
        "breakdown": {
            "compute_s": best.compute_s,
            "memory_bound_s": best.memory_bound_s,
            "exposed_comm_s": best.exposed_comm_s,
            "tp_comm_s": best.tp_comm_s,
            "pp_comm_s": best.pp_comm_s,
            "dp_comm_s": best.dp_comm_s,
            "dp_exposed_s": best.dp_exposed_s,
            "bubble_s": best.bubble_s,
            "optimizer_s": best.optimizer_s,
            "overhead_s": best.overhead_s,
            "eval_time_s": best.eval_time_s,
        },
        "memory_per_device": {
            "weights_bytes": best.memory_weights_bytes,
            "grads_bytes": best.memory_grads_bytes,
            "optimizer_bytes": best.memory_optimizer_bytes,
            "activations_bytes": best.memory_activations_bytes,
            "reserved_bytes": best.memory_reserved_bytes,
            "total_bytes": best.memory_per_device_bytes,
            "capacity_bytes": best.memory_capacity_bytes,
        },
        "smooth": {
            "time_to_train_s": float(result.time_to_train_s),
            "total_gbp": float(result.total_gbp),
            "run_cost_gbp": float(result.run_cost_gbp),
            "energy_j": float(result.energy_j),
        },
        "cost_constants": {k: float(v) for k, v in dataclasses.asdict(costs).items()},
    }
    if not feasible:
        out["infeasible_reason"] = (
            f"no strategy fits in memory: the least demanding needs "
            f"{best.memory_per_device_bytes / 1e9:.1f} GB per device, capacity is "
            f"{best.memory_capacity_bytes / 1e9:.1f} GB"
        )
    for key in ("time_to_train_s", "step_time_s", "total_gbp"):
        if not math.isfinite(out[key]):
            raise FloatingPointError(f"model produced a non-finite {key}: {out[key]!r}")
    return out


def evaluate(
    *,
    workload: str | TransformerWorkload = "gpt3-175b",
    system: str | SystemSpec = "h100-sxm",
    accelerators: int = 512,
    pins: StrategyPins | None = None,
    calibration: Calibration | str | None = None,
    costs: CostModel | None = None,
    server_cost_gbp: float | None = None,
    server_power_w: float | None = None,
    software_rounds_behind: float = 0.0,
) -> dict:
    """Evaluate one training run, searching the parallel strategy.

    Args:
        workload: Workload name or object.
        system: Preset name, system file path, or ``SystemSpec``.
        accelerators: Accelerator count.
        pins: Parts of the strategy to fix (``StrategyPins``); precision too.
        calibration: ``Calibration``, a calibration file path, or ``None`` for
            the shipped fit.
        costs: ARIA cost constants (defaults: the ARIA worked example).
        server_cost_gbp: Override of the system's server capital cost, GBP.
        server_power_w: Override of the system's server power, W.
        software_rounds_behind: Run the software of this many MLPerf rounds
            (half-years) ago (``Calibration.software_gain_per_round``); 0, the
            default, is today's software.

    Returns:
        Dict with ``time_to_train_s``, ``step_time_s``, ``capital_gbp``,
        ``operating_gbp``, ``total_gbp``, ``run_cost_gbp``, ``energy_j``,
        ``strategy``, ``breakdown``, ``memory_per_device``, ``feasible`` and
        ``infeasible_reason`` (``None`` when feasible).
    """
    wl = resolve_workload(workload)
    spec = resolve_system(system, server_cost_gbp=server_cost_gbp, server_power_w=server_power_w)
    pins = pins or StrategyPins()
    precision = resolve_precision(system, spec, pins.precision, wl)
    cal = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
    spec = apply_calibration(spec, cal, precision, wl)
    spec = apply_software_maturity(spec, cal, float(software_rounds_behind))
    costs = check_cost_model(costs or CostModel())
    cands = candidates_for(wl, spec, accelerators, precision, pins)
    batch = stack_strategies(cands)
    result = search_jit(spec, wl, batch, cal, costs)
    return result_dict(result, batch, wl, spec, costs)


def design_dict(design: DesignParams, report: dict, *, include_network: bool) -> dict:
    """Plain-number dict of a derived design: feasibility and the report.

    Keys: ``design``, ``process_node``, ``feasible``, ``violated_constraints``,
    ``infeasible_reason`` (``None`` when feasible), ``include_network``, the
    design parameters (``design_params``, SI) and every report entry.
    """
    violated = violated_constraints(report)
    reason = None
    if violated:
        reason = "; ".join(
            f"{name}: {report['constraints'][name]:.3g} x the limit ({CONSTRAINTS[name]})"
            for name in violated
        )
    params = {
        f.name: getattr(design, f.name)
        for f in dataclasses.fields(design)
        if not f.metadata.get("static", False)
    }
    blocks = {
        kind: {
            "name": block.name,
            "source": block.source,
            **{
                f.name: float(getattr(block, f.name))
                for f in dataclasses.fields(block)
                if not f.metadata.get("static", False)
            },
        }
        for kind, block in design.blocks
    }
    return {
        "design": design.name,
        "process_node": design.process_node,
        "fp8": design.fp8,
        "blocks": blocks,
        "feasible": not violated,
        "violated_constraints": violated,
        "infeasible_reason": reason,
        "include_network": include_network,
        "design_params": {k: float(v) for k, v in params.items()},
        **report,
    }


def evaluate_design(
    design: str | DesignParams,
    *,
    accelerators: int | None = None,
    include_network: bool = False,
    **kwargs,
) -> dict:
    """Derive a system from a design and evaluate a workload on it.

    Args:
        design: Built-in design name, design file path, or ``DesignParams``.
        accelerators: Accelerator count (default: the design's servers x
            accelerators per server).
        include_network: Whether capital and server power include the network
            (``hwmodels.derive``); ``False`` (default) follows the ARIA method
            and the presets.
        **kwargs: Passed to ``evaluate`` (workload, pins, calibration, costs,
            server overrides, software_rounds_behind).

    Returns:
        ``evaluate``'s dict with ``design`` added: the derived design's report
        and feasibility (``design_dict``). A design that breaks a constraint is
        still evaluated; ``design["feasible"]`` is then ``False``.
    """
    params = design if isinstance(design, DesignParams) else get_design(design)
    spec, report = derive_checked(params, include_network=include_network)
    if accelerators is None:
        accelerators = int(round(report["accelerators"]))
    out = evaluate(system=spec, accelerators=accelerators, **kwargs)
    out["design"] = design_dict(params, report, include_network=include_network)
    return out
