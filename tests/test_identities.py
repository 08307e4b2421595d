"""Analytic identities of the model's terms."""

import dataclasses

import jax
import numpy as np
import pytest

from dse import CostModel, simulate
from dse._model import collective_time, elementwise_time, gemm_terms, gemm_time, memory_per_device
from dse._smooth import smooth_max
from dse._strategy import Strategy
from tests._x64 import x64 as enable_x64


def _strategy(**kw):
    base = dict(
        tp=8.0,
        pp=8.0,
        dp=8.0,
        microbatch=1.0,
        global_batch=2048.0,
        interleave=1.0,
        recompute=1.0,
        fp8=1.0,
    )
    base.update(kw)
    return Strategy(**base)


def test_doubling_memory_bandwidth_halves_memory_bound_time(h100, cal):
    with enable_x64():
        t1 = elementwise_time(1e9, h100, cal)
        t2 = elementwise_time(
            1e9, h100.replace(hbm_bw_bytes_per_s=2 * h100.hbm_bw_bytes_per_s), cal
        )
        assert float(t1) == pytest.approx(2 * float(t2), rel=1e-14)
        r1 = simulate(h100, _gpt3(), _strategy(), cal, CostModel())
        r2 = simulate(
            h100.replace(hbm_bw_bytes_per_s=2 * h100.hbm_bw_bytes_per_s),
            _gpt3(),
            _strategy(),
            cal,
            CostModel(),
        )
        assert float(r1.memory_bound_s) == pytest.approx(2 * float(r2.memory_bound_s), rel=1e-12)


def _gpt3():
    from workloads import get_workload

    return get_workload("gpt3-175b")


def test_roofline_ridge_compute_equals_memory(h100, cal):
    """At the ridge point the compute and memory sides of a GEMM agree."""
    with enable_x64():
        m = n = k = 1024.0
        t_c, t_m = gemm_terms(m, n, k, h100, cal, 0.0)
        # Scale the peak so that the GEMM sits exactly on the ridge.
        ridge = h100.replace(peak_bf16_flops_per_s=h100.peak_bf16_flops_per_s * float(t_c / t_m))
        t_c2, t_m2 = gemm_terms(m, n, k, ridge, cal, 0.0)
        assert float(t_c2) == pytest.approx(float(t_m2), rel=1e-12)
        # ... and the smooth roofline is 2**(1/p) times either side there.
        t = gemm_time(m, n, k, ridge, cal, 0.0) - cal.kernel_overhead_s
        assert float(t) == pytest.approx(float(t_c2) * 2 ** (1 / 8), rel=1e-12)


def test_smooth_max_limits():
    with enable_x64():
        assert float(smooth_max(1.0, 1e-6)) == pytest.approx(1.0, rel=1e-12)
        assert float(smooth_max(3.0, 3.0)) == pytest.approx(3.0 * 2 ** (1 / 8), rel=1e-12)
        assert float(smooth_max(2.0, 1.0)) >= 2.0


def test_compute_bound_gemm_scales_with_peak(h100, cal):
    with enable_x64():
        big = 8192.0
        t1 = gemm_time(big, big, big, h100, cal, 1.0) - cal.kernel_overhead_s
        t2 = (
            gemm_time(
                big,
                big,
                big,
                h100.replace(peak_fp8_flops_per_s=2 * h100.peak_fp8_flops_per_s),
                cal,
                1.0,
            )
            - cal.kernel_overhead_s
        )
        assert float(t1 / t2) == pytest.approx(2.0, rel=1e-3)


def test_collective_identities(h100, cal):
    with enable_x64():
        assert float(collective_time(1e9, 1.0, 1.0, h100, cal)) == 0.0
        # Inside one domain: ring over scale-up only.
        t = collective_time(1e9, 8.0, 1.0, h100, cal)
        bw = h100.scaleup_bw_bytes_per_s * cal.collective_efficiency
        assert float(t) == pytest.approx(7 / 8 * 1e9 / bw + 7 * h100.scaleup_latency_s, rel=1e-12)
        # Across domains with one member per domain: scale-out only, and the
        # bandwidth term halves when the NIC bandwidth doubles.
        no_lat = h100.replace(scaleout_latency_s=1e-30)
        t1 = collective_time(1e9, 64.0, 8.0, no_lat, cal)
        t2 = collective_time(
            1e9,
            64.0,
            8.0,
            no_lat.replace(scaleout_bw_bytes_per_s=2 * no_lat.scaleout_bw_bytes_per_s),
            cal,
        )
        assert float(t1) == pytest.approx(2 * float(t2), rel=1e-9)


