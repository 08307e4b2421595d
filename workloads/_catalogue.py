"""The catalogue of built-in workloads, read from ``workloads/data/workloads.toml``."""

from __future__ import annotations

import csv
import dataclasses
import functools
import re
import tomllib
from importlib import resources

from workloads._networks import build_ops
from workloads._ops import OpWorkload
from workloads._transformer import TransformerWorkload

__all__ = [
    "convergence_rounds",
    "get_workload",
    "list_workloads",
    "workload_for_round",
    "workload_from_mapping",
]


def _convergence(filename: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    text = resources.files("workloads").joinpath(f"data/{filename}").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    batch = tuple(float(r["global_batch_size"]) for r in rows)
    samples = tuple(float(r["mean_sequences_to_converge"]) for r in rows)
    return batch, samples


def workload_from_mapping(name: str, entry: dict) -> TransformerWorkload | OpWorkload:
    """A workload from one table of ``workloads.toml`` (``convergence`` names its CSV).

    A table with a ``network`` key and an ``architecture`` sub-table is an
    op-level workload whose ops ``workloads._networks.build_ops`` expands;
    any other table holds the fields of a ``TransformerWorkload``.
    """
    entry = dict(entry)
    batch, samples = _convergence(entry.pop("convergence"))
    if "network" in entry:
        network = entry.pop("network")
        ops = build_ops(network, dict(entry.pop("architecture", {})))
        return OpWorkload(
            name=name,
            ops=ops,
            convergence_batch=batch,
            convergence_samples=samples,
            **entry,
        )
    return TransformerWorkload(
        name=name, convergence_batch=batch, convergence_samples=samples, **entry
    )


@functools.cache
def _table() -> dict[str, dict]:
    text = resources.files("workloads").joinpath("data/workloads.toml").read_text()
    return tomllib.loads(text)


def list_workloads() -> list[str]:
    """Names of the built-in workloads."""
    return list(_table())


@functools.cache
def get_workload(name: str) -> TransformerWorkload | OpWorkload:
    """A built-in workload by name.

    Raises:
        ValueError: unknown name, listing the known ones.
    """
    table = _table()
    if name not in table:
        raise ValueError(f"unknown workload '{name}': known workloads are {list(table)}")
    return workload_from_mapping(name, table[name])


# ----------------------------------------------------------------------------
# Convergence by MLPerf round
# ----------------------------------------------------------------------------

_ROUND = re.compile(r"^v(\d+)\.(\d+)$")


def _round_key(round_name: str) -> tuple[int, int]:
    m = _ROUND.match(round_name.strip())
    if not m:
        raise ValueError(
            f"round={round_name!r} is not allowed: an MLPerf Training round written like 'v4.1'"
        )
    return int(m.group(1)), int(m.group(2))


@functools.cache
def _rcp_rounds() -> dict[str, dict[str, tuple[tuple[float, ...], tuple[float, ...]]]]:
    """``{workload: {round: (batches, samples)}}`` from ``data/rcp_by_round.csv``."""
    text = resources.files("workloads").joinpath("data/rcp_by_round.csv").read_text()
    points: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for row in csv.DictReader(line for line in text.splitlines() if not line.startswith("#")):
        _round_key(row["round"])
        points.setdefault(row["workload"], {}).setdefault(row["round"], []).append(
            (float(row["global_batch_size"]), float(row["mean_samples_to_converge"]))
        )
    out: dict[str, dict[str, tuple[tuple[float, ...], tuple[float, ...]]]] = {}
    for name, rounds in points.items():
        for rnd, pts in rounds.items():
            pts.sort()
            out.setdefault(name, {})[rnd] = (
                tuple(b for b, _ in pts),
                tuple(s for _, s in pts),
            )
    return out


def convergence_rounds(name: str) -> list[str]:
    """MLPerf rounds with their own reference convergence points for a workload
    (``data/rcp_by_round.csv``), oldest first; empty when only the default
    (newest) table is known."""
    return sorted(_rcp_rounds().get(name, {}), key=_round_key)


def workload_for_round(workload, round_name: str):
    """The workload as an MLPerf round judged it: its samples-to-converge curve
    replaced by the reference convergence points (RCPs) in force in that round.

    MLPerf normalises a submission that converges in fewer samples than the
    round's RCP mean up to that mean (``rcp_checker``: score x RCP mean /
    submission mean), so a published time is at least the time to train the
    round's RCP samples, and RCP sets change between rounds (Stable Diffusion
    at global batch 512: 2.56 M images in v3.1-v4.1, 2.10 M in v5.0). The
    curve used is that of the newest round at or before ``round_name`` with
    its own RCP file (the oldest one for earlier rounds). Workloads without
    per-round data, and new studies (``evaluate``), keep the default table.

    Args:
        workload: A built-in workload (its ``name`` keys the table).
        round_name: Round like ``v4.1``.

    Raises:
        ValueError: ``round_name`` is not written like ``v4.1``.
    """
    key = _round_key(round_name)
    rounds = convergence_rounds(workload.name)
    if not rounds:
        return workload
    earlier = [r for r in rounds if _round_key(r) <= key]
    chosen = earlier[-1] if earlier else rounds[0]
    batch, samples = _rcp_rounds()[workload.name][chosen]
    if (batch, samples) == (workload.convergence_batch, workload.convergence_samples):
        return workload
    return dataclasses.replace(workload, convergence_batch=batch, convergence_samples=samples)
