"""The hardware generator: gradients, calibration against datasheets, monotonicity,
feasibility, errors and the command line.

Calibration, stated honestly: the N7 area constants come from a GA100 die shot
(so the A100 area check is in sample, up to the parts the design leaves out:
the disabled sixth HBM site and 8 MB of spare L2); the per-MAC support energy
comes from the whole-chip H100 figure (so the H100 power check is in sample, up
to the derived die area's leakage). Everything else is out of sample: H100 area
(N7 constants scaled by TSMC's N5 density claim), A100 power (H100 energy
scaled by TSMC's N7 -> N5 power claim), peaks, and the server costs.
"""

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from dse.cli import main
from hwmodels import (
    CONSTRAINTS,
    DESIGN_FIELDS,
    HERMES_1PHASE,
    TECHNOLOGY_FIELDS,
    InterconnectBlock,
    MemoryBlock,
    check_design,
    compose,
    derive,
    derive_checked,
    feasibility_penalties,
    get_design,
    load_design_file,
    technology,
    technology_table,
    violated_constraints,
)
from tests._x64 import x64

# ----------------------------------------------------------------------------
# Finite-difference gradients (float64, central differences, vectorised)
# ----------------------------------------------------------------------------


def _off_nominal():
    """A design that exercises every smooth branch: few spares (the repair term
    matters), a scale-up domain beyond the server, an fp8-class datapath, N3."""
    return dataclasses.replace(
        get_design("h100-like"),
        process_node="N3",
        name="off-nominal",
        spare_arrays=2.0,
        datapath_bits=8.0,
        array_rows=128.0,
        array_cols=128.0,
        arrays_per_chip=20.0,
        sram_bytes=300e6,
        hbm_stacks=6.0,
        scaleup_domain_size=72.0,
        accelerators_per_server=4.0,
    )


def _fd_check(f, x0, *, h_rel=1e-5):
    """Jacobian of ``f`` at ``x0`` by ``jacfwd`` and by central differences.

    Returns:
        Elasticity-scaled absolute error ``|J_ad - J_fd| * s_x / s_y`` and the
        scaled Jacobian, both ``[outputs, inputs]``.
    """
    x0 = jnp.asarray(x0, jnp.float64)
    y0 = f(x0)
    j_ad = jax.jacfwd(f)(x0)
    sx = jnp.where(x0 != 0, jnp.abs(x0), 1.0)  # relative steps; 1 for zeros
    steps = h_rel * sx
    eye = jnp.eye(x0.size) * steps[:, None]
    ys = jax.vmap(f)(jnp.concatenate([x0 + eye, x0 - eye]))
    j_fd = ((ys[: x0.size] - ys[x0.size :]) / (2 * steps[:, None])).T
    sy = jnp.maximum(jnp.abs(y0), 1e-30)[:, None]
    return np.abs(j_ad - j_fd) * sx / sy, np.abs(j_fd) * sx / sy


def _report_vector(design, tech):
    return ravel_pytree(derive(design, tech)[1])[0]


def test_every_derived_quantity_has_correct_gradients_wrt_every_design_parameter():
    with x64():
        base = _off_nominal()
        tech = jax.tree_util.tree_map(
            lambda v: jnp.asarray(v, jnp.float64), technology(base.process_node)
        )

        def f(x):
            d = dataclasses.replace(base, **{k: x[i] for i, k in enumerate(DESIGN_FIELDS)})
            return _report_vector(d, tech)

        x0 = [float(getattr(base, k)) for k in DESIGN_FIELDS]
        err, scale = _fd_check(f, x0)
        assert np.all(np.isfinite(err))
        bad = np.argwhere(err > 1e-6 + 1e-5 * scale)
        names = list(ravel_pytree(derive(base, tech)[1])[1](np.arange(err.shape[0])).keys())
        assert bad.size == 0, (names, [(int(i), DESIGN_FIELDS[j]) for i, j in bad[:10]])


