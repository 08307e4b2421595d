"""The system spec: what the simulator needs to know about a training system.

One frozen pytree per system. Continuous quantities are float leaves in SI units
(bytes, seconds, FLOP/s, watts, pounds), so a batch of systems is the same
dataclass with array leaves, ready for ``jax.vmap`` and ``jax.grad``. The name
is static metadata.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax

__all__ = ["SystemSpec", "SYSTEM_FIELDS", "check_system"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SystemSpec:
    """A training system built from identical accelerators.

    Attributes:
        peak_bf16_flops_per_s: Dense bf16 matrix peak per accelerator, FLOP/s.
        peak_fp8_flops_per_s: Dense fp8 matrix peak per accelerator, FLOP/s;
            ``0.0`` where the hardware has no fp8 matrix unit.
        hbm_capacity_bytes: Device memory per accelerator, bytes.
        hbm_bw_bytes_per_s: Device memory bandwidth per accelerator, bytes/s.
        sram_bytes: On-chip SRAM (last-level cache) per accelerator, bytes.
            Carried for the hardware generator; no performance term of the
            current model depends on it (its gradient is zero).
        scaleup_bw_bytes_per_s: Scale-up (NVLink / ICI) bandwidth per
            accelerator, per direction, bytes/s.
        scaleup_domain_size: Accelerators in one scale-up domain (a count,
            carried as a float; piecewise-smooth in the model).
        scaleup_latency_s: Latency of one collective step on scale-up, s.
        scaleout_bw_bytes_per_s: Scale-out NIC bandwidth per accelerator, per
            direction, bytes/s.
        scaleout_latency_s: Latency of one collective step on scale-out, s.
        accelerators_per_server: Accelerators in one server (a count).
        accelerator_power_w: Accelerator board power (TDP), W. Informational:
            energy and pounds use ``server_power_w``.
        server_power_w: Power of one server with its accelerators, W.
        server_cost_gbp: Capital cost (cost of goods) of one server, GBP.
        software_efficiency: Multiplier on the achieved compute efficiency of
            this system's software stack, relative to the calibrated reference
            (1.0: as mature as the reference; the shipped calibration sets it
            per accelerator family for presets).
        name: Preset name or file path (static).
        family: Accelerator family, keying per-family calibration (static;
            empty for a new design).
    """

    peak_bf16_flops_per_s: Any
    peak_fp8_flops_per_s: Any
    hbm_capacity_bytes: Any
    hbm_bw_bytes_per_s: Any
    sram_bytes: Any
    scaleup_bw_bytes_per_s: Any
    scaleup_domain_size: Any
    scaleup_latency_s: Any
    scaleout_bw_bytes_per_s: Any
    scaleout_latency_s: Any
    accelerators_per_server: Any
    accelerator_power_w: Any
    server_power_w: Any
    server_cost_gbp: Any
    software_efficiency: Any = 1.0
    name: str = dataclasses.field(default="custom", metadata=dict(static=True))
    family: str = dataclasses.field(default="", metadata=dict(static=True))

    def replace(self, **changes) -> SystemSpec:
        """Return a copy with some fields changed (validated)."""
        new = dataclasses.replace(self, **changes)
        check_system(new)
        return new

    def supports_fp8(self) -> bool:
        """Whether the accelerator has an fp8 matrix unit (concrete specs only)."""
        return float(self.peak_fp8_flops_per_s) > 0.0


SYSTEM_FIELDS = tuple(
    f.name for f in dataclasses.fields(SystemSpec) if not f.metadata.get("static", False)
)

# Fields that must be strictly positive, and fields that may be zero.
_MAY_BE_ZERO = {"peak_fp8_flops_per_s", "sram_bytes", "accelerator_power_w"}
_MUST_BE_COUNT = {"scaleup_domain_size", "accelerators_per_server"}


def check_system(spec: SystemSpec, *, source: str | None = None) -> SystemSpec:
    """Validate a concrete system spec and return it.

    Args:
        spec: A spec with scalar (Python or NumPy) leaves.
        source: Where the spec came from, for the error message.

    Raises:
        ValueError: naming the field, the value and what is allowed.
    """
    where = f" in {source}" if source else f" in system '{spec.name}'"
    for field in SYSTEM_FIELDS:
        value = getattr(spec, field)
        try:
            x = float(value)
        except (TypeError, ValueError):
            # Traced or batched values are checked by their creator.
            if hasattr(value, "shape") and getattr(value, "shape", ()) != ():
                continue
            raise ValueError(f"field '{field}'{where} must be a number, got {value!r}") from None
        if not math.isfinite(x):
            raise ValueError(f"field '{field}'{where} must be finite, got {x!r}")
        if field in _MAY_BE_ZERO:
            if x < 0:
                raise ValueError(f"field '{field}'{where} must be >= 0, got {x!r}")
        elif x <= 0:
            raise ValueError(f"field '{field}'{where} must be > 0, got {x!r}")
        if field in _MUST_BE_COUNT and (x < 1 or x != round(x)):
            raise ValueError(f"field '{field}'{where} must be a whole number >= 1, got {x!r}")
    return spec
