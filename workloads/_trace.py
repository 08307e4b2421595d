"""Bring your own model: trace a JAX function or a Flax module into ``Op`` lists.

The forward pass of a loss is traced once with ``jax.make_jaxpr`` (abstract
shapes only, nothing is computed) and its jaxpr is walked, descending into
the sub-jaxprs of ``jit``, ``remat``, ``custom_jvp``/``custom_vjp`` calls,
``scan`` (multiplied by its length), ``while`` (one trip: the trip count is
not static) and ``cond`` (the branch with the most matmul FLOPs). Each
forward primitive becomes part of one ``Op`` (see ``workloads/_ops.py``),
in program order:

* ``dot_general`` with one operand that depends on the batch (the
  activation) and one that does not (the weight) -> a ``gemm``: ``m`` = free
  elements of the activation, ``n`` = free elements of the weight, ``k`` =
  contracted elements, ``count`` = the dot's batch dimensions (groups);
  ``2 m n k count`` equals the dot's FLOPs exactly.
* ``dot_general`` of two batch-dependent operands (``q @ k^T`` and
  ``p @ v``) -> ``attention``. A score product whose result (through
  softmax, masking, scaling) feeds a second such product is fused with it
  into one attention op (``m`` queries, ``n`` keys, width ``k`` = heads x
  head dim); an unpaired one becomes an attention op of half that width
  (one of attention's two products). Either way the FLOPs are exact and the
  backward is 2x forward (both operands receive gradients). The traced
  jaxpr of an explicit causal attention computes the full score matrix, so
  the op counts all ``m x n`` scores (``TransformerWorkload`` with
  ``causal=True`` halves them: flash attention skips the masked half).
* ``conv_general_dilated`` -> an implicit-GEMM ``gemm``: ``m`` = output
  positions, ``n`` = output channels per group, ``k`` = input channels per
  group x kernel volume, ``count`` = groups, ``a_elems`` = input elements
  per group. Input-dilated (transposed) convolutions count only products
  with real input elements (output positions / dilation), not the zeros
  XLA's cost analysis counts.
* ``gather`` from a parameter table -> ``embedding`` (bytes of rows read).
* Everything else -> ``elementwise`` memory traffic. The primitives between
  two matmuls form one fused kernel (XLA's fusion): it reads each tensor it
  takes from outside once per pass (a reduction starts a new pass, so a
  normalisation reads its input twice, statistics then normalise) and
  writes the tensors that a matmul or a later kernel consumes. Layout
  primitives (reshape, broadcast, transpose, dtype conversion) are free;
  tensors computed from constants alone (iota masks) are recomputed in
  registers, never read; the score matrices inside a fused attention are
  never stored. Activations count ``ACTIVATION_BYTES`` (16-bit) per element
  whatever the traced dtype; integer and boolean tensors their itemsize.

Gradients follow the ``Op`` convention (one op per forward matmul):
``trainable`` when the weight depends on a trainable parameter (backward =
weight and input gradients, 2x forward), ``backward`` when the weight or the
activation carries a gradient (input gradients only: 1x forward when the
weight is frozen), neither for a frozen weight applied to an input that
needs no gradient. One approximation: a trained first layer whose input is
raw data (an image) is counted at 2x although JAX computes only its weight
gradient (1x), about 1% of ResNet-50's training FLOPs. Elementwise and
attention ops have ``trainable=False`` (no weights) and a backward when any
of their inputs carries a gradient.

Figures are traced for a whole batch and divided by ``batch_size`` (per
sample); the batch is folded into ``m`` (else ``count``) of each GEMM.
``traced_matmul_flops`` counts the FLOPs of any function (e.g.
``jax.value_and_grad(loss)``) to check the convention against the real step.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import math
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jcore

from workloads._ops import ACTIVATION_BYTES, Op, OpWorkload
from workloads._transformer import TransformerWorkload

__all__ = [
    "ops_from_function",
    "ops_from_flax",
    "count_params",
    "traced_matmul_flops",
    "workload_from_flax",
    "load_user_workload",
]

# Primitives that only relabel or re-type an array: free inside a fusion.
_LAYOUT = frozenset(
    {
        "reshape",
        "squeeze",
        "expand_dims",
        "broadcast_in_dim",
        "convert_element_type",
        "transpose",
        "copy",
        "copy_p",
        "reduce_precision",
        "bitcast_convert_type",
        "sharding_constraint",
        "pvary",
    }
)
_REDUCTIONS = frozenset(
    {
        "reduce_sum",
        "reduce_max",
        "reduce_min",
        "reduce_prod",
        "reduce_and",
        "reduce_or",
        "reduce_xor",
        "argmax",
        "argmin",
    }
)
_SUBJAXPR_KEYS = ("jaxpr", "call_jaxpr", "fun_jaxpr")


# ----------------------------------------------------------------------------
# Per-variable facts
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Info:
    """What the walk knows about one jaxpr variable.

    Attributes:
        grad: Depends on a trainable parameter (a gradient flows into it).
        param: Depends on any parameter (trainable or frozen).
        data: Depends on the batch.
        score: Id of the unpaired activation x activation product it derives
            from (softmax of attention scores), else None.
        region: Id of the fused elementwise kernel that wrote it; None for
            inputs, matmul outputs and values from constants.
        uid: Identity of the stored tensor (layout aliases share it).
        nbytes: Bytes of the stored tensor (16-bit for floating point).
        level: Scan depth at which the value differs per iteration (0 outside
            any scan): weights from an outer level are shared by inner trips.
    """

    grad: bool = False
    param: bool = False
    data: bool = False
    score: int | None = None
    region: int | None = None
    uid: int = 0
    nbytes: float = 0.0
    level: int = 0

    @property
    def live(self) -> bool:
        """Not a constant: stored in memory and read by the kernels using it."""
        return self.data or self.param


_CONST = _Info()


def _nbytes(aval) -> float:
    """Bytes of an abstract array: ``ACTIVATION_BYTES`` per floating element."""
    dtype = getattr(aval, "dtype", None)
    if dtype is None or dtype == jax.dtypes.float0:
        return 0.0
    if jax.dtypes.issubdtype(dtype, jax.dtypes.extended):  # PRNG keys: negligible
        return 0.0
    elems = float(math.prod(getattr(aval, "shape", ())))
    if jnp.issubdtype(dtype, jnp.inexact):
        return elems * ACTIVATION_BYTES
    return elems * np.dtype(dtype).itemsize


def _merge(infos: Iterable[_Info]) -> tuple[bool, bool, bool]:
    infos = list(infos)
    return (
        any(i.grad for i in infos),
        any(i.param for i in infos),
        any(i.data for i in infos),
    )


# ----------------------------------------------------------------------------
# Records collected by the walk (whole batch), turned into per-sample Ops
# ----------------------------------------------------------------------------


@dataclasses.dataclass
class _Gemm:
    name: str
    m: int
    n: int
    k: int
    count: int
    a_elems: float
    trainable: bool
    backward: bool
    m_mult: int = 1
    count_mult: int = 1
    conv: bool = False


@dataclasses.dataclass
class _Attention:
    name: str
    m: int  # queries (free elements of the score product's left operand)
    n: int  # keys (free elements of its right operand)
    flops: float  # both products, whole batch, times the scan multiplier
    mult: int
    backward: bool
    paired: bool = False


@dataclasses.dataclass
class _Region:
    name: str
    mult: int
    bytes: float = 0.0
    backward: bool = False
    phase: int = 0


@dataclasses.dataclass
class _Embedding:
    name: str
    bytes: float
    backward: bool


class _Shared:
    """Counters shared by a walk and the trial walks it starts."""

    def __init__(self):
        self.uid = itertools.count(1)
        self.ids = itertools.count(1)
        self.warned: set[str] = set()

    def warn(self, message: str):
        if message not in self.warned:
            self.warned.add(message)
            warnings.warn(message, stacklevel=4)


def _dot_dims(eqn) -> tuple[int, int, int, int]:
    """(batch, lhs free, rhs free, contracted) element counts of a dot_general."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    ls = eqn.invars[0].aval.shape
    rs = eqn.invars[1].aval.shape
    batch = math.prod(ls[d] for d in lb)
    contract = math.prod(ls[d] for d in lc)
    lfree = math.prod(s for d, s in enumerate(ls) if d not in (*lc, *lb))
    rfree = math.prod(s for d, s in enumerate(rs) if d not in (*rc, *rb))
    return batch, lfree, rfree, contract


