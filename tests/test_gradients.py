"""Gradients of time-to-train and pounds against central finite differences (float64).

Derivatives are taken with respect to the log of every continuous system field
(d metric / d ln x = x d metric / dx) and compared with central differences in
log space. ``scaleup_domain_size`` is a count that the model uses through a
piecewise-linear group placement; it is checked for finiteness only.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dse import (
    CostModel,
    StrategyPins,
    enumerate_strategies,
    search_jit,
    search_strategies,
    simulate,
    stack_strategies,
)
from dse._strategy import Strategy
from hwmodels import SYSTEM_FIELDS, get_system
from tests._x64 import x64

PIECEWISE = {"scaleup_domain_size"}
H = 1e-5  # step in ln(x)
RTOL = 1e-4


def _objectives(spec, workload, cands, cal):
    def f(logx):
        values = {k: jnp.exp(v) for k, v in logx.items()}
        s = dataclasses.replace(spec, **values)
        r = search_strategies(s, workload, cands, cal, CostModel())
        return jnp.stack([r.time_to_train_s, r.total_gbp, r.run_cost_gbp, r.energy_j])

    x0 = {
        k: jnp.log(jnp.asarray(float(getattr(spec, k))))
        for k in SYSTEM_FIELDS
        if float(getattr(spec, k)) > 0
    }
    return f, x0


@pytest.mark.parametrize(
    "preset,n", [("h100-sxm", 512), ("tpu-v5p", 1024), ("a100-sxm-80gb", 1024)]
)
def test_smooth_objective_gradients_match_finite_differences(preset, n, gpt3, cal):
    with x64():
        spec = get_system(preset)
        prec = "fp8" if spec.supports_fp8() else "bf16"
        cands = stack_strategies(
            enumerate_strategies(
                gpt3,
                n,
                precision=prec,
                pins=StrategyPins(global_batch=2048, microbatch=1),
                scaleup_domain_size=float(spec.scaleup_domain_size),
            )
        )
        f, x0 = _objectives(spec, gpt3, cands, cal)
        jac = jax.jit(jax.jacrev(f))(x0)
        f_jit = jax.jit(f)
        for name in x0:
            g = np.asarray(jac[name])
            assert np.all(np.isfinite(g)), name
            if name in PIECEWISE:
                continue
            up = dict(x0, **{name: x0[name] + H})
            dn = dict(x0, **{name: x0[name] - H})
            fd = (np.asarray(f_jit(up)) - np.asarray(f_jit(dn))) / (2 * H)
            scale = np.abs(np.asarray(f_jit(x0)))
            # relative to the metric: elasticities agree to RTOL
            np.testing.assert_allclose(
                g / scale, fd / scale, rtol=RTOL, atol=RTOL * 1e-2, err_msg=name
            )


def test_fixed_strategy_gradients_match_finite_differences(h100, gpt3, cal):
    strategy = Strategy(
        tp=8.0,
        pp=8.0,
        dp=8.0,
        microbatch=1.0,
        global_batch=2048.0,
        interleave=2.0,
        recompute=1.0,
        fp8=1.0,
    )
    with x64():

        def f(logx):
            s = dataclasses.replace(h100, **{k: jnp.exp(v) for k, v in logx.items()})
            r = simulate(s, gpt3, strategy, cal, CostModel())
            return jnp.stack([r.time_to_train_s, r.cost.total_gbp])

        x0 = {
            k: jnp.log(jnp.asarray(float(getattr(h100, k))))
            for k in SYSTEM_FIELDS
            if k not in PIECEWISE
        }
        jac = jax.jacrev(f)(x0)
        for name in x0:
            up = dict(x0, **{name: x0[name] + H})
            dn = dict(x0, **{name: x0[name] - H})
            fd = (np.asarray(f(up)) - np.asarray(f(dn))) / (2 * H)
            scale = np.abs(np.asarray(f(x0)))
            np.testing.assert_allclose(
                np.asarray(jac[name]) / scale, fd / scale, rtol=RTOL, atol=RTOL * 1e-2, err_msg=name
            )


def test_gradient_signs_are_physical(h100, gpt3, cal):
    """More bandwidth or throughput never slows training; a dearer server never costs less."""
    with x64():
        cands = stack_strategies(
            enumerate_strategies(gpt3, 512, precision="fp8", pins=StrategyPins(global_batch=2048))
        )
        f, x0 = _objectives(h100, gpt3, cands, cal)
        jac = jax.jacrev(f)(x0)
        for name in (
            "peak_fp8_flops_per_s",
            "peak_bf16_flops_per_s",
            "hbm_bw_bytes_per_s",
            "scaleup_bw_bytes_per_s",
            "scaleout_bw_bytes_per_s",
            "hbm_capacity_bytes",
        ):
            assert float(jac[name][0]) <= 0.0, name
        for name in ("scaleup_latency_s", "scaleout_latency_s"):
            assert float(jac[name][0]) >= 0.0, name
        assert float(jac["server_cost_gbp"][1]) > 0.0
        assert float(jac["server_power_w"][1]) > 0.0


def test_second_call_with_new_values_does_not_recompile(h100, gpt3, cal):
    cands = stack_strategies(
        enumerate_strategies(gpt3, 512, precision="fp8", pins=StrategyPins(global_batch=2048))
    )
    r1 = search_jit(h100, gpt3, cands, cal, CostModel())
    size = search_jit._cache_size()
    faster = h100.replace(
        scaleout_bw_bytes_per_s=2 * h100.scaleout_bw_bytes_per_s, peak_fp8_flops_per_s=3e15
    )
    r2 = search_jit(faster, gpt3, cands, cal, CostModel().replace(pue=1.3))
    assert search_jit._cache_size() == size
    assert float(r2.time_to_train_s) < float(r1.time_to_train_s)


def test_design_to_time_and_pounds_gradients_match_finite_differences(gpt3, cal):
    """End to end: design parameters -> ``hwmodels.derive`` -> the smooth
    strategy search -> time-to-train and pounds; elasticities against central
    differences in float64 for every continuous design parameter except the
    whole-number counts the network model places piecewise."""
    from hwmodels import DESIGN_FIELDS, derive, get_design

    piecewise = {"scaleup_domain_size", "accelerators_per_server", "servers"}
    with x64():
        design = get_design("h100-like")
        spec0, _ = derive(design)
        cands = stack_strategies(
            enumerate_strategies(
                gpt3,
                512,
                precision="fp8",
                pins=StrategyPins(global_batch=2048, microbatch=1, tp=8),
                scaleup_domain_size=8.0,
            )
        )

        def f(logx):
            d = dataclasses.replace(design, **{k: jnp.exp(v) for k, v in logx.items()})
            spec, _ = derive(d)
            r = search_strategies(spec, gpt3, cands, cal, CostModel())
            return jnp.stack([r.time_to_train_s, r.total_gbp])

        x0 = {
            k: jnp.log(jnp.asarray(float(getattr(design, k))))
            for k in DESIGN_FIELDS
            if k not in piecewise and float(getattr(design, k)) > 0
        }
        jac = jax.jit(jax.jacrev(f))(x0)
        f_jit = jax.jit(f)
        scale = np.abs(np.asarray(f_jit(x0)))
        moved = set()
        for name in x0:
            g = np.asarray(jac[name])
            assert np.all(np.isfinite(g)), name
            up = dict(x0, **{name: x0[name] + H})
            dn = dict(x0, **{name: x0[name] - H})
            fd = (np.asarray(f_jit(up)) - np.asarray(f_jit(dn))) / (2 * H)
            np.testing.assert_allclose(
                g / scale, fd / scale, rtol=RTOL, atol=RTOL * 1e-2, err_msg=name
            )
            if np.abs(g / scale).max() > 1e-6:
                moved.add(name)
        # Throughput, memory and link parameters move time; area and cost
        # parameters move pounds.
        assert {"clock_hz", "array_rows", "hbm_bw_bytes_per_s_per_stack"} <= moved
        assert {"sram_bytes", "spare_arrays"} <= moved
