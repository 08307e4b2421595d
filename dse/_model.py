"""The simulator: one training run of a transformer on one system, one strategy.

Every term is a small pure function of (system, workload, strategy,
calibration) returning seconds or bytes; ``simulate`` sums them into a named
``RunBreakdown``. All arithmetic is ``jax.numpy`` on float leaves, smooth in
every continuous system parameter (roofline and overlap use the smooth forms of
``dse._smooth``). Strategy quantities are discrete and never differentiated.

Conventions: ``h`` hidden size, ``s`` sequence length, ``b`` microbatch,
``T = b * s / cp`` tokens per microbatch and rank, ``t`` tensor-, ``cp``
context-, ``p`` pipeline-, ``d``
data-parallel degree, ``v`` interleave, ``m`` microbatches per step. Bytes per
element: bf16 2, fp8 1, fp32 4. Activations are bf16.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from dse._calibration import Calibration
from dse._cost import CostBreakdown, CostModel, cost_terms
from dse._smooth import smooth_max, smooth_relu
from hwmodels import SystemSpec
from workloads import OpWorkload, TransformerWorkload

__all__ = [
    "RunBreakdown",
    "simulate",
    "gemm_terms",
    "gemm_time",
    "attention_time",
    "elementwise_time",
    "collective_time",
    "p2p_time",
    "memory_per_device",
    "layer_times",
    "elementwise_bytes_per_token",
    "activation_bytes_per_token",
]

# Bytes of elementwise (memory-bound) traffic per token per layer, forward, in
# units of h: two layer norms (read+write bf16: 2 x 4h) and two dropout+residual
# adds (read two, write one: 2 x 6h); the MLP activation function adds
# ``activation_pass_bytes``. Backward moves about twice that. Derived from the
# layer structure of Megatron-LM's GPT block (Korthikanti et al. 2022, arXiv
# 2205.05198, Sec. 4): 36h per token for GPT-3.
LAYERNORM_BYTES_PER_TOKEN_PER_H = 8.0
RESIDUAL_BYTES_PER_TOKEN_PER_H = 12.0
# Stored activation bytes per token per layer, with sequence parallelism and
# fused (flash) attention: Korthikanti et al. 2022 Eq. (2) without the 5as/h
# attention-matrix term: 11h attention + 4h layer norms + MLP input (2h),
# dropout mask (1h) and the MLP's inner activations (2 bytes x ffn per matrix
# output and activation output) = 34h for GPT-3.
ACTIVATION_FIXED_BYTES_PER_TOKEN_PER_H = 18.0


def activation_pass_bytes(workload: TransformerWorkload) -> float:
    """Bytes per token of the MLP activation function (GeLU / SwiGLU), forward:
    read the up-projection output(s), write the activation (bf16)."""
    return 2.0 * workload.ffn_size * workload.mlp_matrices


def elementwise_bytes_per_token(workload: TransformerWorkload) -> float:
    """Forward elementwise bytes per token per layer (36h for GPT-3)."""
    h = float(workload.hidden_size)
    return (
        LAYERNORM_BYTES_PER_TOKEN_PER_H + RESIDUAL_BYTES_PER_TOKEN_PER_H
    ) * h + activation_pass_bytes(workload)


def activation_bytes_per_token(workload: TransformerWorkload) -> float:
    """Stored activation bytes per token per layer without recomputation (34h for GPT-3)."""
    h = float(workload.hidden_size)
    return (
        ACTIVATION_FIXED_BYTES_PER_TOKEN_PER_H * h + 2.0 * workload.ffn_size * workload.mlp_matrices
    )


# Selective recomputation here recomputes the MLP activation output (2 bytes x
# ffn per token, 8h of GPT-3's 34h) and redoes that pass in the backward pass.
# Full recomputation keeps only each layer's input (2h bytes per token).
FULL_KEPT_PER_H = 2.0
# Flash-attention backward does 2.5x the forward FLOPs (Dao 2023, arXiv 2307.08691).
ATTENTION_BACKWARD_FACTOR = 2.5
# Adam step with fp32 master weights, bytes moved per parameter: read grad,
# master, m, v (16), write master, m, v (12) and the bf16 weight (2).
OPTIMIZER_BYTES_PER_PARAM = 30.0
# Bytes per parameter held on every replica: bf16 weights (2) and fp32 gradient
# accumulators (4; Megatron forces fp32 gradient accumulation for bf16).
WEIGHT_BYTES_PER_PARAM = 2.0
GRAD_BYTES_PER_PARAM = 4.0
# Bytes per parameter sharded by ZeRO-1: fp32 master copy, Adam m and v.
OPTIMIZER_STATE_BYTES_PER_PARAM = 12.0
GRAD_REDUCE_BYTES_PER_PARAM = 4.0  # fp32 gradient reduce-scatter
PARAM_GATHER_BYTES_PER_PARAM = 2.0  # bf16 parameter all-gather


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class RunBreakdown:
    """Named terms of one simulated training run (scalars, SI units).

    Time terms are per optimizer step unless named otherwise; they add up:
    ``step_time_s = compute_s + memory_bound_s + exposed_comm_s + bubble_s
    + optimizer_s + overhead_s``.
    """

    compute_s: Any  # matmul and attention time, all microbatches, recompute included
    memory_bound_s: Any  # elementwise (bandwidth-bound) time
    tp_comm_s: Any  # tensor-parallel collectives (on the critical path)
    pp_comm_s: Any  # pipeline point-to-point transfers
    dp_comm_s: Any  # data-parallel reduce-scatter + all-gather, total
    dp_exposed_s: Any  # the part of dp_comm_s not hidden behind compute
    exposed_comm_s: Any  # tp + pp + exposed dp
    bubble_s: Any  # pipeline fill and drain
    optimizer_s: Any  # Adam step on the local shard
    overhead_s: Any  # fixed per-step overhead
    step_time_s: Any
    steps: Any  # optimizer steps to converge
    samples_to_converge: Any
    eval_time_s: Any  # on-the-clock evaluation, whole run
    time_to_train_s: Any
    flops_per_step: Any  # model FLOPs per step, whole machine (no recompute)
    mfu: Any  # model FLOPs / (step time x peak of the chosen precision)
    memory_weights_bytes: Any
    memory_grads_bytes: Any
    memory_optimizer_bytes: Any
    memory_activations_bytes: Any
    memory_reserved_bytes: Any
    memory_per_device_bytes: Any
    memory_capacity_bytes: Any
    feasible: Any  # 1.0 if the memory fits, else 0.0
    cost: CostBreakdown


# ----------------------------------------------------------------------------
# Small terms
# ----------------------------------------------------------------------------


def tokens_per_rank(workload: TransformerWorkload, strategy):
    """Tokens of one microbatch held by one rank: context parallelism splits the sequence."""
    return strategy.microbatch * workload.tokens / strategy.cp


def stage_layers(workload: TransformerWorkload, strategy):
    """Layers of the largest pipeline stage (stages are uneven when ``pp`` does
    not divide the layers; the largest sets the pace)."""
    return jnp.ceil(workload.n_layers / strategy.pp - 1e-9)


def gemm_terms(m, n, k, system: SystemSpec, cal: Calibration, fp8, a_elems=None):
    """Compute time and memory-traffic time of one GEMM (the two roofline sides).

    Args:
        m, n, k: GEMM dimensions (elements): ``[m, k] @ [k, n]``.
        system: The system (peaks, memory bandwidth).
        cal: Calibration (efficiencies).
        fp8: 1.0 for 8-bit inputs (bf16 output), 0.0 for bf16.
        a_elems: Elements of the left operand actually read; ``None`` means
            ``m * k`` (an implicit-GEMM convolution reads only its input).

    Returns:
        ``(t_compute, t_memory)`` in seconds: ``2mnk / (e * peak)`` and
        ``(a_elems + kn) * input bytes + mn * 2`` over the achieved bandwidth.
    """
    flops = 2.0 * m * n * k
    peak = jnp.where(fp8 > 0.5, system.peak_fp8_flops_per_s, system.peak_bf16_flops_per_s)
    e_max = jnp.where(fp8 > 0.5, cal.gemm_efficiency_fp8, cal.gemm_efficiency_bf16)
    t_compute = flops / (peak * e_max * system.software_efficiency)
    in_bytes = jnp.where(fp8 > 0.5, 1.0, 2.0)
    a = m * k if a_elems is None else a_elems
    traffic = (a + k * n) * in_bytes + m * n * 2.0
    return t_compute, elementwise_time(traffic, system, cal)


def gemm_time(m, n, k, system: SystemSpec, cal: Calibration, fp8):
    """Seconds for one GEMM: fixed kernel overhead plus a smooth roofline.

    ``kernel_overhead_s + smooth_max(t_compute, t_memory)`` (see ``gemm_terms``),
    the form that fits measured H100 cuBLAS GEMMs from 256^3 to 16384^3 and
    the GPT-3 layer shapes (``hwmodels/data/measured``).
    """
    t_compute, t_memory = gemm_terms(m, n, k, system, cal, fp8)
    return cal.kernel_overhead_s + smooth_max(t_compute, t_memory)


def elementwise_time(bytes_moved, system: SystemSpec, cal: Calibration):
    """Seconds to stream ``bytes_moved`` through device memory (bandwidth-bound)."""
    return bytes_moved / (system.hbm_bw_bytes_per_s * cal.hbm_efficiency)


def fused_attention_time(flops, system: SystemSpec, cal: Calibration):
    """Seconds of a fused (flash) attention kernel doing ``flops`` (bf16)."""
    efficiency = cal.attention_efficiency * system.software_efficiency
    return cal.kernel_overhead_s + flops / (system.peak_bf16_flops_per_s * efficiency)


def attention_time(workload: TransformerWorkload, strategy, system: SystemSpec, cal: Calibration):
    """Forward seconds of fused attention for one microbatch and one layer."""
    s = workload.tokens
    h = float(workload.hidden_size)
    # Context parallelism splits the queries (load-balanced causal chunks).
    flops = 4.0 * strategy.microbatch * s * s * h / (strategy.tp * strategy.cp)
    if workload.causal:
        flops = flops * 0.5
    return fused_attention_time(flops, system, cal)


def collective_time(bytes_per_rank, group, stride, system: SystemSpec, cal: Calibration):
    """Seconds for a reduce-scatter or all-gather on the two-level network.

    Hierarchical ring: the ``k`` group members inside one scale-up domain
    exchange over scale-up, then the ``group / k`` domains exchange ``1/k`` of
    the data over every member's own scale-out NIC. ``k`` is the number of
    group members per domain for ranks laid out ``stride`` apart.

    Args:
        bytes_per_rank: Size of the full buffer each rank holds (all-gather
            output / reduce-scatter input), bytes.
        group: Ranks in the group.
        stride: Rank distance between group members.
        system: Links, domain size and latencies.
        cal: Calibration (collective efficiency).

    Returns:
        Seconds (zero for a group of one).
    """
    k = jnp.clip(system.scaleup_domain_size / stride, 1.0, group)
    outer = group / k
    bw_up = system.scaleup_bw_bytes_per_s * cal.collective_efficiency
    bw_out = system.scaleout_bw_bytes_per_s * cal.collective_efficiency
    t_up = (k - 1.0) / k * bytes_per_rank / bw_up + (k - 1.0) * system.scaleup_latency_s
    t_out = (outer - 1.0) / outer * (bytes_per_rank / k) / bw_out + (
        outer - 1.0
    ) * system.scaleout_latency_s
    return t_up + t_out


def dp_exposed_time(bytes_rs, bytes_ag, window_b, window_f, group, stride, system, cal):
    """Data-parallel gradient reduce-scatter and parameter all-gather.

    Returns ``(reduce_scatter_s, all_gather_s, exposed_s)``: each collective
    overlaps its window (the backward pass, the forward pass); only the excess
    is exposed.
    """
    rs = collective_time(bytes_rs, group, stride, system, cal)
    ag = collective_time(bytes_ag, group, stride, system, cal)
    exposed = smooth_relu(rs - window_b, rs + window_b) + smooth_relu(ag - window_f, ag + window_f)
    return rs, ag, exposed


def step_overhead(system: SystemSpec, accelerators, cal: Calibration):
    """Seconds per optimizer step outside the modelled kernels and transfers.

    ``step_overhead_s`` (launch, host, data) plus ``sync_latency_s`` per level
    of a binary tree over the scale-up domains joined by the scale-out network
    (smoothly zero within one domain: an NVLink board or rack, a TPU slice).
    """
    domains = accelerators / system.scaleup_domain_size
    depth = smooth_relu(jnp.log2(domains), 1.0, temperature=0.1)
    return cal.step_overhead_s + cal.sync_latency_s * depth


def p2p_time(bytes_moved, crosses_domain, system: SystemSpec, cal: Calibration):
    """Seconds for a point-to-point transfer on scale-out or scale-up."""
    t_out = bytes_moved / (system.scaleout_bw_bytes_per_s * cal.collective_efficiency)
    t_out = t_out + system.scaleout_latency_s
    t_up = bytes_moved / (system.scaleup_bw_bytes_per_s * cal.collective_efficiency)
    t_up = t_up + system.scaleup_latency_s
    return jnp.where(crosses_domain, t_out, t_up)


def stage_params(workload: TransformerWorkload, strategy):
    """Parameters held by one device of the largest pipeline stage.

    The first stage holds its layers plus the embedding table (the last stage
    holds the logit table, a copy when tied), all split ``tp`` ways.
    """
    layers_per_stage = stage_layers(workload, strategy)
    return (layers_per_stage * workload.params_per_layer + workload.params_embedding) / strategy.tp


def stage_trainable_params(workload: TransformerWorkload, strategy):
    """Trainable parameters of one device of the largest stage (LoRA: adapters only)."""
    layers_per_stage = stage_layers(workload, strategy)
    per_layer = workload.params_per_layer * workload.trainable_fraction_per_layer
    embedding = workload.params_embedding if workload.trains_embeddings else 0.0
    return (layers_per_stage * per_layer + embedding) / strategy.tp


def memory_per_device(workload: TransformerWorkload, strategy, cal: Calibration) -> dict:
    """Bytes per device: weights, gradients, optimizer shard, activations, reserved.

    Activations follow Korthikanti et al. 2022 (arXiv 2205.05198): the first
    stage of 1F1B holds ``min(p, m)`` microbatches of its layers; interleaving
    multiplies that by ``1 + (p - 1) / (p v)``. Logits (fp32) of one microbatch
    are added for the last stage.
    """
    h = float(workload.hidden_size)
    tokens = tokens_per_rank(workload, strategy)
    params = stage_params(workload, strategy)
    trainable = stage_trainable_params(workload, strategy)
    weights = params * WEIGHT_BYTES_PER_PARAM
    grads = trainable * GRAD_BYTES_PER_PARAM
    optimizer = trainable * OPTIMIZER_STATE_BYTES_PER_PARAM / (strategy.dp * strategy.cp)
    per_layer_none = tokens * activation_bytes_per_token(workload) / strategy.tp
    per_layer_sel = (
        tokens * (activation_bytes_per_token(workload) - 2.0 * workload.ffn_size) / strategy.tp
    )
    per_layer_full = tokens * h * FULL_KEPT_PER_H / strategy.tp
    layers_per_stage = stage_layers(workload, strategy)
    m = strategy.global_batch / (strategy.dp * strategy.microbatch)
    in_flight = jnp.minimum(strategy.pp, m) * (
        1.0 + (strategy.pp - 1.0) / (strategy.pp * strategy.interleave)
    )
    in_flight = jnp.where(strategy.interleave > 1.5, in_flight, jnp.minimum(strategy.pp, m))
    stored = jnp.where(
        strategy.recompute > 1.5,
        per_layer_full * layers_per_stage * in_flight + per_layer_none,
        jnp.where(strategy.recompute > 0.5, per_layer_sel, per_layer_none)
        * layers_per_stage
        * in_flight,
    )
    logits = (
        tokens * workload.logit_tokens / workload.tokens * workload.vocab_size * 4.0 / strategy.tp
    )
    activations = stored + logits
    reserved = cal.memory_reserved_bytes
    return dict(
        weights=weights,
        grads=grads,
        optimizer=optimizer,
        activations=activations,
        reserved=reserved,
        total=weights + grads + optimizer + activations + reserved,
    )


def layer_gemm_time(workload: TransformerWorkload, strategy, system, cal):
    """Forward seconds of the four GEMMs of one layer for one microbatch."""
    h = float(workload.hidden_size)
    kv = float(workload.kv_size)
    f = float(workload.ffn_size)
    tokens = tokens_per_rank(workload, strategy)
    t = strategy.tp
    fp8 = strategy.fp8
    qkv = gemm_time(tokens, (h + 2 * kv) / t, h, system, cal, fp8)
    proj = gemm_time(tokens, h, h / t, system, cal, fp8)
    fc1 = gemm_time(tokens, (workload.mlp_matrices - 1) * f / t, h, system, cal, fp8)
    fc2 = gemm_time(tokens, h, f / t, system, cal, fp8)
    return qkv + proj + fc1 + fc2


def layer_times(workload: TransformerWorkload, strategy, system, cal, *, sequence_parallel=True):
    """Seconds of one transformer layer for one microbatch on one tp rank.

    No communication and no recomputation: the four GEMMs, fused attention and
    the elementwise passes. With ``sequence_parallel`` every elementwise pass is
    split ``tp`` ways (as in ``simulate``); without it only the GeLU is (layer
    norms and residual adds run on the whole activation).

    Returns:
        Dict of ``gemm``, ``attention``, ``elementwise`` (forward) and
        ``forward``, ``forward_backward`` seconds.
    """
    h = float(workload.hidden_size)
    tokens = tokens_per_rank(workload, strategy)
    gemm = layer_gemm_time(workload, strategy, system, cal)
    attention = attention_time(workload, strategy, system, cal)
    shared = (LAYERNORM_BYTES_PER_TOKEN_PER_H + RESIDUAL_BYTES_PER_TOKEN_PER_H) * h
    shared_split = strategy.tp if sequence_parallel else 1.0
    elem = elementwise_time(
        tokens * (shared / shared_split + activation_pass_bytes(workload) / strategy.tp),
        system,
        cal,
    )
    return dict(
        gemm=gemm,
        attention=attention,
        elementwise=elem,
        forward=gemm + attention + elem,
        forward_backward=3.0 * gemm + (1.0 + ATTENTION_BACKWARD_FACTOR) * attention + 3.0 * elem,
    )


def logits_gemm_time(workload: TransformerWorkload, strategy, system, cal):
    """Forward seconds of the logit GEMM (bf16) for one microbatch, last stage."""
    tokens = strategy.microbatch * workload.logit_tokens / strategy.cp
    return gemm_time(
        tokens, workload.vocab_size / strategy.tp, float(workload.hidden_size), system, cal, 0.0
    )


# ----------------------------------------------------------------------------
# The whole run
# ----------------------------------------------------------------------------


def simulate(
    system: SystemSpec,
    workload: TransformerWorkload,
    strategy,
    cal: Calibration,
    costs: CostModel,
) -> RunBreakdown:
    """Simulate one training run to the workload's quality target.

    Pure and jit-able; vmap over ``strategy`` for a candidate batch and over
    ``system`` for a design batch. Differentiable in every float leaf of
    ``system``, ``cal`` and ``costs``.

    Args:
        system: ``SystemSpec`` (scalar leaves).
        workload: ``TransformerWorkload`` (static); an ``OpWorkload`` is
            simulated data-parallel by ``dse._opmodel.simulate_ops``.
        strategy: ``Strategy`` (scalar leaves).
        cal: ``Calibration``.
        costs: ``CostModel``.

    Returns:
        ``RunBreakdown`` of scalars.
    """
    if isinstance(workload, OpWorkload):
        from dse._opmodel import simulate_ops

        return simulate_ops(system, workload, strategy, cal, costs)
    h = float(workload.hidden_size)
    tokens = tokens_per_rank(workload, strategy)
    t, p, d, v = strategy.tp, strategy.pp, strategy.dp, strategy.interleave
    cp = strategy.cp
    m = strategy.global_batch / (d * strategy.microbatch)
    layers_per_stage = stage_layers(workload, strategy)

    # Per layer, per microbatch, forward.
    gemm_f = layer_gemm_time(workload, strategy, system, cal)
    attn_f = attention_time(workload, strategy, system, cal)
    elem_f = elementwise_time(tokens * elementwise_bytes_per_token(workload) / t, system, cal)
    # Sequence parallelism: all-gather before and reduce-scatter after attention
    # and MLP, on the full activation [T, h] in bf16, over the tp group (stride 1).
    tp_f = 4.0 * collective_time(tokens * h * 2.0, t, 1.0, system, cal)
    # Context parallelism: every rank gathers the keys and values of the whole
    # sequence (its tp share of the KV heads, bf16) over the cp group (stride
    # t), ring-pipelined with the attention kernel: only the excess over the
    # attention time is exposed. Backward reduce-scatters their gradients too.
    kv_bytes = 2.0 * tokens * cp * (workload.kv_size / t) * 2.0
    cp_f = collective_time(kv_bytes, cp, t, system, cal)
    cp_exposed_f = smooth_relu(cp_f - attn_f, cp_f + attn_f)
    cp_exposed_b = smooth_relu(
        2.0 * cp_f - ATTENTION_BACKWARD_FACTOR * attn_f,
        2.0 * cp_f + ATTENTION_BACKWARD_FACTOR * attn_f,
    )

    # Per stage, per microbatch (the last stage also computes the logits).
    logits_f = logits_gemm_time(workload, strategy, system, cal)
    compute_f = layers_per_stage * (gemm_f + attn_f) + logits_f
    # Backward GEMMs: input gradients always, weight gradients only for
    # trained weights (a LoRA run's frozen base needs none).
    backward_gemm = 1.0 if workload.lora_rank else 2.0
    compute_b = (
        layers_per_stage * (backward_gemm * gemm_f + ATTENTION_BACKWARD_FACTOR * attn_f)
        + backward_gemm * logits_f
    )
    elem_b = 2.0 * elem_f
    recompute_full = strategy.recompute > 1.5
    recompute_sel = (strategy.recompute > 0.5) & ~recompute_full
    compute_re = jnp.where(recompute_full, layers_per_stage * (gemm_f + attn_f), 0.0)
    elem_re = jnp.where(
        recompute_full,
        elem_f,
        jnp.where(
            recompute_sel,
            elementwise_time(tokens * activation_pass_bytes(workload) / t, system, cal),
            0.0,
        ),
    )
    tp_re = jnp.where(recompute_full, tp_f, 0.0)
    compute_mb = compute_f + compute_b + compute_re
    elem_mb = layers_per_stage * (elem_f + elem_b + elem_re)
    tp_mb = layers_per_stage * (2.0 * tp_f + tp_re + cp_exposed_f + cp_exposed_b)

    # Pipeline: activations [T/t, h] bf16 cross each stage boundary forward and
    # their gradients backward, v times per microbatch when interleaved.
    pp_stride = t * cp * d
    crosses = p * pp_stride > system.scaleup_domain_size
    pp_raw = jnp.where(p > 1.5, 2.0 * v * p2p_time(tokens * h * 2.0 / t, crosses, system, cal), 0.0)
    # The interleaved schedule overlaps its transfers with compute (Megatron's
    # overlapped p2p communication): only the excess is exposed there.
    pp_mb = jnp.where(v > 1.5, smooth_relu(pp_raw - compute_mb, pp_raw + compute_mb), pp_raw)

    stage_mb = compute_mb + elem_mb + tp_mb + pp_mb
    bubble_fraction = (p - 1.0) / (v * m)

    # Data parallel (ZeRO-1): reduce-scatter fp32 gradients during the last
    # microbatch's backward pass (and the cool-down, when interleaved),
    # all-gather bf16 parameters during the first microbatch's forward pass;
    # only the excess is exposed.
    params = stage_trainable_params(workload, strategy)
    # The gradient reduction spans the cp ranks too (they hold the same weights).
    # With interleaving, the gradients of all but the first model chunk are
    # complete during the pipeline's cool-down, which their reduction overlaps.
    cooldown = bubble_fraction * m * stage_mb * (v - 1.0) / v
    window_b = compute_b + layers_per_stage * elem_b + cooldown
    window_f = compute_f + layers_per_stage * elem_f
    dp_rs, dp_ag, dp_exposed = dp_exposed_time(
        params * GRAD_REDUCE_BYTES_PER_PARAM,
        params * PARAM_GATHER_BYTES_PER_PARAM,
        window_b,
        window_f,
        d * cp,
        t,
        system,
        cal,
    )
    optimizer = elementwise_time(params * OPTIMIZER_BYTES_PER_PARAM / (d * cp), system, cal)

    compute = m * compute_mb
    memory_bound = m * elem_mb
    tp_comm = m * tp_mb
    pp_comm = m * pp_mb
    bubble = bubble_fraction * m * stage_mb
    overhead = step_overhead(system, t * cp * p * d, cal) + 0.0 * compute
    step = compute + memory_bound + tp_comm + pp_comm + bubble + dp_exposed + optimizer + overhead

    samples = workload.samples_to_converge(strategy.global_batch)
    steps = samples / strategy.global_batch
    # Evaluation: forward only over the eval set, pipelined, no recompute.
    fwd_mb = (
        compute_f
        + layers_per_stage * (elem_f + tp_f + cp_exposed_f)
        + jnp.where(p > 1.5, pp_mb / (2.0 * v), 0.0)
    )
    eval_microbatches = workload.eval_samples / (d * strategy.microbatch)
    eval_pass = (eval_microbatches + p - 1.0) * fwd_mb
    eval_total = workload.evaluations(samples, strategy.global_batch) * eval_pass
    time_to_train = steps * step + eval_total

    model_flops = strategy.global_batch * workload.flops_per_sample()
    peak = jnp.where(strategy.fp8 > 0.5, system.peak_fp8_flops_per_s, system.peak_bf16_flops_per_s)
    accelerators = t * cp * p * d
    mfu = model_flops / (step * accelerators * peak)

    mem = memory_per_device(workload, strategy, cal)
    feasible = (mem["total"] <= system.hbm_capacity_bytes).astype(jnp.result_type(float))
    costs_out = cost_terms(system, costs, accelerators, time_to_train)
    return RunBreakdown(
        compute_s=compute,
        memory_bound_s=memory_bound,
        tp_comm_s=tp_comm,
        pp_comm_s=pp_comm,
        dp_comm_s=dp_rs + dp_ag,
        dp_exposed_s=dp_exposed,
        exposed_comm_s=tp_comm + pp_comm + dp_exposed,
        bubble_s=bubble,
        optimizer_s=optimizer,
        overhead_s=overhead,
        step_time_s=step,
        steps=steps,
        samples_to_converge=samples,
        eval_time_s=eval_total,
        time_to_train_s=time_to_train,
        flops_per_step=model_flops,
        mfu=mfu,
        memory_weights_bytes=mem["weights"],
        memory_grads_bytes=mem["grads"],
        memory_optimizer_bytes=mem["optimizer"],
        memory_activations_bytes=mem["activations"],
        memory_reserved_bytes=mem["reserved"] + 0.0 * mem["total"],
        memory_per_device_bytes=mem["total"],
        memory_capacity_bytes=system.hbm_capacity_bytes + 0.0 * mem["total"],
        feasible=feasible,
        cost=costs_out,
    )