def _conv_dims(eqn) -> tuple[int, float, int, int, int]:
    """(groups, output positions, out channels per group, k, input elements) of a conv.

    With input dilation (a transposed convolution, or the input gradient of
    a strided one) only the products with real input elements count: the
    output positions are divided by the dilation (exact up to borders).
    """
    dn = eqn.params["dimension_numbers"]
    rhs_spec, out_spec = dn.rhs_spec, dn.out_spec
    ls = eqn.invars[0].aval.shape
    rs = eqn.invars[1].aval.shape
    os_ = eqn.outvars[0].aval.shape
    groups = int(eqn.params["feature_group_count"]) * int(eqn.params["batch_group_count"])
    dilation = math.prod(eqn.params.get("lhs_dilation") or (1,))
    m = os_[out_spec[0]] * math.prod(os_[d] for d in out_spec[2:])
    m = m // dilation if m % dilation == 0 else m / dilation
    cout = os_[out_spec[1]]
    k = rs[rhs_spec[1]] * math.prod(rs[d] for d in rhs_spec[2:])
    return groups, m, cout // groups, k, math.prod(ls)


def _sub_jaxpr(params: dict):
    """(jaxpr, consts) of a call-like primitive's single body, or None."""
    for key in _SUBJAXPR_KEYS:
        sub = params.get(key)
        if isinstance(sub, jcore.ClosedJaxpr):
            return sub.jaxpr, sub.consts
        if isinstance(sub, jcore.Jaxpr):
            return sub, ()
    return None


