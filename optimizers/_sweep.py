"""Sweeps of user-described design spaces: sampled, sharded, streamed, resumable.

A *space file* (TOML) names the free design parameters and what each may take,
the accelerator counts, and how to sample::

    workload = "gpt3-175b"          # optional (--workload overrides)
    base = "h100-like"              # the design the other parameters come from
    accelerators = [512, 1024]      # counts (a dimension of the sweep)
    sampling = "grid"               # grid | random | sobol
    samples = 100000                # random and sobol: designs to draw
    seed = 0
    chunk = 8192                    # designs per output chunk

    [params]
    arrays_per_chip = { values = [96, 112, 128, 144] }
    clock_hz = { min = 1.2e9, max = 2.2e9, count = 6 }    # grid: 6 log-spaced values
    hbm_stacks = { values = [4, 5, 6] }

Parameters are ``DesignParams`` fields in SI units. ``values`` is a list of
choices; ``min``/``max`` a range (``count`` values for a grid, log-spaced
unless ``scale = "linear"``; drawn log-uniformly, or uniformly with
``scale = "linear"``, for random and Sobol sampling).

Every design is evaluated by the exact model (``DesignProblem.exact_arrays``:
the fastest memory-feasible strategy, every hardware constraint), the batch
sharded over the local JAX devices (a ``Mesh`` over ``jax.local_devices()``);
under ``jax.distributed`` each process takes every ``process_count``-th chunk.
Results stream to ``DIR/chunk-NNNNNN.npz`` (NumPy: each chunk a complete,
self-describing file, written to a temporary name and renamed, so a chunk is
never half-written) beside ``DIR/manifest.json`` (the space, its hash, the
chunk layout). NumPy chunk files need no extra dependency and a chunk's
presence is its completion record; ``summarise`` reads them back. Samples are a
pure function of (space, seed, index), so ``--resume`` recomputes nothing that
was finished and the result is identical to an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from typing import Any

import numpy as np

__all__ = ["SweepSpace", "load_space", "run_sweep", "summarise_sweep", "sample_chunk"]

SAMPLINGS = ("grid", "random", "sobol")
_MANIFEST = "manifest.json"
_FORMAT = 1


class SweepSpace:
    """A validated sweep space (see the module docstring).

    Attributes:
        params: Field -> dict with ``values`` (tuple) or ``min``/``max``/``scale``
            (and ``count`` for a grid).
        counts: Accelerator counts.
        sampling, samples, seed, chunk, workload, base: as in the file.
        source: Where it came from (file path or ``<dict>``).
    """

    def __init__(self, spec: dict, *, source: str = "<dict>"):
        from hwmodels import DESIGN_BOUNDS, DESIGN_FIELDS

        self.source = source

        def bad(field, value, allowed):
            return ValueError(f"{source}: {field}={value!r} is not allowed: {allowed}")

        known = {
            "workload",
            "base",
            "accelerators",
            "sampling",
            "samples",
            "seed",
            "chunk",
            "params",
        }
        for key in spec:
            if key not in known:
                raise bad(key, spec[key], f"one of {sorted(known)}")
        self.workload = spec.get("workload")
        if self.workload is not None and not isinstance(self.workload, str):
            raise bad("workload", self.workload, "a workload name")
        self.base = spec.get("base", "h100-like")
        if not isinstance(self.base, str):
            raise bad("base", self.base, "a design name or file")
        counts = spec.get("accelerators", [512])
        if isinstance(counts, int) and not isinstance(counts, bool):
            counts = [counts]
        if (
            not isinstance(counts, list)
            or not counts
            or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in counts)
        ):
            raise bad("accelerators", counts, "a whole number >= 1 or a non-empty list of them")
        self.counts = sorted(set(counts))
        self.sampling = spec.get("sampling", "grid")
        if self.sampling not in SAMPLINGS:
            raise bad("sampling", self.sampling, f"one of {list(SAMPLINGS)}")
        for key, lo in (("samples", 1), ("chunk", 1), ("seed", 0)):
            v = spec.get(key, {"samples": 10000, "chunk": 8192, "seed": 0}[key])
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise bad(key, v, f"a whole number >= {lo}")
            setattr(self, key, v)
        params = spec.get("params")
        if not isinstance(params, dict) or not params:
            raise bad("params", params, "a table of design parameters (at least one)")
        self.params: dict[str, dict] = {}
        for name, entry in params.items():
            if name not in DESIGN_FIELDS or name not in DESIGN_BOUNDS:
                raise bad(
                    f"params.{name}", entry, f"a design parameter, one of {sorted(DESIGN_BOUNDS)}"
                )
            blo, bhi = DESIGN_BOUNDS[name][:2]
            if not isinstance(entry, dict):
                raise bad(f"params.{name}", entry, "{ values = [...] } or { min = .., max = .. }")
            extra = set(entry) - {"values", "min", "max", "count", "scale"}
            if extra:
                raise bad(f"params.{name}", entry, "keys values, min, max, count, scale")

            def number(key, v, name=name, blo=blo, bhi=bhi):
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise bad(f"params.{name}.{key}", v, "a finite number")
                try:
                    v = float(v)
                except OverflowError:
                    raise bad(
                        f"params.{name}.{key}", f"{str(v)[:40]}...", "a finite number"
                    ) from None
                if not math.isfinite(v):
                    raise bad(f"params.{name}.{key}", v, "a finite number")
                if not blo <= v <= bhi:
                    raise bad(
                        f"params.{name}.{key}", v, f"within the design bounds [{blo:g}, {bhi:g}]"
                    )
                return float(v)

            if "values" in entry:
                vals = entry["values"]
                if not isinstance(vals, list) or not vals or set(entry) - {"values"}:
                    raise bad(f"params.{name}.values", vals, "a non-empty list (and nothing else)")
                self.params[name] = dict(values=tuple(number("values", v) for v in vals))
                continue
            if "min" not in entry or "max" not in entry:
                raise bad(f"params.{name}", entry, "values, or both min and max")
            lo, hi = number("min", entry["min"]), number("max", entry["max"])
            if not lo < hi:
                raise bad(f"params.{name}", entry, "min < max")
            scale = entry.get("scale", "log")
            if scale not in ("log", "linear") or (scale == "log" and lo <= 0):
                raise bad(f"params.{name}.scale", scale, "'log' (min > 0) or 'linear'")
            p = dict(min=lo, max=hi, scale=scale)
            if self.sampling == "grid":
                count = entry.get("count")
                if isinstance(count, bool) or not isinstance(count, int) or count < 2:
                    raise bad(f"params.{name}.count", count, "a whole number >= 2 (grid sampling)")
                p["count"] = count
            self.params[name] = p
        self.names = tuple(self.params)

    # ------------------------------------------------------------------

    def axis_values(self, name: str) -> np.ndarray:
        """The grid values of one parameter (grid sampling)."""
        p = self.params[name]
        if "values" in p:
            return np.asarray(p["values"])
        if p["scale"] == "log":
            return np.geomspace(p["min"], p["max"], p["count"])
        return np.linspace(p["min"], p["max"], p["count"])

    @property
    def total(self) -> int:
        """Designs in the sweep (grid: the product of the axes and counts)."""
        if self.sampling == "grid":
            return len(self.counts) * math.prod(len(self.axis_values(n)) for n in self.names)
        return self.samples

    def box(self) -> dict[str, tuple[float, float, tuple]]:
        """A search space (``optimizers._space``) spanning the sweep, for the problem."""
        out = {}
        for n, p in self.params.items():
            vals = p["values"] if "values" in p else (p["min"], p["max"])
            lo, hi = min(vals), max(vals)
            if lo == hi:
                lo, hi = lo * 0.999 if lo > 0 else lo, hi * 1.001
            out[n] = (lo, hi, ("set", tuple(sorted(set(vals)))))
        return out

    def to_dict(self) -> dict:
        return dict(
            workload=self.workload,
            base=self.base,
            accelerators=self.counts,
            sampling=self.sampling,
            samples=self.samples,
            seed=self.seed,
            chunk=self.chunk,
            params={
                n: {k: list(v) if isinstance(v, tuple) else v for k, v in p.items()}
                for n, p in self.params.items()
            },
        )


def load_space(path: str) -> SweepSpace:
    """Read and validate a space file (TOML or JSON).

    Raises:
        ValueError: a missing or unreadable file, bad syntax, or a bad field
            (each named with the file, the value and what is allowed).
    """
    from hwmodels._files import read_structured

    return SweepSpace(read_structured(path, "space file"), source=path)


def sample_chunk(space: SweepSpace, chunk_index: int) -> tuple[np.ndarray, dict, np.ndarray]:
    """The designs of one chunk: ``(index [n], values {name: [n]}, k [n])``.

    A pure function of the space and the chunk index: grid points in C order
    (counts outermost), random draws from a generator seeded by (seed, chunk),
    Sobol points from a scrambled sequence fast-forwarded to the chunk start.
    """
    start = chunk_index * space.chunk
    stop = min(start + space.chunk, space.total)
    index = np.arange(start, stop, dtype=np.int64)
    n = len(index)
    names = space.names
    if space.sampling == "grid":
        axes = [np.arange(len(space.counts))] + [space.axis_values(nm) for nm in names]
        sub = np.unravel_index(index, [len(a) for a in axes])
        k = sub[0].astype(int)
        values = {nm: np.asarray(space.axis_values(nm))[sub[i + 1]] for i, nm in enumerate(names)}
        return index, values, k
    dims = len(names) + 1
    if space.sampling == "random":
        rng = np.random.default_rng([space.seed, chunk_index])
        u = rng.uniform(size=(n, dims))
    else:
        from scipy.stats import qmc

        sob = qmc.Sobol(d=dims, scramble=True, seed=space.seed)
        if start:
            sob.fast_forward(start)
        u = sob.random(n)
    k = np.minimum((u[:, 0] * len(space.counts)).astype(int), len(space.counts) - 1)
    values = {}
    for i, nm in enumerate(names):
        p = space.params[nm]
        x = u[:, i + 1]
        if "values" in p:
            vals = np.asarray(p["values"])
            values[nm] = vals[np.minimum((x * len(vals)).astype(int), len(vals) - 1)]
        elif p["scale"] == "log":
            values[nm] = p["min"] * (p["max"] / p["min"]) ** x
        else:
            values[nm] = p["min"] + (p["max"] - p["min"]) * x
    return index, values, k


def _space_hash(space: SweepSpace, workload: str) -> str:
    text = json.dumps(
        dict(space=space.to_dict(), workload=workload, format=_FORMAT), sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _atomic_write(path: str, write) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    write(tmp)
    os.replace(tmp, path)


def _chunk_path(out: str, i: int) -> str:
    return os.path.join(out, f"chunk-{i:06d}.npz")


def _chunk_done(out: str, i: int) -> bool:
    path = _chunk_path(out, i)
    if not os.path.isfile(path):
        return False
    try:
        with np.load(path) as z:
            return "index" in z.files
    except (OSError, ValueError, EOFError):
        return False


def run_sweep(
    space: SweepSpace,
    out: str,
    *,
    workload: str | None = None,
    resume: bool = False,
    calibration=None,
    costs=None,
    progress=None,
    max_chunks: int | None = None,
) -> dict:
    """Evaluate every design of a space, streaming chunks to ``out``.

    Args:
        space: The sweep space.
        out: Output folder (created; must be empty or a resumable sweep).
        workload: Workload (default: the space's, else ``gpt3-175b``).
        resume: Continue a sweep in ``out`` (same space and workload), skipping
            finished chunks.
        calibration, costs: As ``DesignProblem``.
        progress: Optional callable ``(done_chunks, total_chunks, message)``.
        max_chunks: Stop after this many new chunks (for tests and budgets).

    Returns:
        Dict with ``out``, ``total`` designs, ``chunks``, ``computed`` and
        ``skipped`` chunk counts, ``evals_per_s`` (compile included),
        ``steady_evals_per_s`` (after the first chunk) and ``wall_s``.

    Raises:
        ValueError: ``out`` holds another sweep or unrelated files without
            ``--resume``, or a resumed sweep's space differs (named).
    """
    import jax

    from optimizers._problem import METRIC_KEYS, DesignProblem

    wl = workload or space.workload or "gpt3-175b"
    digest = _space_hash(space, wl)
    n_chunks = -(-space.total // space.chunk)
    manifest_path = os.path.join(out, _MANIFEST)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"out='{out}' is not allowed: it is a file, not a folder")
    os.makedirs(out, exist_ok=True)
    peers = jax.process_count() > 1  # other processes write the same manifest and chunks
    if os.path.exists(manifest_path):
        try:
            with open(manifest_path) as fh:
                old = json.load(fh)
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"out='{out}': its {_MANIFEST} cannot be read ({err})") from None
        if not resume and not (peers and old.get("hash") == digest):
            raise ValueError(
                f"out='{out}' already holds a sweep: pass --resume to continue it, or another folder"
            )
        if old.get("hash") != digest:
            raise ValueError(
                f"out='{out}' holds a sweep of another space or workload (hash {old.get('hash')} "
                f"!= {digest}): resume it with the same space file and workload"
            )
    elif not peers and any(not f.startswith(".") for f in os.listdir(out)):
        raise ValueError(f"out='{out}' is not allowed: the folder is not empty and holds no sweep")
    manifest = dict(
        format=_FORMAT,
        hash=digest,
        workload=wl,
        space=space.to_dict(),
        source=space.source,
        total=space.total,
        chunk=space.chunk,
        chunks=n_chunks,
        params=list(space.names),
        metrics=list(METRIC_KEYS),
    )
    _atomic_write(manifest_path, lambda p: _write_json(p, manifest))

    problem = DesignProblem(
        wl,
        base=space.base,
        counts=space.counts,
        space=space.box(),
        calibration=calibration,
        costs=costs,
    )
    missing = [c for c in space.counts if c not in problem.counts]
    if missing:
        raise ValueError(
            f"{space.source}: accelerators={missing} is not allowed: no valid strategy "
            + "; ".join(s["reason"] for s in problem.skipped)
        )
    devices = jax.local_devices()
    # exact_arrays rounds the call size up to a multiple of the device count.
    call_chunk = min(space.chunk, 8192)
    mine = [i for i in range(n_chunks) if i % jax.process_count() == jax.process_index()]
    done = [i for i in mine if _chunk_done(out, i)]
    if done and not resume and not peers:
        raise ValueError(f"out='{out}' already holds finished chunks: pass --resume")
    done_set = set(done)
    todo = [i for i in mine if i not in done_set]
    if resume and not peers:  # leftovers of a write that was killed half-way
        for f in os.listdir(out):
            if ".tmp-" in f:
                os.remove(os.path.join(out, f))
    if max_chunks is not None:
        todo = todo[:max_chunks]
    total = space.total
    left = sum(min(space.chunk, total - c * space.chunk) for c in todo)  # designs still to do
    t0 = time.perf_counter()
    evaluated = 0
    t_first, n_first = None, 0
    for j, i in enumerate(todo):
        index, values, k = sample_chunk(space, i)
        res = problem.exact_arrays(values, k, chunk=call_chunk, devices=devices)
        arrays = dict(
            index=index,
            k=k,
            accelerators=np.asarray(space.counts)[k],
            metrics=res["metrics"].astype(np.float64),
            feasible=res["feasible"],
            power_w=res["power_w"],
            **{f"param.{nm}": np.asarray(v, dtype=np.float64) for nm, v in values.items()},
            **{f"ratio.{nm}": r for nm, r in res["ratios"].items()},
        )
        _atomic_write(_chunk_path(out, i), lambda p, a=arrays: _savez(p, a))
        evaluated += len(index)
        left -= len(index)
        if t_first is None:  # the first chunk carries the compile
            t_first, n_first = time.perf_counter(), evaluated
        if progress:
            elapsed = time.perf_counter() - t0
            rate = evaluated / max(elapsed, 1e-9)
            progress(
                len(done) + j + 1,
                len(mine),
                f"{evaluated:,} designs, {rate:,.0f}/s, ETA {left / max(rate, 1e-9):.0f} s",
            )
    t_end = time.perf_counter()
    wall = t_end - t0
    steady = None
    if t_first is not None and evaluated > n_first and t_end > t_first:
        steady = (evaluated - n_first) / (t_end - t_first)
    return dict(
        out=out,
        total=space.total,
        chunks=n_chunks,
        computed=len(todo),
        skipped=len(done),
        evaluated=evaluated,
        evals_per_s=evaluated / wall if wall > 0 else None,
        steady_evals_per_s=steady,
        wall_s=wall,
        devices=len(devices),
        processes=jax.process_count(),
        hash=digest,
    )


def _write_json(path: str, obj: Any) -> None:
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=2)


def _savez(path: str, arrays: dict) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def load_sweep(out: str) -> tuple[dict, dict]:
    """The manifest and every finished chunk of a sweep, concatenated in index order."""
    manifest_path = os.path.join(out, _MANIFEST)
    if not os.path.isfile(manifest_path):
        raise ValueError(f"'{out}' holds no sweep (no {_MANIFEST})")
    with open(manifest_path) as fh:
        manifest = json.load(fh)
    parts = []
    for i in range(manifest["chunks"]):
        if _chunk_done(out, i):
            with np.load(_chunk_path(out, i)) as z:
                parts.append({k: z[k] for k in z.files})
    if not parts:
        return manifest, {}
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(data["index"], kind="stable")
    return manifest, {k: v[order] for k, v in data.items()}


def summarise_sweep(out: str, *, top: int = 10) -> dict:
    """Best designs per metric and the Pareto front (time vs total pounds) of
    what a sweep has evaluated so far."""
    from optimizers._pareto import pareto_front

    manifest, data = load_sweep(out)
    names = manifest["params"]
    metrics = manifest["metrics"]
    n = len(data.get("index", []))
    summary: dict[str, Any] = dict(
        out=out, workload=manifest["workload"], total=manifest["total"], evaluated=n
    )
    if not n:
        summary.update(feasible=0, best={}, front=[])
        return summary
    feas = data["feasible"]
    summary["feasible"] = int(feas.sum())

    def row(i):
        return dict(
            index=int(data["index"][i]),
            accelerators=int(data["accelerators"][i]),
            design={nm: float(data[f"param.{nm}"][i]) for nm in names},
            **{m: float(data["metrics"][i, j]) for j, m in enumerate(metrics)},
        )

    ids = np.flatnonzero(feas)
    summary["best"] = {
        m: [row(i) for i in ids[np.argsort(data["metrics"][ids, j], kind="stable")[:top]]]
        for j, m in enumerate(metrics)
    }
    front = []
    if len(ids):
        idx = pareto_front(data["metrics"][ids, 0], data["metrics"][ids, 1])
        front = [row(ids[i]) for i in idx]
    summary["front"] = front
    return summary
