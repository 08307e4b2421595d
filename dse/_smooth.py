"""Smooth stand-ins for ``max``, ``relu`` and ``min`` with explicit temperatures.

Every function here is differentiable everywhere, so gradients flow through
roofline combinations, overlap windows and the choice of parallel strategy.
Temperatures are *relative* (dimensionless) so the same setting works for
microseconds and hours.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

__all__ = ["smooth_max", "smooth_relu", "softmin_weights", "smooth_min_log"]

_LOG_CAP = 80.0  # smooth_min_log saturates near exp(80)


def smooth_max(a, b, *, sharpness: float = 8.0):
    """Smooth maximum of two positive quantities, as a p-norm.

    ``(a**p + b**p) ** (1/p)``: scale-free, exact when one term dominates, and
    ``2**(1/p)`` times either term when both are equal (9% for ``p = 8``).

    Args:
        a: Positive array.
        b: Positive array, broadcastable with ``a``.
        sharpness: The exponent ``p``; larger is closer to ``max``.

    Returns:
        Array of the broadcast shape, ``>= max(a, b)``.
    """
    hi = jnp.maximum(a, b)
    hi_safe = jnp.where(hi > 0, hi, 1.0)
    ratio_a = a / hi_safe
    ratio_b = b / hi_safe
    return hi_safe * (ratio_a**sharpness + ratio_b**sharpness) ** (1.0 / sharpness) * (hi > 0)


def smooth_relu(x, scale, *, temperature: float = 0.05):
    """Smooth ``max(x, 0)`` (softplus) with a width relative to ``scale``.

    Args:
        x: Array, in the units of ``scale`` (e.g. seconds).
        scale: Positive array: the magnitude that sets the softplus width.
        temperature: Width as a fraction of ``scale``.

    Returns:
        ``w * softplus(x / w)`` with ``w = temperature * scale``.
    """
    width = temperature * scale
    return width * jax.nn.softplus(x / width)


def softmin_weights(values, log_prior, *, temperature: float):
    """Softmin weights over a candidate axis, in log space.

    ``w_i ∝ exp(log_prior_i - ln(v_i) / T)``: candidates 1% slower than the best
    get weight ``exp(-0.01 / T)`` of it. ``log_prior`` carries soft feasibility
    (``-inf``-like for infeasible candidates).

    Args:
        values: Positive array ``[..., S]`` (e.g. time-to-train per strategy).
        log_prior: Array broadcastable to ``values``.
        temperature: Relative temperature ``T > 0``.

    Returns:
        Weights ``[..., S]`` summing to one over the last axis.
    """
    logits = log_prior - jnp.log(values) / temperature
    return jax.nn.softmax(logits, axis=-1)


def smooth_min_log(values, log_prior, *, temperature: float):
    """Smooth minimum of positive values, as a log-sum-exp in log space.

    ``exp(-T * logsumexp(log_prior - ln(v) / T))``: never above the minimum
    over candidates with ``log_prior = 0``, at most ``T * ln(k)`` (relative)
    below it when ``k`` candidates tie, and monotone: lowering any value or
    raising any prior never raises it.

    Args:
        values: Positive array ``[..., S]``.
        log_prior: Array broadcastable to ``values`` (``<= 0``; soft feasibility).
        temperature: Relative temperature ``T > 0``.

    Returns:
        Array ``[...]``.
    """
    logits = log_prior - jnp.log(values) / temperature
    log_min = -temperature * logsumexp(logits, axis=-1)
    # Saturate smoothly near e^80 so a hopeless candidate set (nothing fits in
    # memory: log_prior very negative, scaled by 1/T) stays finite in float32
    # and keeps a gradient; values below ~e^70 are unchanged.
    return jnp.exp(_LOG_CAP - jax.nn.softplus(_LOG_CAP - log_min))
