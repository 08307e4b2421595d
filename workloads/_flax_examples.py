"""Small Flax (linen) reference models for tracing (``workloads/_trace.py``).

* ``ResNet50``: ResNet-50 v1.5 (He et al. 2016, arXiv 1512.03385, Table 1;
  the stride sits on the 3x3 convolution, as in torchvision and the MLPerf
  reference): bottleneck stages [3, 4, 6, 3], widths 64..512 with 4x
  expansion, BatchNorm, 1000 classes; 25,557,032 parameters, about 4.1 G
  multiply-adds per 224x224 image.
* ``GPT``: a pre-LayerNorm decoder-only transformer with explicit causal
  multi-head attention (einsum scores, masked softmax, einsum mix) and a
  4h GeLU MLP, untied logits.

Inputs are NHWC images ``[B, H, W, 3]`` and token ids ``[B, S]``.
"""

from __future__ import annotations

from functools import partial

import flax.linen as nn
import jax.numpy as jnp

__all__ = ["Bottleneck", "ResNet50", "GPTBlock", "GPT"]


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride) -> 1x1 (4x width) with a projected shortcut when asked.

    Attributes:
        width: Channels of the 3x3 convolution.
        stride: Stride of the 3x3 convolution and of the projection.
        project: Whether the shortcut is a strided 1x1 convolution with BN.
    """

    width: int
    stride: int = 1
    project: bool = False

    @nn.compact
    def __call__(self, x, train: bool = True):
        norm = partial(nn.BatchNorm, use_running_average=not train, momentum=0.9)
        conv = partial(nn.Conv, use_bias=False)
        y = nn.relu(norm()(conv(self.width, (1, 1))(x)))
        s = (self.stride, self.stride)
        y = nn.relu(norm()(conv(self.width, (3, 3), strides=s, padding=((1, 1), (1, 1)))(y)))
        y = norm(scale_init=nn.initializers.zeros)(conv(4 * self.width, (1, 1))(y))
        if self.project:
            x = norm()(conv(4 * self.width, (1, 1), strides=s)(x))
        return nn.relu(x + y)


class ResNet50(nn.Module):
    """ResNet-50 v1.5 classifier: ``[B, H, W, 3]`` images -> ``[B, classes]`` logits."""

    classes: int = 1000
    stages: tuple[int, ...] = (3, 4, 6, 3)

    @nn.compact
    def __call__(self, x, train: bool = True):
        x = nn.Conv(64, (7, 7), strides=(2, 2), padding=((3, 3), (3, 3)), use_bias=False)(x)
        x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(x))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for i, blocks in enumerate(self.stages):
            for j in range(blocks):
                stride = 2 if (i > 0 and j == 0) else 1
                x = Bottleneck(64 * 2**i, stride, project=(j == 0))(x, train)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.classes)(x)


class GPTBlock(nn.Module):
    """Pre-LN transformer block: causal multi-head attention and a 4h GeLU MLP.

    Attributes:
        heads: Attention heads (``hidden`` must divide by it).
    """

    heads: int

    @nn.compact
    def __call__(self, x):
        b, s, h = x.shape
        d = h // self.heads
        y = nn.LayerNorm()(x)
        qkv = nn.Dense(3 * h)(y).reshape(b, s, 3, self.heads, d)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(float(d))
        mask = jnp.tril(jnp.ones((s, s), bool))
        p = nn.softmax(jnp.where(mask, scores, -1e9), axis=-1)
        o = jnp.einsum("bhqk,bkhd->bqhd", p, v).reshape(b, s, h)
        x = x + nn.Dense(h)(o)
        y = nn.LayerNorm()(x)
        return x + nn.Dense(h)(nn.gelu(nn.Dense(4 * h)(y)))


class _ScanBlock(GPTBlock):
    """``GPTBlock`` with the ``(carry, x) -> (carry, y)`` signature of ``nn.scan``."""

    @nn.compact
    def __call__(self, x, _):
        return GPTBlock.__call__(self, x), None


class GPT(nn.Module):
    """Decoder-only language model: ``[B, S]`` token ids -> ``[B, S, vocab]`` logits.

    Attributes:
        vocab: Vocabulary size.
        layers: Transformer blocks.
        hidden: Model width ``h``.
        heads: Attention heads.
        seq_len: Learned positions (maximum sequence length).
        scan: Scan one block over stacked weights instead of unrolling.
    """

    vocab: int
    layers: int
    hidden: int
    heads: int
    seq_len: int
    scan: bool = False

    @nn.compact
    def __call__(self, tokens):
        x = nn.Embed(self.vocab, self.hidden)(tokens)
        pos = self.param("pos", nn.initializers.normal(0.02), (self.seq_len, self.hidden))
        x = x + pos[: tokens.shape[1]]
        if self.scan:  # one rematerialised block scanned over stacked weights
            block = nn.scan(
                nn.remat(_ScanBlock),
                variable_axes={"params": 0},
                split_rngs={"params": True},
                length=self.layers,
            )
            x, _ = block(self.heads)(x, None)
        else:
            for _ in range(self.layers):
                x = GPTBlock(self.heads)(x)
        return nn.Dense(self.vocab)(nn.LayerNorm()(x))