def test_gradients_flow_to_every_technology_constant():
    with x64():
        design = _off_nominal()
        base = technology(design.process_node)

        def f(x):
            t = dataclasses.replace(base, **{k: x[i] for i, k in enumerate(TECHNOLOGY_FIELDS)})
            _, r = derive(design, t, include_network=True)
            return jnp.stack(
                [
                    r["die_area_mm2"],
                    r["yield"],
                    r["power_w"],
                    r["capital_gbp_per_accelerator"],
                    r["server_power_w"],
                ]
            )

        x0 = [float(getattr(base, k)) for k in TECHNOLOGY_FIELDS]
        err, scale = _fd_check(f, x0)
        assert np.all(err <= 1e-6 + 1e-5 * scale)
        # Every constant that prices area, energy or cost moves some output.
        moved = {k for j, k in enumerate(TECHNOLOGY_FIELDS) if scale[:, j].max() > 1e-9}
        limits = {
            "reticle_limit_mm2",
            "power_density_limit_w_per_mm2",
            "hbm_max_bytes_per_stack",
            "hbm_max_bw_bytes_per_s_per_stack",
            "hbm_shoreline_mm_per_stack",
            "scaleup_latency_s",
            "scaleout_latency_s",
        }
        limits |= {k for k in TECHNOLOGY_FIELDS if k.startswith("min_")}
        assert moved == set(TECHNOLOGY_FIELDS) - limits


# ----------------------------------------------------------------------------
# Calibration against datasheets
# ----------------------------------------------------------------------------


def _within(value, target, rel):
    return abs(value / target - 1.0) <= rel


def test_h100_like_reproduces_the_h100_datasheet():
    _, r = derive_checked(get_design("h100-like"))
    assert _within(r["peak_bf16_flops_per_s"], 989.4e12, 0.10)
    assert _within(r["peak_fp8_flops_per_s"], 1978.9e12, 0.10)
    assert _within(r["die_area_mm2"], 814.0, 0.15)  # out of sample (N7 die shot / TSMC N5 claim)
    assert _within(r["power_w"], 700.0, 0.20)  # in sample (the support energy's anchor)
    # ARIA: GBP 60,000 of cost of goods per 8-GPU server, switches and optics left out.
    assert _within(r["capital_gbp_per_server_excluding_network"], 60_000.0, 0.25)
    # Cross-checks against the reference data's analyst figures (technology-costs.md s3).
    usd = 1.0 / technology("N4").gbp_per_usd
    assert 260.0 <= r["die_cost_gbp"] * usd <= 420.0  # per good die
    assert _within(r["accelerator_cost_gbp"] * usd, 3320.0, 0.15)  # Raymond James COGS


def test_a100_like_reproduces_the_a100_datasheet():
    _, r = derive_checked(get_design("a100-like"))
    assert _within(r["peak_bf16_flops_per_s"], 312e12, 0.10)
    assert r["peak_fp8_flops_per_s"] == 0.0
    assert _within(r["die_area_mm2"], 826.0, 0.15)  # in sample (GA100 die shot)
    assert _within(r["power_w"], 400.0, 0.20)  # out of sample (H100 energy / TSMC N5 claim)
    # Reference: the a100-sxm-80gb preset's GBP 51,100 (ARIA-consistent cost of
    # goods method, E +-40%, hwmodels/data/systems.csv).
    assert _within(r["capital_gbp_per_server_excluding_network"], 51_100.0, 0.25)


def test_dies_per_wafer_matches_the_reference_arithmetic():
    """technology-costs.md s3: 63.5 gross 814 mm² dies per 300 mm wafer."""
    from hwmodels._derive import dies_per_wafer

    assert float(dies_per_wafer(814.0, technology("N4"))) == pytest.approx(63.5, abs=0.1)


def test_support_energy_is_the_documented_h100_residual():
    """The D value in technology.csv equals its stated arithmetic with the other constants."""
    t = technology("N5")
    mac = 989.4e12 / 2
    rest = (
        mac * t.datapath_energy_j_per_mac
        + 3.35e12 * 8 * (t.hbm_energy_j_per_bit + 2 * t.sram_energy_j_per_bit)
        + 2 * 450e9 * 8 * t.scaleup_energy_j_per_bit
        + 2 * 50e9 * 8 * t.scaleout_io_energy_j_per_bit
        + 814.0 * t.leakage_w_per_mm2
    )
    assert t.support_energy_j_per_mac == pytest.approx((700.0 - rest) / mac, rel=1e-3)
    for node, factor in (("N7", 1 / 0.70), ("N3", 0.675)):
        assert technology(node).support_energy_j_per_mac == pytest.approx(
            t.support_energy_j_per_mac * factor, rel=1e-3
        )


def test_every_constant_has_a_source_and_a_range_around_its_value():
    for node in ("N7", "N5", "N4", "N3"):
        table = technology_table(node)
        assert set(TECHNOLOGY_FIELDS) <= set(table)
        for name, row in table.items():
            assert row["source"], name
            assert row["low"] <= row["value"] <= row["high"], (node, name)


