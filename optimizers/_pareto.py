"""Non-dominated filtering of (time, cost) points."""

from __future__ import annotations

import numpy as np

__all__ = ["pareto_front"]


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
