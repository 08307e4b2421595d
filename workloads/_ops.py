"""Op-level workloads: a network as a list of matmuls, attention and memory passes.

The transformer workloads carry their shapes as a few numbers and the
simulator knows their structure. Every other network (convolutional networks,
diffusion UNets, recommendation models, a user's own Flax module) is described
here op by op, per training sample:

* ``gemm``: a matrix multiply ``[m, k] @ [k, n]`` repeated ``count`` times per
  sample. A convolution is an implicit GEMM: ``m`` output positions, ``n``
  output channels, ``k = in_channels x kernel volume`` (per group for grouped
  convolutions, ``count`` = groups), and ``a_elems`` the elements of the input
  actually read (the implicit GEMM never materialises the ``m x k`` matrix).
* ``attention``: fused attention with ``m`` queries, ``n`` keys and total width
  ``k`` (heads x head dimension), ``count`` times per sample.
* ``elementwise``: ``bytes`` of memory traffic per sample forward
  (normalisation, activation functions, residual adds, pooling, up-sampling).
* ``embedding``: ``bytes`` of embedding rows gathered per sample (random
  access, bound by memory bandwidth) and ``exchange_bytes`` sent to other
  accelerators per sample (model-parallel tables, all-to-all).

Every op states whether it runs a backward pass (``backward``) and whether its
weights train (``trainable``): a frozen encoder that only runs forward (Stable
Diffusion's VAE and text encoder) has ``backward=False``.

All fields are static pytree metadata: a workload is data, never
differentiated. Sizes are Python floats (no int32 overflow under ``jit``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from workloads._transformer import samples_to_converge

__all__ = ["Op", "OpWorkload", "OP_KINDS", "ACTIVATION_BYTES"]

OP_KINDS = ("gemm", "attention", "elementwise", "embedding")
# Activations are stored and moved in 16-bit formats (bf16/fp16), the
# mixed-precision convention of every MLPerf submission.
ACTIVATION_BYTES = 2.0


def _static(**kw):
    return dataclasses.field(metadata=dict(static=True), **kw)


@dataclasses.dataclass(frozen=True)
class Op:
    """One operation of a network, per training sample.

    Attributes:
        name: Label for reports (e.g. ``layer3.2.conv2``).
        kind: One of ``OP_KINDS``.
        m, n, k: GEMM dimensions per sample (``gemm``), or queries, keys and
            width (``attention``); elements.
        count: Instances per sample (groups of a grouped convolution, repeats).
        a_elems: Elements of the left operand read per instance and sample
            (``gemm``); 0 means ``m * k`` (a plain matrix).
        bytes: Forward memory traffic per sample (``elementwise``), or bytes of
            embedding rows gathered per sample (``embedding``).
        exchange_bytes: Bytes per sample sent to other accelerators in the
            forward pass (``embedding``: the looked-up vectors of model-parallel
            tables); the backward pass sends their gradients back.
        halo_elems: Input elements within the kernel's reach of one cut across
            the first spatial axis, per sample (``gemm`` convolutions): under
            spatial parallelism each accelerator exchanges this halo with each
            neighbour, forward and backward. 0 for ops with no spatial kernel.
        trainable: Whether the op's weights are trained.
        backward: Whether the op runs a backward pass (input gradients).
    """

    name: str
    kind: str
    m: float = 0.0
    n: float = 0.0
    k: float = 0.0
    count: float = 1.0
    a_elems: float = 0.0
    bytes: float = 0.0
    exchange_bytes: float = 0.0
    halo_elems: float = 0.0
    trainable: bool = True
    backward: bool = True

    def __post_init__(self):
        if self.kind not in OP_KINDS:
            raise ValueError(f"op '{self.name}': kind={self.kind!r}; allowed: {list(OP_KINDS)}")
        for f in ("m", "n", "k", "count", "a_elems", "bytes", "exchange_bytes", "halo_elems"):
            v = getattr(self, f)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"op '{self.name}': {f}={v!r}; must be a finite number >= 0")
        if self.kind in ("gemm", "attention") and min(self.m, self.n, self.k) <= 0:
            raise ValueError(
                f"op '{self.name}': a {self.kind} needs m, n, k > 0, got "
                f"m={self.m}, n={self.n}, k={self.k}"
            )
        if self.trainable and not self.backward:
            raise ValueError(f"op '{self.name}': trainable=True needs backward=True")

    @property
    def weight_elems(self) -> float:
        """Weights of the op (``gemm``: ``count x n x k``; others none)."""
        return self.count * self.n * self.k if self.kind == "gemm" else 0.0

    @property
    def forward_flops(self) -> float:
        """Forward FLOPs per sample (2 per multiply-add)."""
        if self.kind == "gemm":
            return 2.0 * self.count * self.m * self.n * self.k
        if self.kind == "attention":
            return 4.0 * self.count * self.m * self.n * self.k
        return 0.0

    @property
    def backward_flops(self) -> float:
        """Backward FLOPs per sample: input and weight gradients (2x forward)
        when trained, input gradients only (1x) when frozen, none without a
        backward pass. Attention backward is 2x its forward."""
        if not self.backward:
            return 0.0
        if self.kind == "gemm":
            return self.forward_flops * (2.0 if self.trainable else 1.0)
        return 2.0 * self.forward_flops

    @property
    def output_elems(self) -> float:
        if self.kind in ("gemm", "attention"):
            return self.count * self.m * (self.n if self.kind == "gemm" else self.k)
        return 0.0


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class OpWorkload:
    """A training workload described op by op (see the module docstring).

    Attributes:
        name: Workload id (e.g. ``resnet50``).
        ops: The training step's operations, per sample.
        convergence_batch: Global batch sizes of the reference convergence
            points (samples), ascending.
        convergence_samples: Mean samples to reach the quality target there.
        eval_interval_samples: Training samples between evaluations.
        eval_samples: Samples in one evaluation pass.
        quality_target: Human-readable quality target.
        sources: Where the numbers come from.
        eval_ops: Forward operations per evaluation sample; empty means the
            training forward pass (``eval_forward_passes`` times).
        eval_forward_passes: Forward passes of the training network per
            evaluation sample when ``eval_ops`` is empty (e.g. overlapping
            sliding-window patches per volume).
        eval_skip_intervals: Evaluations skipped at the start (constant part).
        eval_skip_intervals_per_batch: Evaluations skipped per sample of global batch.
        eval_fixed_s: Fixed seconds per evaluation that no accelerator speeds
            up (host-side scoring, e.g. COCO mAP); stated with its source.
        extra_params: Trainable weights not in any ``gemm`` op (biases,
            normalisation scales), replicated and reduced like the others.
        table_params: Model-parallel embedding-table weights (sharded over
            every accelerator, never all-reduced), fp32.
        typical_global_batch: Most common global batch in MLPerf submissions.
        sample_unit: What one sample is (``images``, ``volumes``, ...).
        max_microbatch: Largest per-accelerator microbatch searched.
        max_spatial_parallel: Largest spatial-parallel degree searched (each
            sample's first spatial axis split over that many accelerators of
            one scale-up domain, halos exchanged; 1: data parallel only). Set
            only where submissions use it, with the source.
        fp8_training: Whether fp8 matmuls are the documented default for this
            network (MLPerf's convolutional and diffusion submissions train in
            16-bit mixed precision: the default is bf16 unless this is set).
    """

    name: str = _static()
    ops: tuple[Op, ...] = _static()
    convergence_batch: tuple[float, ...] = _static()
    convergence_samples: tuple[float, ...] = _static()
    eval_interval_samples: float = _static()
    eval_samples: float = _static()
    quality_target: str = _static()
    sources: str = _static()
    eval_ops: tuple[Op, ...] = _static(default=())
    eval_forward_passes: float = _static(default=1.0)
    eval_skip_intervals: float = _static(default=0.0)
    eval_skip_intervals_per_batch: float = _static(default=0.0)
    eval_fixed_s: float = _static(default=0.0)
    extra_params: float = _static(default=0.0)
    table_params: float = _static(default=0.0)
    typical_global_batch: int = _static(default=0)
    sample_unit: str = _static(default="samples")
    max_microbatch: int = _static(default=256)
    max_spatial_parallel: int = _static(default=1)
    fp8_training: bool = _static(default=False)

    def __post_init__(self):
        if not self.ops:
            raise ValueError(f"workload '{self.name}': ops is empty; give at least one op")
        if len(self.convergence_batch) != len(self.convergence_samples) or not (
            self.convergence_batch
        ):
            raise ValueError(
                f"workload '{self.name}': convergence_batch and convergence_samples must be "
                "non-empty and of equal length"
            )
        if any(
            b <= a
            for a, b in zip(self.convergence_batch[:-1], self.convergence_batch[1:], strict=True)
        ):
            raise ValueError(
                f"workload '{self.name}': convergence_batch={self.convergence_batch} must "
                "be strictly ascending"
            )
        sp = self.max_spatial_parallel
        if isinstance(sp, bool) or not isinstance(sp, int) or sp < 1 or sp & (sp - 1):
            raise ValueError(
                f"workload '{self.name}': max_spatial_parallel={sp!r}; must be a power of two >= 1"
            )
        for f in ("eval_interval_samples",):
            if not getattr(self, f) > 0:
                raise ValueError(f"workload '{self.name}': {f} must be > 0")

    # -- counts ------------------------------------------------------------

    @property
    def params(self) -> float:
        """Trainable weights replicated on every accelerator (data parallel)."""
        return sum(op.weight_elems for op in self.ops if op.trainable) + self.extra_params

    @property
    def frozen_params(self) -> float:
        """Frozen weights (forward-only encoders, frozen layers)."""
        return sum(op.weight_elems for op in self.ops if not op.trainable)

    @property
    def params_total(self) -> float:
        return self.params + self.frozen_params + self.table_params

    def flops_per_sample(self) -> float:
        """Model FLOPs of one training sample (forward + backward)."""
        return sum(op.forward_flops + op.backward_flops for op in self.ops)

    def forward_flops_per_sample(self) -> float:
        return sum(op.forward_flops for op in self.ops)

    @property
    def activation_bytes_per_sample(self) -> float:
        """Activations kept for the backward pass, bytes per sample: the 16-bit
        output of every op with a backward pass, plus half the forward
        elementwise traffic (normalisation and activation outputs)."""
        out = 0.0
        for op in self.ops:
            if not op.backward:
                continue
            if op.kind == "elementwise":
                out += 0.5 * op.bytes
            else:
                out += ACTIVATION_BYTES * op.output_elems
        return out

    @property
    def conv_dominated(self) -> bool:
        """Whether implicit-GEMM convolutions do most of the forward FLOPs (such
        networks get their own per-family efficiency factor, ``*-conv``)."""
        conv = sum(op.forward_flops for op in self.ops if op.kind == "gemm" and op.a_elems)
        return conv >= 0.5 * self.forward_flops_per_sample()

    # -- convergence and evaluation ---------------------------------------

    def evaluations(self, samples, global_batch):
        """Evaluations on the clock before reaching the target (continuous)."""
        n = samples / self.eval_interval_samples
        skipped = self.eval_skip_intervals + self.eval_skip_intervals_per_batch * global_batch
        return jnp.maximum(n - skipped, 0.0)

    def samples_to_converge(self, global_batch):
        """Samples to converge at ``global_batch`` (monotone cubic through the
        reference points; see ``workloads.samples_to_converge``)."""
        return samples_to_converge(
            global_batch, np.asarray(self.convergence_batch), np.asarray(self.convergence_samples)
        )
