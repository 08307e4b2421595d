"""The simulator for op-level workloads (``workloads.OpWorkload``).

Convolutional networks, diffusion UNets, recommendation models and traced
user models train data-parallel in every MLPerf submission: each accelerator
holds a replica and runs ``microbatch`` samples per micro-step, ``m``
micro-steps per optimizer step. The terms are those of the transformer model
(``dse._model``), applied op by op:

* GEMMs and implicit-GEMM convolutions: ``kernel_overhead_s`` plus the smooth
  roofline of ``gemm_terms`` per op and micro-step; backward runs the input
  gradient (1x) and, for trained weights, the weight gradient (1x more).
  Convolutions reach ``conv_efficiency x c / (c + conv_half_channels) x k /
  (k + conv_half_depth)`` of the GEMM efficiency for ``c`` output channels and
  reduction depth ``k`` (fitted constants).
* Attention: the fused-attention efficiency, backward 2.5x forward.
* Elementwise passes: bytes over the achieved memory bandwidth, backward 2x.
* Embedding lookups (DLRM): gathered bytes over memory bandwidth (forward;
  backward scatters and updates the rows: 2x), and an all-to-all of the
  looked-up vectors between model-parallel table shards, forward and backward,
  on the two-level network (``all_to_all_time``).
* Spatial parallelism (``strategy.cp`` for op-level workloads, where the
  workload allows it: 3D U-Net): each sample is cut into ``cp`` slabs along
  its first spatial axis on as many accelerators, which exchange convolution
  halos with their neighbours over scale-up; every accelerator still holds a
  replica, so the gradient reduction spans all of them.
* Gradient reduction and optimizer as in the transformer model (ZeRO-1:
  fp32 reduce-scatter overlapped with the backward pass, bf16 all-gather
  overlapped with the forward pass; Adam-class update on the local shard).
* Evaluation: forward passes over the evaluation set on the clock, plus a
  fixed host-side time per evaluation where the workload states one.

Op fields are static Python numbers, turned into constant arrays so each
kind of op is one vectorised expression (fast to compile).
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from dse._calibration import Calibration
from dse._cost import CostModel, cost_terms
from dse._model import (
    ATTENTION_BACKWARD_FACTOR,
    GRAD_BYTES_PER_PARAM,
    GRAD_REDUCE_BYTES_PER_PARAM,
    OPTIMIZER_BYTES_PER_PARAM,
    OPTIMIZER_STATE_BYTES_PER_PARAM,
    PARAM_GATHER_BYTES_PER_PARAM,
    WEIGHT_BYTES_PER_PARAM,
    RunBreakdown,
    dp_exposed_time,
    elementwise_time,
    fused_attention_time,
    gemm_terms,
    p2p_time,
    step_overhead,
)
from dse._smooth import smooth_max
from hwmodels import SystemSpec
from workloads import Op, OpWorkload
from workloads._ops import ACTIVATION_BYTES

__all__ = ["simulate_ops", "ops_forward_backward", "all_to_all_time", "TABLE_BYTES_PER_PARAM"]

# Embedding tables: fp32 weights plus a row-wise Adagrad accumulator (one fp32
# per row, negligible) -- the TorchRec DLRM-DCNv2 reference configuration.
TABLE_BYTES_PER_PARAM = 4.0


@functools.cache
def _arrays(ops: tuple[Op, ...], kind: str):
    """Columns of the ops of one kind as constant arrays (cached: ops are static)."""
    sel = [op for op in ops if op.kind == kind]
    if not sel:
        return None

    def col(f):
        return np.asarray([f(op) for op in sel], dtype=float)

    return dict(
        m=col(lambda o: o.m),
        n=col(lambda o: o.n),
        k=col(lambda o: o.k),
        count=col(lambda o: o.count),
        a=col(lambda o: o.a_elems or o.m * o.k),
        bytes=col(lambda o: o.bytes),
        exchange=col(lambda o: o.exchange_bytes),
        halo=col(lambda o: o.halo_elems),
        # Backward multiple of the forward work, 0 without a backward pass:
        # GEMMs 2 when trained (input and weight gradients), 1 when frozen;
        # embeddings 2 when trained (scatter and optimizer update), others 1.
        bwd=col(lambda o: (2.0 if o.trainable else 1.0) if o.backward else 0.0),
        # Implicit-GEMM convolutions (they state the input they read).
        conv=col(lambda o: 1.0 if o.a_elems else 0.0),
    )


def all_to_all_time(bytes_per_rank, group, system: SystemSpec, cal: Calibration):
    """Seconds for an all-to-all in which each rank sends ``bytes_per_rank`` in total.

    Ranks are packed into scale-up domains: the ``k - 1`` peers in the domain
    receive their shares over scale-up, the ``group - k`` others over each
    rank's scale-out link; the two run concurrently (the slower sets the pace).
    """
    k = jnp.clip(system.scaleup_domain_size, 1.0, group)
    up = (k - 1.0) / group * bytes_per_rank / (
        system.scaleup_bw_bytes_per_s * cal.collective_efficiency
    ) + system.scaleup_latency_s * jnp.where(k > 1.0, 1.0, 0.0)
    out = (group - k) / group * bytes_per_rank / (
        system.scaleout_bw_bytes_per_s * cal.collective_efficiency
    ) + system.scaleout_latency_s * jnp.where(group > k, 1.0, 0.0)
    return smooth_max(up, out)


def ops_forward_backward(
    ops: tuple[Op, ...], b, system: SystemSpec, cal: Calibration, fp8, spatial=1.0
):
    """Seconds of one micro-step of ``b`` samples on one accelerator.

    Args:
        ops: The operations (per sample).
        b: Samples per micro-step on this accelerator (with spatial
            parallelism: of its group; each accelerator works on ``b /
            spatial`` of them).
        system: The system.
        cal: Calibration.
        fp8: 1.0 for 8-bit GEMMs, else 0.0.
        spatial: Spatial-parallel degree: each sample's first spatial axis is
            cut into ``spatial`` slabs on as many accelerators of one scale-up
            domain; every convolution exchanges its input halo with both
            neighbours over scale-up before it runs (forward, and for the
            input gradient backward), not overlapped (conservative).

    Returns:
        Dict of forward and backward seconds for ``compute`` (GEMMs and
        attention), ``memory`` (elementwise and embedding traffic), and
        ``exchange`` (all-to-all bytes per rank, forward; not seconds).
    """
    zero = 0.0 * b
    out = dict(
        compute_f=zero,
        compute_b=zero,
        memory_f=zero,
        memory_b=zero,
        exchange=zero,
        halo_f=zero,
        halo_b=zero,
    )
    t0 = cal.kernel_overhead_s
    group_b = b
    b = b / spatial
    g = _arrays(ops, "gemm")
    if g is not None:
        tc, tm = gemm_terms(b * g["m"], g["n"], g["k"], system, cal, fp8, a_elems=b * g["a"])
        # Narrow convolutions waste tensor-core tile width; a grouped
        # convolution's kernel tiles across its groups (all output channels).
        # Short reductions (small in_channels x kernel volume per group)
        # amortise each tile's prologue and epilogue over little work.
        width = g["n"] * g["count"]
        depth = g["k"]
        conv_eff = (
            cal.conv_efficiency
            * width
            / (width + cal.conv_half_channels)
            * depth
            / (depth + cal.conv_half_depth)
        )
        tc = tc / jnp.where(g["conv"] > 0.5, conv_eff, 1.0)
        t = t0 + smooth_max(g["count"] * tc, g["count"] * tm)
        out["compute_f"] = out["compute_f"] + jnp.sum(t)
        out["compute_b"] = out["compute_b"] + jnp.sum(g["bwd"] * t)
        if np.any(g["halo"] > 0):
            # Both neighbours at once: twice the halo leaves each accelerator.
            halo_bytes = 2.0 * group_b * g["halo"] * ACTIVATION_BYTES
            th = p2p_time(halo_bytes, False, system, cal)
            th = jnp.where(spatial > 1.0, 1.0, 0.0) * jnp.where(g["halo"] > 0, th, 0.0)
            out["halo_f"] = jnp.sum(th)
            out["halo_b"] = jnp.sum(jnp.where(g["bwd"] > 0, th, 0.0))
    a = _arrays(ops, "attention")
    if a is not None:
        t = fused_attention_time(4.0 * b * a["count"] * a["m"] * a["n"] * a["k"], system, cal)
        out["compute_f"] = out["compute_f"] + jnp.sum(t)
        out["compute_b"] = out["compute_b"] + jnp.sum(
            jnp.where(a["bwd"] > 0, ATTENTION_BACKWARD_FACTOR, 0.0) * t
        )
    e = _arrays(ops, "elementwise")
    if e is not None:
        t = t0 + elementwise_time(b * e["bytes"], system, cal)
        out["memory_f"] = out["memory_f"] + jnp.sum(t)
        out["memory_b"] = out["memory_b"] + jnp.sum(2.0 * e["bwd"] * t)
    x = _arrays(ops, "embedding")
    if x is not None:
        t = t0 + elementwise_time(b * x["bytes"], system, cal)
        out["memory_f"] = out["memory_f"] + jnp.sum(t)
        out["memory_b"] = out["memory_b"] + jnp.sum(2.0 * x["bwd"] * t)
        out["exchange"] = out["exchange"] + b * float(np.sum(x["exchange"]))
    return out


def _forward_time(ops, b, system, cal, fp8, spatial=1.0):
    r = ops_forward_backward(ops, b, system, cal, fp8, spatial)
    return r["compute_f"] + r["memory_f"] + r["halo_f"], r["exchange"]


def memory_per_device_ops(workload: OpWorkload, strategy, cal: Calibration, accelerators) -> dict:
    """Bytes per device of a data-parallel replica (ZeRO-1 optimizer shard)."""
    d = strategy.dp
    params = workload.params
    weights = (params + workload.frozen_params) * WEIGHT_BYTES_PER_PARAM
    grads = params * GRAD_BYTES_PER_PARAM
    optimizer = params * OPTIMIZER_STATE_BYTES_PER_PARAM / d
    tables = workload.table_params * TABLE_BYTES_PER_PARAM / accelerators
    activations = strategy.microbatch / strategy.cp * workload.activation_bytes_per_sample
    reserved = cal.memory_reserved_bytes
    return dict(
        weights=weights + tables,
        grads=grads + 0.0 * d,
        optimizer=optimizer,
        activations=activations,
        reserved=reserved,
        total=weights + tables + grads + optimizer + activations + reserved,
    )


def simulate_ops(
    system: SystemSpec,
    workload: OpWorkload,
    strategy,
    cal: Calibration,
    costs: CostModel,
) -> RunBreakdown:
    """Simulate one data-parallel training run of an op-level workload.

    Same contract as ``dse.simulate`` (which dispatches here): pure, jit-able,
    vmappable over strategies and systems, differentiable in every float leaf
    of ``system``, ``cal`` and ``costs``. Only ``strategy.dp``,
    ``cp`` (spatial parallelism), ``microbatch``, ``global_batch`` and
    ``fp8`` matter (``tp = pp = 1``).
    """
    d, b, fp8, sp = strategy.dp, strategy.microbatch, strategy.fp8, strategy.cp
    accelerators = strategy.tp * strategy.cp * strategy.pp * d
    # Micro-steps per optimizer step (the last may be partial when the global
    # batch does not split evenly: the busiest replica sets the pace).
    m = jnp.ceil(strategy.global_batch / (d * b) - 1e-9)

    r = ops_forward_backward(workload.ops, b, system, cal, fp8, sp)
    has_exchange = any(op.exchange_bytes for op in workload.ops)
    exchange = all_to_all_time(r["exchange"], accelerators, system, cal) if has_exchange else 0.0
    compute_mb = r["compute_f"] + r["compute_b"]
    memory_mb = r["memory_f"] + r["memory_b"]
    # Vectors forward and their gradients backward; spatial halos both ways.
    exchange_mb = 2.0 * exchange + r["halo_f"] + r["halo_b"]

    params = workload.params
    # Every accelerator holds a replica (a spatial group's members compute
    # partial gradients of the same weights): the reduction spans them all.
    window_b = r["compute_b"] + r["memory_b"]
    window_f = r["compute_f"] + r["memory_f"]
    dp_rs, dp_ag, dp_exposed = dp_exposed_time(
        params * GRAD_REDUCE_BYTES_PER_PARAM,
        params * PARAM_GATHER_BYTES_PER_PARAM,
        window_b,
        window_f,
        d * sp,
        1.0,
        system,
        cal,
    )
    optimizer = elementwise_time(params * OPTIMIZER_BYTES_PER_PARAM / (d * sp), system, cal)

    compute = m * compute_mb
    memory_bound = m * memory_mb
    mp_comm = m * exchange_mb
    overhead = step_overhead(system, accelerators, cal) + 0.0 * compute
    step = compute + memory_bound + mp_comm + dp_exposed + optimizer + overhead

    samples = workload.samples_to_converge(strategy.global_batch)
    steps = samples / strategy.global_batch
    # Evaluation: forward passes over the evaluation set, split over the
    # replicas in micro-steps of the training size, plus host-side time.
    if workload.eval_ops:
        eval_f, eval_x = _forward_time(workload.eval_ops, b, system, cal, fp8, sp)
        passes = 1.0
    else:
        eval_f, eval_x = r["compute_f"] + r["memory_f"] + r["halo_f"], r["exchange"]
        passes = workload.eval_forward_passes
    if has_exchange:
        eval_f = eval_f + all_to_all_time(eval_x, accelerators, system, cal)
    eval_microsteps = jnp.ceil(workload.eval_samples * passes / (d * b) - 1e-9)
    eval_pass = eval_microsteps * eval_f + workload.eval_fixed_s
    eval_total = workload.evaluations(samples, strategy.global_batch) * eval_pass
    time_to_train = steps * step + eval_total

    model_flops = strategy.global_batch * workload.flops_per_sample()
    peak = jnp.where(fp8 > 0.5, system.peak_fp8_flops_per_s, system.peak_bf16_flops_per_s)
    mfu = model_flops / (step * accelerators * peak)

    mem = memory_per_device_ops(workload, strategy, cal, accelerators)
    feasible = (mem["total"] <= system.hbm_capacity_bytes).astype(jnp.result_type(float))
    costs_out = cost_terms(system, costs, accelerators, time_to_train)
    zero = 0.0 * step
    return RunBreakdown(
        compute_s=compute,
        memory_bound_s=memory_bound,
        tp_comm_s=mp_comm,
        pp_comm_s=zero,
        dp_comm_s=dp_rs + dp_ag,
        dp_exposed_s=dp_exposed,
        exposed_comm_s=mp_comm + dp_exposed,
        bubble_s=zero,
        optimizer_s=optimizer,
        overhead_s=overhead,
        step_time_s=step,
        steps=steps,
        samples_to_converge=samples,
        eval_time_s=eval_total,
        time_to_train_s=time_to_train,
        flops_per_step=model_flops,
        mfu=mfu,
        memory_weights_bytes=mem["weights"] + zero,
        memory_grads_bytes=mem["grads"] + zero,
        memory_optimizer_bytes=mem["optimizer"] + zero,
        memory_activations_bytes=mem["activations"] + zero,
        memory_reserved_bytes=mem["reserved"] + zero,
        memory_per_device_bytes=mem["total"] + zero,
        memory_capacity_bytes=system.hbm_capacity_bytes + zero,
        feasible=feasible,
        cost=costs_out,
    )
