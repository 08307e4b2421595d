"""Uncertainty of a derived design's figures, by vmapped Monte Carlo.

Every technology and cost constant in ``hwmodels/data/technology.csv`` carries
a range (``low``, ``high``) beside its value. ``design_uncertainty`` draws
``samples`` technologies, each constant independently from a triangular
distribution with its range as the support and its value as the mode (the
least assumption that keeps the documented value most likely; feasibility
limits such as the reticle stay at their values, ``LIMIT_FIELDS``), derives the
system for each (``hwmodels.derive``), searches the strategy exactly for each
(all in one ``vmap``), and reports the 10th, 50th and 90th percentiles of
time-to-train, total pounds, pounds of one run and energy of one run.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from dse._api import candidates_for, resolve_precision, resolve_workload
from dse._calibration import Calibration, load_calibration
from dse._cost import CostModel, check_cost_model
from dse._search import search_strategies
from dse._strategy import StrategyPins, stack_strategies
from hwmodels import TECHNOLOGY_FIELDS, DesignParams, derive, derive_checked, get_design
from hwmodels import technology as node_technology
from hwmodels._technology import technology_table

__all__ = ["sample_technology", "design_uncertainty", "PERCENTILES", "LIMIT_FIELDS"]

PERCENTILES = (10, 50, 90)
# Feasibility limits stay at their values: their ranges describe other
# technologies or scenarios (a half-field High-NA reticle, HBM generations),
# not uncertainty about this one; only what sets area, yield, power and
# pounds is drawn.
LIMIT_FIELDS = (
    "reticle_limit_mm2",
    "power_density_limit_w_per_mm2",
    "hbm_max_bytes_per_stack",
    "hbm_max_bw_bytes_per_s_per_stack",
    "hbm_shoreline_mm_per_stack",
    "min_datapath_bits",
    "min_weight_bits",
    "min_activation_bits",
    "min_optimizer_state_bits",
)
_METRICS = ("time_to_train_s", "total_gbp", "run_cost_gbp", "energy_j")
_BATCH = 32  # samples per compiled call


def sample_technology(node: str, samples: int, seed: int = 0):
    """``samples`` technologies of ``node`` drawn within the documented ranges.

    Returns:
        ``(Technology with [samples] leaves, varied field names)``.

    Raises:
        ValueError: ``samples`` not a whole number >= 1, or an unknown node.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples={samples!r} is not allowed: a whole number >= 1")
    base = node_technology(node)
    table = technology_table(node)
    rng = np.random.default_rng(seed)
    values, varied = {}, []
    for f in TECHNOLOGY_FIELDS:
        row = table[f]
        lo, mode, hi = row["low"], row["value"], row["high"]
        if f not in LIMIT_FIELDS and hi > lo and lo <= mode <= hi:
            values[f] = rng.triangular(lo, mode, hi, size=samples)
            varied.append(f)
        else:
            values[f] = np.full(samples, float(getattr(base, f)))
    return dataclasses.replace(base, **values), varied


@functools.partial(jax.jit, static_argnames=("workload",))
def _metrics_batch(design, techs, workload, cands, cal, costs):
    def one(tech):
        spec, _ = derive(design, tech)
        b = search_strategies(spec, workload, cands, cal, costs).best
        return jnp.stack(
            [b.time_to_train_s, b.cost.total_gbp, b.cost.run_cost_gbp, b.cost.energy_j]
        ), b.feasible

    return jax.vmap(one)(techs)


def design_uncertainty(
    workload,
    design: str | DesignParams,
    *,
    accelerators: int | None = None,
    samples: int = 100,
    seed: int = 0,
    pins: StrategyPins | None = None,
    calibration: Calibration | str | None = None,
    costs: CostModel | None = None,
) -> dict:
    """Percentiles of a design's metrics over its technology's uncertainty.

    Args:
        workload: Workload name or object.
        design: Built-in design, design file or ``DesignParams``.
        accelerators: Accelerator count (default: servers x per server).
        samples: Monte Carlo samples.
        seed: Random seed.
        pins, calibration, costs: As ``dse.evaluate``.

    Returns:
        Dict with ``samples``, ``seed``, ``varied`` (the constants drawn),
        ``percentiles`` (``{metric: {"p10", "p50", "p90"}}``), ``nominal``
        (the metrics with every constant at its value) and ``feasible_share``
        (the share of samples where a strategy fits in memory).

    Raises:
        ValueError: bad samples or accelerators (named).
    """
    wl = resolve_workload(workload)
    d = design if isinstance(design, DesignParams) else get_design(design)
    if accelerators is not None:
        if isinstance(accelerators, bool) or not isinstance(accelerators, int) or accelerators < 1:
            raise ValueError(f"accelerators={accelerators!r} is not allowed: a whole number >= 1")
        d = dataclasses.replace(d, servers=accelerators / float(d.accelerators_per_server))
    n = int(round(float(d.servers) * float(d.accelerators_per_server)))
    pins = pins or StrategyPins()
    cal = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
    costs = check_cost_model(costs or CostModel())
    techs, varied = sample_technology(d.process_node, samples, seed)
    tech0 = node_technology(d.process_node)
    spec0, _ = derive_checked(d, tech0)
    precision = resolve_precision(spec0, spec0, pins.precision, wl)
    cands = stack_strategies(candidates_for(wl, spec0, n, precision, pins))
    nominal_tech = jax.tree_util.tree_map(lambda x: jnp.asarray([x] * _BATCH), tech0)
    m0, _ = _metrics_batch(d, nominal_tech, wl, cands, cal, costs)
    rows, fits = [], []
    for start in range(0, samples, _BATCH):
        part = jax.tree_util.tree_map(lambda x, s=start: np.asarray(x)[s : s + _BATCH], techs)
        k = len(np.asarray(part.wafer_cost_usd))
        part = jax.tree_util.tree_map(lambda x, k=k: np.pad(x, (0, _BATCH - k), mode="edge"), part)
        m, ok = _metrics_batch(d, part, wl, cands, cal, costs)
        rows.append(np.asarray(m)[:k])
        fits.append(np.asarray(ok)[:k] > 0.5)
    m = np.concatenate(rows)
    ok = np.concatenate(fits)
    pct = {}
    for j, key in enumerate(_METRICS):
        vals = m[ok, j] if ok.any() else m[:, j]
        q = np.percentile(vals, PERCENTILES)
        pct[key] = {f"p{p}": float(v) for p, v in zip(PERCENTILES, q, strict=True)}
    return dict(
        samples=samples,
        seed=seed,
        accelerators=n,
        varied=varied,
        percentiles=pct,
        nominal={key: float(np.asarray(m0)[0, j]) for j, key in enumerate(_METRICS)},
        feasible_share=float(ok.mean()),
    )