def _closed(j) -> tuple[Any, Any]:
    return (j.jaxpr, j.consts) if isinstance(j, jcore.ClosedJaxpr) else (j, ())


def _label(prefix: str, what: str) -> str:
    return f"{prefix}/{what}" if prefix else what


def _join(prefix: str, eqn) -> str:
    """Name stack of an equation under its caller's (overlapping parts merged)."""
    own = str(eqn.source_info.name_stack)
    if not own or not prefix:
        return own or prefix
    outer, inner = prefix.split("/"), own.split("/")
    for i in range(len(outer)):
        tail = outer[i:]
        if inner[: len(tail)] == tail:
            return "/".join(outer[:i] + inner)
    return f"{prefix}/{own}"


class _Walker:
    """Walks a jaxpr, collecting matmul, attention, embedding and memory records."""

    def __init__(self, shared: _Shared, lengths: tuple[int, ...] = ()):
        self.shared = shared
        self.records: list[Any] = []
        self.lengths = list(lengths)  # enclosing scan lengths, outermost first
        self.regions: dict[int, _Region] = {}
        self.region: int | None = None
        self.read: set[tuple[int, int, int]] = set()
        self.written: set[int] = set()
        self.pending: dict[int, _Attention] = {}

    # -- helpers ------------------------------------------------------------

    @property
    def mult(self) -> int:
        return math.prod(self.lengths)

    def fresh(self, var, grad=False, param=False, data=False, score=None, region=None, level=None):
        return _Info(
            grad=grad,
            param=param,
            data=data,
            score=score,
            region=region,
            uid=next(self.shared.uid),
            nbytes=_nbytes(var.aval),
            level=len(self.lengths) if level is None else level,
        )

    def _write(self, info: _Info):
        """A tensor written by a fused kernel is consumed outside it: count its store."""
        if info.region is None or info.score is not None or info.uid in self.written:
            return
        region = self.regions.get(info.region)
        if region is None:  # written by the caller of a trial walk
            return
        self.written.add(info.uid)
        region.bytes += info.nbytes * region.mult

    def _read(self, info: _Info, region_id: int):
        region = self.regions[region_id]
        if not info.live or info.region == region_id or info.score is not None:
            return
        key = (region_id, info.uid, region.phase)
        if key in self.read:
            return
        self.read.add(key)
        self._write(info)
        region.bytes += info.nbytes * self.mult
        region.backward |= info.grad

    def _region(self, name: str) -> int:
        if self.region is None:
            rid = next(self.shared.ids)
            self.regions[rid] = _Region(name=name, mult=self.mult)
            self.records.append(self.regions[rid])
            self.region = rid
        return self.region

    def _end_region(self):
        self.region = None

    # -- the walk -------------------------------------------------------------

    def walk(self, jaxpr, consts, infos: list[_Info], prefix: str = "") -> list[_Info]:
        """Facts of ``jaxpr``'s outputs given its inputs'; records what it runs.

        ``consts`` (closed-over arrays) count as constants; their values are unused.
        """
        env: dict[Any, _Info] = {v: _CONST for v in jaxpr.constvars}
        for v, info in zip(jaxpr.invars, infos, strict=True):
            env[v] = info

        def get(v):
            return _CONST if isinstance(v, jcore.Literal) else env[v]

        for eqn in jaxpr.eqns:
            ins = [get(v) for v in eqn.invars]
            outs = self.equation(eqn, ins, _join(prefix, eqn))
            for v, info in zip(eqn.outvars, outs, strict=True):
                if not isinstance(v, jcore.DropVar):
                    env[v] = info
        return [get(v) for v in jaxpr.outvars]

    def equation(self, eqn, ins: list[_Info], name: str) -> list[_Info]:
        prim = eqn.primitive.name
        if prim == "dot_general":
            return [self._dot(eqn, ins, name)]
        if prim == "conv_general_dilated":
            return [self._conv(eqn, ins, name)]
        if prim == "scan":
            return self._scan(eqn, ins, name)
        if prim == "while":
            return self._while(eqn, ins, name)
        if prim == "cond":
            return self._cond(eqn, ins, name)
        if prim == "gather" and ins[0].param and not ins[0].data and ins[1].data:
            return [self._embedding(eqn, ins, name)]
        if prim in _LAYOUT and len(ins) >= 1 and len(eqn.outvars) == 1:
            return [ins[0]]  # an alias: same tensor, same facts
        if prim == "stop_gradient":
            return [dataclasses.replace(i, grad=False) for i in ins]
        sub = _sub_jaxpr(eqn.params)
        if sub is not None:
            body, consts = sub
            if len(body.invars) == len(ins) and len(body.outvars) == len(eqn.outvars):
                return self.walk(body, consts, ins, name)
            self.shared.warn(f"traced workload: cannot look inside primitive '{prim}'")
        return self._memory(eqn, ins, name)

    # -- matmuls ----------------------------------------------------------------

    def _dot(self, eqn, ins, name) -> _Info:
        lhs, rhs = ins
        for i in ins:
            self._write(i)
        self._end_region()
        batch, lfree, rfree, contract = _dot_dims(eqn)
        flops = 2.0 * batch * lfree * rfree * contract * self.mult
        grad, param, data = _merge(ins)
        out = eqn.outvars[0]
        if lhs.data and rhs.data:  # activation x activation: attention
            sid = next(
                (
                    s
                    for s in (lhs.score, rhs.score)
                    if s in self.pending and self.pending[s].mult == self.mult
                ),
                None,
            )
            if sid is not None:  # p @ v after softmax(q @ k): one fused attention
                partner = self.pending.pop(sid)
                partner.flops += flops
                partner.paired = True
                partner.backward |= grad
                return self.fresh(out, grad, param, data)
            rec = _Attention(
                name=_label(name, "attention"),
                m=lfree,
                n=rfree,
                flops=flops,
                mult=self.mult,
                backward=grad,
            )
            sid = next(self.shared.ids)
            self.pending[sid] = rec
            self.records.append(rec)
            return self.fresh(out, grad, param, data, score=sid)
        # One operand is the weight (the one without the batch; rhs if neither has it).
        weight, act, m, n = (lhs, rhs, rfree, lfree) if rhs.data else (rhs, lhs, lfree, rfree)
        self.records.append(
            self._gemm(_label(name, "dot"), m, n, contract, batch, 0.0, weight, act)
        )
        return self.fresh(out, grad, param, data)

    def _gemm(self, name, m, n, k, count, a_elems, weight: _Info, act: _Info, conv=False):
        trainable = weight.grad and not weight.data
        w = min(weight.level, len(self.lengths))
        return _Gemm(
            name=name,
            m=m,
            n=n,
            k=k,
            count=count,
            a_elems=a_elems,
            trainable=trainable,
            backward=trainable or act.grad or weight.grad,
            count_mult=math.prod(self.lengths[:w]),
            m_mult=math.prod(self.lengths[w:]),
            conv=conv,
        )

    def _conv(self, eqn, ins, name) -> _Info:
        lhs, rhs = ins
        for i in ins:
            self._write(i)
        self._end_region()
        groups, m, n, k, lhs_elems = _conv_dims(eqn)
        self.records.append(
            self._gemm(
                _label(name, "conv"), m, n, k, groups, lhs_elems / groups, rhs, lhs, conv=True
            )
        )
        return self.fresh(eqn.outvars[0], *_merge(ins))

    def _embedding(self, eqn, ins, name) -> _Info:
        table, idx = ins[0], ins[1]
        self._write(idx)
        self._end_region()
        out = eqn.outvars[0]
        nbytes = _nbytes(out.aval)
        self.records.append(_Embedding(_label(name, "gather"), nbytes * self.mult, table.grad))
        return self.fresh(out, *_merge(ins))

    # -- memory-bound primitives --------------------------------------------------

    def _memory(self, eqn, ins, name) -> list[_Info]:
        live = [i for i in ins if i.live]
        if not live:
            return [self.fresh(v) for v in eqn.outvars]
        rid = self._region(name)
        for i in live:
            self._read(i, rid)
        grad, param, data = _merge(live)
        score = next((i.score for i in live if i.score is not None), None)
        level = max(i.level for i in live)
        outs = [self.fresh(v, grad, param, data, score, rid, level) for v in eqn.outvars]
        if eqn.primitive.name in _REDUCTIONS:
            self.regions[rid].phase += 1  # the next use of an input is another pass
        return outs

    # -- control flow -------------------------------------------------------------

    def _trial(self, jaxpr, consts, infos, lengths) -> tuple[list[_Info], _Walker]:
        """Walk without recording into this walker (taint fixpoints, branch choice)."""
        trial = _Walker(self.shared, tuple(lengths))
        return trial.walk(jaxpr, consts, infos), trial

    def _loop(self, body, consts, const_in, carry_in, xs_in, length, name):
        """Walk a loop body once; carries first iterate to a taint fixpoint."""
        self._end_region()
        lengths = [*self.lengths, length]
        depth = len(lengths)
        nc, nk = len(const_in), len(carry_in)
        carry_vars = body.invars[nc : nc + nk]
        xs_vars = body.invars[nc + nk :]
        # Per-iteration values: fresh tensors, distinct at this scan depth.
        xs = [
            _Info(
                x.grad,
                x.param,
                x.data,
                uid=next(self.shared.uid),
                nbytes=_nbytes(v.aval),
                level=depth,
            )
            for x, v in zip(xs_in, xs_vars, strict=True)
        ]

        def carries(flags):
            return [
                _Info(*f, uid=next(self.shared.uid), nbytes=_nbytes(v.aval), level=depth)
                for f, v in zip(flags, carry_vars, strict=True)
            ]

        flags = [(c.grad, c.param, c.data) for c in carry_in]
        for _ in range(nk + 1 if nk else 0):
            outs, _ = self._trial(body, consts, [*const_in, *carries(flags), *xs], lengths)
            new = [
                tuple(a or b for a, b in zip(f, (o.grad, o.param, o.data), strict=True))
                for f, o in zip(flags, outs[:nk], strict=True)
            ]
            if new == flags:
                break
            flags = new
        self.lengths.append(length)
        outs = self.walk(body, consts, [*const_in, *carries(flags), *xs], name)
        self.lengths.pop()
        self._end_region()
        return outs

    def _scan(self, eqn, ins, name) -> list[_Info]:
        p = eqn.params
        body, consts = _closed(p["jaxpr"])
        nc, nk = p["num_consts"], p["num_carry"]
        outs = self._loop(
            body, consts, ins[:nc], ins[nc : nc + nk], ins[nc + nk :], p["length"], name
        )
        return [
            self.fresh(v, o.grad, o.param, o.data) for v, o in zip(eqn.outvars, outs, strict=True)
        ]

    def _while(self, eqn, ins, name) -> list[_Info]:
        p = eqn.params
        self.shared.warn(
            "traced workload: a while loop with a run-time trip count is counted "
            "once; use lax.scan or lax.fori_loop with static bounds for exact counts"
        )
        body, consts = _closed(p["body_jaxpr"])
        cn, bn = p["cond_nconsts"], p["body_nconsts"]
        outs = self._loop(body, consts, ins[cn : cn + bn], ins[cn + bn :], [], 1, name)
        return [
            self.fresh(v, o.grad, o.param, o.data) for v, o in zip(eqn.outvars, outs, strict=True)
        ]

    def _cond(self, eqn, ins, name) -> list[_Info]:
        branches = [_closed(b) for b in eqn.params["branches"]]
        trials = [self._trial(b, c, ins[1:], self.lengths) for b, c in branches]
        best = max(range(len(branches)), key=lambda i: _records_flops(trials[i][1].records))
        self._end_region()
        self.walk(*branches[best], ins[1:], name)
        self._end_region()
        # Outputs depend on whatever any branch makes them depend on.
        return [
            self.fresh(v, *_merge(outs[j] for outs, _ in trials)) for j, v in enumerate(eqn.outvars)
        ]


