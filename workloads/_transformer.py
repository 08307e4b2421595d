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

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.n_heads

    @property
    def params_per_layer(self) -> float:
        """Weights of one block: QKV, output projection, MLP, two layer norms."""
        h = float(self.hidden_size)
        kv = self.n_kv_heads * self.head_dim
        attn = h * (h + 2 * kv) + h * h + (h + 2 * kv) + h
        mlp = 2 * h * self.ffn_size + self.ffn_size + h
        return attn + mlp + 4 * h

    @property
    def params_embedding(self) -> float:
        """Token and position embeddings (the logit layer shares the token table)."""
        return float(self.vocab_size) * self.hidden_size + float(self.seq_len) * self.hidden_size

    @property
    def params_total(self) -> float:
        return self.n_layers * self.params_per_layer + self.params_embedding + 2 * self.hidden_size

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
