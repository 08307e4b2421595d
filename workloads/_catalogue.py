"""The catalogue of built-in workloads, read from ``workloads/data/workloads.toml``."""

from __future__ import annotations

import csv
import functools
import tomllib
from importlib import resources

from workloads._networks import build_ops
from workloads._ops import OpWorkload
from workloads._transformer import TransformerWorkload

__all__ = ["get_workload", "list_workloads", "workload_from_mapping"]


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