def test_derived_system_runs_in_the_simulator_like_the_preset():
    """The h100-like spec carries the h100-sxm preset's figures the simulator uses."""
    from hwmodels import get_system

    spec, _ = derive_checked(get_design("h100-like"), include_network=False)
    preset = get_system("h100-sxm")
    for field in (
        "peak_bf16_flops_per_s",
        "peak_fp8_flops_per_s",
        "hbm_capacity_bytes",
        "hbm_bw_bytes_per_s",
        "scaleup_bw_bytes_per_s",
        "scaleout_bw_bytes_per_s",
        "scaleup_latency_s",
        "scaleout_latency_s",
    ):
        assert getattr(spec, field) == pytest.approx(getattr(preset, field), rel=1e-3), field


# ----------------------------------------------------------------------------
# Monotonicity and identities
# ----------------------------------------------------------------------------


def test_more_sram_never_shrinks_the_die_batched_and_jitted():
    """``derive`` under ``jit(vmap)`` over a batch of designs; area rises with SRAM."""
    base = get_design("h100-like")
    designs = [base.replace(sram_bytes=s) for s in np.linspace(0.0, 400e6, 21)]
    batch = jax.tree_util.tree_map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *designs)
    spec, report = jax.jit(jax.vmap(derive))(batch)
    assert spec.sram_bytes.shape == (21,)
    assert np.all(np.diff(np.asarray(report["die_area_mm2"])) > 0)
    one = derive(designs[-1])[1]["die_area_mm2"]
    assert float(report["die_area_mm2"][-1]) == pytest.approx(float(one), rel=1e-6)


def test_higher_defect_density_never_raises_yield():
    base = get_design("a100-like")
    tech = technology("N7")

    def yield_at(spares, d0):
        d = dataclasses.replace(base, spare_arrays=spares)
        return derive(d, tech.replace(defect_density_per_mm2=d0))[1]["yield"]

    d0 = jnp.linspace(0.0005, 0.005, 37)  # 0.05 - 0.5 per cm²
    spares = jnp.array([0.0, 2.0, 20.0])
    y = np.asarray(jax.vmap(lambda s: jax.vmap(lambda x: yield_at(s, x))(d0))(spares))
    assert np.all(np.diff(y, axis=1) <= 0)
    assert np.all((0 < y[:, -1]) & (y[:, -1] < y[:, 0]) & (y[:, 0] <= 1))


def test_halving_the_datapath_doubles_the_rate_and_quarters_the_multipliers():
    base = get_design("h100-like")
    _, r16 = derive(base)
    _, r8 = derive(base.replace(datapath_bits=8.0))
    assert float(r8["peak_fp8_flops_per_s"]) == pytest.approx(float(r16["peak_bf16_flops_per_s"]))
    assert float(r8["breakdown"]["power_w"]["datapath"]) == pytest.approx(
        float(r16["breakdown"]["power_w"]["datapath"]) / 4
    )


def test_network_is_priced_but_left_out_of_capital_by_default():
    """The ARIA convention (and the presets) leave switches and optics out of
    capital; the report prices them either way."""
    design = get_design("h100-like")
    _, default = derive_checked(design)
    _, with_net = derive_checked(design, include_network=True)
    assert default["network_gbp_per_accelerator"] > 0
    assert with_net["network_gbp_per_accelerator"] == pytest.approx(
        default["network_gbp_per_accelerator"]
    )
    assert default["capital_gbp_per_server"] == pytest.approx(
        with_net["capital_gbp_per_server_excluding_network"]
    )
    assert with_net["capital_gbp_per_server"] - default["capital_gbp_per_server"] == pytest.approx(
        8 * default["network_gbp_per_accelerator"], rel=1e-6
    )


# ----------------------------------------------------------------------------
# Feasibility
# ----------------------------------------------------------------------------


def test_feasible_designs_have_no_violations_and_small_penalties():
    for name in ("h100-like", "a100-like", "h100-like-n3"):
        _, report = derive_checked(get_design(name))
        assert violated_constraints(report) == []
        pen = feasibility_penalties(report)
        assert set(pen) == set(CONSTRAINTS)
        assert all(0 <= float(v) < 0.01 for v in pen.values())


