"""Novel building blocks described by their figures, composed into a design.

A compute block (analog in-memory, photonic, a new digital array) is given by
its throughput density, energy efficiency, precision, clock and any process
cost beyond a plain CMOS wafer; a memory block by its energy per bit and price
per byte; an interconnect block by its energy per bit and price per unit of
bandwidth. ``compose`` turns them into a ``(DesignParams, Technology)`` pair
that ``derive`` takes unchanged, so every derived figure, gradient and
feasibility check applies to them:

- compute: tile area per MAC = ``2 x clock / ops_per_s_per_mm2`` (the area one
  MAC per cycle takes at the block's clock), energy per MAC ``2 / ops_per_j``
  (all-in for the block: no separate datapath or support energy), the design's
  clock and datapath width set to the block's, and the extra process cost
  spread over the wafer (``extra_cost_usd_per_mm2``);
- memory: HBM energy per bit and price per byte replaced;
- interconnect: scale-up energy per bit and baseboard/switch price per byte/s
  replaced.

A block's precision is the design's ``datapath_bits``, so a block narrower than
what training tolerates (``min_datapath_bits`` in ``technology.csv``: 4 bits)
is reported infeasible by name (``datapath_precision``), never passed silently.
The figures of a block are the user's to source; the block keeps its source.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax

from hwmodels._design import DesignParams
from hwmodels._files import as_number
from hwmodels._technology import Technology

__all__ = [
    "BLOCK_TABLES",
    "ComputeBlock",
    "InterconnectBlock",
    "MemoryBlock",
    "blocks_from_mapping",
    "compose",
    "HERMES_1PHASE",
]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ComputeBlock:
    """A matrix-multiply block described by its figures (float leaves, SI).

    Attributes:
        ops_per_s_per_mm2: Dense throughput per mm² at the block's precision
            and clock (1 MAC = 2 ops), ops/s/mm².
        ops_per_j: Energy efficiency at that precision, ops/J (TOPS/W x 1e12).
        precision_bits: Operand precision, bits (the design's datapath_bits).
        clock_hz: Clock at which the figures hold, Hz.
        extra_cost_usd_per_mm2: Process cost beyond the node's CMOS wafer, per
            mm² of wafer (e.g. phase-change memory layers), USD/mm².
        name: Block name (static).
        source: Where the figures come from (static).
    """

    ops_per_s_per_mm2: Any
    ops_per_j: Any
    precision_bits: Any
    clock_hz: Any
    extra_cost_usd_per_mm2: Any = 0.0
    name: str = dataclasses.field(default="compute-block", metadata=dict(static=True))
    source: str = dataclasses.field(default="", metadata=dict(static=True))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class MemoryBlock:
    """Off-chip memory described by its figures (replaces the HBM constants).

    Attributes:
        energy_j_per_bit: Access and I/O energy, J/bit.
        cost_usd_per_byte: Price, USD per byte.
        name: Block name (static).
        source: Where the figures come from (static).
    """

    energy_j_per_bit: Any
    cost_usd_per_byte: Any
    name: str = dataclasses.field(default="memory-block", metadata=dict(static=True))
    source: str = dataclasses.field(default="", metadata=dict(static=True))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class InterconnectBlock:
    """A scale-up link technology described by its figures.

    Attributes:
        energy_j_per_bit: Link energy, J/bit.
        cost_usd_per_byte_per_s: Price per byte/s of bandwidth (one direction),
            including its switch share, USD s/byte.
        name: Block name (static).
        source: Where the figures come from (static).
    """

    energy_j_per_bit: Any
    cost_usd_per_byte_per_s: Any
    name: str = dataclasses.field(default="interconnect-block", metadata=dict(static=True))
    source: str = dataclasses.field(default="", metadata=dict(static=True))


# IBM HERMES (14 nm PCM, 64 cores), 8-bit input/output matrix-vector multiply,
# one-phase mode: 63.1 TOPS at 9.76 TOPS/W (Le Gallo et al., Nature Electronics
# 2023; technology-costs.md s5). The chip area is not in the project's reference
# data: the density below is an ESTIMATE (E) for illustration only, assuming
# ~144 mm² of die (63.1 TOPS / 144 mm²); the extra PCM cost is 0 (not known).
HERMES_1PHASE = ComputeBlock(
    ops_per_s_per_mm2=63.1e12 / 144.0,
    ops_per_j=9.76e12,
    precision_bits=8.0,
    clock_hz=1.0e9,
    extra_cost_usd_per_mm2=0.0,
    name="ibm-hermes-1phase",
    source="Le Gallo et al., Nature Electronics 2023 (technology-costs.md s5): 63.1 TOPS at "
    "9.76 TOPS/W, 8-bit I/O; density E (assumed 144 mm2); clock E (1 GHz, figures are per "
    "second so only the MAC count per cycle depends on it)",
)


def compose(
    design: DesignParams,
    tech: Technology,
    *,
    compute: ComputeBlock | None = None,
    memory: MemoryBlock | None = None,
    interconnect: InterconnectBlock | None = None,
) -> tuple[DesignParams, Technology]:
    """A design and technology with building blocks in place of the defaults.

    Args:
        design: The design (arrays, memory stacks, links, system).
        tech: The node's technology constants.
        compute: Matrix arrays built from this block (its clock and precision
            replace the design's).
        memory: Off-chip memory of this kind (per stack as the design says).
        interconnect: Scale-up links of this kind.

    Returns:
        ``(design, tech)`` for ``derive``; smooth in every block figure.
    """
    if compute is not None:
        wafer_mm2 = math.pi * (tech.wafer_diameter_mm / 2.0) ** 2
        tech = tech.replace(
            tile_area_mm2_per_mac=2.0 * compute.clock_hz / compute.ops_per_s_per_mm2,
            multiplier_area_share=0.0 * tech.multiplier_area_share,
            datapath_energy_j_per_mac=0.0 * tech.datapath_energy_j_per_mac,
            support_energy_j_per_mac=2.0 / compute.ops_per_j,
            wafer_cost_usd=tech.wafer_cost_usd + compute.extra_cost_usd_per_mm2 * wafer_mm2,
        )
        design = dataclasses.replace(
            design, clock_hz=compute.clock_hz, datapath_bits=compute.precision_bits
        )
    if memory is not None:
        tech = tech.replace(
            hbm_energy_j_per_bit=memory.energy_j_per_bit,
            hbm_cost_usd_per_byte=memory.cost_usd_per_byte,
        )
    if interconnect is not None:
        tech = tech.replace(
            scaleup_energy_j_per_bit=interconnect.energy_j_per_bit,
            board_scaleup_cost_usd_per_byte_per_s=interconnect.cost_usd_per_byte_per_s,
        )
    return design, tech


# Design-file tables of building blocks: table -> (kind, class, {key: (field,
# factor to SI)}, required keys). Human units in the keys, SI inside.
BLOCK_TABLES: dict[str, tuple[str, type, dict[str, tuple[str, float]], set[str]]] = {
    "compute_block": (
        "compute",
        ComputeBlock,
        {
            "tops_per_mm2": ("ops_per_s_per_mm2", 1e12),
            "tops_per_w": ("ops_per_j", 1e12),
            "precision_bits": ("precision_bits", 1.0),
            "clock_ghz": ("clock_hz", 1e9),
            "extra_cost_usd_per_mm2": ("extra_cost_usd_per_mm2", 1.0),
        },
        {"tops_per_mm2", "tops_per_w", "precision_bits", "clock_ghz"},
    ),
    "memory_block": (
        "memory",
        MemoryBlock,
        {
            "pj_per_bit": ("energy_j_per_bit", 1e-12),
            "usd_per_gb": ("cost_usd_per_byte", 1e-9),
        },
        {"pj_per_bit", "usd_per_gb"},
    ),
    "interconnect_block": (
        "interconnect",
        InterconnectBlock,
        {
            "pj_per_bit": ("energy_j_per_bit", 1e-12),
            "usd_per_gb_s": ("cost_usd_per_byte_per_s", 1e-9),
        },
        {"pj_per_bit", "usd_per_gb_s"},
    ),
}


def blocks_from_mapping(tables: dict, *, source: str) -> tuple:
    """Building blocks from the ``[compute_block]``, ``[memory_block]`` and
    ``[interconnect_block]`` tables of a design file.

    Keys are in human units (``tops_per_mm2``, ``tops_per_w``,
    ``precision_bits``, ``clock_ghz``, ``extra_cost_usd_per_mm2``;
    ``pj_per_bit``, ``usd_per_gb``; ``pj_per_bit``, ``usd_per_gb_s``) plus
    optional ``name`` and ``source`` text.

    Returns:
        ``((kind, block), ...)`` for ``DesignParams.blocks``.

    Raises:
        ValueError: naming the table, the key, the value and what is allowed.
    """
    out = []
    for table, raw in tables.items():
        kind, cls, keys, required = BLOCK_TABLES[table]
        where = f"{source}, table [{table}]"
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: must be a table of keys {sorted(keys)}")
        unknown = sorted(set(raw) - set(keys) - {"name", "source"})
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(keys)}")
        missing = sorted(required - set(raw))
        if missing:
            raise ValueError(f"{where}: missing required key(s) {missing}")
        values = {}
        for key, (field, factor) in keys.items():
            if key not in raw:
                continue
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{where}: key '{key}' must be a number, got {value!r}")
            value = as_number(value, where, key, finite=False)
            minimum = 0.0 if key == "extra_cost_usd_per_mm2" else None
            ok = math.isfinite(value) and (value >= 0 if minimum is not None else value > 0)
            if not ok:
                allowed = ">= 0" if minimum is not None else "> 0"
                raise ValueError(f"{where}: key '{key}' = {value!r}; must be finite and {allowed}")
            values[field] = float(value) * factor
        text = {k: str(raw[k]) for k in ("name", "source") if k in raw}
        out.append((kind, cls(**values, **text)))
    return tuple(out)