def _records_flops(records) -> float:
    total = 0.0
    for r in records:
        if isinstance(r, _Gemm):
            total += 2.0 * r.m * r.n * r.k * r.count * r.m_mult * r.count_mult
        elif isinstance(r, _Attention):
            total += r.flops
    return total


# ----------------------------------------------------------------------------
# Records -> per-sample Ops
# ----------------------------------------------------------------------------


def _gemm_op(r: _Gemm, batch_size: int) -> Op:
    m = float(r.m * r.m_mult)
    count = float(r.count * r.count_mult)
    if m % batch_size == 0 or count % batch_size != 0:
        m /= batch_size
    else:
        count /= batch_size
    a_elems = r.a_elems * r.m_mult / batch_size if r.conv else 0.0
    return Op(
        name=r.name,
        kind="gemm",
        m=m,
        n=float(r.n),
        k=float(r.k),
        count=count,
        a_elems=a_elems,
        trainable=r.trainable,
        backward=r.backward,
    )


def _to_ops(records, batch_size: int) -> tuple[Op, ...]:
    ops = []
    for r in records:
        if isinstance(r, _Gemm):
            ops.append(_gemm_op(r, batch_size))
        elif isinstance(r, _Attention):
            # 4 m n k count = FLOPs per sample; the whole batch of both products.
            width = r.flops / (4.0 * r.m * r.n * r.mult * batch_size)
            ops.append(
                Op(
                    name=r.name if r.paired else r.name + "(half)",
                    kind="attention",
                    m=float(r.m),
                    n=float(r.n),
                    k=width,
                    count=float(r.mult),
                    trainable=False,
                    backward=r.backward,
                )
            )
        elif isinstance(r, _Region) and r.bytes > 0:
            ops.append(
                Op(
                    name=_label(r.name, "elementwise"),
                    kind="elementwise",
                    bytes=r.bytes / batch_size,
                    trainable=False,
                    backward=r.backward,
                )
            )
        elif isinstance(r, _Embedding) and r.bytes > 0:
            ops.append(
                Op(
                    name=r.name,
                    kind="embedding",
                    bytes=r.bytes / batch_size,
                    trainable=r.backward,
                    backward=r.backward,
                )
            )
    return tuple(ops)


