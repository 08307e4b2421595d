"""The searched part of a design: boxes for the relaxation, grids for building.

A *search space* maps a free ``DesignParams`` field to ``(low, high, grid)``:
the relaxed search moves the value inside ``[low, high]`` on a log scale, and a
final design is projected onto the grid. A grid is ``("step", s)`` (multiples
of ``s``) or ``("set", values)`` (the nearest allowed value in log distance).
Fields not in the space keep the base design's value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax

from hwmodels import DESIGN_BOUNDS

__all__ = [
    "SEARCH_SPACE",
    "check_space",
    "grid_size",
    "neighbours",
    "pair_neighbours",
    "project",
    "random_rounding",
    "to_values",
    "to_z",
]

GiB = 2.0**30

# Free parameter -> (low, high, grid): the default search box (SI) and the
# buildable values a final design is projected to.
SEARCH_SPACE: dict[str, tuple[float, float, tuple]] = {
    # Matrix arrays in groups of four (GPC-like clusters).
    "arrays_per_chip": (16.0, 512.0, ("step", 4.0)),
    # Array clock on a 50 MHz grid.
    "clock_hz": (0.8e9, 2.2e9, ("step", 0.05e9)),
    # Shared SRAM in 8 MB slices.
    "sram_bytes": (8e6, 256e6, ("step", 8e6)),
    # Whole HBM stacks.
    "hbm_stacks": (1.0, 8.0, ("step", 1.0)),
    # HBM3/HBM3E stack capacities (technology-costs.md s2: 16-36 GB).
    "hbm_bytes_per_stack": (16 * GiB, 36 * GiB, ("set", (16 * GiB, 24 * GiB, 32 * GiB, 36 * GiB))),
    # Stack bandwidth on a 0.05 TB/s grid (HBM2e 0.41 to HBM4 2.0 TB/s, s2).
    "hbm_bw_bytes_per_s_per_stack": (0.4e12, 2.0e12, ("step", 0.05e12)),
    # Scale-up in whole 50 GB/s links (NVLink4: 18 x 50 GB/s, s4).
    "scaleup_bw_bytes_per_s": (50e9, 1800e9, ("step", 50e9)),
    # Scale-out: one NIC of 100, 200, 400, 800 or 1600 Gb/s per accelerator.
    "scaleout_bw_bytes_per_s": (12.5e9, 200e9, ("set", (12.5e9, 25e9, 50e9, 100e9, 200e9))),
}


# Design fields that fix the system's shape: the problem sets servers from each
# accelerator count and builds its strategy candidates on the base design's
# server and scale-up domain, so none of them can be searched.
SYSTEM_SHAPE_FIELDS = frozenset({"servers", "accelerators_per_server", "scaleup_domain_size"})


def check_space(space: Mapping[str, tuple]) -> dict[str, tuple[float, float, tuple]]:
    """Validate a search space; return it with sets sorted and values as floats.

    Raises:
        ValueError: an unknown field, a box outside the field's design bounds,
            or a malformed grid (each named with the value and what is allowed).
    """
    if not space:
        raise ValueError("search space is empty: give at least one free design field")
    out = {}
    allowed = sorted(set(DESIGN_BOUNDS) - SYSTEM_SHAPE_FIELDS)
    for name, entry in space.items():
        if name in SYSTEM_SHAPE_FIELDS:
            raise ValueError(
                f"search space field {name!r} is not allowed: the system's shape (servers, "
                "accelerators per server, scale-up domain) comes from the accelerator count "
                f"and the base design; searchable fields are {allowed}"
            )
        if name not in DESIGN_BOUNDS:
            raise ValueError(f"search space field {name!r} is not allowed: one of {allowed}")
        try:
            lo, hi, (kind, arg) = entry
            lo, hi = float(lo), float(hi)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"search space {name}={entry!r} is not allowed: (low, high, ('step', s) or ('set', values))"
            ) from err
        blo, bhi = DESIGN_BOUNDS[name][:2]
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
            raise ValueError(
                f"search space {name}: low={lo!r}, high={hi!r} is not allowed: 0 < low < high"
            )
        if lo < blo or hi > bhi:
            raise ValueError(
                f"search space {name}: [{lo:g}, {hi:g}] is not allowed: within the design bounds [{blo:g}, {bhi:g}]"
            )
        if kind == "step":
            s = float(arg)
            if not (math.isfinite(s) and s > 0) or math.floor(hi / s) * s < lo:
                raise ValueError(
                    f"search space {name}: step {arg!r} is not allowed: positive, with a multiple in [{lo:g}, {hi:g}]"
                )
            out[name] = (lo, hi, ("step", s))
        elif kind == "set":
            values = tuple(sorted(float(v) for v in arg))
            if not values or any(not (lo <= v <= hi) for v in values):
                raise ValueError(
                    f"search space {name}: set {arg!r} is not allowed: non-empty, every value in [{lo:g}, {hi:g}]"
                )
            out[name] = (lo, hi, ("set", values))
        else:
            raise ValueError(
                f"search space {name}: grid kind {kind!r} is not allowed: 'step' or 'set'"
            )
    return out


def to_values(z: Mapping, space: Mapping) -> dict:
    """Unconstrained ``z`` -> parameter values in their log boxes (traceable)."""
    out = {}
    for k, (lo, hi, _) in space.items():
        out[k] = lo * (hi / lo) ** jax.nn.sigmoid(z[k])
    return out


def to_z(values: Mapping, space: Mapping) -> dict:
    """Parameter values -> unconstrained ``z`` (values clipped into the box)."""
    out = {}
    for k, (lo, hi, _) in space.items():
        u = math.log(float(values[k]) / lo) / math.log(hi / lo)
        u = min(max(u, 1e-3), 1.0 - 1e-3)
        out[k] = math.log(u / (1.0 - u))
    return out


def _grid_values(lo, hi, grid) -> tuple[float, ...]:
    kind, arg = grid
    if kind == "set":
        return arg
    first, last = math.ceil(lo / arg - 1e-9), math.floor(hi / arg + 1e-9)
    return tuple(i * arg for i in range(first, last + 1))


def grid_size(space: Mapping) -> int:
    """Number of buildable designs in the space (product of grid sizes)."""
    n = 1
    for lo, hi, grid in space.values():
        n *= len(_grid_values(lo, hi, grid))
    return n


def project(values: Mapping, space: Mapping = SEARCH_SPACE) -> dict:
    """The nearest buildable value of each free parameter (see the module doc)."""
    out = {}
    for k, (lo, hi, (kind, arg)) in space.items():
        v = float(values[k])
        if not math.isfinite(v):
            raise ValueError(f"project: {k}={v!r} is not allowed: a finite number")
        v = min(max(v, lo), hi)
        if kind == "step":
            first, last = math.ceil(lo / arg - 1e-9), math.floor(hi / arg + 1e-9)
            v = min(max(round(v / arg), first), last) * arg
        else:
            v = min(arg, key=lambda a, v=v: abs(math.log(a / v)))
        out[k] = v
    return out


def _bracket(v: float, lo: float, hi: float, grid) -> tuple[float, float, float]:
    """The grid values just below and above ``v`` and ``v``'s position between
    them in log space (0 at the lower, 1 at the upper)."""
    kind, arg = grid
    v = min(max(v, lo), hi)
    if kind == "step":
        first, last = math.ceil(lo / arg - 1e-9), math.floor(hi / arg + 1e-9)
        below = min(max(math.floor(v / arg), first), last) * arg
        above = min(max(math.ceil(v / arg), first), last) * arg
        below = max(below, first * arg)
    else:
        below = max([a for a in arg if a <= v], default=arg[0])
        above = min([a for a in arg if a >= v], default=arg[-1])
    if above <= below or below <= 0:
        return below, above, 0.0
    return below, above, math.log(v / below) / math.log(above / below)


def random_rounding(values: Mapping, space: Mapping, rng, count: int) -> list[dict]:
    """``count`` buildable designs around a relaxed one: each parameter rounds
    down or up to the grid values bracketing it, up with probability equal to
    its log-space position between them (randomised rounding)."""
    brackets = {k: _bracket(float(values[k]), lo, hi, g) for k, (lo, hi, g) in space.items()}
    out = []
    for _ in range(count):
        out.append(
            {
                k: (above if rng.uniform() < u else below)
                for k, (below, above, u) in brackets.items()
            }
        )
    return out


def _steps(values: Mapping, k: str, space: Mapping) -> list[float]:
    """The values one grid step below and above ``values[k]`` (inside the box)."""
    lo, hi, (kind, arg) = space[k]
    if kind == "step":
        options = [values[k] - arg, values[k] + arg]
    else:
        i = min(range(len(arg)), key=lambda j: abs(arg[j] - values[k]))
        options = [arg[j] for j in (i - 1, i + 1) if 0 <= j < len(arg)]
    return [v for v in options if lo - 1e-9 * abs(lo) <= v <= hi + 1e-9 * abs(hi)]


def neighbours(values: Mapping, space: Mapping = SEARCH_SPACE) -> list[dict]:
    """Designs one grid step away in one parameter."""
    return [dict(values, **{k: v}) for k in space for v in _steps(values, k, space)]


def pair_neighbours(values: Mapping, space: Mapping = SEARCH_SPACE) -> list[dict]:
    """Designs one grid step away in each of two parameters (trades such as
    fewer arrays at a higher clock, which no single step reaches when a
    constraint is active)."""
    names = list(space)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            for va in _steps(values, a, space):
                for vb in _steps(values, b, space):
                    out.append(dict(values, **{a: va, b: vb}))
    return out
