"""Pareto fronts: non-dominated filtering, and the front of time versus pounds over designs."""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_PARETO_COUNTS", "pareto_designs", "pareto_front"]


def pareto_front(*objectives) -> np.ndarray:
    """Indices of the points no other point dominates (all objectives minimised).

    A point is dominated if another is no worse in every objective and better in
    at least one. Ties (identical points) keep the first.

    Args:
        *objectives: 1-D arrays of equal length ``[P]``, one per objective.

    Returns:
        Sorted indices into ``[P]`` of the non-dominated points, ordered by the
        first objective.
    """
    pts = np.stack([np.asarray(o, dtype=float) for o in objectives], axis=1)
    if pts.ndim != 2 or len(pts) == 0:
        return np.zeros(0, dtype=int)
    if not np.all(np.isfinite(pts)):
        raise ValueError("pareto_front needs finite objective values")
    keep = []
    for i, p in enumerate(pts):
        no_worse = np.all(pts <= p, axis=1)
        better = np.any(pts < p, axis=1)
        dominated = np.any(no_worse & better)
        duplicate_earlier = np.any(np.all(pts[:i] == p, axis=1))
        if not dominated and not duplicate_earlier:
            keep.append(i)
    keep = np.asarray(keep, dtype=int)
    return keep[np.argsort(pts[keep, 0], kind="stable")]


def _spread(finals, idx, points: int) -> list[int]:
    """At most ``points`` of the front ``idx`` (ordered by time), evenly spread
    along its length in log time and log pounds; both ends always kept."""
    idx = list(idx)
    if len(idx) <= points:
        return idx
    xy = np.log([[finals[i]["time_to_train_s"], finals[i]["total_gbp"]] for i in idx])
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
    picks = []
    for target in np.linspace(0.0, arc[-1], points):
        j = int(np.argmin(np.abs(arc - target)))
        if j not in picks:
            picks.append(j)
    return [idx[j] for j in sorted(picks)]


DEFAULT_PARETO_COUNTS = (128, 256, 512, 1024, 2048, 4096)


