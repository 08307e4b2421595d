"""Strategy search: the exact best strategy, and a smooth objective over all.

For one system, every candidate strategy is simulated at once (``vmap``). The
*exact* result is the fastest strategy that fits in memory (``argmin``); the
*smooth* objective is a softmin-weighted mean over candidates, with soft memory
feasibility, so that its gradient with respect to every continuous system
parameter exists everywhere. Both come back in one ``SearchResult``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from dse._calibration import Calibration
from dse._cost import CostModel
from dse._model import RunBreakdown, simulate
from dse._smooth import smooth_min_log, softmin_weights
from hwmodels import SystemSpec
from workloads import TransformerWorkload

__all__ = [
    "SearchResult",
    "search_strategies",
    "search_jit",
    "DEFAULT_TEMPERATURE",
    "DEFAULT_MEMORY_TEMPERATURE",
    "prune_candidates",
]

# Relative temperature of the softmin over strategies: a candidate 1% slower
# than the best weighs exp(-1) as much.
DEFAULT_TEMPERATURE = 0.01
# Relative width of soft memory feasibility: 1% over capacity costs a factor
# exp(-2) in weight, 5% over exp(-10).
DEFAULT_MEMORY_TEMPERATURE = 0.005


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SearchResult:
    """Result of searching the strategies of one system.

    Attributes:
        best: ``RunBreakdown`` of the fastest feasible strategy (exact model).
        best_index: Index of that strategy among the candidates.
        any_feasible: 1.0 if some strategy fits in memory.
        time_to_train_s: Smooth (log-sum-exp softmin) time-to-train over
            strategies, s: differentiable everywhere, monotone, within
            ``temperature x ln(near-ties)`` below the exact best.
        total_gbp: Smooth total pounds (capital + operating).
        run_cost_gbp: Smooth pounds of one run.
        energy_j: Smooth energy of one run, J.
    """

    best: RunBreakdown
    best_index: Any
    any_feasible: Any
    time_to_train_s: Any
    total_gbp: Any
    run_cost_gbp: Any
    energy_j: Any


def search_strategies(
    system: SystemSpec,
    workload: TransformerWorkload,
    candidates,
    cal: Calibration,
    costs: CostModel,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    memory_temperature: float = DEFAULT_MEMORY_TEMPERATURE,
    candidate_log_prior=None,
) -> SearchResult:
    """Simulate every candidate strategy and combine them.

    Args:
        system: ``SystemSpec`` with scalar leaves.
        workload: The workload (static).
        candidates: ``Strategy`` with leaves of shape ``[S]``.
        cal: ``Calibration``.
        costs: ``CostModel``.
        temperature: Relative softmin temperature over strategies.
        memory_temperature: Relative width of soft memory feasibility.
        candidate_log_prior: Optional ``[S]`` log weights added to the smooth
            objective's prior: ``0`` for a real candidate, a large negative
            number (e.g. ``-1e4``) for padding that must not count. Padding
            must repeat a real candidate so the exact result is unchanged.

    Returns:
        ``SearchResult`` (scalars).
    """
    runs = jax.vmap(simulate, in_axes=(None, None, 0, None, None))(
        system, workload, candidates, cal, costs
    )
    t = runs.time_to_train_s
    feasible = runs.feasible > 0.5
    any_feasible = jnp.any(feasible)
    # Exact: fastest feasible; if none fits, the one closest to fitting.
    overshoot = runs.memory_per_device_bytes / runs.memory_capacity_bytes
    key = jnp.where(any_feasible, jnp.where(feasible, t, jnp.inf), overshoot)
    index = jnp.argmin(key)
    best = jax.tree_util.tree_map(lambda x: x[index], runs)
    # Smooth: a log-sum-exp softmin of log time with soft feasibility. It is
    # monotone: a faster candidate, or one that fits better, never raises it.
    # It lies below the exact minimum by at most T ln(number of near-ties).
    slack = 1.0 - overshoot
    log_prior = jax.nn.log_sigmoid(slack / memory_temperature)
    if candidate_log_prior is not None:
        log_prior = log_prior + candidate_log_prior
    smooth_t = smooth_min_log(t, log_prior, temperature=temperature)
    # Pounds and energy of the run scale with its time (same accelerators).
    w = softmin_weights(t, log_prior, temperature=temperature)
    total = jnp.sum(w * runs.cost.total_gbp)
    per_second = lambda x: jnp.sum(w * x / t)  # noqa: E731
    return SearchResult(
        best=best,
        best_index=index,
        any_feasible=any_feasible.astype(t.dtype),
        time_to_train_s=smooth_t,
        total_gbp=total,
        run_cost_gbp=per_second(runs.cost.run_cost_gbp) * smooth_t,
        energy_j=per_second(runs.cost.energy_j) * smooth_t,
    )


@functools.partial(jax.jit, static_argnames=("workload", "temperature", "memory_temperature"))
def search_jit(
    system,
    workload,
    candidates,
    cal,
    costs,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    memory_temperature: float = DEFAULT_MEMORY_TEMPERATURE,
) -> SearchResult:
    """``search_strategies`` under ``jit`` (one compile per workload and candidate count)."""
    return search_strategies(
        system,
        workload,
        candidates,
        cal,
        costs,
        temperature=temperature,
        memory_temperature=memory_temperature,
    )


_simulate_candidates = jax.jit(
    jax.vmap(simulate, in_axes=(None, None, 0, None, None)), static_argnums=1
)


def prune_candidates(
    system: SystemSpec,
    workload: TransformerWorkload,
    candidates,
    cal: Calibration,
    costs: CostModel,
    *,
    keep: int,
):
    """Keep the ``keep`` fastest memory-feasible candidates on a reference system.

    The first stage of a two-stage search for large design batches: strategies
    that are slow or do not fit on the reference system are dropped once, and
    every design of the batch then searches only the survivors. Designs far
    from the reference may prefer a dropped strategy; keep more to be safer.

    Args:
        system: Reference system (concrete).
        workload: The workload.
        candidates: ``Strategy`` with ``[S]`` leaves.
        cal: Calibration.
        costs: Cost constants.
        keep: Number of candidates to keep (at most ``S``).

    Returns:
        ``Strategy`` with ``[min(keep, S)]`` leaves, fastest first.
    """
    import numpy as np

    runs = _simulate_candidates(system, workload, candidates, cal, costs)
    t = np.asarray(runs.time_to_train_s, dtype=float)
    t = np.where(np.asarray(runs.feasible) > 0.5, t, np.inf)
    order = np.argsort(t, kind="stable")[: min(keep, t.size)]
    return jax.tree_util.tree_map(lambda x: np.asarray(x)[order], candidates)