@pytest.mark.parametrize(
    "changes,constraint",
    [
        (dict(arrays_per_chip=200.0), "reticle"),
        (dict(clock_hz=3.5e9, arrays_per_chip=100.0), "power_density"),
        (dict(hbm_bytes_per_stack=64 * 2.0**30), "hbm_stack_capacity"),
        (dict(hbm_bw_bytes_per_s_per_stack=3e12), "hbm_stack_bandwidth"),
        (dict(hbm_stacks=12.0), "hbm_shoreline"),
        (dict(datapath_bits=2.0), "datapath_precision"),
        (dict(weight_bits=8.0), "weight_precision"),
        (dict(activation_bits=4.0), "activation_precision"),
        (dict(optimizer_state_bits=4.0), "optimizer_state_precision"),
    ],
)
def test_infeasible_designs_name_the_constraint(changes, constraint):
    design = get_design("h100-like").replace(**changes)
    _, report = derive_checked(design)
    assert constraint in violated_constraints(report)
    assert float(feasibility_penalties(report)[constraint]) > 0.01


# ----------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------


def test_a_compute_block_prices_area_and_power_from_its_figures():
    base = get_design("h100-like")
    block = HERMES_1PHASE
    design, tech = compose(base, technology(base.process_node), compute=block)
    _, r = derive(design, tech)
    ops = 2 * float(r["mac_rate_per_s"])
    assert float(r["breakdown"]["power_w"]["support"]) == pytest.approx(ops / 9.76e12, rel=1e-6)
    assert float(r["breakdown"]["power_w"]["datapath"]) == 0.0
    built = (base.arrays_per_chip + base.spare_arrays) / base.arrays_per_chip
    assert float(r["breakdown"]["area_mm2"]["arrays"]) == pytest.approx(
        ops * built / block.ops_per_s_per_mm2, rel=1e-6
    )
    assert float(r["peak_fp8_flops_per_s"]) == pytest.approx(ops, rel=1e-6)  # 8-bit block
    grads = jax.grad(lambda b: derive(*compose(base, tech, compute=b))[1]["power_w"])(block)
    assert float(grads.ops_per_j) < 0 and np.isfinite(float(grads.ops_per_s_per_mm2))


def test_a_block_narrower_than_training_tolerates_is_infeasible_by_name():
    base = get_design("h100-like")
    two_bit = dataclasses.replace(HERMES_1PHASE, precision_bits=2.0, name="two-bit")
    design, tech = compose(base, technology(base.process_node), compute=two_bit)
    _, report = derive(design, tech)
    assert "datapath_precision" in violated_constraints(report)


def test_memory_and_interconnect_blocks_replace_their_constants():
    base = get_design("h100-like")
    tech = technology(base.process_node)
    mem = MemoryBlock(energy_j_per_bit=4e-12, cost_usd_per_byte=5.0 / 2**30)
    link = InterconnectBlock(energy_j_per_bit=0.3e-12, cost_usd_per_byte_per_s=2e-9)
    _, r0 = derive(base, tech)
    _, r1 = derive(*compose(base, tech, memory=mem, interconnect=link))
    p0, p1 = r0["breakdown"]["power_w"], r1["breakdown"]["power_w"]
    assert float(p1["hbm"]) == pytest.approx(float(p0["hbm"]) * 4 / 3.5, rel=1e-6)
    assert float(p1["scaleup_io"]) == pytest.approx(float(p0["scaleup_io"]) * 0.3 / 1.3, rel=1e-6)
    assert float(r1["breakdown"]["capital_gbp_per_accelerator"]["memory"]) == pytest.approx(
        float(r0["breakdown"]["capital_gbp_per_accelerator"]["memory"]) / 3, rel=1e-6
    )


# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------


def test_out_of_range_fields_are_refused_not_clamped():
    design = get_design("h100-like")
    with pytest.raises(ValueError, match=r"'clock_hz' = 9000000000.0 .*\[1e\+08, 4e\+09\] Hz"):
        design.replace(clock_hz=9e9)
    with pytest.raises(ValueError, match="'hbm_stacks' = 0.0"):
        design.replace(hbm_stacks=0.0)
    with pytest.raises(ValueError, match="'array_rows' = nan"):
        design.replace(array_rows=float("nan"))
    with pytest.raises(ValueError, match="'accelerators_per_server' = 7.5 must be a whole number"):
        design.replace(accelerators_per_server=7.5)
    with pytest.raises(ValueError, match="process_node='N2' is not allowed"):
        check_design(dataclasses.replace(design, process_node="N2"))
    with pytest.raises(ValueError, match="choose one of"):
        technology("N6")


