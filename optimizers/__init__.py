"""The optimizer side: gradient search over hardware designs with projection to
buildable designs (``optimize_design``), and Pareto filtering."""

from optimizers._design_search import (
    OBJECTIVES,
    SEARCH_SPACE,
    Limits,
    optimize_design,
    project,
)
from optimizers._pareto import pareto_front

__all__ = ["OBJECTIVES", "SEARCH_SPACE", "Limits", "optimize_design", "pareto_front", "project"]
