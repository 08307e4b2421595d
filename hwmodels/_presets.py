"""Presets of real systems, and user-described systems from TOML or JSON files.

Presets live in ``hwmodels/data/systems.csv`` (one row per system, every value
with its source). User files use the same keys as that table's columns, in the
same human units (TFLOP/s, GB, TB/s, GB/s, microseconds, kW, GBP); the loader
converts them to SI.
"""

from __future__ import annotations

import csv
import functools
import os
from importlib import resources
from typing import Any

from hwmodels._files import as_number, read_structured
from hwmodels._spec import SystemSpec, check_system

__all__ = [
    "FILE_KEYS",
    "get_system",
    "list_presets",
    "preset_rows",
    "system_from_mapping",
    "load_system_file",
    "accelerator_name_map",
    "default_precision",
]

# File key -> (SystemSpec field, factor to SI). Units are in the key names.
FILE_KEYS: dict[str, tuple[str, float]] = {
    "peak_bf16_tflops": ("peak_bf16_flops_per_s", 1e12),
    "peak_fp8_tflops": ("peak_fp8_flops_per_s", 1e12),
    "hbm_gb": ("hbm_capacity_bytes", 1e9),
    "hbm_tb_s": ("hbm_bw_bytes_per_s", 1e12),
    "sram_mb": ("sram_bytes", 1e6),
    "scaleup_gb_s_per_dir": ("scaleup_bw_bytes_per_s", 1e9),
    "scaleup_domain_size": ("scaleup_domain_size", 1.0),
    "scaleup_latency_us": ("scaleup_latency_s", 1e-6),
    "scaleout_gb_s_per_dir": ("scaleout_bw_bytes_per_s", 1e9),
    "scaleout_latency_us": ("scaleout_latency_s", 1e-6),
    "accelerators_per_server": ("accelerators_per_server", 1.0),
    "accelerator_tdp_w": ("accelerator_power_w", 1.0),
    "server_power_kw": ("server_power_w", 1e3),
    "server_cost_gbp": ("server_cost_gbp", 1.0),
    "software_efficiency": ("software_efficiency", 1.0),
}
# Keys that may be left out (or empty) in a file: value used instead.
_OPTIONAL = {
    "peak_fp8_tflops": 0.0,
    "sram_mb": 0.0,
    "accelerator_tdp_w": 0.0,
    "software_efficiency": 1.0,
}
_TEXT_KEYS = {
    "name",
    "family",
    "description",
    "mlperf_accelerator_names",
    "default_precision",
    "source",
}
_PRECISIONS = ("bf16", "fp8")


@functools.cache
def preset_rows() -> dict[str, dict[str, str]]:
    """The rows of the preset table, keyed by preset name (text values)."""
    text = resources.files("hwmodels").joinpath("data/systems.csv").read_text()
    rows = {}
    for row in csv.DictReader(text.splitlines()):
        rows[row["name"].strip()] = {k: (v or "").strip() for k, v in row.items()}
    return rows


def list_presets() -> list[str]:
    """Names of the built-in system presets."""
    return list(preset_rows())


def system_from_mapping(mapping: dict[str, Any], *, name: str, source: str) -> SystemSpec:
    """Build a validated spec from a mapping of file keys to values.

    Args:
        mapping: Keys of ``FILE_KEYS`` (human units); text keys are ignored.
        name: Name to give the system.
        source: Where the mapping came from, for error messages.

    Raises:
        ValueError: unknown key, missing key, or a value that is not allowed.
    """
    unknown = sorted(set(mapping) - set(FILE_KEYS) - _TEXT_KEYS)
    if unknown:
        raise ValueError(
            f"{source}: unknown key(s) {unknown}; allowed keys are "
            f"{sorted(FILE_KEYS)} (plus text keys {sorted(_TEXT_KEYS)})"
        )
    values = {}
    for key, (field, factor) in FILE_KEYS.items():
        raw = mapping.get(key, None)
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            if key in _OPTIONAL:
                values[field] = _OPTIONAL[key]
                continue
            raise ValueError(f"{source}: missing required key '{key}'")
        values[field] = as_number(raw, source, key, finite=False) * factor
    precision = str(mapping.get("default_precision", "") or "").strip()
    if precision and precision not in _PRECISIONS:
        raise ValueError(
            f"{source}: key 'default_precision' is {precision!r}; allowed: {list(_PRECISIONS)}"
        )
    if precision == "fp8" and values["peak_fp8_flops_per_s"] <= 0:
        raise ValueError(
            f"{source}: default_precision is 'fp8' but peak_fp8_tflops is missing or zero"
        )
    family = str(mapping.get("family", "") or "").strip()
    spec = SystemSpec(name=name, family=family, **values)
    return check_system(spec, source=source)


def load_system_file(path: str) -> SystemSpec:
    """Load a system described in a TOML or JSON file (keys as in ``FILE_KEYS``)."""
    data = read_structured(path, "system file")
    if not isinstance(data, dict):
        raise ValueError(f"system file '{path}' must hold a table/object of keys")
    return system_from_mapping(
        data, name=str(data.get("name", path)), source=f"system file '{path}'"
    )


def default_precision(name_or_path: str) -> str:
    """The documented default matmul precision of a preset (or ``bf16``)."""
    row = preset_rows().get(name_or_path)
    if row and row.get("default_precision") in _PRECISIONS:
        return row["default_precision"]
    if os.path.isfile(name_or_path):
        spec = load_system_file(name_or_path)
        return "fp8" if spec.supports_fp8() else "bf16"
    return "bf16"


def get_system(name_or_path: str) -> SystemSpec:
    """A preset by name, or a system file by path.

    Raises:
        ValueError: unknown name (listing the known ones) or a bad file.
    """
    rows = preset_rows()
    if name_or_path in rows:
        return system_from_mapping(
            rows[name_or_path], name=name_or_path, source=f"preset '{name_or_path}'"
        )
    if os.path.exists(name_or_path) or name_or_path.endswith((".toml", ".json")):
        return load_system_file(name_or_path)
    raise ValueError(
        f"unknown system '{name_or_path}': known presets are {list(rows)}, "
        "or give the path of a .toml/.json system file"
    )


def accelerator_name_map() -> dict[str, str]:
    """Map each MLPerf results-table accelerator spelling to a preset name."""
    mapping = {}
    for name, row in preset_rows().items():
        for spelling in row.get("mlperf_accelerator_names", "").split(";"):
            if spelling.strip():
                mapping[spelling.strip()] = name
    return mapping
