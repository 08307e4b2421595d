"""Decoder-only transformer workloads as data, with samples-to-converge curves.

A workload is static data (every field is pytree metadata): it selects shapes
and the convergence curve, and is never differentiated. Sizes are Python numbers
and stay Python numbers, so no int32 overflow can happen inside ``jit``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["TransformerWorkload", "samples_to_converge", "pchip_slopes"]


def _static(**kw):
    return dataclasses.field(metadata=dict(static=True), **kw)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TransformerWorkload:
    """An MLPerf-style language-model training workload.

    Attributes:
        name: Workload id (e.g. ``gpt3-175b``).
        n_layers: Transformer blocks.
        hidden_size: Model width ``h``.
        n_heads: Attention heads.
        n_kv_heads: Key/value heads (equal to ``n_heads`` for multi-head).
        ffn_size: MLP inner width.
        seq_len: Tokens per training sequence (a sample).
        vocab_size: Vocabulary size (logits width).
        causal: Whether attention is causal (flash attention skips the masked half).
        convergence_batch: Global batch sizes (sequences) of the reference
            convergence points, ascending.
        convergence_samples: Mean samples (sequences) to reach the quality target
            at each of those batch sizes.
        eval_interval_samples: Training samples between evaluations on the clock.
        eval_samples: Sequences in one evaluation pass (forward only).
        quality_target: Human-readable quality target.
        sources: Where the numbers come from.
        gated_mlp: SwiGLU-style MLP (three ``h x ffn`` matrices) instead of two.
        tied_embeddings: Input embedding and logit layer share one table.
        learned_positions: A learned position-embedding table (else rotary).
        lora_rank: 0 for full training; else LoRA of this rank on the QKV and
            output projections, every base weight frozen (no weight gradients,
            optimizer state or gradient reduction for them).
        eval_skip_intervals: Evaluations skipped at the start of the run
            (constant part; MLPerf rules skip the first few for some benchmarks).
        eval_skip_intervals_per_batch: Evaluations skipped per sample of global
            batch (the part that grows with the batch).
        typical_global_batch: The most common global batch of the MLPerf
            submissions (shared/data/mlperf-workloads.md), for reports.
        tokens_per_sample: Mean real tokens per sample when padding is removed
            (sequence packing); 0 means ``seq_len`` (every sample full).
        logit_tokens_per_sample: Tokens per sample that reach the output
            layer (masked-LM predictions); 0 means all of them.
        eval_interval_per_batch: Growth of the evaluation interval with the
            global batch (samples per sample of batch); the interval is
            ``eval_interval_samples + eval_interval_per_batch * batch``.
    """

    name: str = _static()
    n_layers: int = _static()
    hidden_size: int = _static()
    n_heads: int = _static()
    n_kv_heads: int = _static()
    ffn_size: int = _static()
    seq_len: int = _static()
    vocab_size: int = _static()
    causal: bool = _static()
    convergence_batch: tuple[float, ...] = _static()
    convergence_samples: tuple[float, ...] = _static()
    eval_interval_samples: float = _static()
    eval_samples: float = _static()
    quality_target: str = _static()
    sources: str = _static()
    gated_mlp: bool = _static(default=False)
    tied_embeddings: bool = _static(default=True)
    learned_positions: bool = _static(default=True)
    lora_rank: int = _static(default=0)
    eval_skip_intervals: float = _static(default=0.0)
    eval_skip_intervals_per_batch: float = _static(default=0.0)
    typical_global_batch: int = _static(default=0)
    tokens_per_sample: float = _static(default=0.0)
    logit_tokens_per_sample: float = _static(default=0.0)
    eval_interval_per_batch: float = _static(default=0.0)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.n_heads

    @property
    def kv_size(self) -> int:
        """Width of the key (or value) projection: KV heads x head dim."""
        return self.n_kv_heads * self.head_dim

    @property
    def mlp_matrices(self) -> int:
        return 3 if self.gated_mlp else 2

    @property
    def params_per_layer(self) -> float:
        """Weights of one block: QKV, output projection, MLP, norms (biases as in GPT)."""
        h = float(self.hidden_size)
        kv = float(self.kv_size)
        attn = h * (h + 2 * kv) + h * h + (h + 2 * kv) + h
        mlp = self.mlp_matrices * h * self.ffn_size + self.ffn_size + h
        return attn + mlp + 4 * h

    @property
    def params_embedding_table(self) -> float:
        """One vocabulary table (input embedding or logit layer)."""
        return float(self.vocab_size) * self.hidden_size

    @property
    def params_positions(self) -> float:
        return float(self.seq_len) * self.hidden_size if self.learned_positions else 0.0

    @property
    def params_embedding(self) -> float:
        """Embedding-side weights held by the first (and, as a copy or its own
        logit table, the last) pipeline stage: one vocabulary table plus
        learned positions."""
        return self.params_embedding_table + self.params_positions

    @property
    def params_total(self) -> float:
        tables = 1 if self.tied_embeddings else 2
        return (
            self.n_layers * self.params_per_layer
            + tables * self.params_embedding_table
            + self.params_positions
            + 2 * self.hidden_size
        )

    @property
    def trainable_fraction_per_layer(self) -> float:
        """Trainable weights of a block over its weights (1 for full training)."""
        if not self.lora_rank:
            return 1.0
        h, kv, r = float(self.hidden_size), float(self.kv_size), float(self.lora_rank)
        lora = r * (h + (h + 2 * kv)) + r * (h + h)  # A and B of QKV and of the output projection
        return lora / self.params_per_layer

    @property
    def trains_embeddings(self) -> bool:
        return not self.lora_rank

    @property
    def matmul_params(self) -> float:
        """Weights used in matmuls per token: every layer's matrices and the logit table."""
        h = float(self.hidden_size)
        per_layer = h * (h + 2 * self.kv_size) + h * h + self.mlp_matrices * h * self.ffn_size
        return self.n_layers * per_layer + self.params_embedding_table

    @property
    def tokens(self) -> float:
        """Mean tokens per sample actually computed (packing removes padding)."""
        return float(self.tokens_per_sample or self.seq_len)

    @property
    def logit_tokens(self) -> float:
        """Tokens per sample that reach the output (logit) layer."""
        return float(self.logit_tokens_per_sample or self.tokens)

    def flops_per_sample(self) -> float:
        """Model FLOPs of one training sample (forward + backward, no recompute).

        Matmuls: 2 per weight per token forward; backward twice that when the
        weights train, once (input gradients only) when frozen. Attention:
        4 s h per token per layer forward (halved when causal), twice that
        backward (the usual model-FLOPs convention; flash attention's
        recomputation inside its backward kernel is not model work).
        """
        s = self.tokens
        body = self.matmul_params - self.params_embedding_table
        fwd = 2.0 * (body * s + self.params_embedding_table * self.logit_tokens)
        bwd = fwd * (2.0 if not self.lora_rank else 1.0)
        attn_fwd = 4.0 * self.n_layers * s * s * self.hidden_size * (0.5 if self.causal else 1.0)
        return fwd + bwd + attn_fwd * 3.0

    def evaluations(self, samples, global_batch):
        """Evaluations on the clock before reaching the target (continuous)."""
        n = samples / (self.eval_interval_samples + self.eval_interval_per_batch * global_batch)
        skipped = self.eval_skip_intervals + self.eval_skip_intervals_per_batch * global_batch
        return jnp.maximum(n - skipped, 0.0)

    def samples_to_converge(self, global_batch):
        """Samples (sequences) to converge at ``global_batch`` (see module function)."""
        return samples_to_converge(
            global_batch, np.asarray(self.convergence_batch), np.asarray(self.convergence_samples)
        )


