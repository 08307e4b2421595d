"""The generator side: system specs of real training systems, and systems
derived from design parameters and technology constants (the hardware generator)."""

from hwmodels._blocks import (
    HERMES_1PHASE,
    ComputeBlock,
    InterconnectBlock,
    MemoryBlock,
    blocks_from_mapping,
    compose,
)
from hwmodels._derive import (
    CONSTRAINTS,
    derive,
    derive_checked,
    feasibility_penalties,
    violated_constraints,
)
from hwmodels._design import (
    DESIGN_BOUNDS,
    DESIGN_FIELDS,
    DESIGN_FILE_KEYS,
    DesignParams,
    check_design,
    design_from_mapping,
    design_rows,
    get_design,
    list_designs,
    load_design_file,
)
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
from hwmodels._technology import (
    NODES,
    TECHNOLOGY_FIELDS,
    Technology,
    technology,
    technology_table,
)

__all__ = [
    "CONSTRAINTS",
    "DESIGN_BOUNDS",
    "DESIGN_FIELDS",
    "DESIGN_FILE_KEYS",
    "FILE_KEYS",
    "HERMES_1PHASE",
    "NODES",
    "SYSTEM_FIELDS",
    "TECHNOLOGY_FIELDS",
    "ComputeBlock",
    "DesignParams",
    "InterconnectBlock",
    "MemoryBlock",
    "blocks_from_mapping",
    "SystemSpec",
    "Technology",
    "accelerator_name_map",
    "check_design",
    "check_system",
    "compose",
    "default_precision",
    "derive",
    "derive_checked",
    "design_from_mapping",
    "design_rows",
    "feasibility_penalties",
    "get_design",
    "get_system",
    "list_designs",
    "list_presets",
    "load_design_file",
    "load_system_file",
    "preset_rows",
    "system_from_mapping",
    "technology",
    "technology_table",
    "violated_constraints",
]
