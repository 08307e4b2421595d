"""One design-search problem, compiled once: smooth, exact and final evaluation.

A ``DesignProblem`` fixes a workload, a base design (every parameter outside
the search space), one or more accelerator counts, constraints, calibration
and costs. It offers three evaluations of batches of designs, each a single
``jit``-compiled, ``vmap``-ped function:

* ``smooth``: design -> smooth metrics and constraint ratios (the relaxation
  the gradient search descends: the softmin over strategies at a temperature);
* ``exact``: design -> the exact model over the problem's strategy set
  (the fastest memory-feasible strategy, ``argmin``), for projection and polish;
* ``final``: designs -> the exact model over *every* valid strategy, as
  ``dse evaluate`` would report it.

The strategy set of the first two is pruned for speed (two-stage search, as
``dse._search.prune_candidates``): for each count, the union of the ``keep``
fastest memory-feasible strategies on several reference designs (the base and
random designs in the search box). Designs on the reported front or at the
reported optimum always get the ``final`` evaluation over every strategy.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from dse._api import candidates_for, resolve_precision, resolve_workload, result_dict
from dse._batch import stack_problems
from dse._calibration import Calibration, load_calibration
from dse._cost import CostModel, check_cost_model
from dse._model import simulate
from dse._search import search_strategies
from dse._strategy import StrategyPins, stack_strategies
from hwmodels import DesignParams, check_design, derive, derive_checked, get_design, technology
from optimizers._objectives import METRICS
from optimizers._space import SEARCH_SPACE, check_space, to_values

__all__ = ["DesignProblem", "METRIC_KEYS", "Limits", "limit_ratios", "check_limits"]

METRIC_KEYS = METRICS  # column order of every metrics array
_PAD_LOG_PRIOR = -1.0e4  # padding strategies: no weight in the softmin
_EXACT_CHUNK = 256  # exact evaluations per compiled call (batches padded to it)


@dataclasses.dataclass(frozen=True)
class Limits:
    """User constraints (``None``: none)."""

    max_gbp: float | None = None
    max_time_to_train_s: float | None = None
    max_power_w: float | None = None


def check_limits(limits: Limits) -> None:
    for name in ("max_gbp", "max_time_to_train_s", "max_power_w"):
        v = getattr(limits, name)
        if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name}={v!r} is not allowed: a positive number (or none)")


def limit_ratios(limits: Limits, total_gbp, time_to_train_s, power_w) -> dict:
    """Each user limit as value / limit (feasible when <= 1); traced or plain."""
    ratios = {}
    if limits.max_gbp is not None:
        ratios["budget"] = total_gbp / limits.max_gbp
    if limits.max_time_to_train_s is not None:
        ratios["time_to_train"] = time_to_train_s / limits.max_time_to_train_s
    if limits.max_power_w is not None:
        ratios["power"] = power_w / limits.max_power_w
    return ratios


def _whole(name, v, lo):
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
        raise ValueError(f"{name}={v!r} is not allowed: a whole number >= {lo}")
    return int(v)


class DesignProblem:
    """A workload, a base design, accelerator counts and constraints, compiled.

    Args:
        workload: Workload name or object.
        base: The design whose parameters outside ``space`` stay fixed (name,
            file or ``DesignParams``).
        counts: Accelerator counts (each a whole multiple of the server size;
            counts with no valid strategy are dropped and listed in
            ``skipped``).
        space: Search space (see ``optimizers._space``); default ``SEARCH_SPACE``.
        limits: User constraints.
        pins: Strategy pins.
        calibration: ``Calibration``, file, or ``None`` (the shipped fit).
        costs: ARIA cost constants.
        keep: Strategies kept per reference design in the pruned set.
        references: Reference designs used for pruning (base + random).
        seed: Seed of the random reference designs.
        robust: ``(percentile, samples, seed)``: every metric and constraint
            ratio of the smooth and exact evaluations becomes its
            ``percentile`` over ``samples`` technologies drawn within the
            technology table's ranges (``dse._uncertainty.sample_technology``);
            ``None``: the nominal technology.

    Raises:
        ValueError: bad counts, space, limits (named), or no count with a
            valid strategy.
    """

    def __init__(
        self,
        workload,
        *,
        base: str | DesignParams = "h100-like",
        counts=(512,),
        space=None,
        limits: Limits | None = None,
        pins: StrategyPins | None = None,
        calibration: Calibration | str | None = None,
        costs: CostModel | None = None,
        keep: int = 48,
        references: int = 6,
        seed: int = 0,
        robust: tuple[float, int, int] | None = None,
    ):
        self.wl = resolve_workload(workload)
        space = check_space(SEARCH_SPACE if space is None else space)
        self.limits = limits or Limits()
        check_limits(self.limits)
        self.pins = pins or StrategyPins()
        self.cal = (
            calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
        )
        self.costs = check_cost_model(costs or CostModel())
        keep = _whole("keep", keep, 1)
        references = _whole("references", references, 1)
        d0 = base if isinstance(base, DesignParams) else get_design(base)
        check_design(d0)
        self.d0 = d0
        # A compute block sets the arrays' clock and datapath: searching them
        # would change nothing (``hwmodels.compose``), so they leave the space.
        self.fixed_by_block = []
        if dict(d0.blocks).get("compute") is not None:
            self.fixed_by_block = [k for k in ("clock_hz", "datapath_bits") if k in space]
            space = {k: v for k, v in space.items() if k not in self.fixed_by_block}
            if not space:
                raise ValueError(
                    f"search space: only {self.fixed_by_block}, which the compute block of "
                    f"'{d0.name}' sets; give other free parameters"
                )
        self.space = space
        self.tech = technology(d0.process_node)
        self.robust = None
        self.techs = None
        if robust is not None:
            q, n_samples, r_seed = robust
            if not (isinstance(q, int | float) and 0 < q < 100):
                raise ValueError(f"robust percentile={q!r} is not allowed: a number in (0, 100)")
            from dse._uncertainty import sample_technology

            self.techs, _ = sample_technology(d0.process_node, n_samples, r_seed)
            self.robust = (float(q), int(n_samples), int(r_seed))
        aps = float(d0.accelerators_per_server)
        counts = [_whole("accelerators", c, 1) for c in counts]
        if not counts:
            raise ValueError("accelerators: give at least one accelerator count")
        for c in counts:
            if c % int(aps):
                raise ValueError(
                    f"accelerators={c} is not allowed: a whole number of {int(aps)}-accelerator "
                    f"servers (base design '{d0.name}')"
                )
        spec0, _ = derive_checked(d0, self.tech)
        self.precision = resolve_precision(spec0, spec0, self.pins.precision, self.wl)
        self.counts: list[int] = []
        self.full_candidates: list[list[dict]] = []
        self.skipped: list[dict] = []
        for c in sorted(set(counts)):
            try:
                cands = candidates_for(self.wl, spec0, c, self.precision, self.pins)
            except ValueError as err:
                self.skipped.append(dict(accelerators=c, reason=str(err)))
                continue
            self.counts.append(c)
            self.full_candidates.append(cands)
        if not self.counts:
            raise ValueError(
                "accelerators: no count has a valid strategy: "
                + "; ".join(f"{s['accelerators']}: {s['reason']}" for s in self.skipped)
            )
        self._servers = np.asarray([c / aps for c in self.counts])
        self._build_jits()
        self._prune(keep, references, seed)

    # ------------------------------------------------------------------
    # traced pieces
    # ------------------------------------------------------------------

    def design(self, values: dict, k) -> DesignParams:
        """The design with ``values`` for the free fields and count index ``k``."""
        return dataclasses.replace(self.d0, servers=jnp.asarray(self._servers)[k], **values)

    def _derive(self, values, k):
        return derive(self.design(values, k), self.tech)

    def _ratios(self, report, total_gbp, time_s, k, spec):
        power = spec.server_power_w * jnp.asarray(self._servers)[k]
        ratios = dict(report["constraints"])
        ratios.update(limit_ratios(self.limits, total_gbp, time_s, power))
        return ratios, power

    def _robust(self, one, values, k, *args):
        """``one`` (a per-technology evaluation) at every sampled technology,
        each output reduced to its ``robust`` percentile (the nominal
        technology when not robust)."""
        if self.techs is None:
            return one(values, k, self.tech, *args)
        outs = jax.vmap(lambda t: one(values, k, t, *args))(self.techs)
        q = self.robust[0]
        return jax.tree_util.tree_map(lambda x: jnp.percentile(x, q, axis=0), outs)

    def _smooth_one(self, values, k, cands, logp, temperature):
        return self._robust(self._smooth_tech, values, k, cands, logp, temperature)

    def _exact_one(self, values, k, cands, logp):
        if self.techs is None:
            return self._exact_tech(values, k, self.tech, cands, logp)
        m, ratios, fits, power = jax.vmap(lambda t: self._exact_tech(values, k, t, cands, logp))(
            self.techs
        )
        q = self.robust[0]
        pct = lambda x, q=q: jnp.percentile(x, q, axis=0)  # noqa: E731
        # Metrics and ratios grow worse upwards; "fits" (1 = fits) downwards.
        return (
            pct(m),
            {name: pct(r) for name, r in ratios.items()},
            jnp.percentile(fits, 100.0 - q),
            pct(power),
        )

    def _smooth_tech(self, values, k, tech, cands, logp, temperature):
        spec, report = derive(self.design(values, k), tech)
        r = search_strategies(
            spec,
            self.wl,
            cands,
            self.cal,
            self.costs,
            temperature=temperature,
            candidate_log_prior=logp,
        )
        m = jnp.stack([r.time_to_train_s, r.total_gbp, r.run_cost_gbp, r.energy_j])
        ratios, _ = self._ratios(report, r.total_gbp, r.time_to_train_s, k, spec)
        return m, ratios

    def _exact_tech(self, values, k, tech, cands, logp):
        spec, report = derive(self.design(values, k), tech)
        r = search_strategies(spec, self.wl, cands, self.cal, self.costs, candidate_log_prior=logp)
        b = r.best
        m = jnp.stack([b.time_to_train_s, b.cost.total_gbp, b.cost.run_cost_gbp, b.cost.energy_j])
        ratios, power = self._ratios(report, b.cost.total_gbp, b.time_to_train_s, k, spec)
        fits = r.any_feasible * (b.feasible > 0.5)
        return m, ratios, fits, power

    def _build_jits(self):
        def smooth(z, k, cands, logp, temperature):
            values = to_values(z, self.space)
            return jax.vmap(
                lambda v, kk: self._smooth_one(
                    v, kk, jax.tree_util.tree_map(lambda x: x[kk], cands), logp[kk], temperature
                )
            )(values, k)

        def exact(values, k, cands, logp):
            return jax.vmap(
                lambda v, kk: self._exact_one(
                    v, kk, jax.tree_util.tree_map(lambda x: x[kk], cands), logp[kk]
                )
            )(values, k)

        self.smooth_z = jax.jit(smooth)
        self._exact = jax.jit(exact)

        def reference_times(values, k, cands):
            spec, _ = self._derive(values, k)
            runs = jax.vmap(simulate, in_axes=(None, None, 0, None, None))(
                spec, self.wl, cands, self.cal, self.costs
            )
            return jnp.where(runs.feasible > 0.5, runs.time_to_train_s, jnp.inf)

        self._reference_times = jax.jit(jax.vmap(reference_times, in_axes=(0, None, None)))

    # ------------------------------------------------------------------
    # pruning
    # ------------------------------------------------------------------

    def _prune(self, keep: int, references: int, seed: int):
        rng = np.random.default_rng(seed + 7919)
        refs = [{k: float(getattr(self.d0, k)) for k in self.space}]
        for _ in range(references - 1):
            refs.append(
                {k: lo * (hi / lo) ** float(rng.uniform()) for k, (lo, hi, _) in self.space.items()}
            )
        for r in refs:  # the base design's own value may lie outside the box
            for k, (lo, hi, _) in self.space.items():
                r[k] = min(max(r[k], lo), hi)
        ref_values = {k: jnp.asarray([r[k] for r in refs]) for k in self.space}
        width = max(len(c) for c in self.full_candidates)
        kept: list[list[dict]] = []
        for i, cands in enumerate(self.full_candidates):
            padded = stack_strategies(cands + [cands[0]] * (width - len(cands)))
            t = np.asarray(self._reference_times(ref_values, i, padded))[:, : len(cands)]
            chosen: list[int] = []
            for row in t:
                order = np.argsort(row, kind="stable")[:keep]
                chosen.extend(int(j) for j in order if np.isfinite(row[j]))
            chosen = sorted(set(chosen)) or list(range(min(keep, len(cands))))
            kept.append([cands[j] for j in chosen])
        self.pruned_candidates = kept
        s = max(len(c) for c in kept)
        self.cands = stack_strategies([c for cs in kept for c in cs + [cs[0]] * (s - len(cs))])
        self.cands = jax.tree_util.tree_map(
            lambda x: jnp.asarray(x).reshape(len(kept), s), self.cands
        )
        self.logp = jnp.asarray([[0.0] * len(cs) + [_PAD_LOG_PRIOR] * (s - len(cs)) for cs in kept])

    # ------------------------------------------------------------------
    # batch evaluations (host side)
    # ------------------------------------------------------------------

    def smooth(self, z: dict, k, temperature: float):
        """Smooth metrics ``[B, 4]`` and constraint ratios ``{name: [B]}``."""
        return self.smooth_z(z, jnp.asarray(k), self.cands, self.logp, temperature)

    def _placement(self, devices):
        """Shardings that split the batch over ``devices`` and replicate the
        strategy tables (cached per device set)."""
        key = tuple(d.id for d in devices)
        if getattr(self, "_placed_key", None) != key:
            from jax.sharding import Mesh, NamedSharding
            from jax.sharding import PartitionSpec as P

            mesh = Mesh(np.asarray(devices), ("batch",))
            batch, replicated = NamedSharding(mesh, P("batch")), NamedSharding(mesh, P())
            self._placed = (
                batch,
                jax.device_put(self.cands, replicated),
                jax.device_put(self.logp, replicated),
            )
            self._placed_key = key
        return self._placed

    def exact_arrays(self, values: dict, ks, *, chunk: int = _EXACT_CHUNK, devices=None) -> dict:
        """Exact evaluation (pruned strategy set) of a batch given as arrays.

        Args:
            values: Free field -> ``[N]`` values.
            ks: Count index per design, ``[N]``.
            chunk: Designs per compiled call (the batch is padded to it).
            devices: JAX devices to shard each call's batch over (a ``Mesh``
                with one ``batch`` axis; the strategy tables are replicated);
                ``None`` or one device: no sharding. ``chunk`` is rounded up
                to a multiple of their number.

        Returns:
            Dict of NumPy arrays: ``metrics`` ``[N, 4]`` (``METRIC_KEYS``),
            ``ratios`` (name -> ``[N]``), ``feasible`` ``[N]`` bool (memory
            fits, every ratio <= 1, finite metrics), ``power_w`` ``[N]``.
        """
        ks = np.asarray(ks, dtype=int).reshape(-1)
        n = len(ks)
        cands, logp, shard = self.cands, self.logp, None
        if devices is not None and len(devices) > 1:
            chunk = -(-chunk // len(devices)) * len(devices)
            shard, cands, logp = self._placement(list(devices))
        parts = []
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            pad = chunk - (stop - start)
            batch = {
                k: jnp.asarray(
                    np.pad(np.asarray(v[start:stop], dtype=float), (0, pad), mode="edge")
                )
                for k, v in values.items()
            }
            kk = jnp.asarray(np.pad(ks[start:stop], (0, pad), mode="edge"))
            if shard is not None:
                batch, kk = jax.device_put((batch, kk), shard)
            m, ratios, fits, power = self._exact(batch, kk, cands, logp)
            cut = stop - start
            parts.append(
                (
                    np.asarray(m)[:cut],
                    {k: np.asarray(r)[:cut] for k, r in ratios.items()},
                    np.asarray(fits)[:cut],
                    np.asarray(power)[:cut],
                )
            )
        m = np.concatenate([p[0] for p in parts])
        ratios = {k: np.concatenate([p[1][k] for p in parts]) for k in parts[0][1]}
        feasible = np.concatenate([p[2] for p in parts]) > 0.5
        for r in ratios.values():
            feasible &= r <= 1.0
        feasible &= np.all(np.isfinite(m), axis=1)
        return dict(
            metrics=m,
            ratios=ratios,
            feasible=feasible,
            power_w=np.concatenate([p[3] for p in parts]),
        )

    def exact(self, values_list: list[dict], ks: list[int]) -> list[dict]:
        """Exact evaluation (pruned strategy set) of designs with count indices.

        Returns:
            One dict per design: ``metrics`` (``METRIC_KEYS`` -> value),
            ``ratios``, ``feasible`` (memory fits and every ratio <= 1),
            ``power_w``.
        """
        if not values_list:
            return []
        devices = jax.local_devices()
        a = self.exact_arrays(
            {k: [v[k] for v in values_list] for k in self.space},
            ks,
            devices=devices if len(devices) > 1 else None,
        )
        return [
            dict(
                metrics=dict(zip(METRIC_KEYS, (float(x) for x in a["metrics"][i]), strict=True)),
                ratios={k: float(r[i]) for k, r in a["ratios"].items()},
                feasible=bool(a["feasible"][i]),
                power_w=float(a["power_w"][i]),
            )
            for i in range(len(values_list))
        ]

    def final(self, values_list: list[dict], ks: list[int]) -> list[dict]:
        """Exact evaluation over every valid strategy, as ``dse evaluate`` reports.

        Returns:
            One dict per design: the ``evaluate`` result dict plus ``report``
            (the ``derive`` report), ``ratios``, ``feasible``, ``power_w``,
            ``violated``.
        """
        if not values_list:
            return []
        specs, reports, cand_lists = [], [], []
        for v, k in zip(values_list, ks, strict=True):
            d = dataclasses.replace(self.d0, servers=float(self._servers[k]), **v)
            spec, report = derive_checked(d, self.tech)
            specs.append(spec)
            reports.append(report)
            cand_lists.append(self.full_candidates[k])
        n = len(specs)
        pad = (-n) % 8  # batch sizes in eights: fewer compiles
        systems, strategies = stack_problems(
            specs + [specs[0]] * pad, cand_lists + [cand_lists[0]] * pad
        )
        from dse._batch import _search_vmapped

        res = _search_vmapped(systems, self.wl, strategies, self.cal, self.costs)
        res = jax.tree_util.tree_map(np.asarray, res)
        out = []
        for i in range(n):
            row = jax.tree_util.tree_map(lambda x, i=i: x[i], res)
            batch = jax.tree_util.tree_map(lambda x, i=i: x[i], strategies)
            d = result_dict(row, batch, self.wl, specs[i], self.costs)
            power = float(specs[i].server_power_w) * float(self._servers[ks[i]])
            ratios = dict(reports[i]["constraints"])
            ratios.update(limit_ratios(self.limits, d["total_gbp"], d["time_to_train_s"], power))
            violated = sorted(k for k, r in ratios.items() if r > 1.0)
            d.update(
                report=reports[i],
                ratios=ratios,
                power_w=power,
                violated=violated,
                accelerators=self.counts[ks[i]],
                feasible=bool(d["feasible"]) and not violated,
            )
            out.append(d)
        return out
