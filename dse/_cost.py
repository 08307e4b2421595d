"""Pound cost and energy by the ARIA Scaling Compute method.

capital   = server cost / accelerators per server x accelerators
operating = servers x server power x GBP/kWh x PUE x utilisation x lifetime hours
total     = capital + operating
run cost  = total x run time / lifetime

Defaults are the ARIA worked example's constants (``shared/data/README.md``:
GBP 0.02/kWh, PUE 1.1, 80% utilisation, 5-year life = 43,800 h).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

__all__ = ["CostModel", "CostBreakdown", "cost_terms", "HOURS_PER_YEAR"]

HOURS_PER_YEAR = 8760.0  # ARIA: 5-year life = 43,800 h


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CostModel:
    """Operating constants of the ARIA cost method (overridable).

    Attributes:
        gbp_per_kwh: Electricity price, GBP per kWh (ARIA: 0.02).
        pue: Power usage effectiveness (ARIA: 1.1).
        utilisation: Fraction of the lifetime the system draws its power (ARIA: 0.8).
        lifetime_years: Service life, years (ARIA: 5).
    """

    gbp_per_kwh: Any = 0.02
    pue: Any = 1.1
    utilisation: Any = 0.8
    lifetime_years: Any = 5.0

    def replace(self, **changes) -> CostModel:
        new = dataclasses.replace(self, **changes)
        check_cost_model(new)
        return new


def check_cost_model(cm: CostModel) -> CostModel:
    """Validate concrete cost constants; errors name the field and the range."""
    rules = {
        "gbp_per_kwh": (0.0, None, "must be >= 0"),
        "pue": (1.0, None, "must be >= 1"),
        "utilisation": (0.0, 1.0, "must be within [0, 1]"),
        "lifetime_years": (None, None, "must be > 0"),
    }
    for field, (lo, hi, text) in rules.items():
        x = float(getattr(cm, field))
        bad = (lo is not None and x < lo) or (hi is not None and x > hi)
        if field == "lifetime_years":
            bad = not x > 0
        if bad or x != x:
            raise ValueError(f"cost constant '{field}' = {x!r} {text}")
    return cm


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CostBreakdown:
    """Pounds and joules of one system and one run (all scalars)."""

    servers: Any
    capital_gbp: Any
    operating_gbp: Any
    total_gbp: Any
    run_cost_gbp: Any
    energy_j: Any


def cost_terms(system, costs: CostModel, accelerators, time_to_train_s) -> CostBreakdown:
    """ARIA capital, operating, total and per-run pounds, and run energy.

    Args:
        system: ``SystemSpec`` (server cost, power, accelerators per server).
        costs: ``CostModel``.
        accelerators: Accelerators in the system.
        time_to_train_s: Wall time of one run, s.

    Returns:
        ``CostBreakdown``. Energy is the facility energy of one run with every
        server at its rated power: servers x power x time x PUE, J.
    """
    servers = accelerators / system.accelerators_per_server
    capital = system.server_cost_gbp / system.accelerators_per_server * accelerators
    lifetime_h = costs.lifetime_years * HOURS_PER_YEAR
    server_kw = system.server_power_w / 1e3
    operating = servers * server_kw * costs.gbp_per_kwh * costs.pue * costs.utilisation * lifetime_h
    total = capital + operating
    run_cost = total * time_to_train_s / (lifetime_h * 3600.0)
    energy = servers * system.server_power_w * time_to_train_s * costs.pue
    return CostBreakdown(
        servers=servers,
        capital_gbp=capital,
        operating_gbp=operating,
        total_gbp=total,
        run_cost_gbp=run_cost,
        energy_j=energy,
    )
