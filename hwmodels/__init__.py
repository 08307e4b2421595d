"""The generator side: system specs of real (and later, derived) training systems."""

from hwmodels._presets import (
    FILE_KEYS,
    accelerator_name_map,
    default_precision,
    get_system,
    list_presets,
    load_system_file,
    preset_rows,
    system_from_mapping,
)
from hwmodels._spec import SYSTEM_FIELDS, SystemSpec, check_system

__all__ = [
    "FILE_KEYS",
    "SYSTEM_FIELDS",
    "SystemSpec",
    "accelerator_name_map",
    "check_system",
    "default_precision",
    "get_system",
    "list_presets",
    "load_system_file",
    "preset_rows",
    "system_from_mapping",
]