# ----------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------


def _path_str(path) -> str:
    parts = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return "/".join(parts)


def _frozen_predicate(frozen) -> Callable[[str], bool]:
    """``frozen`` as a predicate on ``a/b/c`` parameter paths."""
    if frozen is None:
        return lambda path: False
    if callable(frozen):
        return frozen
    if isinstance(frozen, str):
        frozen = (frozen,)
    try:
        prefixes = tuple(str(p).strip("/") for p in frozen)
    except TypeError:
        raise ValueError(
            f"frozen={frozen!r}; allowed: None, a callable(path: str) -> bool, or "
            "an iterable of parameter path prefixes such as ['encoder', 'Dense_0/kernel']"
        ) from None
    return lambda path: any(path == p or path.startswith(p + "/") for p in prefixes)


def _param_leaves(params, frozen) -> list[tuple[str, Any, bool]]:
    """(path, leaf, is_frozen) of every parameter leaf."""
    is_frozen = _frozen_predicate(frozen)
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return [(_path_str(p), leaf, bool(is_frozen(_path_str(p)))) for p, leaf in leaves]


def count_params(params, frozen=None) -> tuple[float, float]:
    """Trainable and frozen parameter counts of a pytree.

    Args:
        params: Pytree of arrays or ``jax.ShapeDtypeStruct`` (e.g. Flax
            ``variables["params"]``).
        frozen: None (all trainable), a callable ``path -> bool`` on
            ``/``-joined paths (``Dense_0/kernel``), or path prefixes.

    Returns:
        ``(trainable, frozen)`` element counts.
    """
    trainable = frozen_n = 0.0
    for _, leaf, fr in _param_leaves(params, frozen):
        n = float(math.prod(np.shape(leaf)))
        if fr:
            frozen_n += n
        else:
            trainable += n
    return trainable, frozen_n


