"""The optimizer side: gradient search over hardware designs with projection to
buildable designs (``optimize_design``), Pareto fronts of time versus pounds
over designs (``pareto_designs``), scalarisations and Pareto filtering."""

from optimizers._design_search import optimize_design, search
from optimizers._objectives import (
    METRICS,
    OBJECTIVES,
    SCALARISATIONS,
    chebyshev,
    scalarise,
    weighted_log_sum,
)
from optimizers._pareto import DEFAULT_PARETO_COUNTS, pareto_designs, pareto_front
from optimizers._problem import DesignProblem, Limits
from optimizers._space import SEARCH_SPACE, check_space, grid_size, neighbours, project

__all__ = [
    "DEFAULT_PARETO_COUNTS",
    "METRICS",
    "OBJECTIVES",
    "SCALARISATIONS",
    "SEARCH_SPACE",
    "DesignProblem",
    "Limits",
    "chebyshev",
    "check_space",
    "grid_size",
    "neighbours",
    "optimize_design",
    "pareto_designs",
    "pareto_front",
    "project",
    "scalarise",
    "search",
    "weighted_log_sum",
]
