"""The simulator: a differentiable JAX model of one training run, its cost, and validation."""

from dse._api import evaluate
from dse._batch import search_batch, stack_problems
from dse._calibration import Calibration, load_calibration
from dse._cost import CostBreakdown, CostModel, cost_terms
from dse._model import RunBreakdown, simulate
from dse._search import SearchResult, search_jit, search_strategies
from dse._strategy import (
    Strategy,
    StrategyPins,
    describe_strategy,
    enumerate_strategies,
    stack_strategies,
)
from dse._studies import scale_study
from dse._validate import load_results, validate

__all__ = [
    "Calibration",
    "CostBreakdown",
    "CostModel",
    "RunBreakdown",
    "SearchResult",
    "Strategy",
    "StrategyPins",
    "cost_terms",
    "describe_strategy",
    "enumerate_strategies",
    "evaluate",
    "load_calibration",
    "load_results",
    "scale_study",
    "search_batch",
    "search_jit",
    "search_strategies",
    "simulate",
    "stack_problems",
    "stack_strategies",
    "validate",
]