# ----------------------------------------------------------------------------
# Tracing
# ----------------------------------------------------------------------------


def _check_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise ValueError(f"batch_size={batch_size!r}; must be an integer >= 1")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}; must be an integer >= 1")
    return int(batch_size)


def _abstract(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x)), tree)


def _trace(fn, params, state, batch, *, batch_size: int, frozen) -> tuple[Op, ...]:
    """Ops of ``fn(params, state, batch)``; state leaves are constants."""
    batch_size = _check_batch_size(batch_size)
    closed = jax.make_jaxpr(fn)(params, state, batch)
    shared = _Shared()
    walker = _Walker(shared)
    infos = []
    for _, leaf, fr in _param_leaves(params, frozen):
        infos.append(_Info(grad=not fr, param=True, uid=next(shared.uid), nbytes=_nbytes(leaf)))
    infos += [_CONST] * len(jax.tree.leaves(state))
    for leaf in jax.tree.leaves(batch):
        infos.append(_Info(data=True, uid=next(shared.uid), nbytes=_nbytes(leaf)))
    walker.walk(closed.jaxpr, closed.consts, infos)
    ops = _to_ops(walker.records, batch_size)
    if not ops:
        raise ValueError("traced function has no matmul, attention or memory operation")
    return ops


def ops_from_function(loss_fn, params, batch, *, batch_size: int, frozen=None) -> tuple[Op, ...]:
    """Per-sample ops of one training step of ``loss_fn(params, batch)``.

    The forward pass is traced with abstract shapes (no computation); see the
    module docstring for how primitives become ``Op`` s and how gradients set
    ``trainable``/``backward``.

    Args:
        loss_fn: ``(params, batch) -> scalar loss`` (any output is accepted:
            only the forward computation is traced).
        params: Pytree of parameter arrays or ``jax.ShapeDtypeStruct``.
        batch: Pytree of input arrays (or shape structs) of ``batch_size``
            samples; every leaf counts as batch-dependent data.
        batch_size: Samples in ``batch``; figures are divided by it.
        frozen: Parameters that do not train: None, a callable on
            ``/``-joined paths, or path prefixes (see ``count_params``).

    Returns:
        The training step's ops per sample, in program order.

    Raises:
        ValueError: ``batch_size`` not a positive integer, bad ``frozen``, or
            nothing to count.
    """
    return _trace(
        lambda p, s, b: loss_fn(p, b),
        _abstract(params),
        (),
        _abstract(batch),
        batch_size=batch_size,
        frozen=frozen,
    )


class _FlaxTrace(NamedTuple):
    ops: tuple[Op, ...]
    trainable_params: float
    frozen_params: float


def _loss_reduce(loss) -> Callable:
    if callable(loss):
        return loss
    if loss == "sum":
        return lambda out: sum(jnp.sum(x) for x in jax.tree.leaves(out))
    if loss == "mean":
        return lambda out: sum(jnp.mean(x) for x in jax.tree.leaves(out))
    raise ValueError(f"loss={loss!r}; allowed: 'sum', 'mean' or a callable(output) -> scalar")