def test_unknown_design_lists_the_built_in_ones():
    with pytest.raises(ValueError, match="h100-like"):
        get_design("h999-like")


def test_design_files_toml_and_json(tmp_path):
    toml = tmp_path / "mine.toml"
    toml.write_text(
        'name = "mine"\nprocess_node = "N3"\narray_rows = 64\narray_cols = 64\n'
        "arrays_per_chip = 100\nclock_ghz = 1.5\ndatapath_bits = 8\nhbm_stacks = 6\n"
        "hbm_gib_per_stack = 24\nhbm_tb_s_per_stack = 1.2\nscaleup_gb_s_per_dir = 900\n"
        "scaleup_domain_size = 72\nscaleout_gb_s_per_dir = 100\naccelerators_per_server = 4\n"
    )
    design = load_design_file(str(toml))
    assert (design.name, design.process_node, design.fp8) == ("mine", "N3", True)
    assert design.weight_bits == 32.0 and design.servers == 1.0  # documented defaults
    spec, report = derive_checked(design)
    assert spec.peak_fp8_flops_per_s == pytest.approx(2 * 64 * 64 * 100 * 1.5e9)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"process_node": "N5", "array_rows": 8, "clock_mhz": 5}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['clock_mhz'\]"):
        load_design_file(str(bad))
    bad.write_text(json.dumps({"process_node": "N5", "array_rows": 8}))
    with pytest.raises(ValueError, match="missing required key 'array_cols'"):
        load_design_file(str(bad))


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------


