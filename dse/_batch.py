"""Many (system, candidate strategies) problems in one jitted, vmapped call.

Candidate lists of different lengths are padded to a common length by
repeating each problem's first candidate: this leaves the exact best strategy
(and its breakdown) unchanged. One compile serves every problem of a workload.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import numpy as np

from dse._calibration import Calibration
from dse._cost import CostModel
from dse._search import SearchResult, search_strategies
from dse._strategy import Strategy
from hwmodels import SYSTEM_FIELDS, SystemSpec

__all__ = ["stack_problems", "search_batch"]


def stack_problems(specs: list[SystemSpec], candidate_lists: list[list[dict]]):
    """Stack systems to ``[R]`` leaves and candidates to ``[R, S]`` leaves."""
    systems = SystemSpec(
        name="batch",
        **{f: np.asarray([float(getattr(s, f)) for s in specs]) for f in SYSTEM_FIELDS},
    )
    width = max(len(c) for c in candidate_lists)
    fields = [f.name for f in dataclasses.fields(Strategy)]
    arrays = {f: np.zeros((len(specs), width)) for f in fields}
    for r, cands in enumerate(candidate_lists):
        padded = cands + [cands[0]] * (width - len(cands))
        for f in fields:
            arrays[f][r] = [c[f] for c in padded]
    return systems, Strategy(**arrays)


@functools.partial(jax.jit, static_argnames=("workload",))
def _search_vmapped(systems, workload, strategies, cal, costs) -> SearchResult:
    return jax.vmap(lambda s, c: search_strategies(s, workload, c, cal, costs))(systems, strategies)


def search_batch(
    specs: list[SystemSpec],
    workload,
    candidate_lists: list[list[dict]],
    cal: Calibration,
    costs: CostModel,
) -> SearchResult:
    """Search the strategies of many systems at once.

    Args:
        specs: Concrete systems, one per problem.
        workload: The workload shared by all problems.
        candidate_lists: Valid strategies per problem (from ``enumerate_strategies``).
        cal: Calibration.
        costs: Cost constants.

    Returns:
        ``SearchResult`` whose leaves have a leading axis of problems.
    """
    systems, strategies = stack_problems(specs, candidate_lists)
    return _search_vmapped(systems, workload, strategies, cal, costs)
