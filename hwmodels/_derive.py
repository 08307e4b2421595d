"""The hardware generator: design parameters + technology -> system spec and report.

``derive(design, tech)`` computes, from the parameters of ``DesignParams`` and
the constants of ``Technology``, everything the simulator needs (a
``SystemSpec``) and a report of how each figure arises:

- **Throughput.** An array does ``rows x cols`` MACs of its native width per
  cycle; at a format of ``b`` bits it does ``datapath_bits / b`` times as many
  (halving the width doubles the rate: a 16-bit datapath runs fp8 at twice its
  bf16 rate, as Hopper does; an 8-bit datapath runs bf16 at half rate, which
  is optimistic since a multi-pass multiply needs four partial products).
  Peak = 2 FLOP x MACs per cycle x arrays x clock x that factor.
- **Die area** = arrays (spares included) x rows x cols x tile area per MAC
  (the multiplier share scaled by ``(datapath_bits / 16) ** exponent``) +
  shared SRAM / density + on-chip network per array + HBM PHY and controller
  per stack + SerDes PHY per byte/s of scale-up and scale-out + fixed uncore.
- **Yield**: the arrays tolerate as many defective arrays as there are spares
  (Poisson count of array defects, ``P(N <= spares)`` as the regularised
  incomplete gamma function, smooth in the spare count); the rest of the die
  follows the negative binomial ``(1 + A D0 / alpha) ** -alpha``.
- **Dies per wafer** ``pi (d/2)^2 / S - pi d / sqrt(2 S)`` (kept positive by a
  softplus of one die's width; no floor).
- **Cost** per accelerator: die (wafer / good dies), HBM (per byte), 2.5D
  packaging (per mm² of die and HBM footprint), test and assembly; per server
  slot: baseboard and scale-up switch silicon (per byte/s of scale-up) and the
  host's share (CPUs, memory, NICs, chassis); network: scale-out switch ports
  and optics (per bit/s) and switch ports for the part of a scale-up domain
  beyond the server.
- **Power** at full load: MAC rate x (datapath + support energy per MAC), HBM
  traffic (staged through the shared SRAM) x energy per bit, both directions of
  every link x energy per bit, leakage x die area. Server power = accelerators
  x power x (1 + overhead) (+ the network's optics).

Every function is smooth in every continuous parameter: no ``max``, ``if`` or
floor on traced values (softplus with a stated temperature where a one-sided
quantity is needed).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaincc

from hwmodels._blocks import compose
from hwmodels._design import DesignParams, check_design
from hwmodels._spec import SystemSpec, check_system
from hwmodels._technology import Technology, technology

__all__ = [
    "CONSTRAINTS",
    "derive",
    "derive_checked",
    "feasibility_penalties",
    "violated_constraints",
]

# Softplus widths (explicit temperatures of the smooth one-sided forms).
_DPW_WIDTH = 1.0  # dies: dies per wafer stays positive for dies beyond ~11,000 mm²
_DOMAIN_WIDTH = 0.01  # fraction of a scale-up domain outside the server
_PENALTY_WIDTH = 0.01  # relative excess over a feasibility limit
_RETICLE_ASPECT = 33.0 / 26.0  # long / short edge of a reticle-shaped die

# Constraint name -> what it limits (limits and sources in technology.csv).
CONSTRAINTS: dict[str, str] = {
    "reticle": "die area <= reticle_limit_mm2 (858 mm², one exposure field)",
    "power_density": "power / die area <= power_density_limit_w_per_mm2 (E: 1 W/mm²)",
    "hbm_stack_capacity": "HBM capacity per stack <= hbm_max_bytes_per_stack (HBM3E: 36 GB)",
    "hbm_stack_bandwidth": "HBM bandwidth per stack <= hbm_max_bw_bytes_per_s_per_stack (HBM4: 2 TB/s)",
    "hbm_shoreline": "HBM PHYs fit on the die's two long edges (hbm_shoreline_mm_per_stack each)",
    "datapath_precision": "datapath_bits >= min_datapath_bits (4: fp4 is the narrowest known to train)",
    "weight_precision": "weight_bits >= min_weight_bits (16: master weights)",
    "activation_precision": "activation_bits >= min_activation_bits (8: fp8 activations)",
    "optimizer_state_precision": "optimizer_state_bits >= min_optimizer_state_bits (8: 8-bit Adam)",
}


def _softplus_relu(x, width):
    """Smooth ``max(x, 0)``: ``width * softplus(x / width)`` (>= 0, > x)."""
    return width * jax.nn.softplus(x / width)


# ----------------------------------------------------------------------------
# Small pure terms
# ----------------------------------------------------------------------------


def mac_rate_per_s(d: DesignParams):
    """Native MACs per second of the enabled arrays (at ``datapath_bits``)."""
    return d.array_rows * d.array_cols * d.arrays_per_chip * d.clock_hz


def peak_flops_per_s(d: DesignParams, format_bits: float):
    """Dense peak at a format of ``format_bits`` bits, FLOP/s (2 FLOP per MAC)."""
    return 2.0 * mac_rate_per_s(d) * d.datapath_bits / format_bits


def multiplier_scale(d: DesignParams, t: Technology):
    """Multiplier area/energy relative to the 16-bit datapath (1 at 16 bits)."""
    return (d.datapath_bits / 16.0) ** t.multiplier_exponent


def area_terms(d: DesignParams, t: Technology) -> dict[str, Any]:
    """Die area by component, mm²."""
    share = t.multiplier_area_share
    tile = t.tile_area_mm2_per_mac * ((1.0 - share) + share * multiplier_scale(d, t))
    built = d.arrays_per_chip + d.spare_arrays
    return {
        "arrays": built * d.array_rows * d.array_cols * tile,
        "sram": d.sram_bytes / t.sram_density_bytes_per_mm2,
        "noc": built * t.noc_area_mm2_per_array,
        "hbm_phy": d.hbm_stacks * t.hbm_phy_area_mm2_per_stack,
        "hbm_controller": d.hbm_stacks * t.hbm_ctrl_area_mm2_per_stack,
        "scaleup_phy": d.scaleup_bw_bytes_per_s * t.scaleup_phy_area_mm2_per_byte_per_s,
        "scaleout_phy": d.scaleout_bw_bytes_per_s * t.scaleout_phy_area_mm2_per_byte_per_s,
        "other": t.other_area_mm2,
    }


def dies_per_wafer(die_area_mm2, t: Technology):
    """Gross dies per wafer, ``pi r^2 / S - pi d / sqrt(2 S)`` (softplus-positive)."""
    dia = t.wafer_diameter_mm
    gross = math.pi * (dia / 2.0) ** 2 / die_area_mm2 - math.pi * dia / jnp.sqrt(2.0 * die_area_mm2)
    return _softplus_relu(gross, _DPW_WIDTH)


def die_yield(area: dict[str, Any], die_area_mm2, d: DesignParams, t: Technology):
    """Fraction of dies that work, with spare arrays repairing array defects.

    Returns:
        ``(yield, arrays_repairable)``: the product of the negative-binomial
        yield of the non-array area and ``P(Poisson(D0 x array area) <= spares)``.
    """
    d0 = t.defect_density_per_mm2
    alpha = t.yield_cluster_alpha
    rest = die_area_mm2 - area["arrays"]
    y_rest = (1.0 + rest * d0 / alpha) ** (-alpha)
    y_arrays = gammaincc(d.spare_arrays + 1.0, d0 * area["arrays"])
    return y_rest * y_arrays, y_arrays


def power_terms(d: DesignParams, t: Technology, die_area_mm2) -> dict[str, Any]:
    """Accelerator power at full load by component, W."""
    macs = mac_rate_per_s(d)
    hbm_bits = d.hbm_stacks * d.hbm_bw_bytes_per_s_per_stack * 8.0
    return {
        "datapath": macs * t.datapath_energy_j_per_mac * multiplier_scale(d, t),
        "support": macs * t.support_energy_j_per_mac,
        "sram": 2.0 * hbm_bits * t.sram_energy_j_per_bit,
        "hbm": hbm_bits * t.hbm_energy_j_per_bit,
        "scaleup_io": 2.0 * d.scaleup_bw_bytes_per_s * 8.0 * t.scaleup_energy_j_per_bit,
        "scaleout_io": 2.0 * d.scaleout_bw_bytes_per_s * 8.0 * t.scaleout_io_energy_j_per_bit,
        "leakage": die_area_mm2 * t.leakage_w_per_mm2,
    }


def domain_outside_server(d: DesignParams):
    """Fraction of the scale-up domain beyond one server (smooth, >= 0)."""
    return _softplus_relu(1.0 - d.accelerators_per_server / d.scaleup_domain_size, _DOMAIN_WIDTH)


def network_usd_per_accelerator(d: DesignParams, t: Technology):
    """Switch ports and optics per accelerator, USD (scale-out fabric plus the
    switch ports that carry a scale-up domain beyond the server, copper)."""
    out_bits = d.scaleout_bw_bytes_per_s * 8.0
    scaleout = out_bits * (
        t.switch_ports_per_endpoint * t.switch_cost_usd_per_bit_per_s
        + t.transceivers_per_endpoint * t.optics_cost_usd_per_bit_per_s
    )
    up_bits = d.scaleup_bw_bytes_per_s * 8.0
    scaleup = up_bits * domain_outside_server(d) * t.switch_cost_usd_per_bit_per_s
    return scaleout + scaleup


def constraint_ratios(d: DesignParams, t: Technology, die_area_mm2, power_w) -> dict[str, Any]:
    """Each feasibility constraint as value / limit (feasible when <= 1)."""
    long_edge = jnp.sqrt(die_area_mm2 * _RETICLE_ASPECT)
    return {
        "reticle": die_area_mm2 / t.reticle_limit_mm2,
        "power_density": power_w / die_area_mm2 / t.power_density_limit_w_per_mm2,
        "hbm_stack_capacity": d.hbm_bytes_per_stack / t.hbm_max_bytes_per_stack,
        "hbm_stack_bandwidth": d.hbm_bw_bytes_per_s_per_stack / t.hbm_max_bw_bytes_per_s_per_stack,
        "hbm_shoreline": d.hbm_stacks * t.hbm_shoreline_mm_per_stack / (2.0 * long_edge),
        "datapath_precision": t.min_datapath_bits / d.datapath_bits,
        "weight_precision": t.min_weight_bits / d.weight_bits,
        "activation_precision": t.min_activation_bits / d.activation_bits,
        "optimizer_state_precision": t.min_optimizer_state_bits / d.optimizer_state_bits,
    }


# ----------------------------------------------------------------------------
# The generator
# ----------------------------------------------------------------------------


def derive(
    design: DesignParams, tech: Technology | None = None, *, include_network: bool = False
) -> tuple[SystemSpec, dict]:
    """Derive a system spec and a breakdown report from a design.

    Pure and smooth in every leaf of ``design`` and ``tech``: ``jax.grad``,
    ``jax.jacfwd`` and ``jax.vmap`` apply. Nothing is validated here (traced
    values); ``derive_checked`` validates a concrete design first.

    Args:
        design: ``DesignParams``.
        tech: ``Technology``; default ``technology(design.process_node)``.
        include_network: Whether capital (and server power) include the
            scale-out network's switch ports and optics and the switch ports of
            scale-up domains beyond a server. ``False`` (the default) follows
            the ARIA method and the presets, which leave switches and optics
            out; the report prices the network either way
            (``network_gbp_per_accelerator``).

    Returns:
        ``(spec, report)``: ``spec`` is a ``SystemSpec`` with every field filled
        (latencies from ``tech``, ``software_efficiency`` 1, family ``""``) that
        ``dse.simulate`` / ``dse.evaluate`` consume unchanged. ``report`` is a
        dict of scalars (a pytree): throughput, memory, links, area, yield,
        cost and power with their ``breakdown`` (``area_mm2``, ``power_w`` and
        ``capital_gbp_per_accelerator`` by component) and ``constraints``
        (value / limit per ``CONSTRAINTS``, feasible when <= 1).
    """
    d = design
    t = tech if tech is not None else technology(d.process_node)
    if d.blocks:
        d, t = compose(d, t, **dict(d.blocks))
    gbp = t.gbp_per_usd

    peak_bf16 = peak_flops_per_s(d, 16.0)
    peak_fp8 = peak_flops_per_s(d, 8.0) if d.fp8 else 0.0 * peak_bf16
    hbm_capacity = d.hbm_stacks * d.hbm_bytes_per_stack
    hbm_bw = d.hbm_stacks * d.hbm_bw_bytes_per_s_per_stack

    area = area_terms(d, t)
    die_area = sum(area.values())
    dpw = dies_per_wafer(die_area, t)
    yld, y_arrays = die_yield(area, die_area, d, t)
    die_usd = t.wafer_cost_usd / (dpw * yld)
    hbm_usd = hbm_capacity * t.hbm_cost_usd_per_byte
    packaging_usd = t.packaging_cost_usd_per_mm2 * (
        die_area + d.hbm_stacks * t.hbm_stack_footprint_mm2
    )
    test_usd = t.test_cost_usd
    accelerator_usd = die_usd + hbm_usd + packaging_usd + test_usd
    server_usd = (
        d.scaleup_bw_bytes_per_s * t.board_scaleup_cost_usd_per_byte_per_s
        + t.host_cost_usd_per_accelerator
    )
    network_usd = network_usd_per_accelerator(d, t)
    in_capital = 1.0 if include_network else 0.0
    capital_breakdown = {
        "die": die_usd * gbp,
        "memory": hbm_usd * gbp,
        "packaging": packaging_usd * gbp,
        "test": test_usd * gbp,
        "server": server_usd * gbp,
        "network": network_usd * gbp,
    }
    capital_acc = sum(v for k, v in capital_breakdown.items() if k != "network") + (
        in_capital * capital_breakdown["network"]
    )
    capital_server = capital_acc * d.accelerators_per_server

    power = power_terms(d, t, die_area)
    power_w = sum(power.values())
    optics_w = (
        d.scaleout_bw_bytes_per_s
        * 8.0
        * t.transceivers_per_endpoint
        * t.optics_energy_j_per_bit
        * (1.0 if include_network else 0.0)
    )
    server_power = d.accelerators_per_server * (
        power_w * (1.0 + t.server_power_overhead) + optics_w
    )

    spec = SystemSpec(
        peak_bf16_flops_per_s=peak_bf16,
        peak_fp8_flops_per_s=peak_fp8,
        hbm_capacity_bytes=hbm_capacity,
        hbm_bw_bytes_per_s=hbm_bw,
        sram_bytes=d.sram_bytes,
        scaleup_bw_bytes_per_s=d.scaleup_bw_bytes_per_s,
        scaleup_domain_size=d.scaleup_domain_size,
        scaleup_latency_s=t.scaleup_latency_s,
        scaleout_bw_bytes_per_s=d.scaleout_bw_bytes_per_s,
        scaleout_latency_s=t.scaleout_latency_s,
        accelerators_per_server=d.accelerators_per_server,
        accelerator_power_w=power_w,
        server_power_w=server_power,
        server_cost_gbp=capital_server,
        software_efficiency=1.0,
        name=d.name,
        family="",
    )
    report = {
        "peak_bf16_flops_per_s": peak_bf16,
        "peak_fp8_flops_per_s": peak_fp8,
        "mac_rate_per_s": mac_rate_per_s(d),
        "hbm_capacity_bytes": hbm_capacity,
        "hbm_bw_bytes_per_s": hbm_bw,
        "sram_bytes": d.sram_bytes,
        "scaleup_bw_bytes_per_s": d.scaleup_bw_bytes_per_s,
        "scaleout_bw_bytes_per_s": d.scaleout_bw_bytes_per_s,
        "die_area_mm2": die_area,
        "dies_per_wafer": dpw,
        "yield": yld,
        "array_repair_probability": y_arrays,
        "good_dies_per_wafer": dpw * yld,
        "die_cost_gbp": die_usd * gbp,
        "accelerator_cost_gbp": accelerator_usd * gbp,
        "power_w": power_w,
        "power_density_w_per_mm2": power_w / die_area,
        "server_power_w": server_power,
        "capital_gbp_per_accelerator": capital_acc,
        "capital_gbp_per_server": capital_server,
        "capital_gbp_per_server_excluding_network": capital_server
        - in_capital * capital_breakdown["network"] * d.accelerators_per_server,
        "network_gbp_per_accelerator": capital_breakdown["network"],
        "network_in_capital": in_capital,
        "accelerators": d.servers * d.accelerators_per_server,
        "system_capital_gbp": capital_server * d.servers,
        "optimizer_bytes_per_param": (d.weight_bits + 2.0 * d.optimizer_state_bits) / 8.0,
        "breakdown": {
            "area_mm2": area,
            "power_w": power,
            "capital_gbp_per_accelerator": capital_breakdown,
        },
        "constraints": constraint_ratios(d, t, die_area, power_w),
    }
    return spec, report


def feasibility_penalties(report: dict) -> dict[str, Any]:
    """Smooth penalties (>= 0) of every constraint in a ``derive`` report.

    ``softplus`` of the relative excess over each limit with width 1%: about
    0.7% at the limit, ~0 well inside, the excess itself well outside.
    """
    return {
        name: _softplus_relu(ratio - 1.0, _PENALTY_WIDTH)
        for name, ratio in report["constraints"].items()
    }


def violated_constraints(report: dict) -> list[str]:
    """Names of the constraints a concrete design breaks (see ``CONSTRAINTS``)."""
    return [name for name, ratio in report["constraints"].items() if float(ratio) > 1.0]


def derive_checked(
    design: DesignParams, tech: Technology | None = None, *, include_network: bool = False
) -> tuple[SystemSpec, dict]:
    """``derive`` for a concrete design: validated input, validated spec.

    Raises:
        ValueError: a design field outside its range (named), or a derived
            system the simulator cannot take.
    """
    check_design(design)
    spec, report = derive(design, tech, include_network=include_network)
    concrete = jax.tree_util.tree_map(float, spec)
    check_system(concrete, source=f"the system derived from design '{design.name}'")
    return concrete, jax.tree_util.tree_map(float, report)