def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch–Carlson slopes of the monotone cubic Hermite interpolant."""
    h = np.diff(x)
    delta = np.diff(y) / h
    d = np.zeros_like(y)
    if len(x) == 2:
        return np.array([delta[0], delta[0]])
    for k in range(1, len(x) - 1):
        if delta[k - 1] * delta[k] <= 0:
            d[k] = 0.0
        else:
            w1 = 2 * h[k] + h[k - 1]
            w2 = h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
    d[0] = delta[0]
    d[-1] = delta[-1]
    return d


def samples_to_converge(global_batch, batch: np.ndarray, samples: np.ndarray):
    """Smooth samples-to-converge as a function of global batch size.

    A monotone piecewise-cubic Hermite interpolant (continuous first derivative)
    through the reference convergence points. Below the smallest reference batch
    the smallest point's value is used (the MLPerf reference-convergence-point
    rule); above the largest, the last segment's slope is extended linearly.

    Args:
        global_batch: Array of batch sizes (sequences), any shape.
        batch: Reference batch sizes, ascending, shape ``[K]``.
        samples: Reference mean samples to converge, shape ``[K]``.

    Returns:
        Samples to converge, shape of ``global_batch``.
    """
    slopes = pchip_slopes(batch, samples)
    bx = jnp.asarray(batch)
    by = jnp.asarray(samples)
    bd = jnp.asarray(slopes)
    gb = jnp.asarray(global_batch)
    x = jnp.clip(gb, batch[0], batch[-1])
    k = jnp.clip(jnp.searchsorted(bx, x, side="right") - 1, 0, len(batch) - 2)
    x0, x1 = bx[k], bx[k + 1]
    h = x1 - x0
    t = (x - x0) / h
    h00 = (1 + 2 * t) * (1 - t) ** 2
    h10 = t * (1 - t) ** 2
    h01 = t**2 * (3 - 2 * t)
    h11 = t**2 * (t - 1)
    inside = h00 * by[k] + h10 * h * bd[k] + h01 * by[k + 1] + h11 * h * bd[k + 1]
    beyond = (gb - batch[-1]) * slopes[-1]
    return inside + jnp.where(gb > batch[-1], beyond, 0.0)