def _trace_flax(
    module,
    example_input,
    *,
    batch_size,
    loss="sum",
    frozen=None,
    variables=None,
    seed=0,
    apply_kwargs=None,
) -> _FlaxTrace:
    reduce = _loss_reduce(loss)
    kwargs = dict(apply_kwargs or {})
    rngs = kwargs.pop("rngs", None) or {}
    x = _abstract(example_input)
    if variables is None:
        key = jax.random.key(seed)
        init_rngs = {"params": key, **{name: key for name in rngs}}
        variables = jax.eval_shape(lambda xb: module.init(init_rngs, xb, **kwargs), x)
    variables = _abstract(dict(variables))
    if "params" not in variables:
        raise ValueError(
            f"variables has collections {list(variables)}; a 'params' collection is required"
        )
    params = variables["params"]
    state = {c: v for c, v in variables.items() if c != "params"}

    def fn(p, s, xb):
        out = module.apply(
            {"params": p, **s}, xb, mutable=list(s) if s else False, rngs=rngs or None, **kwargs
        )
        if s:
            out = out[0]
        return reduce(out)

    ops = _trace(fn, params, state, x, batch_size=batch_size, frozen=frozen)
    trainable, frozen_n = count_params(params, frozen)
    return _FlaxTrace(ops, trainable, frozen_n)


def ops_from_flax(
    module,
    example_input,
    *,
    batch_size: int,
    loss="sum",
    frozen=None,
    variables=None,
    seed: int = 0,
    apply_kwargs: dict | None = None,
) -> tuple[Op, ...]:
    """Per-sample ops of one training step of a Flax (linen) module.

    Args:
        module: A ``flax.linen.Module``.
        example_input: The module's input for ``batch_size`` samples: an
            array, a ``jax.ShapeDtypeStruct`` or a pytree of them (passed as
            the single positional argument), e.g. ``[B, 224, 224, 3]``.
        batch_size: Samples in ``example_input``.
        loss: Scalar loss of the output: ``"sum"``, ``"mean"`` or a callable.
            Its cost is negligible; it only closes the step.
        frozen: Parameters that do not train (see ``count_params``); paths
            are inside the ``params`` collection, e.g. ``"encoder"``.
        variables: Variables to use; default ``module.init`` traced with
            abstract shapes (nothing is computed). Collections other than
            ``params`` (``batch_stats``) are passed as mutable state.
        seed: Seed of the init PRNG key (shapes do not depend on it).
        apply_kwargs: Keyword arguments of ``apply`` and ``init`` (e.g.
            ``{"train": True}``); ``rngs`` goes to ``apply`` only.

    Returns:
        The training step's ops per sample, in program order.
    """
    return _trace_flax(
        module,
        example_input,
        batch_size=batch_size,
        loss=loss,
        frozen=frozen,
        variables=variables,
        seed=seed,
        apply_kwargs=apply_kwargs,
    ).ops


def traced_matmul_flops(fn, *args, **kwargs) -> float:
    """FLOPs of every ``dot_general`` and convolution in ``fn(*args, **kwargs)``.

    Counts the traced jaxpr as written (2 per multiply-add; scans times their
    length, the costliest ``cond`` branch, ``while`` bodies once), e.g. of
    ``jax.value_and_grad(loss)`` to check an op list's forward + backward.

    Returns:
        FLOPs of one call (whole batch).
    """
    closed = jax.make_jaxpr(fn)(*args, **kwargs)
    return _jaxpr_flops(closed.jaxpr)


def _jaxpr_flops(jaxpr) -> float:
    total = 0.0
    for eqn in jaxpr.eqns:
        prim = eqn.primitive.name
        if prim == "dot_general":
            b, lf, rf, c = _dot_dims(eqn)
            total += 2.0 * b * lf * rf * c
        elif prim == "conv_general_dilated":
            g, m, n, k, _ = _conv_dims(eqn)
            total += 2.0 * g * m * n * k
        elif prim == "scan":
            total += eqn.params["length"] * _jaxpr_flops(_closed(eqn.params["jaxpr"])[0])
        elif prim == "while":
            total += _jaxpr_flops(_closed(eqn.params["body_jaxpr"])[0])
        elif prim == "cond":
            total += max(_jaxpr_flops(_closed(b)[0]) for b in eqn.params["branches"])
        else:
            sub = _sub_jaxpr(eqn.params)
            if sub is not None:
                total += _jaxpr_flops(sub[0])
    return total


# ----------------------------------------------------------------------------
# Workloads
# ----------------------------------------------------------------------------

_TRACE_ONLY = ("loss", "frozen", "variables", "seed", "apply_kwargs")


def _as_tuple(name: str, value) -> tuple[float, ...]:
    values = (value,) if np.ndim(value) == 0 else tuple(np.ravel(value))
    out = tuple(float(v) for v in values)
    if not out or any(not np.isfinite(v) or v <= 0 for v in out):
        raise ValueError(f"{name}={value!r}; must be one or more finite numbers > 0")
    return out


