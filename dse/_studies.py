"""Studies built from the model: scale sweeps of real systems with Pareto fronts."""

from __future__ import annotations

import time

import jax
import numpy as np

from dse._api import candidates_for, resolve_precision
from dse._batch import search_batch
from dse._calibration import Calibration, apply_calibration
from dse._cost import CostModel
from dse._strategy import StrategyPins, describe_strategy
from hwmodels import get_system, list_presets
from optimizers._pareto import pareto_front
from workloads import TransformerWorkload

__all__ = ["scale_study", "DEFAULT_COUNTS"]

DEFAULT_COUNTS = (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)


def scale_study(
    workload: TransformerWorkload,
    *,
    systems: list[str] | None = None,
    counts=DEFAULT_COUNTS,
    cal: Calibration,
    costs: CostModel,
    progress=None,
) -> dict:
    """Time-to-train and pounds for every system at every scale; the Pareto front.

    Every (system, accelerator count) pair gets its own strategy search (global
    batch included); all pairs run in one vmapped batch. Pairs with no valid or
    no memory-feasible strategy are reported as infeasible with the reason.

    Args:
        workload: The workload.
        systems: Preset names or system files (default: every preset).
        counts: Accelerator counts to try.
        cal: Calibration.
        costs: Cost constants.
        progress: Optional callable taking a status line.

    Returns:
        Dict with ``points`` (every evaluated pair), ``front`` (the non-dominated
        feasible points, by time), and ``infeasible``.
    """
    names = systems or list_presets()
    specs, cand_lists, meta, infeasible = [], [], [], []
    for name in names:
        spec = get_system(name)
        precision = resolve_precision(name, spec, None, workload)
        spec = apply_calibration(spec, cal, precision, workload)
        for n in counts:
            try:
                cands = candidates_for(workload, spec, n, precision, StrategyPins())
            except ValueError as err:
                infeasible.append(dict(system=name, accelerators=int(n), reason=str(err)))
                continue
            specs.append(spec)
            cand_lists.append(cands)
            meta.append((name, int(n), precision))
    if progress:
        progress(f"searching strategies for {len(specs)} (system, scale) pairs ...")
    t0 = time.perf_counter()
    res = search_batch(specs, workload, cand_lists, cal, costs)
    jax.block_until_ready(res)
    if progress:
        progress(f"done in {time.perf_counter() - t0:.1f} s")
    best = jax.tree_util.tree_map(np.asarray, res.best)
    points = []
    for r, (name, n, precision) in enumerate(meta):
        if float(np.asarray(res.any_feasible)[r]) < 0.5:
            need = best.memory_per_device_bytes[r] / 1e9
            infeasible.append(
                dict(
                    system=name,
                    accelerators=n,
                    reason=f"no strategy fits in memory (least demanding needs {need:.1f} GB per device)",
                )
            )
            continue
        idx = int(np.asarray(res.best_index)[r])
        points.append(
            dict(
                system=name,
                accelerators=n,
                precision=precision,
                time_to_train_s=float(best.time_to_train_s[r]),
                total_gbp=float(best.cost.total_gbp[r]),
                capital_gbp=float(best.cost.capital_gbp[r]),
                operating_gbp=float(best.cost.operating_gbp[r]),
                run_cost_gbp=float(best.cost.run_cost_gbp[r]),
                energy_j=float(best.cost.energy_j[r]),
                mfu=float(best.mfu[r]),
                strategy=describe_strategy(cand_lists[r][idx]),
            )
        )
    front = []
    if points:
        idx = pareto_front([p["time_to_train_s"] for p in points], [p["total_gbp"] for p in points])
        front = [points[i] for i in idx]
    return dict(workload=workload.name, points=points, front=front, infeasible=infeasible)