def test_breakdown_sums_to_step_time(h100, cal):
    with enable_x64():
        for kw in (
            dict(),
            dict(pp=1.0, dp=64.0),
            dict(interleave=4.0),
            dict(recompute=2.0),
            dict(fp8=0.0),
        ):
            r = simulate(h100, _gpt3(), _strategy(**kw), cal, CostModel())
            parts = (
                r.compute_s
                + r.memory_bound_s
                + r.exposed_comm_s
                + r.bubble_s
                + r.optimizer_s
                + r.overhead_s
            )
            assert float(parts) == pytest.approx(float(r.step_time_s), rel=1e-12)
            total = r.steps * r.step_time_s + r.eval_time_s
            assert float(total) == pytest.approx(float(r.time_to_train_s), rel=1e-12)


def test_no_pipeline_no_bubble_and_interleave_shrinks_it(h100, cal):
    with enable_x64():
        assert (
            float(simulate(h100, _gpt3(), _strategy(pp=1.0, dp=64.0), cal, CostModel()).bubble_s)
            == 0.0
        )
        b1 = simulate(h100, _gpt3(), _strategy(interleave=1.0), cal, CostModel()).bubble_s
        b4 = simulate(h100, _gpt3(), _strategy(interleave=4.0), cal, CostModel()).bubble_s
        assert float(b4) < float(b1) / 3


def test_memory_identities(gpt3, cal):
    with enable_x64():
        m8 = memory_per_device(gpt3, _strategy(dp=8.0), cal)
        m16 = memory_per_device(gpt3, _strategy(dp=16.0), cal)
        assert float(m8["optimizer"]) == pytest.approx(2 * float(m16["optimizer"]), rel=1e-12)
        none = memory_per_device(gpt3, _strategy(recompute=0.0), cal)["activations"]
        sel = memory_per_device(gpt3, _strategy(recompute=1.0), cal)["activations"]
        full = memory_per_device(gpt3, _strategy(recompute=2.0), cal)["activations"]
        assert float(full) < float(sel) < float(none)
        # bf16 weights and fp32 grads of the largest stage: 2 + 4 bytes per parameter
        params = (gpt3.n_layers / 8 * gpt3.params_per_layer + gpt3.params_embedding) / 8
        assert float(m8["weights"]) == pytest.approx(2 * params, rel=1e-12)
        assert float(m8["grads"]) == pytest.approx(4 * params, rel=1e-12)


def test_params_and_samples_to_converge(gpt3):
    assert gpt3.params_total == pytest.approx(175e9, rel=0.01)
    table = dict(zip(gpt3.convergence_batch, gpt3.convergence_samples, strict=True))
    with enable_x64():
        for b, s in table.items():
            assert float(gpt3.samples_to_converge(b)) == pytest.approx(s, rel=1e-12)
        # continuous and with a continuous slope at an interior node
        eps = 1e-3
        f = lambda x: float(gpt3.samples_to_converge(x))  # noqa: E731
        assert abs(f(4096 + eps) - f(4096 - eps)) < 1.0
        left = (f(4096) - f(4096 - eps)) / eps
        right = (f(4096 + eps) - f(4096)) / eps
        assert left == pytest.approx(right, rel=1e-3, abs=1e-3)
        # below the table: the smallest point's value (MLPerf RCP rule)
        assert f(512) == pytest.approx(table[1536.0])


def test_vmap_over_strategies_matches_loop(h100, gpt3, cal):
    strategies = [_strategy(), _strategy(tp=4.0, dp=16.0), _strategy(recompute=2.0)]
    batch = Strategy(
        **{
            f.name: np.asarray([getattr(s, f.name) for s in strategies])
            for f in dataclasses.fields(Strategy)
        }
    )
    vm = jax.vmap(simulate, in_axes=(None, None, 0, None, None))(
        h100, gpt3, batch, cal, CostModel()
    )
    for i, s in enumerate(strategies):
        one = simulate(h100, gpt3, s, cal, CostModel())
        assert float(vm.time_to_train_s[i]) == pytest.approx(float(one.time_to_train_s), rel=1e-5)


def test_step_overhead_grows_one_sync_latency_per_doubling_of_domains(h100, cal):
    """Within one scale-up domain only the fixed step overhead is paid; beyond
    it, ``sync_latency_s`` per level of a binary tree over the domains."""
    from dse._model import step_overhead

    cal = cal.replace(step_overhead_s=1e-3, sync_latency_s=2e-3)
    one = float(step_overhead(h100, 8.0, cal))
    assert one == pytest.approx(1e-3, abs=0.2e-3)  # smooth knee at one domain
    t64 = float(step_overhead(h100, 64 * 8.0, cal))
    t128 = float(step_overhead(h100, 128 * 8.0, cal))
    assert t64 == pytest.approx(1e-3 + 6 * 2e-3, rel=1e-3)
    assert t128 - t64 == pytest.approx(2e-3, rel=1e-3)
