"""Objectives and their scalarisations.

The metrics of a run are time-to-train (s), total pounds (capital + operating),
pounds of one run and energy of one run (J). A search minimises one of them or
a scalarisation of several, always in log space (relative changes count the
same for seconds and pounds):

* weighted log-sum ``sum_i w_i ln(f_i / r_i)``: finds the convex part of the
  front only;
* Chebyshev ``max_i w_i ln(f_i / u_i)`` with ``u`` a utopia point below every
  ``f``: reaches non-convex parts too. Its ``max`` is a log-sum-exp with an
  explicit temperature so the gradient exists everywhere, plus a small
  augmentation ``rho * sum_i w_i ln(f_i / u_i)`` that breaks ties toward
  strictly non-dominated points.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

__all__ = [
    "METRICS",
    "OBJECTIVES",
    "SCALARISATIONS",
    "weighted_log_sum",
    "chebyshev",
    "scalarise",
]

# Objective name -> metric key (``dse evaluate`` JSON names).
OBJECTIVES = {
    "time": "time_to_train_s",
    "cost": "total_gbp",
    "run-cost": "run_cost_gbp",
    "energy": "energy_j",
}
METRICS = tuple(OBJECTIVES.values())
SCALARISATIONS = ("log-sum", "chebyshev")

CHEBYSHEV_TEMPERATURE = 0.02  # log units: terms 2% apart weigh e^-1 as much
CHEBYSHEV_RHO = 0.01  # augmentation weight


def weighted_log_sum(log_f, w):
    """``sum_i w_i log_f_i`` over the last axis."""
    return jnp.sum(w * log_f, axis=-1)


def chebyshev(
    log_f, w, log_utopia, *, temperature: float = CHEBYSHEV_TEMPERATURE, rho: float = CHEBYSHEV_RHO
):
    """Smooth augmented Chebyshev scalarisation over the last axis.

    Args:
        log_f: Log objectives ``[..., J]``.
        w: Weights ``[..., J]`` (non-negative).
        log_utopia: Log utopia point ``[J]`` (below every reachable ``log_f``).
        temperature: Width of the smooth maximum, in log units.
        rho: Augmentation weight.

    Returns:
        ``T logsumexp(d / T) + rho sum(d)`` with ``d = w (log_f - log_utopia)``.
    """
    d = w * (log_f - log_utopia)
    return temperature * logsumexp(d / temperature, axis=-1) + rho * jnp.sum(d, axis=-1)


def scalarise(kind: str, log_f, w, log_utopia=None):
    """Dispatch on ``kind`` (``log-sum`` or ``chebyshev``); works on NumPy too."""
    if kind == "log-sum":
        return weighted_log_sum(log_f, w)
    if kind == "chebyshev":
        return chebyshev(log_f, w, log_utopia)
    raise ValueError(f"scalarisation={kind!r} is not allowed: one of {list(SCALARISATIONS)}")


def scalarise_np(kind: str, log_f, w, log_utopia=None) -> float:
    """``scalarise`` on plain numbers (exact re-evaluation), in NumPy."""
    log_f, w = np.asarray(log_f, dtype=float), np.asarray(w, dtype=float)
    if kind == "log-sum":
        return float(np.sum(w * log_f))
    if kind == "chebyshev":
        d = w * (log_f - np.asarray(log_utopia, dtype=float))
        x = d / CHEBYSHEV_TEMPERATURE
        top = float(np.max(x))
        lse = top + float(np.log(np.sum(np.exp(x - top))))
        return CHEBYSHEV_TEMPERATURE * lse + CHEBYSHEV_RHO * float(np.sum(d))
    raise ValueError(f"scalarisation={kind!r} is not allowed: one of {list(SCALARISATIONS)}")
