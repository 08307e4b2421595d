"""Design parameters of an accelerator and its system: the generator's input.

``DesignParams`` is a frozen pytree of continuous float leaves (SI units in the
names), so ``jax.grad`` of any derived figure flows to every design parameter.
The process node, the name and whether the arrays have an fp8 mode are static.

Built-in designs live in ``hwmodels/data/designs.csv``; user designs are TOML
or JSON files with the same keys, in the same human units (``DESIGN_FILE_KEYS``).
Every value is checked against ``DESIGN_BOUNDS``: an error names the field, the
value and the allowed range; nothing is clamped silently.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
import os
from importlib import resources
from typing import Any

import jax

from hwmodels._files import as_number, read_structured
from hwmodels._technology import NODES

__all__ = [
    "DESIGN_BOUNDS",
    "DESIGN_FIELDS",
    "DESIGN_FILE_KEYS",
    "DesignParams",
    "check_design",
    "design_from_mapping",
    "design_rows",
    "get_design",
    "list_designs",
    "load_design_file",
]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class DesignParams:
    """An accelerator design and the system built from it (continuous leaves).

    Counts are floats so that gradients flow through them; the model is smooth
    in every leaf. The matrix arrays are "SM-equivalent" tiles: each holds
    ``array_rows x array_cols`` multiply-accumulate units of ``datapath_bits``
    and the register files, local memory, vector units and control that feed
    them (priced per MAC from a GA100 die shot, ``technology.csv``).

    Attributes:
        array_rows: Rows of one matrix array (count).
        array_cols: Columns of one matrix array (count).
        arrays_per_chip: Enabled matrix arrays per die (count).
        spare_arrays: Extra arrays on the die that repair defects (count; H100:
            144 built, 132 enabled = 12 spares).
        clock_hz: Array clock, Hz.
        datapath_bits: Multiplier operand width class, bits: 16 = bf16/fp16,
            8 = fp8, 4 = fp4. Significand bits (incl. the hidden bit) are half
            of it in that family (bf16 8, fp8 E4M3 4, fp4 E2M1 2), so multiplier
            area and energy scale with ``(datapath_bits / 16) ** exponent``.
        weight_bits: Storage precision of the master weights, bits.
        activation_bits: Storage precision of saved activations, bits.
        optimizer_state_bits: Storage precision of the optimizer moments, bits.
        sram_bytes: Shared on-chip SRAM (last-level cache), bytes.
        hbm_stacks: HBM stacks per accelerator (count).
        hbm_bytes_per_stack: Capacity of one stack, bytes.
        hbm_bw_bytes_per_s_per_stack: Bandwidth of one stack, bytes/s.
        scaleup_bw_bytes_per_s: Scale-up bandwidth per accelerator, per
            direction, bytes/s.
        scaleup_domain_size: Accelerators in one scale-up domain (whole number).
        scaleout_bw_bytes_per_s: Scale-out bandwidth per accelerator, per
            direction, bytes/s.
        accelerators_per_server: Accelerators per server (whole number).
        servers: Servers in the system (whole number).
        process_node: ``"N7"``, ``"N5"``, ``"N4"`` or ``"N3"`` (static).
        name: Design name (static).
        fp8: Whether the arrays have an 8-bit floating-point mode (static;
            ``False``: the fp8 peak is 0, as on the A100).
        blocks: Building blocks in place of the node's defaults (static):
            ``(("compute", ComputeBlock), ("memory", MemoryBlock), ...)``,
            applied by ``derive`` through ``hwmodels.compose`` (see
            ``hwmodels/_blocks.py``); a design file gives them as
            ``[compute_block]``, ``[memory_block]`` and
            ``[interconnect_block]`` tables.
    """

    array_rows: Any
    array_cols: Any
    arrays_per_chip: Any
    spare_arrays: Any
    clock_hz: Any
    datapath_bits: Any
    weight_bits: Any
    activation_bits: Any
    optimizer_state_bits: Any
    sram_bytes: Any
    hbm_stacks: Any
    hbm_bytes_per_stack: Any
    hbm_bw_bytes_per_s_per_stack: Any
    scaleup_bw_bytes_per_s: Any
    scaleup_domain_size: Any
    scaleout_bw_bytes_per_s: Any
    accelerators_per_server: Any
    servers: Any
    process_node: str = dataclasses.field(default="N5", metadata=dict(static=True))
    name: str = dataclasses.field(default="custom-design", metadata=dict(static=True))
    fp8: bool = dataclasses.field(default=True, metadata=dict(static=True))
    blocks: tuple = dataclasses.field(default=(), metadata=dict(static=True))

    def replace(self, **changes) -> DesignParams:
        """Return a copy with some fields changed (validated)."""
        return check_design(dataclasses.replace(self, **changes))


DESIGN_FIELDS = tuple(
    f.name for f in dataclasses.fields(DesignParams) if not f.metadata.get("static", False)
)

# Field -> (lowest, highest, unit, meaning). Values outside are refused.
DESIGN_BOUNDS: dict[str, tuple[float, float, str, str]] = {
    "array_rows": (1.0, 1024.0, "count", "rows of one matrix array"),
    "array_cols": (1.0, 1024.0, "count", "columns of one matrix array"),
    "arrays_per_chip": (1.0, 4096.0, "count", "enabled matrix arrays per die"),
    "spare_arrays": (0.0, 1024.0, "count", "spare arrays that repair defects"),
    "clock_hz": (1e8, 4e9, "Hz", "array clock"),
    "datapath_bits": (2.0, 32.0, "bits", "multiplier operand width class (16 = bf16, 8 = fp8)"),
    "weight_bits": (2.0, 64.0, "bits", "master-weight storage precision"),
    "activation_bits": (2.0, 64.0, "bits", "saved-activation storage precision"),
    "optimizer_state_bits": (2.0, 64.0, "bits", "optimizer-moment storage precision"),
    "sram_bytes": (0.0, 1e10, "bytes", "shared on-chip SRAM"),
    "hbm_stacks": (1.0, 16.0, "count", "HBM stacks per accelerator"),
    "hbm_bytes_per_stack": (2.0**30, 128 * 2.0**30, "bytes", "capacity of one HBM stack"),
    "hbm_bw_bytes_per_s_per_stack": (1e10, 1e13, "bytes/s", "bandwidth of one HBM stack"),
    "scaleup_bw_bytes_per_s": (1e9, 1e13, "bytes/s", "scale-up bandwidth per direction"),
    "scaleup_domain_size": (1.0, 1e6, "count", "accelerators in one scale-up domain"),
    "scaleout_bw_bytes_per_s": (1e8, 1e12, "bytes/s", "scale-out bandwidth per direction"),
    "accelerators_per_server": (1.0, 256.0, "count", "accelerators per server"),
    "servers": (1.0, 1e6, "count", "servers in the system"),
}
_WHOLE = {"scaleup_domain_size", "accelerators_per_server", "servers"}

# File key (human units) -> (field, factor to SI); missing optional keys take the default.
DESIGN_FILE_KEYS: dict[str, tuple[str, float]] = {
    "array_rows": ("array_rows", 1.0),
    "array_cols": ("array_cols", 1.0),
    "arrays_per_chip": ("arrays_per_chip", 1.0),
    "spare_arrays": ("spare_arrays", 1.0),
    "clock_ghz": ("clock_hz", 1e9),
    "datapath_bits": ("datapath_bits", 1.0),
    "weight_bits": ("weight_bits", 1.0),
    "activation_bits": ("activation_bits", 1.0),
    "optimizer_state_bits": ("optimizer_state_bits", 1.0),
    "sram_mb": ("sram_bytes", 1e6),
    "hbm_stacks": ("hbm_stacks", 1.0),
    "hbm_gib_per_stack": ("hbm_bytes_per_stack", 2.0**30),
    "hbm_tb_s_per_stack": ("hbm_bw_bytes_per_s_per_stack", 1e12),
    "scaleup_gb_s_per_dir": ("scaleup_bw_bytes_per_s", 1e9),
    "scaleup_domain_size": ("scaleup_domain_size", 1.0),
    "scaleout_gb_s_per_dir": ("scaleout_bw_bytes_per_s", 1e9),
    "accelerators_per_server": ("accelerators_per_server", 1.0),
    "servers": ("servers", 1.0),
}
# Mixed-precision training as the simulator models it: fp32 master weights and
# Adam moments (12 bytes per parameter), 16-bit activations.
_OPTIONAL = {
    "spare_arrays": 0.0,
    "weight_bits": 32.0,
    "activation_bits": 16.0,
    "optimizer_state_bits": 32.0,
    "sram_mb": 0.0,
    "servers": 1.0,
}
_TEXT_KEYS = {"name", "process_node", "fp8", "description", "source"}


def check_design(design: DesignParams, *, source: str | None = None) -> DesignParams:
    """Validate a concrete design and return it unchanged.

    Args:
        design: A design with scalar leaves (traced or batched leaves are skipped).
        source: Where the design came from, for the error message.

    Raises:
        ValueError: naming the field, the value and the allowed range.
    """
    where = source or f"design '{design.name}'"
    if design.process_node not in NODES:
        raise ValueError(
            f"{where}: process_node={design.process_node!r} is not allowed; choose one of "
            f"{list(NODES)}"
        )
    for field in DESIGN_FIELDS:
        value = getattr(design, field)
        try:
            x = float(value)
        except (TypeError, ValueError):
            if hasattr(value, "shape"):
                continue  # traced or batched: checked by its creator
            raise ValueError(f"{where}: field '{field}' must be a number, got {value!r}") from None
        lo, hi, unit, meaning = DESIGN_BOUNDS[field]
        if not math.isfinite(x) or x < lo or x > hi:
            raise ValueError(
                f"{where}: field '{field}' = {x!r} is outside the allowed range "
                f"[{lo:g}, {hi:g}] {unit} ({meaning})"
            )
        if field in _WHOLE and x != round(x):
            raise ValueError(
                f"{where}: field '{field}' = {x!r} must be a whole number in "
                f"[{lo:g}, {hi:g}] ({meaning})"
            )
    return design


def _parse_bool(raw: Any, source: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise ValueError(f"{source}: key 'fp8' must be true or false, got {raw!r}")


def design_from_mapping(mapping: dict[str, Any], *, name: str, source: str) -> DesignParams:
    """Build a validated design from a mapping of file keys (human units).

    Raises:
        ValueError: unknown key, missing key, or a value that is not allowed.
    """
    unknown = sorted(set(mapping) - set(DESIGN_FILE_KEYS) - _TEXT_KEYS)
    if unknown:
        raise ValueError(
            f"{source}: unknown key(s) {unknown}; allowed keys are {sorted(DESIGN_FILE_KEYS)} "
            f"(plus text keys {sorted(_TEXT_KEYS)})"
        )
    values = {}
    for key, (field, factor) in DESIGN_FILE_KEYS.items():
        raw = mapping.get(key)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if key in _OPTIONAL:
                values[field] = _OPTIONAL[key] * factor
                continue
            raise ValueError(f"{source}: missing required key '{key}'")
        values[field] = as_number(raw, source, key, finite=False) * factor
    node = str(mapping.get("process_node", "") or "").strip()
    if not node:
        raise ValueError(f"{source}: missing required key 'process_node' (one of {list(NODES)})")
    fp8 = mapping.get("fp8", True)
    fp8 = True if isinstance(fp8, str) and not fp8.strip() else _parse_bool(fp8, source)
    design = DesignParams(process_node=node, name=name, fp8=fp8, **values)
    return check_design(design, source=source)


@functools.cache
def design_rows() -> dict[str, dict[str, str]]:
    """The rows of the built-in design table, keyed by name (text values)."""
    text = resources.files("hwmodels").joinpath("data/designs.csv").read_text()
    return {
        row["name"].strip(): {k: (v or "").strip() for k, v in row.items()}
        for row in csv.DictReader(text.splitlines())
    }


def list_designs() -> list[str]:
    """Names of the built-in designs."""
    return list(design_rows())


def load_design_file(path: str) -> DesignParams:
    """Load a design from a TOML or JSON file (keys as in ``DESIGN_FILE_KEYS``).

    Raises:
        ValueError: a missing or unreadable file, or a bad value (named).
    """
    data = read_structured(path, "design file")
    if not isinstance(data, dict):
        raise ValueError(f"design file '{path}' must hold a table/object of keys")
    from hwmodels._blocks import BLOCK_TABLES, blocks_from_mapping

    source = f"design file '{path}'"
    data = dict(data)
    tables = {k: data.pop(k) for k in BLOCK_TABLES if k in data}
    blocks = blocks_from_mapping(tables, source=source) if tables else ()
    compute = dict(blocks).get("compute")
    if compute is not None:
        # The compute block sets the arrays' clock and precision.
        for key, value in (
            ("clock_ghz", float(compute.clock_hz) / 1e9),
            ("datapath_bits", float(compute.precision_bits)),
        ):
            given = data.get(key)
            if given is None:
                data[key] = value
            elif not math.isclose(as_number(given, source, key), value, rel_tol=1e-9):
                raise ValueError(
                    f"{source}: key '{key}' = {given!r} contradicts the [compute_block], "
                    f"which sets it to {value:g}; leave it out or make them agree"
                )
    design = design_from_mapping(data, name=str(data.get("name", path)), source=source)
    if blocks:
        design = dataclasses.replace(design, blocks=blocks)
    return design


def get_design(name_or_path: str) -> DesignParams:
    """A built-in design by name, or a design file by path.

    Raises:
        ValueError: unknown name (listing the known ones) or a bad file.
    """
    rows = design_rows()
    if name_or_path in rows:
        return design_from_mapping(
            rows[name_or_path], name=name_or_path, source=f"built-in design '{name_or_path}'"
        )
    if os.path.exists(name_or_path) or name_or_path.endswith((".toml", ".json")):
        return load_design_file(name_or_path)
    raise ValueError(
        f"unknown design '{name_or_path}': built-in designs are {list(rows)}, "
        "or give the path of a .toml/.json design file"
    )
