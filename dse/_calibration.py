"""Achieved-efficiency constants of the model, and the shipped calibration file.

These are the model's only free constants. Defaults carry their source; the
few marked *fitted* are refitted by ``studies/fit_calibration.py`` to published MLPerf
results and shipped in ``dse/data/calibration.json`` (which records what they
were fitted on). Everything else in the model comes from system specs,
workload shapes and published convergence data.
"""

from __future__ import annotations

import dataclasses
import json
import math
from importlib import resources
from typing import Any

import jax

from hwmodels._files import as_number, read_structured

__all__ = [
    "Calibration",
    "FITTED_FIELDS",
    "REFERENCE_FAMILY",
    "FAMILY_BOUNDS",
    "load_calibration",
    "default_calibration",
    "apply_calibration",
    "apply_software_maturity",
    "family_key",
    "efficiency_class",
    "BOUNDS",
]

# The family whose software efficiency is 1 by definition (the others are
# relative to it, so the fit is not degenerate with the GEMM efficiencies).
REFERENCE_FAMILY = "nvidia-hopper"
FAMILY_BOUNDS = (0.2, 2.0)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Calibration:
    """Efficiency constants (dimensionless unless the name gives a unit).

    Attributes:
        gemm_efficiency_bf16: Fraction of dense bf16 peak reached by a large
            bf16 GEMM on the reference family: 0.714 measured on an H100
            (``hwmodels/data/measured``; the reference family's MLPerf rows are
            all fp8, so the data cannot fit it; other families' bf16 runs are
            scaled by their fitted factors).
        gemm_efficiency_fp8: Fraction of dense fp8 peak reached by a large
            fp8 GEMM, conversions included (fitted).
        kernel_overhead_s: Fixed time per GEMM or attention kernel, s: a GEMM
            takes ``kernel_overhead_s + 2MNK / (efficiency x peak)`` (smoothly
            maxed with its memory time). Measured on H100: 7 us
            (``hwmodels/data/measured``: RMS log error 0.034 over 254 GEMMs).
        attention_efficiency: Fraction of bf16 peak reached by fused (flash)
            attention, forward and backward (measured on H100, cuDNN SDPA,
            GPT-3 shapes: 0.41 with a 7 us kernel overhead).
        hbm_efficiency: Fraction of memory bandwidth reached by streaming
            elementwise kernels (measured on H100: 0.86-0.90).
        conv_efficiency: Fraction of the GEMM efficiency that implicit-GEMM
            convolutions reach (cuDNN convolutions build their operand tiles
            from the input tensor on the fly: halo loads, address arithmetic,
            narrow channel counts) (fitted on the convolutional benchmarks).
        conv_half_channels: Output channels at which a convolution reaches
            half of that efficiency: its efficiency is ``conv_efficiency x c /
            (c + conv_half_channels)`` for ``c`` output channels (all groups)
            (Hockney's half-performance length; tensor-core tiles are 64-256
            channels wide, so narrow convolutions waste most of each tile)
            (fitted).
        conv_half_depth: Reduction depth (input channels x kernel volume, per
            group) at which a convolution reaches half of that efficiency:
            a further factor ``k / (k + conv_half_depth)``. Each output tile
            pays a fixed prologue (halo and filter loads) and epilogue (write,
            fused normalisation) that a short reduction cannot amortise:
            grouped and 1x1 convolutions run far below 3x3 ones (fitted).
        software_gain_per_round: Software maturity: a result submitted ``k``
            MLPerf rounds (half-years) before the latest known round runs its
            compute at ``exp(-k x software_gain_per_round)`` of today's
            efficiency (``dse._validate.ROUNDS``; the same H100 system trained
            GPT-3 23% faster in v4.1 than in v3.0). New designs and
            ``evaluate`` assume today's software (``k = 0``) (fitted).
        collective_efficiency: Fraction of link bandwidth reached by
            collectives (both network levels) (fitted).
        step_overhead_s: Fixed time per optimizer step (launch, sync, data), s
            (fitted).
        sync_latency_s: Per-step synchronisation across the scale-out
            network, s per level of a binary tree over the scale-up domains: each step ends in blocking,
            latency-bound collectives that no compute hides (the last gradient
            bucket, loss-scale and gradient-norm checks, barriers), whose
            latency grows with the tree depth ``log2(domains)`` (tree and
            in-network (SHARP) all-reduce; NCCL's tuning model charges a fixed
            latency per tree level) (fitted).
        memory_reserved_bytes: Device memory not available to the model
            (runtime context, communication buffers, fragmentation), bytes.
        family_efficiency: ``((key, factor), ...)`` with keys
            ``"family/precision"`` (e.g. ``"intel-gaudi/bf16"``): achieved
            compute efficiency of each accelerator family's software stack at
            each matmul precision, relative to ``REFERENCE_FAMILY`` (fitted;
            static). A system of a family not listed (a new design) gets 1.0.
    """

    gemm_efficiency_bf16: Any = 0.714
    gemm_efficiency_fp8: Any = 0.60
    kernel_overhead_s: Any = 7e-6
    attention_efficiency: Any = 0.41
    hbm_efficiency: Any = 0.88
    conv_efficiency: Any = 0.8
    conv_half_channels: Any = 16.0
    # Fitted constants' defaults are the fit's starting values, not sources.
    conv_half_depth: Any = 64.0
    software_gain_per_round: Any = 0.0
    collective_efficiency: Any = 0.70
    step_overhead_s: Any = 1e-3
    sync_latency_s: Any = 1e-4
    memory_reserved_bytes: Any = 6e9
    family_efficiency: tuple = dataclasses.field(default=(), metadata=dict(static=True))

    def replace(self, **changes) -> Calibration:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, float]:
        """The scalar constants (``family_efficiency`` excluded)."""
        return {
            f.name: float(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "family_efficiency"
        }

    def family_factor(self, family: str, precision: str = "") -> float:
        """Software-efficiency factor of a family at a precision (1.0 when not calibrated)."""
        table = dict(self.family_efficiency)
        return table.get(family_key(family, precision), table.get(family, 1.0))


def efficiency_class(precision: str, workload=None) -> str:
    """The key part naming a kernel class: the matmul precision, with ``-conv``
    for convolution-dominated workloads (cuDNN convolutions and cuBLAS GEMMs
    mature at different rates on each family)."""
    if workload is not None and getattr(workload, "conv_dominated", False):
        return f"{precision}-conv"
    return precision


def family_key(family: str, precision: str) -> str:
    """Key of the per-family, per-precision software-efficiency factor."""
    return f"{family}/{precision}" if precision else family


def apply_calibration(spec, cal: Calibration, precision: str = "", workload=None):
    """The spec with its family's software-efficiency factor (at ``precision``,
    for the workload's kernel class, see ``efficiency_class``) applied."""
    factor = cal.family_factor(spec.family, efficiency_class(precision, workload))
    if factor == 1.0:
        return spec
    return spec.replace(software_efficiency=float(spec.software_efficiency) * factor)


def apply_software_maturity(spec, cal: Calibration, rounds_behind: float = 0.0):
    """The spec running the software of ``rounds_behind`` MLPerf rounds ago
    (compute efficiency times ``exp(-rounds_behind x software_gain_per_round)``).

    Raises:
        ValueError: a negative or non-finite ``rounds_behind``.
    """
    if not math.isfinite(rounds_behind) or rounds_behind < 0:
        raise ValueError(
            f"software_rounds_behind={rounds_behind!r} is not allowed: a number >= 0 "
            "(MLPerf rounds before the latest; 0 = today's software)"
        )
    if rounds_behind == 0:
        return spec
    factor = math.exp(-float(cal.software_gain_per_round) * rounds_behind)
    return spec.replace(software_efficiency=float(spec.software_efficiency) * factor)


FITTED_FIELDS = (
    "gemm_efficiency_fp8",
    "conv_efficiency",
    "conv_half_channels",
    "conv_half_depth",
    "software_gain_per_round",
    "collective_efficiency",
    "step_overhead_s",
    "sync_latency_s",
)

# Physically meaningful bounds for every constant (used by fitting and loading).
BOUNDS: dict[str, tuple[float, float]] = {
    "gemm_efficiency_bf16": (0.2, 1.0),
    "gemm_efficiency_fp8": (0.2, 1.0),
    "kernel_overhead_s": (0.0, 1e-3),
    "attention_efficiency": (0.1, 1.0),
    "hbm_efficiency": (0.3, 1.0),
    "conv_efficiency": (0.2, 1.0),
    "conv_half_channels": (0.0, 512.0),
    "conv_half_depth": (0.0, 4096.0),
    "software_gain_per_round": (0.0, 0.3),
    "collective_efficiency": (0.1, 1.0),
    "step_overhead_s": (0.0, 0.05),
    "sync_latency_s": (0.0, 0.01),
    "memory_reserved_bytes": (0.0, 64e9),
}


def _from_mapping(data: dict, source: str) -> Calibration:
    constants = data.get("constants", data)
    if not isinstance(constants, dict):
        raise ValueError(f"{source}: 'constants' must be an object of name: number")
    names = {f.name for f in dataclasses.fields(Calibration)}
    unknown = sorted(set(constants) - names)
    if unknown:
        raise ValueError(f"{source}: unknown constant(s) {unknown}; allowed: {sorted(names)}")
    values = {}
    for key, raw in constants.items():
        if key not in BOUNDS:
            raise ValueError(
                f"{source}: '{key}' is not allowed among the constants: "
                f"one of {sorted(BOUNDS)} (family factors go in 'family_efficiency' beside 'constants')"
            )
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError(f"{source}: constant '{key}' must be a finite number, got {raw!r:.80}")
        raw = as_number(raw, source, key)
        lo, hi = BOUNDS[key]
        if not lo <= raw <= hi:
            raise ValueError(
                f"{source}: constant '{key}' = {raw!r} is outside its bounds [{lo}, {hi}]"
            )
        values[key] = float(raw)
    families = data.get("family_efficiency", {}) if "constants" in data else {}
    if not isinstance(families, dict):
        raise ValueError(f"{source}: 'family_efficiency' must be an object of family: factor")
    lo, hi = FAMILY_BOUNDS
    pairs = []
    for family, raw in sorted(families.items()):
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError(
                f"{source}: family_efficiency '{family}' = {raw!r:.80} must be a number in [{lo}, {hi}]"
            )
        raw = as_number(raw, source, f"family_efficiency.{family}")
        if not lo <= raw <= hi:
            raise ValueError(
                f"{source}: family_efficiency '{family}' = {raw!r} must be a number in [{lo}, {hi}]"
            )
        pairs.append((str(family), float(raw)))
    return Calibration(**values, family_efficiency=tuple(pairs))


def load_calibration(path: str | None = None) -> Calibration:
    """The shipped calibration (``path=None``) or one from a JSON file."""
    if path is None:
        text = resources.files("dse").joinpath("data/calibration.json").read_text()
        return _from_mapping(json.loads(text), "shipped calibration")
    if not str(path).endswith(".json"):
        raise ValueError(f"calibration file '{path}' must end in .json")
    data = read_structured(str(path), "calibration file")
    return _from_mapping(data, f"calibration file '{path}'")


def default_calibration() -> Calibration:
    """Unfitted defaults (starting point of a fit)."""
    return Calibration()
