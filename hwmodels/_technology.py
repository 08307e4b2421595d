"""Technology constants per process node: area, energy, yield, prices, limits.

Every constant lives in ``hwmodels/data/technology.csv`` with its unit, an
uncertainty range (``low``, ``high``) and its source (marks: **E** estimate,
**D** derived, with the arithmetic). Rows with node ``all`` hold for every
node; ``N4`` uses the ``N5`` rows (the reference data groups N5 and N4).

``Technology`` is a frozen pytree of float leaves in SI units (areas stay in
mm², as their names say), so gradients flow to technology constants as well as
to design parameters: ``jax.grad(f)(tech)`` gives the sensitivity of any
derived figure to every constant.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from importlib import resources
from typing import Any

import jax

__all__ = [
    "NODES",
    "TECHNOLOGY_FIELDS",
    "Technology",
    "technology",
    "technology_rows",
    "technology_table",
]

NODES = ("N7", "N5", "N4", "N3")
_NODE_ROWS = {"N7": "N7", "N5": "N5", "N4": "N5", "N3": "N3"}

# Unit in the CSV -> factor to the field's unit (SI; areas in mm²).
_UNIT_FACTORS: dict[str, float] = {
    "1": 1.0,
    "bits": 1.0,
    "USD": 1.0,
    "USD/mm2": 1.0,
    "USD/GiB": 1.0 / 2**30,  # -> USD per byte
    "USD per GB/s": 1e-9,  # -> USD per (byte/s)
    "USD per Gb/s": 1e-9,  # -> USD per (bit/s)
    "GBP/USD": 1.0,
    "1/cm2": 1e-2,  # -> per mm²
    "mm": 1.0,
    "mm2": 1.0,
    "mm2/MAC": 1.0,
    "mm2 per GB/s": 1e-9,  # -> mm² per (byte/s)
    "MB/mm2": 1e6,  # -> bytes per mm²
    "pJ/MAC": 1e-12,  # -> J per MAC
    "pJ/bit": 1e-12,  # -> J per bit
    "W/mm2": 1.0,
    "us": 1e-6,  # -> s
    "GiB": 2.0**30,  # -> bytes
    "TB/s": 1e12,  # -> bytes/s
}


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Technology:
    """Technology and cost constants of one process node (float leaves).

    Units are in the names (SI; areas in mm²). "Per MAC" means one multiply-
    accumulate of the 16-bit (bf16-class) datapath; the multiplier part scales
    with ``(datapath_bits / 16) ** multiplier_exponent``.

    Attributes:
        wafer_cost_usd: Price of one 300 mm wafer, USD.
        defect_density_per_mm2: Defect density D0, defects per mm².
        yield_cluster_alpha: Negative-binomial clustering parameter (1).
        wafer_diameter_mm: Wafer diameter, mm.
        reticle_limit_mm2: Largest die one exposure field allows, mm².
        tile_area_mm2_per_mac: Area of an SM-equivalent array tile per MAC, mm²
            (multipliers, register files, local memory, vector units, control).
        multiplier_area_share: Share of the tile that is the multiplier (1).
        multiplier_exponent: Exponent of multiplier area and energy in
            significand bits (1).
        sram_density_bytes_per_mm2: Shared on-chip SRAM (last-level cache)
            density, bytes per mm².
        noc_area_mm2_per_array: On-chip interconnect per array, mm².
        hbm_phy_area_mm2_per_stack: HBM PHY per stack, mm².
        hbm_ctrl_area_mm2_per_stack: HBM controller per stack, mm².
        scaleup_phy_area_mm2_per_byte_per_s: Scale-up SerDes PHY per byte/s
            (one direction), mm² s / byte.
        scaleout_phy_area_mm2_per_byte_per_s: Host/NIC port PHY per byte/s
            (one direction), mm² s / byte.
        other_area_mm2: Fixed uncore (display/host logic, fuses, pads), mm².
        datapath_energy_j_per_mac: Multiplier-adder energy per 16-bit MAC, J.
        support_energy_j_per_mac: Operand delivery, register files, control
            and clock energy per MAC, J.
        sram_energy_j_per_bit: Shared SRAM access energy, J/bit.
        hbm_energy_j_per_bit: HBM access and I/O energy, J/bit.
        scaleup_energy_j_per_bit: Scale-up link energy, J/bit.
        scaleout_io_energy_j_per_bit: Accelerator-to-NIC link energy, J/bit.
        optics_energy_j_per_bit: Energy of one optical transceiver, J/bit.
        leakage_w_per_mm2: Static power density, W/mm².
        hbm_cost_usd_per_byte: HBM price, USD per byte.
        packaging_cost_usd_per_mm2: 2.5D packaging per mm² of silicon on the
            interposer (logic die plus HBM footprints), USD/mm².
        hbm_stack_footprint_mm2: Footprint of one HBM stack, mm².
        test_cost_usd: Final test and assembly per accelerator, USD.
        board_scaleup_cost_usd_per_byte_per_s: Baseboard and scale-up switch
            silicon per byte/s of scale-up bandwidth (one direction), USD s/byte.
        host_cost_usd_per_accelerator: Non-accelerator server bill of materials
            per accelerator slot (CPUs, memory, NICs, chassis), USD.
        server_power_overhead: Server power beyond its accelerators, as a
            fraction of their power (1).
        switch_cost_usd_per_bit_per_s: Network switch port price per bit/s, USD s/bit.
        optics_cost_usd_per_bit_per_s: Optical transceiver price per bit/s, USD s/bit.
        switch_ports_per_endpoint: Switch ports per accelerator's scale-out link (1).
        transceivers_per_endpoint: Optical transceivers per accelerator (1).
        gbp_per_usd: Exchange rate, GBP per USD.
        scaleup_latency_s: Latency of one collective step on scale-up, s.
        scaleout_latency_s: Latency of one collective step on scale-out, s.
        power_density_limit_w_per_mm2: Largest coolable power density, W/mm².
        hbm_max_bytes_per_stack: Largest HBM stack capacity on offer, bytes.
        hbm_max_bw_bytes_per_s_per_stack: Fastest HBM stack on offer, bytes/s.
        hbm_shoreline_mm_per_stack: Die edge one HBM PHY takes, mm.
        min_datapath_bits: Narrowest matrix-multiply input known to train (bits).
        min_weight_bits: Narrowest stored master weights known to train (bits).
        min_activation_bits: Narrowest stored activations known to train (bits).
        min_optimizer_state_bits: Narrowest optimizer state known to train (bits).
        node: Process node name (static).
    """

    wafer_cost_usd: Any
    defect_density_per_mm2: Any
    yield_cluster_alpha: Any
    wafer_diameter_mm: Any
    reticle_limit_mm2: Any
    tile_area_mm2_per_mac: Any
    multiplier_area_share: Any
    multiplier_exponent: Any
    sram_density_bytes_per_mm2: Any
    noc_area_mm2_per_array: Any
    hbm_phy_area_mm2_per_stack: Any
    hbm_ctrl_area_mm2_per_stack: Any
    scaleup_phy_area_mm2_per_byte_per_s: Any
    scaleout_phy_area_mm2_per_byte_per_s: Any
    other_area_mm2: Any
    datapath_energy_j_per_mac: Any
    support_energy_j_per_mac: Any
    sram_energy_j_per_bit: Any
    hbm_energy_j_per_bit: Any
    scaleup_energy_j_per_bit: Any
    scaleout_io_energy_j_per_bit: Any
    optics_energy_j_per_bit: Any
    leakage_w_per_mm2: Any
    hbm_cost_usd_per_byte: Any
    packaging_cost_usd_per_mm2: Any
    hbm_stack_footprint_mm2: Any
    test_cost_usd: Any
    board_scaleup_cost_usd_per_byte_per_s: Any
    host_cost_usd_per_accelerator: Any
    server_power_overhead: Any
    switch_cost_usd_per_bit_per_s: Any
    optics_cost_usd_per_bit_per_s: Any
    switch_ports_per_endpoint: Any
    transceivers_per_endpoint: Any
    gbp_per_usd: Any
    scaleup_latency_s: Any
    scaleout_latency_s: Any
    power_density_limit_w_per_mm2: Any
    hbm_max_bytes_per_stack: Any
    hbm_max_bw_bytes_per_s_per_stack: Any
    hbm_shoreline_mm_per_stack: Any
    min_datapath_bits: Any
    min_weight_bits: Any
    min_activation_bits: Any
    min_optimizer_state_bits: Any
    node: str = dataclasses.field(default="N5", metadata=dict(static=True))

    def replace(self, **changes) -> Technology:
        """Return a copy with some constants changed (SI units)."""
        return dataclasses.replace(self, **changes)


TECHNOLOGY_FIELDS = tuple(
    f.name for f in dataclasses.fields(Technology) if not f.metadata.get("static", False)
)


@functools.cache
def technology_rows() -> tuple[dict[str, str], ...]:
    """The rows of ``technology.csv`` (text values), in file order."""
    text = resources.files("hwmodels").joinpath("data/technology.csv").read_text()
    return tuple(
        {k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(text.splitlines())
    )


def _row_value(row: dict[str, str], column: str) -> float:
    unit = row["unit"]
    if unit not in _UNIT_FACTORS:
        raise ValueError(
            f"technology.csv: constant '{row['constant']}' has unknown unit {unit!r}; "
            f"known units are {sorted(_UNIT_FACTORS)}"
        )
    return float(row[column]) * _UNIT_FACTORS[unit]


def technology_table(node: str) -> dict[str, dict[str, Any]]:
    """Every constant of ``node`` with value, range (SI) and source.

    Returns:
        ``{constant: {"value", "low", "high", "unit", "source", "node"}}``; the
        values are converted to the field's units, ``unit`` is the CSV's.
    """
    key = _check_node(node)
    out = {}
    for row in technology_rows():
        if row["node"] in (key, "all"):
            out[row["constant"]] = dict(
                value=_row_value(row, "value"),
                low=_row_value(row, "low"),
                high=_row_value(row, "high"),
                unit=row["unit"],
                source=row["source"],
                node=row["node"],
            )
    return out


def _check_node(node: str) -> str:
    if node not in _NODE_ROWS:
        raise ValueError(f"process_node={node!r} is not allowed: choose one of {list(NODES)}")
    return _NODE_ROWS[node]


@functools.cache
def technology(node: str) -> Technology:
    """The technology constants of a process node.

    Args:
        node: ``"N7"``, ``"N5"``, ``"N4"`` (= N5 constants) or ``"N3"``.

    Raises:
        ValueError: unknown node, or a constant missing from the table.
    """
    table = technology_table(node)
    missing = [f for f in TECHNOLOGY_FIELDS if f not in table]
    if missing:
        raise ValueError(f"technology.csv has no value of {missing} for node {node}")
    return Technology(node=node, **{f: table[f]["value"] for f in TECHNOLOGY_FIELDS})