def pareto_designs(
    workload,
    *,
    base="h100-like",
    counts=DEFAULT_PARETO_COUNTS,
    points: int = 8,
    scalarisation: str = "chebyshev",
    limits=None,
    pins=None,
    calibration=None,
    costs=None,
    space=None,
    steps: int = 200,
    learning_rate: float = 0.15,
    optimizer=None,
    seed: int = 0,
    polish_rounds: int = 8,
    keep: int = 48,
    progress=None,
    problem=None,
) -> dict:
    """The Pareto front of time-to-train versus total pounds over designs.

    One vmapped gradient run holds several scalarisation weights at every
    accelerator count; each start's design is projected to a buildable one and
    polished under its own weights; the non-dominated designs among the
    starts' results are re-evaluated over every valid strategy and filtered
    again.

    Args:
        workload: Workload name or object.
        base: Base design (its parameters outside the space stay fixed).
        counts: Accelerator counts to choose from.
        points: Number of scalarised starts, spread over the counts: each
            count gets ``max(2, ceil(points / len(counts)))`` weights, with
            ``w_time`` evenly spread in [0.05, 0.95] and ``w_cost = 1 - w_time``.
        scalarisation: ``chebyshev`` (default; reaches non-convex parts of
            the front) or ``log-sum``.
        limits, pins, calibration, costs, space, keep: as ``DesignProblem``.
        steps, learning_rate, optimizer, seed, polish_rounds, progress: as
            ``optimizers._design_search.search``.
        problem: A prebuilt ``DesignProblem``.

    Returns:
        Dict with ``front`` (non-dominated designs by time, each with
        ``time_to_train_s``, ``total_gbp``, ``run_cost_gbp``, ``energy_j``,
        ``accelerators``, ``design``, ``feasible``, ``strategy``, ...; at
        most ``points`` designs, evenly spread along the front in log time
        and log pounds), ``front_size`` (non-dominated designs before
        spreading), ``front_points`` (``[time_to_train_s, total_gbp]`` of every
        non-dominated design),
        ``evaluated`` (how many designs were evaluated exactly), evaluation
        counts, ``skipped`` counts and the settings used.

    Raises:
        ValueError: bad points, counts, space or limits (named).
    """
    from optimizers._design_search import best_dict, search
    from optimizers._problem import METRIC_KEYS, DesignProblem, _whole

    _whole("points", points, 1)
    _whole("steps", steps, 2)
    if problem is None:
        problem = DesignProblem(
            workload,
            base=base,
            counts=counts,
            space=space,
            limits=limits,
            pins=pins,
            calibration=calibration,
            costs=costs,
            keep=keep,
            seed=seed,
        )
    n_counts = len(problem.counts)
    per_count = max(2, -(-points // n_counts))
    w_time = np.linspace(0.05, 0.95, per_count)
    ks = np.repeat(np.arange(n_counts), per_count)
    weights = np.stack([np.tile(w_time, n_counts), 1.0 - np.tile(w_time, n_counts)], axis=1)
    i_t, i_c = METRIC_KEYS.index("time_to_train_s"), METRIC_KEYS.index("total_gbp")
    run = search(
        problem,
        ks=ks,
        weights=weights,
        metric_idx=(i_t, i_c),
        scalarisation=scalarisation,
        steps=steps,
        learning_rate=learning_rate,
        optimizer=optimizer,
        seed=seed,
        polish_rounds=polish_rounds,
        progress=progress,
    )
    # Every exactly evaluated feasible design (projected starts and their
    # polish neighbourhoods) competes for the front.
    feasible = [r for r in run["evaluated"].values() if r["feasible"]]
    front, front_size, front_points, chosen = [], 0, [], []
    if feasible:
        idx = pareto_front(
            [r["metrics"]["time_to_train_s"] for r in feasible],
            [r["metrics"]["total_gbp"] for r in feasible],
        )
        # Final evaluation (every strategy) of twice as many designs as will be
        # shown, evenly spread along the front of the exact (pruned) metrics.
        spread_in = [
            dict(
                time_to_train_s=r["metrics"]["time_to_train_s"], total_gbp=r["metrics"]["total_gbp"]
            )
            for r in feasible
        ]
        chosen = [feasible[i] for i in _spread(spread_in, idx, 2 * points)]
        if progress:
            progress(0.97, f"final evaluation of {len(chosen)} designs over every strategy")
        finals = problem.final([r["values"] for r in chosen], [r["k"] for r in chosen])
        for f, r in zip(finals, chosen, strict=True):
            f["values"] = r["values"]
        finals = [f for f in finals if f["feasible"]]
        if finals:
            idx = pareto_front(
                [f["time_to_train_s"] for f in finals], [f["total_gbp"] for f in finals]
            )
            front_size = len(idx)
            front_points = [[finals[i]["time_to_train_s"], finals[i]["total_gbp"]] for i in idx]
            front = [best_dict(problem, finals[i]) for i in _spread(finals, idx, points)]
    if progress:
        progress(1.0, f"{len(front)} designs on the front")
    return dict(
        workload=problem.wl.name,
        base_design=problem.d0.name,
        counts=list(problem.counts),
        skipped=problem.skipped,
        points=points,
        scalarisation=scalarisation,
        starts=len(ks),
        steps=steps,
        front=front,
        front_size=front_size,
        front_points=front_points,
        evaluated=len(run["evaluated"]),
        feasible_evaluated=sum(r["feasible"] for r in run["evaluated"].values()),
        gradient_evaluations=run["gradient_evaluations"],
        exact_evaluations=run["exact_evaluations"],
        final_evaluations=len(chosen),
        strategies_searched=[len(c) for c in problem.pruned_candidates],
    )