def test_cli_hardware_json(capsys):
    assert main(["hardware", "--design", "h100-like", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    keys = {
        "peak_bf16_flops_per_s",
        "die_area_mm2",
        "power_w",
        "capital_gbp_per_accelerator",
        "breakdown",
        "system",
        "feasible",
        "violated_constraints",
        "constraints",
    }
    assert keys <= set(out)
    assert set(out["breakdown"]["capital_gbp_per_accelerator"]) == {
        "die",
        "memory",
        "packaging",
        "test",
        "server",
        "network",
    }
    assert out["system"]["server_cost_gbp"] == pytest.approx(out["capital_gbp_per_server"])
    assert main(["hardware", "--list"]) == 0
    assert "a100-like" in capsys.readouterr().out


def test_cli_hardware_reports_an_infeasible_design(tmp_path, capsys):
    path = tmp_path / "huge.toml"
    path.write_text(
        'process_node = "N5"\narray_rows = 32\narray_cols = 64\narrays_per_chip = 300\n'
        "clock_ghz = 1.8\ndatapath_bits = 16\nhbm_stacks = 5\nhbm_gib_per_stack = 16\n"
        "hbm_tb_s_per_stack = 0.8\nscaleup_gb_s_per_dir = 450\nscaleup_domain_size = 8\n"
        "scaleout_gb_s_per_dir = 50\naccelerators_per_server = 8\n"
    )
    assert main(["hardware", "--design", str(path)]) == 1
    assert "INFEASIBLE" in capsys.readouterr().out
    assert main(["hardware", "--design", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert "reticle" in out["violated_constraints"] and "reticle" in out["infeasible_reason"]
    assert main(["hardware", "--design", "nonsense"]) == 2
    assert "unknown design 'nonsense'" in capsys.readouterr().err


def test_cli_evaluate_on_a_derived_design(capsys):
    args = ["evaluate", "--design", "h100-like", "--workload", "gpt3-175b", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["feasible"] and out["design"]["feasible"]
    assert out["accelerators"] == 512  # 64 servers x 8
    assert out["system"] == "h100-like"
    assert out["capital_gbp"] == pytest.approx(out["design"]["system_capital_gbp"], rel=1e-6)
    assert main(["evaluate", "--design", "h100-like", "--system", "h100-sxm"]) == 2


# ----------------------------------------------------------------------------
# Building blocks in design files
# ----------------------------------------------------------------------------

_EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "studies", "designs", "analog-hermes.toml")


def test_design_file_with_a_compute_block_derives_from_the_block_figures():
    design = get_design(_EXAMPLE)
    (kind, block), *_ = design.blocks
    assert kind == "compute" and block.name == "ibm-hermes-1phase"
    _, r = derive_checked(design)
    macs = 32 * 64 * 64 * 1e9  # rows x cols x arrays x the block's clock
    assert r["peak_fp8_flops_per_s"] == pytest.approx(2 * macs, rel=1e-6)
    assert r["peak_bf16_flops_per_s"] == pytest.approx(macs, rel=1e-6)  # 16-bit at half rate
    # All-in block energy: ops / (ops per joule), nothing else from the node's MAC.
    assert r["breakdown"]["power_w"]["support"] == pytest.approx(2 * macs / 9.76e12, rel=1e-6)
    assert r["breakdown"]["power_w"]["datapath"] == 0.0
    # Array area: 2 x clock / density per MAC.
    assert r["breakdown"]["area_mm2"]["arrays"] == pytest.approx(
        32 * 64 * 64 * 2e9 / 0.438e12, rel=1e-6
    )


def _block_file(tmp_path, block: str, **extra) -> str:
    text = open(_EXAMPLE).read().split("[compute_block]")[0]
    for key, value in extra.items():
        text += f"{key} = {value}\n"
    path = tmp_path / "d.toml"
    path.write_text(text + block)
    return str(path)


def test_block_precision_below_the_training_floor_is_infeasible_by_name(tmp_path, capsys):
    path = _block_file(
        tmp_path,
        "[compute_block]\ntops_per_mm2 = 0.438\ntops_per_w = 50\nprecision_bits = 3\nclock_ghz = 1\n",
    )
    _, r = derive_checked(get_design(path))
    assert violated_constraints(r) == ["datapath_precision"]
    assert main(["hardware", "--design", path]) == 1
    assert "datapath_precision" in capsys.readouterr().out


def test_block_tables_are_validated(tmp_path):
    good = "tops_per_mm2 = 1.0\ntops_per_w = 10\nprecision_bits = 8\nclock_ghz = 1\n"
    with pytest.raises(ValueError, match=r"\[compute_block\]: unknown key\(s\) \['tops'\]"):
        get_design(_block_file(tmp_path, "[compute_block]\ntops = 5\n" + good))
    with pytest.raises(ValueError, match="missing required key"):
        get_design(_block_file(tmp_path, "[compute_block]\ntops_per_w = 10\n"))
    with pytest.raises(ValueError, match="'tops_per_w' = -1"):
        get_design(_block_file(tmp_path, "[compute_block]\n" + good.replace("10", "-1")))
    with pytest.raises(ValueError, match="'clock_ghz' = 2.0 contradicts the \\[compute_block\\]"):
        get_design(_block_file(tmp_path, "[compute_block]\n" + good, clock_ghz=2.0))


def test_memory_and_interconnect_blocks_from_a_design_file(tmp_path):
    base = get_design("h100-like")
    _, r0 = derive_checked(base)
    text = "".join(
        f"{k} = {v}\n"
        for k, v in dict(
            process_node='"N4"',
            array_rows=32,
            array_cols=64,
            arrays_per_chip=132,
            spare_arrays=12,
            clock_ghz=1.83,
            datapath_bits=16,
            sram_mb=50,
            hbm_stacks=5,
            hbm_gib_per_stack=16,
            hbm_tb_s_per_stack=0.67,
            scaleup_gb_s_per_dir=450,
            scaleup_domain_size=8,
            scaleout_gb_s_per_dir=50,
            accelerators_per_server=8,
            servers=64,
        ).items()
    )
    text += "[memory_block]\npj_per_bit = 7.0\nusd_per_gb = 30\n"
    text += "[interconnect_block]\npj_per_bit = 2.6\nusd_per_gb_s = 11.9\n"
    path = tmp_path / "m.toml"
    path.write_text(text)
    _, r = derive_checked(get_design(str(path)))
    assert r["breakdown"]["power_w"]["hbm"] == pytest.approx(
        2 * r0["breakdown"]["power_w"]["hbm"], rel=1e-6
    )
    assert r["breakdown"]["power_w"]["scaleup_io"] == pytest.approx(
        2 * r0["breakdown"]["power_w"]["scaleup_io"], rel=1e-6
    )
    assert r["breakdown"]["capital_gbp_per_accelerator"]["memory"] == pytest.approx(
        r0["breakdown"]["capital_gbp_per_accelerator"]["memory"] * 30 / 15 * 2**30 / 1e9,
        rel=1e-3,
    )


def test_cli_evaluates_a_block_design(capsys):
    assert main(["evaluate", "--design", _EXAMPLE, "--workload", "resnet50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["design"]["blocks"]["compute"]["name"] == "ibm-hermes-1phase"
    assert out["time_to_train_s"] > 0 and out["feasible"]