def workload_from_flax(
    name: str,
    module,
    example_input,
    *,
    batch_size: int,
    convergence_batch,
    convergence_samples,
    eval_interval_samples: float,
    eval_samples: float,
    quality_target: str = "user supplied",
    sources: str = "traced from a Flax module",
    loss="sum",
    frozen=None,
    variables=None,
    seed: int = 0,
    apply_kwargs: dict | None = None,
    **kw,
) -> OpWorkload:
    """An ``OpWorkload`` from a Flax module; the convergence budget is yours.

    Args:
        name: Workload id.
        module, example_input, batch_size, loss, frozen, variables, seed,
            apply_kwargs: As for ``ops_from_flax``.
        convergence_batch: Global batch size(s) of your convergence points
            (samples), ascending; a number for a single point.
        convergence_samples: Samples to reach your quality target at each.
        eval_interval_samples: Training samples between evaluations.
        eval_samples: Samples in one evaluation pass (forward only).
        quality_target: Human-readable target.
        sources: Where the numbers come from.
        **kw: Further ``OpWorkload`` fields (``sample_unit``,
            ``typical_global_batch``, ``max_microbatch``, ``eval_ops``, ...).

    Returns:
        The workload. ``extra_params`` holds the trainable parameters that no
        GEMM op carries (biases, normalisation scales, embedding tables), so
        ``params`` equals the module's trainable parameter count.

    Raises:
        ValueError: an unknown ``OpWorkload`` field in ``kw`` or a bad value.
    """
    fields = {f.name for f in dataclasses.fields(OpWorkload)}
    fixed = {"name", "ops", "extra_params", "convergence_batch", "convergence_samples"}
    for key in kw:
        if key not in fields or key in fixed:
            allowed = sorted(fields - fixed - set(_TRACE_ONLY))
            raise ValueError(f"workload_from_flax: unknown argument '{key}'; allowed: {allowed}")
    traced = _trace_flax(
        module,
        example_input,
        batch_size=batch_size,
        loss=loss,
        frozen=frozen,
        variables=variables,
        seed=seed,
        apply_kwargs=apply_kwargs,
    )
    gemm_params = sum(op.weight_elems for op in traced.ops if op.trainable)
    if gemm_params > traced.trainable_params * (1 + 1e-9):
        warnings.warn(
            f"workload '{name}': trained GEMM weights ({gemm_params:.4g}) exceed the "
            f"module's trainable parameters ({traced.trainable_params:.4g}); weights "
            "shared by several matmuls are counted once per use",
            stacklevel=2,
        )
    return OpWorkload(
        name=name,
        ops=traced.ops,
        convergence_batch=_as_tuple("convergence_batch", convergence_batch),
        convergence_samples=_as_tuple("convergence_samples", convergence_samples),
        eval_interval_samples=float(eval_interval_samples),
        eval_samples=float(eval_samples),
        quality_target=quality_target,
        sources=sources,
        extra_params=max(0.0, traced.trainable_params - gemm_params),
        **kw,
    )


def load_user_workload(spec: str) -> OpWorkload | TransformerWorkload:
    """Import ``path/to/file.py:function`` and call the function for a workload.

    Args:
        spec: ``<python file>:<function name>``; the function takes no
            arguments and returns an ``OpWorkload`` or ``TransformerWorkload``.

    Returns:
        The workload the function returns.

    Raises:
        ValueError: malformed spec, missing file or function, or a return
            value of another type.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f"workload spec {spec!r}; expected 'path/to/file.py:function_name'")
    path_str, func_name = spec.rsplit(":", 1)
    path = Path(path_str).expanduser()
    if not path_str or not func_name.isidentifier():
        raise ValueError(
            f"workload spec {spec!r}; expected 'path/to/file.py:function_name' with a "
            "Python identifier after the last ':'"
        )
    if not path.is_file():
        raise ValueError(f"workload spec {spec!r}: file '{path}' does not exist")
    module_name = f"_dse_user_workload_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"workload spec {spec!r}: '{path}' cannot be imported as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    func = getattr(module, func_name, None)
    if func is None:
        defined = sorted(
            n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
        )
        raise ValueError(
            f"workload spec {spec!r}: '{path}' defines no '{func_name}'; its callables: {defined}"
        )
    if not callable(func):
        raise ValueError(
            f"workload spec {spec!r}: '{func_name}' is not callable (type "
            f"{type(func).__name__}); name a function that returns a workload"
        )
    result = func()
    if not isinstance(result, OpWorkload | TransformerWorkload):
        raise ValueError(
            f"workload spec {spec!r}: {func_name}() returned {type(result).__name__}; "
            "allowed: OpWorkload or TransformerWorkload"
        )
    return result
