"""Gradient search over hardware designs: relax, descend, project, polish.

The free parameters of a design (a search space, ``optimizers._space``) live
in an unconstrained space: each is ``lo * (hi / lo) ** sigmoid(z)`` (a
log-space box), so Optax (Adam with a cosine-decayed step, or any Optax
transform) moves them freely and every value stays inside its physical range.
Many starts run at once (``jax.vmap``): several random starts, several
accelerator counts, and for Pareto sweeps several scalarisation weights, all in
one compiled step. The loss of a start is its scalarised log objective
(``optimizers._objectives``) through ``hwmodels.derive`` and the smooth
strategy search, plus penalties on the smooth excess of every constraint: the
hardware's own (reticle, power density, HBM per stack, shoreline, precision
floors) and the user's (budget, power cap, time limit). Along the run the
softmin temperature of the strategy search anneals geometrically from 4x to 1x
its default, the penalty weight grows tenfold and the width of the smooth
excess over each limit shrinks from 2% to 0.1%, so the relaxed problem
tightens as it converges and its optimum can sit on an active constraint.

Then each start's design is projected to a buildable one (``project``: the
space's grids; so are its designs at every quarter of the descent and eight
randomised roundings of its final one), re-evaluated with the exact model
(the fastest strategy, not the smooth mix), and polished by a coordinate-wise
neighbourhood search on the
grid under the start's own scalarised objective. Every exactly evaluated
design is kept; the reported designs get a final exact evaluation over every
valid strategy (``DesignProblem.final``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dse._search import DEFAULT_TEMPERATURE
from dse._strategy import StrategyPins
from hwmodels import CONSTRAINTS, DesignParams, violated_constraints
from optimizers._objectives import OBJECTIVES, SCALARISATIONS, scalarise, scalarise_np
from optimizers._problem import METRIC_KEYS, DesignProblem, Limits, _whole
from optimizers._space import (
    SEARCH_SPACE,
    neighbours,
    pair_neighbours,
    project,
    random_rounding,
    to_values,
    to_z,
)

__all__ = ["OBJECTIVES", "SEARCH_SPACE", "Limits", "optimize_design", "project", "search"]

_ACTIVE_RATIO = 0.97  # a constraint at >= 97% of its limit is reported active
_HOT = 4.0  # initial softmin temperature, in multiples of the default
_PENALTY = (30.0, 300.0)  # quadratic penalty weight, first and last step
_LINEAR_PENALTY = 10.0
_CLIP = 10.0  # largest gradient norm of one start (after dropping non-finite parts)
# Width of the smooth excess over a limit (relative), first and last step: a
# narrow width at the end lets the relaxed optimum sit on an active constraint
# (a 1% width would keep it ~2% inside, biasing every constrained optimum).
_WIDTH = (0.02, 0.001)


def search(
    problem: DesignProblem,
    *,
    ks: np.ndarray,
    weights: np.ndarray,
    metric_idx: tuple[int, ...],
    scalarisation: str = "log-sum",
    steps: int = 200,
    learning_rate: float = 0.15,
    optimizer: optax.GradientTransformation | None = None,
    seed: int = 0,
    polish_rounds: int = 3,
    pair_polish: int = 0,
    roundings: int = 8,
    progress=None,
) -> dict:
    """Descend, project and polish a batch of starts of one problem.

    Args:
        problem: The compiled problem.
        ks: Count index of each start, ``[B]`` ints.
        weights: Scalarisation weights of each start, ``[B, J]``.
        metric_idx: The ``J`` metrics (indices into ``METRIC_KEYS``) scalarised.
        scalarisation: ``log-sum`` or ``chebyshev``.
        steps: Optimizer steps.
        learning_rate: Peak step of the default optimizer (Adam, cosine decay).
        optimizer: Any Optax transform (overrides the default).
        seed: Seed of the random starts.
        polish_rounds: Rounds of the neighbourhood search.
        pair_polish: After the single-step polish, this many of the best
            distinct starts (by their own scores; meaningful when every start
            has the same objective) also try steps in two parameters at once,
            until no step improves or ``polish_rounds`` rounds.
        roundings: Random roundings of each start's relaxed design evaluated
            besides its nearest buildable design (``random_rounding``); the
            best of them starts the polish.
        progress: Optional callable ``(fraction, message)``.

    Returns:
        Dict with ``evaluated`` (every exactly evaluated design: ``values``,
        ``k``, ``metrics``, ``ratios``, ``feasible``), ``chosen`` (per start,
        the key of its best projected design in ``evaluated`` or ``None``),
        ``relaxed`` (per start: smooth metrics and objective at the end),
        ``history`` (best loss per step), ``ref_log`` (``[B, J]``, per start) and
        ``utopia_log`` (``[J]``, relative to the reference), and
        evaluation counts.
    """
    if scalarisation not in SCALARISATIONS:
        raise ValueError(
            f"scalarisation={scalarisation!r} is not allowed: one of {list(SCALARISATIONS)}"
        )
    ks = np.asarray(ks, dtype=int)
    weights = np.asarray(weights, dtype=float)
    n_starts = len(ks)
    space = problem.space
    rng = np.random.default_rng(seed)
    z0 = {k: rng.normal(0.0, 1.2, size=n_starts) for k in space}
    # The first start at each count begins at the base design's own values.
    base_z = to_z({k: float(getattr(problem.d0, k)) for k in space}, space)
    for count_index in np.unique(ks):
        first = int(np.flatnonzero(ks == count_index)[0])
        for k in space:
            z0[k][first] = base_z[k]
    z0 = {k: jnp.asarray(v) for k, v in z0.items()}
    idx = jnp.asarray(metric_idx)

    # Reference point of each start: the base design's smooth metrics at the
    # start's count (the first start of each count begins there). The
    # objectives are relative to it, so a weight means the same trade-off at
    # every count; the Chebyshev utopia point is half the reference in each
    # objective.
    m_start, _ = problem.smooth(z0, ks, DEFAULT_TEMPERATURE)
    m_start = np.asarray(m_start)[:, list(metric_idx)]
    ref_log = np.zeros((n_starts, len(metric_idx)))
    for count_index in np.unique(ks):
        rows = np.flatnonzero(ks == count_index)
        ref_log[rows] = np.log(m_start[rows[0]])
    if not np.all(np.isfinite(ref_log)):
        raise ValueError(
            f"base design '{problem.d0.name}' gives no finite {[METRIC_KEYS[i] for i in metric_idx]} "
            "at some count: pick a base design that runs the workload"
        )
    utopia_log = np.full(len(metric_idx), -math.log(2.0))

    # Each start's gradient is cleaned and clipped on its own (below), so one
    # start in a hopeless region never slows or poisons the others.
    opt = optimizer or optax.adam(
        optax.cosine_decay_schedule(learning_rate, max(steps, 1), alpha=0.2)
    )
    cands, logp = problem.cands, problem.logp
    utopia_j = jnp.asarray(utopia_log)

    def loss(z, k, w, ref, temperature, penalty, width):
        values = to_values(z, space)
        cands_k = jax.tree_util.tree_map(lambda x: x[k], cands)
        m, ratios = problem._smooth_one(values, k, cands_k, logp[k], temperature)
        log_f = jnp.log(m[idx]) - ref
        s = scalarise(scalarisation, log_f, w, utopia_j)
        excess = sum(jax.nn.softplus((r - 1.0) / width) * width for r in ratios.values())
        return s + penalty * excess**2 + _LINEAR_PENALTY * excess

    grad_fn = jax.value_and_grad(loss)

    @jax.jit
    def step(z, state, k, w, ref, temperature, penalty, width):
        values, grads = jax.vmap(grad_fn, in_axes=(0, 0, 0, 0, None, None, None))(
            z, k, w, ref, temperature, penalty, width
        )
        grads = jax.tree_util.tree_map(lambda g: jnp.where(jnp.isfinite(g), g, 0.0), grads)
        norm = jnp.sqrt(sum(g**2 for g in jax.tree_util.tree_leaves(grads)))  # [B]
        scale = jnp.minimum(1.0, _CLIP / jnp.maximum(norm, 1e-30))
        grads = jax.tree_util.tree_map(lambda g: g * scale, grads)
        updates, state = opt.update(grads, state, z)
        return optax.apply_updates(z, updates), state, values

    k_j, w_j, ref_j = jnp.asarray(ks), jnp.asarray(weights), jnp.asarray(ref_log)
    devices = jax.local_devices()
    if len(devices) > 1 and n_starts % len(devices) == 0:
        # Starts sharded over the local devices (one "batch" mesh axis).
        from jax.sharding import Mesh, NamedSharding
        from jax.sharding import PartitionSpec as P

        shard = NamedSharding(Mesh(np.asarray(devices), ("batch",)), P("batch"))
        z0, k_j, w_j, ref_j = jax.device_put((z0, k_j, w_j, ref_j), shard)
    z, state = z0, opt.init(z0)
    history = []
    t0 = time.perf_counter()
    project_every = max(steps // 4, 1)
    periodic: list[list[dict]] = [[] for _ in range(n_starts)]
    for s in range(steps):
        frac = s / max(steps - 1, 1)
        temperature = DEFAULT_TEMPERATURE * _HOT ** (1.0 - frac)
        penalty = _PENALTY[0] * (_PENALTY[1] / _PENALTY[0]) ** frac
        width = _WIDTH[0] * (_WIDTH[1] / _WIDTH[0]) ** frac
        z, state, values = step(z, state, k_j, w_j, ref_j, temperature, penalty, width)
        if (s + 1) % project_every == 0 and s + 1 < steps:
            # Periodic projection: every start's design on the way is a
            # buildable candidate too (evaluated exactly with the others).
            now = {k: np.asarray(v) for k, v in to_values(z, space).items()}
            for b in range(n_starts):
                v = {k: float(now[k][b]) for k in space}
                if all(math.isfinite(x) for x in v.values()):
                    periodic[b].append(project(v, space))
        values = np.asarray(values)
        history.append(float(np.nanmin(values)) if np.any(np.isfinite(values)) else math.nan)
        if progress and ((s + 1) % 10 == 0 or s + 1 == steps):
            progress(
                0.8 * (s + 1) / steps,
                f"step {s + 1}/{steps}: best loss {history[-1]:.4f} "
                f"({time.perf_counter() - t0:.0f} s, {n_starts} starts)",
            )

    # Relaxed optimum per start, at the default (cold) temperature.
    m_rel, ratios_rel = problem.smooth(z, ks, DEFAULT_TEMPERATURE)
    m_rel = np.asarray(m_rel)
    rel_ok = np.ones(n_starts, dtype=bool)
    for r in ratios_rel.values():
        rel_ok &= np.asarray(r) <= 1.0 + 1e-3
    rel_values = {k: np.asarray(v) for k, v in to_values(z, space).items()}
    relaxed = []
    for b in range(n_starts):
        log_f = np.log(m_rel[b, list(metric_idx)]) - ref_log[b]
        relaxed.append(
            dict(
                metrics=dict(zip(METRIC_KEYS, (float(x) for x in m_rel[b]), strict=True)),
                objective=scalarise_np(scalarisation, log_f, weights[b], utopia_log),
                feasible=bool(rel_ok[b]),
                values={k: float(rel_values[k][b]) for k in space},
            )
        )

    # Exact evaluation of projected designs, then the neighbourhood polish.
    evaluated: dict[tuple, dict] = {}

    def key_of(values, k):
        return (int(k),) + tuple(float(values[p]) for p in space)

    def evaluate_all(pairs):
        todo = []
        for values, k in pairs:
            key = key_of(values, k)
            if key not in evaluated and key not in {key_of(v, kk) for v, kk in todo}:
                todo.append((values, k))
        if todo:
            results = problem.exact([v for v, _ in todo], [k for _, k in todo])
            for (values, k), r in zip(todo, results, strict=True):
                r.update(values=dict(values), k=int(k))
                evaluated[key_of(values, k)] = r

    def score(key, b):
        r = evaluated[key]
        if not r["feasible"]:
            return math.inf
        log_f = np.log([r["metrics"][METRIC_KEYS[i]] for i in metric_idx]) - ref_log[b]
        return scalarise_np(scalarisation, log_f, weights[b], utopia_log)

    current = [project(relaxed[b]["values"], space) for b in range(n_starts)]
    # The buildable base design at every count is evaluated too, so a result
    # is never worse than the design the search started from.
    base_values = project({k: float(getattr(problem.d0, k)) for k in space}, space)
    evaluate_all(
        [(current[b], ks[b]) for b in range(n_starts)] + [(base_values, k) for k in np.unique(ks)]
    )
    round_rng = np.random.default_rng(seed + 104729)
    rounded = [
        random_rounding(relaxed[b]["values"], space, round_rng, roundings) for b in range(n_starts)
    ]
    evaluate_all([(v, ks[b]) for b in range(n_starts) for v in rounded[b] + periodic[b]])
    chosen, best_score = [], []
    for b in range(n_starts):
        keys = [key_of(current[b], ks[b])] + [key_of(v, ks[b]) for v in rounded[b] + periodic[b]]
        scores = [score(key, b) for key in keys]
        j = int(np.argmin(scores))
        chosen.append(keys[j])
        best_score.append(scores[j])
    for r in range(polish_rounds):
        pairs = []
        for b in range(n_starts):
            values = evaluated[chosen[b]]["values"]
            pairs.extend((nb, ks[b]) for nb in neighbours(values, space))
        evaluate_all(pairs)
        improved = 0
        for b in range(n_starts):
            values = evaluated[chosen[b]]["values"]
            for nb in neighbours(values, space):
                key = key_of(nb, ks[b])
                sc = score(key, b)
                if sc < best_score[b] - 1e-12:
                    chosen[b], best_score[b] = key, sc
                    improved += 1
        if progress:
            progress(
                0.8 + 0.15 * (r + 1) / polish_rounds,
                f"polish round {r + 1}: {improved} starts improved ({len(evaluated)} exact evaluations)",
            )
        if not improved:
            break
    # Two-parameter steps for the best few starts.
    order = sorted(range(n_starts), key=lambda b: best_score[b])
    leaders = []
    for b in order:
        if len(leaders) >= pair_polish or not math.isfinite(best_score[b]):
            break
        if chosen[b] not in {chosen[x] for x in leaders}:
            leaders.append(b)
    for r in range(polish_rounds if leaders else 0):
        moves = {
            b: neighbours(evaluated[chosen[b]]["values"], space)
            + pair_neighbours(evaluated[chosen[b]]["values"], space)
            for b in leaders
        }
        evaluate_all([(nb, ks[b]) for b in leaders for nb in moves[b]])
        improved = 0
        for b in leaders:
            for nb in moves[b]:
                key = key_of(nb, ks[b])
                sc = score(key, b)
                if sc < best_score[b] - 1e-12:
                    chosen[b], best_score[b] = key, sc
                    improved += 1
        if progress:
            progress(
                0.95,
                f"pair polish round {r + 1}: {improved} moves ({len(evaluated)} exact evaluations)",
            )
        if not improved:
            break
    return dict(
        evaluated=evaluated,
        chosen=[c if math.isfinite(s) else None for c, s in zip(chosen, best_score, strict=True)],
        scores=best_score,
        relaxed=relaxed,
        history=history,
        ref_log=ref_log,
        utopia_log=utopia_log,
        gradient_evaluations=steps * n_starts,
        exact_evaluations=len(evaluated),
    )


def _counts_arg(accelerators) -> list[int]:
    if isinstance(accelerators, int | np.integer) and not isinstance(accelerators, bool):
        return [int(accelerators)]
    try:
        counts = list(accelerators)
    except TypeError:
        counts = [accelerators]
    for c in counts:
        _whole("accelerators", c, 1)
    if not counts:
        raise ValueError("accelerators=[] is not allowed: at least one accelerator count")
    return [int(c) for c in counts]


def best_dict(problem: DesignProblem, final: dict) -> dict:
    """Plain-number summary of a finally evaluated design (JSON-ready)."""
    report = final["report"]
    active = sorted(k for k, r in final["ratios"].items() if r >= _ACTIVE_RATIO)
    return dict(
        design={k: final["values"][k] for k in problem.space},
        accelerators=final["accelerators"],
        time_to_train_s=final["time_to_train_s"],
        total_gbp=final["total_gbp"],
        run_cost_gbp=final["run_cost_gbp"],
        energy_j=final["energy_j"],
        capital_gbp=final["capital_gbp"],
        operating_gbp=final["operating_gbp"],
        mfu=final["mfu"],
        power_w=final["power_w"],
        peak_bf16_flops_per_s=report["peak_bf16_flops_per_s"],
        die_area_mm2=report["die_area_mm2"],
        accelerator_power_w=report["power_w"],
        capital_gbp_per_accelerator=report["capital_gbp_per_accelerator"],
        strategy=final["strategy"],
        feasible=bool(final["feasible"]),
        active_constraints=active,
        constraint_ratios=final["ratios"],
        constraint_meaning={k: CONSTRAINTS.get(k, k) for k in active},
    )


def optimize_design(
    workload,
    *,
    base: str | DesignParams = "h100-like",
    accelerators: int | list[int] = 512,
    objective: str = "time",
    limits: Limits | None = None,
    pins: StrategyPins | None = None,
    calibration=None,
    costs=None,
    space: dict | None = None,
    starts: int = 8,
    steps: int = 200,
    learning_rate: float = 0.15,
    optimizer: optax.GradientTransformation | None = None,
    seed: int = 0,
    polish_rounds: int = 8,
    pair_polish: int = 2,
    keep: int = 48,
    robust: tuple[float, int, int] | None = None,
    progress=None,
    problem: DesignProblem | None = None,
) -> dict:
    """Search the free parameters of a design for the best buildable design.

    Args:
        workload: Workload name or object.
        base: The design whose other parameters (array shape, node, precision,
            scale-up domain, server size) stay fixed; name, file or object.
        accelerators: Accelerator count, or a list of counts to choose from
            (every count gets ``starts`` starts).
        objective: ``time``, ``cost`` (total pounds), ``run-cost`` (pounds of
            one run) or ``energy`` (of one run).
        limits: Budget, time and power constraints (``Limits``).
        pins: Strategy pins (default: the global batch is searched too).
        calibration: ``Calibration``, a file, or ``None`` (the shipped fit).
        costs: ARIA cost constants.
        space: Search space (default ``SEARCH_SPACE``).
        starts: Random starts per count, run at once (vmapped).
        steps: Optimizer steps.
        learning_rate: Peak Adam step in the unconstrained space.
        optimizer: Any Optax transform instead of the default Adam.
        seed: Random seed of the starts.
        polish_rounds: Rounds of the discrete neighbourhood search.
        pair_polish: Best starts that also try two-parameter steps.
        keep: Strategies kept per reference design (``DesignProblem``).
        robust: ``(percentile, samples, seed)``: minimise the objective's
            percentile over technologies drawn within the technology table's
            ranges, with every constraint held at that percentile
            (``DesignProblem``); the report's ``best`` carries the nominal
            metrics and ``robust`` the percentile value.
        progress: Optional callable ``(fraction, message)``.
        problem: A prebuilt ``DesignProblem`` (then workload, base,
            accelerators, limits, pins, calibration, costs, space and keep are
            taken from it).

    Returns:
        Dict with ``best`` (the design's free parameters, accelerator count,
        exact metrics over every strategy, strategy, feasibility and the
        constraints active at it), ``relaxed`` (the best relaxed objective and
        its parameters), ``gap`` (relative gap of the projected to the relaxed
        objective), ``history`` (best loss per step), ``evaluations`` (exact
        model evaluations), ``gradient_evaluations`` (value-and-gradient
        evaluations) and ``skipped`` counts.

    Raises:
        ValueError: bad objective, limits, space or counts (named).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective={objective!r} is not allowed: one of {list(OBJECTIVES)}")
    _whole("starts", starts, 1)
    _whole("steps", steps, 2)
    if problem is None:
        problem = DesignProblem(
            workload,
            base=base,
            counts=_counts_arg(accelerators),
            space=space,
            limits=limits,
            pins=pins,
            calibration=calibration,
            costs=costs,
            keep=keep,
            seed=seed,
            robust=robust,
        )
    k_obj = METRIC_KEYS.index(OBJECTIVES[objective])
    n_counts = len(problem.counts)
    ks = np.repeat(np.arange(n_counts), starts)
    weights = np.ones((len(ks), 1))
    run = search(
        problem,
        ks=ks,
        weights=weights,
        metric_idx=(k_obj,),
        steps=steps,
        learning_rate=learning_rate,
        optimizer=optimizer,
        seed=seed,
        polish_rounds=polish_rounds,
        pair_polish=pair_polish,
        progress=progress,
    )
    metric = METRIC_KEYS[k_obj]
    feasible = [r for r in run["evaluated"].values() if r["feasible"]]
    feasible.sort(key=lambda r: r["metrics"][metric])
    # Final exact evaluation (every strategy) of the three best candidates.
    finals = problem.final([r["values"] for r in feasible[:3]], [r["k"] for r in feasible[:3]])
    for f, r in zip(finals, feasible[:3], strict=True):
        f["values"] = r["values"]
        f["exact_metrics"] = r["metrics"]  # the candidate's own count's exact metrics
    finals = [f for f in finals if f["feasible"]]
    rel_ok = [r for r in run["relaxed"] if r["feasible"]] or run["relaxed"]
    rel = min(rel_ok, key=lambda r: r["metrics"][metric])
    out: dict[str, Any] = dict(
        workload=problem.wl.name,
        base_design=problem.d0.name,
        accelerators=problem.counts[0] if n_counts == 1 else list(problem.counts),
        objective=objective,
        objective_metric=metric,
        limits=dict(
            max_gbp=problem.limits.max_gbp,
            max_time_to_train_s=problem.limits.max_time_to_train_s,
            max_power_w=problem.limits.max_power_w,
        ),
        relaxed=dict(
            objective=rel["metrics"][metric],
            feasible=rel["feasible"],
            values=rel["values"],
            metrics=rel["metrics"],
        ),
        history=run["history"],
        evaluations=run["exact_evaluations"] + len(feasible[:3]),
        gradient_evaluations=run["gradient_evaluations"],
        starts=starts,
        steps=steps,
        skipped=problem.skipped,
        strategies_searched=[len(c) for c in problem.pruned_candidates],
    )
    if not finals:
        out.update(best=None, gap=None, reason="no projected design is feasible")
        return out
    if problem.robust:
        # Ranked by the percentile (the exact evaluation over the samples).
        final = finals[0]
        robust_value = final["exact_metrics"][metric]
    else:
        final = min(finals, key=lambda f: f[metric])
    out["best"] = best_dict(problem, final)
    if problem.robust:
        q, n_samples, r_seed = problem.robust
        out["robust"] = dict(
            percentile=q, samples=n_samples, seed=r_seed, metric=metric, value=robust_value
        )
    out["gap"] = (robust_value if problem.robust else final[metric]) / rel["metrics"][metric] - 1.0
    out["violated_constraints"] = violated_constraints(final["report"])
    return out
