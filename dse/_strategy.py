"""The parallel execution strategy, and enumeration of the valid ones.

A strategy is a pytree of float leaves so that a batch of candidate strategies
is one ``Strategy`` whose leaves have shape ``[S]``; the simulator is vmapped
over it. Validity (divisibility) is decided here, in Python, on concrete
numbers; nothing about a strategy is ever differentiated.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import jax
import numpy as np

from workloads import OpWorkload, TransformerWorkload

__all__ = [
    "RECOMPUTE",
    "PRECISIONS",
    "Strategy",
    "StrategyPins",
    "enumerate_strategies",
    "stack_strategies",
    "strategy_at",
    "describe_strategy",
]

RECOMPUTE = ("none", "selective", "full")
PRECISIONS = ("bf16", "fp8")
_TP_CHOICES = (1, 2, 4, 8, 16, 32, 64)
_MICROBATCH_CHOICES = (1, 2, 4, 8)
_MAX_INTERLEAVE = 12
_CP_CHOICES = (1, 2, 4, 8, 16)
# Context parallelism is searched for sequences of at least this many tokens,
# down to this many tokens per rank.
_CP_MIN_SEQUENCE = 4096
_CP_MIN_TOKENS_PER_RANK = 1024


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Strategy:
    """How one training run is laid out on the machine.

    Attributes:
        tp: Tensor-parallel degree (with sequence parallelism).
        pp: Pipeline-parallel stages.
        dp: Data-parallel replicas (ZeRO-1 distributed optimizer across them).
        microbatch: Sequences per microbatch.
        global_batch: Sequences per optimizer step.
        interleave: Virtual pipeline stages per device (1 = plain 1F1B).
        recompute: 0 none, 1 selective, 2 full activation recomputation.
        fp8: 1 for 8-bit matmuls (attention and elementwise stay bf16), else 0.
        cp: Context-parallel degree: the sequence is split ``cp`` ways
            (load-balanced causal chunks; keys and values ring-exchanged).
    """

    tp: Any
    pp: Any
    dp: Any
    microbatch: Any
    global_batch: Any
    interleave: Any
    recompute: Any
    fp8: Any
    cp: Any = 1.0

    @property
    def accelerators(self):
        return self.tp * self.cp * self.pp * self.dp


@dataclasses.dataclass(frozen=True)
class StrategyPins:
    """Parts of the strategy fixed by the user; ``None`` means search it."""

    tp: int | None = None
    cp: int | None = None
    pp: int | None = None
    dp: int | None = None
    microbatch: int | None = None
    global_batch: int | None = None
    interleave: int | None = None
    recompute: str | None = None
    precision: str | None = None


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _check_count_and_precision(accelerators, precision: str) -> int:
    """The accelerator count as an int; both checked."""
    if isinstance(accelerators, bool) or not float(accelerators).is_integer() or accelerators < 1:
        raise ValueError(f"accelerators must be a whole number >= 1, got {accelerators!r}")
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision={precision!r} is not allowed: choose one of {list(PRECISIONS)}"
        )
    return int(accelerators)


def _check_pin(name: str, value, allowed_desc: str, ok: bool):
    if not ok:
        raise ValueError(f"{name}={value!r} is not allowed: {allowed_desc}")


def enumerate_strategies(
    workload: TransformerWorkload,
    accelerators: int,
    *,
    precision: str,
    pins: StrategyPins | None = None,
    scaleup_domain_size: float | None = None,
) -> list[dict]:
    """All valid strategies for a workload on ``accelerators`` devices.

    Validity: ``tp * cp * pp * dp == accelerators``; ``tp`` divides the
    attention heads and is a power of two (at most the scale-up domain, when
    given); ``pp`` is a divisor of the layers or a power of two up to half of
    them (uneven stages: the largest has ``ceil(layers / pp)``); ``cp`` is
    searched for sequences of 4096 tokens or more, down to 1024 tokens per
    rank; ``dp * microbatch`` divides the global batch; interleaving needs
    ``pp > 1``, divides the layers of the largest stage, and the microbatches
    per step are a multiple of ``pp`` (Megatron's rule).
    Without a pinned global batch, batches are drawn from the span of the
    workload's convergence table: for each layout the table's own batch sizes that
    ``dp * microbatch`` divides, the smallest multiple of
    ``dp * microbatch`` at or above the table's smallest batch, and twice and
    four times that, when within the table.

    Args:
        workload: The workload.
        accelerators: Accelerator count (whole number >= 1).
        precision: ``bf16`` or ``fp8`` (matmul precision).
        pins: User-fixed parts of the strategy.
        scaleup_domain_size: If given, ``tp`` is kept within one domain.

    Returns:
        List of dicts with the keys of ``Strategy`` (plain numbers).

    Raises:
        ValueError: a bad pin or count, or no valid strategy at all.
    """
    pins = pins or StrategyPins()
    if isinstance(workload, OpWorkload):
        return _enumerate_data_parallel(workload, accelerators, precision=precision, pins=pins)
    n = _check_count_and_precision(accelerators, precision)
    layers, heads = workload.n_layers, workload.n_heads
    if pins.tp is not None:
        _check_pin(
            "tp",
            pins.tp,
            f"a power of two dividing {heads} heads",
            pins.tp in _TP_CHOICES and heads % pins.tp == 0,
        )
    if pins.pp is not None:
        _check_pin(
            "pp",
            pins.pp,
            f"a whole number from 1 to the {layers} layers",
            isinstance(pins.pp, int) and 1 <= pins.pp <= layers,
        )
    if pins.cp is not None:
        _check_pin(
            "cp",
            pins.cp,
            f"a power of two dividing the sequence length {workload.seq_len}",
            pins.cp in _CP_CHOICES and workload.seq_len % pins.cp == 0,
        )
    for name in ("dp", "microbatch", "global_batch", "interleave"):
        value = getattr(pins, name)
        if value is not None:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            _check_pin(name, value, "a whole number >= 1", ok)
    if pins.recompute is not None:
        _check_pin(
            "recompute", pins.recompute, f"one of {list(RECOMPUTE)}", pins.recompute in RECOMPUTE
        )

    tps = [t for t in _TP_CHOICES if heads % t == 0 and n % t == 0]
    if scaleup_domain_size is not None:
        tps = [t for t in tps if t <= scaleup_domain_size]
    if pins.tp is not None:
        tps = [pins.tp] if n % pins.tp == 0 else []
    if pins.cp is not None:
        cps = [pins.cp]
    elif workload.seq_len >= _CP_MIN_SEQUENCE:
        cps = [c for c in _CP_CHOICES if workload.seq_len // c >= _CP_MIN_TOKENS_PER_RANK]
    else:
        cps = [1]
    if pins.pp is not None:
        pps = [pins.pp]
    else:
        uneven = [2**k for k in range(1, 7) if 2**k <= layers // 2]
        pps = sorted(set(_divisors(layers)) | set(uneven))
    mbs = list(_MICROBATCH_CHOICES) if pins.microbatch is None else [pins.microbatch]
    recs = list(RECOMPUTE) if pins.recompute is None else [pins.recompute]
    bmin, bmax = min(workload.convergence_batch), max(workload.convergence_batch)
    fp8 = 1.0 if precision == "fp8" else 0.0

    out = []
    for tp, cp, pp in itertools.product(tps, cps, pps):
        if n % (tp * cp * pp):
            continue
        dp = n // (tp * cp * pp)
        if pins.dp is not None and dp != pins.dp:
            continue
        lps = math.ceil(layers / pp)  # layers of the largest stage
        for mb in mbs:
            unit = dp * mb
            if pins.global_batch is not None:
                batches = [pins.global_batch] if pins.global_batch % unit == 0 else []
            else:
                m0 = max(1, math.ceil(bmin / unit))
                batches = [
                    k * m0 * unit for k in (1, 2, 4) if k * m0 * unit <= max(bmax, m0 * unit)
                ]
                batches += [int(b) for b in workload.convergence_batch if b % unit == 0]
                batches = sorted(set(batches))
            for gb in batches:
                m = gb // unit
                if pins.interleave is not None:
                    vs = [pins.interleave]
                else:
                    vs = [v for v in _divisors(lps) if v <= _MAX_INTERLEAVE]
                for v in vs:
                    if v > 1 and (pp == 1 or lps % v or m % pp):
                        continue
                    for rec in recs:
                        out.append(
                            dict(
                                tp=float(tp),
                                pp=float(pp),
                                dp=float(dp),
                                microbatch=float(mb),
                                global_batch=float(gb),
                                interleave=float(v),
                                recompute=float(RECOMPUTE.index(rec)),
                                fp8=fp8,
                                cp=float(cp),
                            )
                        )
    if not out:
        pinned = {k: v for k, v in dataclasses.asdict(pins).items() if v is not None}
        raise ValueError(
            f"no valid parallel strategy for {n} accelerators on workload '{workload.name}'"
            + (f" with {pinned}" if pinned else "")
            + f": need tp*cp*pp*dp == {n} with tp a power of two dividing {heads} heads, "
            f"pp at most {layers} layers, and dp*microbatch dividing the global batch"
        )
    return out


def _enumerate_data_parallel(
    workload: OpWorkload, accelerators, *, precision: str, pins: StrategyPins
) -> list[dict]:
    """Valid strategies of an op-level workload: data parallel over every accelerator.

    ``dp = accelerators / cp``, where ``cp`` is the spatial-parallel degree:
    1, or a power of two up to the workload's ``max_spatial_parallel`` that
    divides the accelerators (each sample's first spatial axis split ``cp``
    ways). Per-replica batches are powers of two up to the workload's
    ``max_microbatch`` (global batches within the convergence table's span, or
    the smallest one above its start), plus the table's own batches. A global
    batch that needs more than ``max_microbatch`` samples per replica
    accumulates gradients over micro-steps; one that does not split evenly
    gives the busiest replica ``ceil(batch / dp)`` samples.
    """
    n = _check_count_and_precision(accelerators, precision)
    for name in ("tp", "pp", "interleave"):
        value = getattr(pins, name)
        if value is not None and value != 1:
            raise ValueError(
                f"{name}={value!r} is not allowed for workload '{workload.name}': "
                "op-level workloads train data-parallel only (1)"
            )
    max_sp = workload.max_spatial_parallel
    allowed_sp = [c for c in _CP_CHOICES if c <= max_sp]
    if pins.cp is not None:
        _check_pin(
            "cp",
            pins.cp,
            f"a spatial-parallel degree of workload '{workload.name}': one of {allowed_sp} "
            f"dividing the {n} accelerators",
            pins.cp in allowed_sp and n % pins.cp == 0,
        )
        sps = [pins.cp]
    else:
        sps = [c for c in allowed_sp if n % c == 0]
    if pins.dp is not None and all(pins.dp * c != n for c in sps):
        raise ValueError(
            f"dp={pins.dp!r} is not allowed: workload '{workload.name}' trains data-parallel "
            f"over all {n} accelerators (dp x spatial-parallel cp = {n}, cp one of {sps})"
        )
    if pins.recompute not in (None, "none"):
        raise ValueError(
            f"recompute={pins.recompute!r} is not allowed for workload '{workload.name}': "
            "only 'none' is modelled for op-level workloads"
        )
    for name in ("microbatch", "global_batch"):
        value = getattr(pins, name)
        if value is not None:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            _check_pin(name, value, "a whole number >= 1", ok)
    cap = workload.max_microbatch
    fp8 = 1.0 if precision == "fp8" else 0.0
    bmin, bmax = min(workload.convergence_batch), max(workload.convergence_batch)
    out = []
    for sp in sps:
        dp = n // sp
        if pins.dp is not None and pins.dp != dp:
            continue
        if pins.global_batch is not None:
            batches = [pins.global_batch]
        else:
            locals_ = [2**i for i in range(0, 20) if 2**i <= cap]
            batches = [b * dp for b in locals_ if bmin <= b * dp <= bmax]
            if not batches:
                batches = [
                    min(b * dp for b in locals_ if b * dp >= bmin) if cap * dp >= bmin else cap * dp
                ]
            batches += [int(b) for b in workload.convergence_batch if b % dp == 0 and b / dp <= cap]
            batches = sorted(set(batches))
        for gb in batches:
            per_replica = math.ceil(gb / dp)
            steps = max(1, math.ceil(per_replica / cap))
            mbs = (
                [pins.microbatch]
                if pins.microbatch is not None
                else [math.ceil(per_replica / steps)]
            )
            for mb in mbs:
                out.append(
                    dict(
                        tp=1.0,
                        pp=1.0,
                        dp=float(dp),
                        microbatch=float(mb),
                        global_batch=float(gb),
                        interleave=1.0,
                        recompute=0.0,
                        fp8=fp8,
                        cp=float(sp),
                    )
                )
    return out


def stack_strategies(strategies: list[dict], dtype=np.float64) -> Strategy:
    """Stack a list of strategy dicts into one batched ``Strategy`` ([S] leaves)."""
    return Strategy(
        **{k: np.asarray([s[k] for s in strategies], dtype=dtype) for k in strategies[0]}
    )


def strategy_at(batch: Strategy, index: int) -> dict:
    """Plain-number dict of candidate ``index`` of a batched strategy."""
    return {
        f.name: float(np.asarray(getattr(batch, f.name))[index])
        for f in dataclasses.fields(Strategy)
    }


def describe_strategy(s: dict) -> dict:
    """Human/JSON form of a strategy dict: integers and names."""
    return dict(
        tp=int(s["tp"]),
        cp=int(s.get("cp", 1)),
        pp=int(s["pp"]),
        dp=int(s["dp"]),
        microbatch=int(s["microbatch"]),
        global_batch=int(s["global_batch"]),
        interleave=int(s["interleave"]),
        recompute=RECOMPUTE[int(s["recompute"])],
        precision="fp8" if s["fp8"] > 0.5 else "bf16",
        microbatches_per_step=int(s["global_batch"] // (s["dp"] * s["microbatch"])),
        sequence_parallel=bool(s["tp"] > 1),
        distributed_optimizer="ZeRO-1",
    )
