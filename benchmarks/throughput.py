"""Throughput of the model: full evaluations and gradients per second on a design batch.

A batch of 10,000 GPT-3 175B systems (every continuous field of the h100-sxm
preset scaled by an independent log-uniform factor in [0.5, 2]) at 512
accelerators and global batch 2048. Each evaluation is the whole model: every
candidate strategy simulated (compute, memory, collectives, bubble, memory
footprint, convergence, evaluation, pounds), then the exact best and the smooth
softmin objective. Strategies: the valid set is enumerated once, then pruned to
the ``--keep`` fastest feasible on the nominal system (two-stage search;
``--keep 0`` searches the whole valid set). Compile time is excluded from the
rates and reported as ``compile_s``.

    python benchmarks/throughput.py [--json] [--designs 10000] [--keep 32]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from dse import CostModel, StrategyPins, enumerate_strategies, load_calibration, stack_strategies
from dse._calibration import apply_calibration
from dse._search import prune_candidates, search_strategies
from hwmodels import SYSTEM_FIELDS, SystemSpec, get_system
from workloads import get_workload


def make_designs(n: int, seed: int = 0) -> SystemSpec:
    base = get_system("h100-sxm")
    rng = np.random.default_rng(seed)
    values = {}
    for f in SYSTEM_FIELDS:
        x = float(getattr(base, f))
        if f in ("scaleup_domain_size", "accelerators_per_server"):
            values[f] = np.full(n, x, dtype=np.float32)
        else:
            values[f] = (x * np.exp(rng.uniform(np.log(0.5), np.log(2.0), n))).astype(np.float32)
    return SystemSpec(name="designs", **values)


def timed(fn, *args, repeats: int = 5) -> float:
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--designs", type=int, default=10_000)
    parser.add_argument(
        "--keep", type=int, default=32, help="strategies kept after pruning (0: all)"
    )
    args = parser.parse_args()

    wl = get_workload("gpt3-175b")
    cal = load_calibration()
    costs = CostModel()
    base = apply_calibration(get_system("h100-sxm"), cal, "fp8")
    cands = stack_strategies(
        enumerate_strategies(
            wl, 512, precision="fp8", pins=StrategyPins(global_batch=2048), scaleup_domain_size=8.0
        ),
        dtype=np.float32,
    )
    n_valid = int(cands.tp.shape[0])
    all_cands = cands
    if args.keep:
        cands = prune_candidates(base, wl, cands, cal, costs, keep=args.keep)
    n_cands = int(np.asarray(cands.tp).shape[0])
    designs = make_designs(args.designs)

    def objective(system):
        return search_strategies(system, wl, cands, cal, costs)

    evaluate = jax.jit(jax.vmap(objective))

    def time_to_train(system):
        return search_strategies(system, wl, cands, cal, costs).time_to_train_s

    grad = jax.jit(jax.vmap(jax.grad(time_to_train)))

    t0 = time.perf_counter()
    jax.block_until_ready(evaluate(designs))
    compile_eval = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(grad(designs))
    compile_grad = time.perf_counter() - t0

    t_eval = timed(evaluate, designs)
    t_grad = timed(grad, designs)
    out = evaluate(designs)
    finite = bool(jnp.all(jnp.isfinite(out.time_to_train_s)))
    # Cost of pruning: exact best time with the pruned set vs the whole valid set,
    # on the first 1,000 designs.
    sub = jax.tree_util.tree_map(lambda x: x[:1000], designs)
    full = jax.jit(
        jax.vmap(lambda s: search_strategies(s, wl, all_cands, cal, costs).best.time_to_train_s)
    )(sub)
    pruned = out.best.time_to_train_s[:1000]
    gap = np.asarray(pruned) / np.asarray(full) - 1.0
    report = {
        "designs": args.designs,
        "strategies_valid": n_valid,
        "strategies_searched": n_cands,
        "evals_per_s": args.designs / t_eval,
        "grads_per_s": args.designs / t_grad,
        "compile_s": compile_eval + compile_grad,
        "compile_eval_s": compile_eval,
        "compile_grad_s": compile_grad,
        "batch_eval_s": t_eval,
        "batch_grad_s": t_grad,
        "all_finite": finite,
        "pruning_gap_mean": float(np.mean(gap)),
        "pruning_gap_max": float(np.max(gap)),
        "devices": [str(d) for d in jax.devices()],
        "dtype": str(out.time_to_train_s.dtype),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for k, v in report.items():
            print(f"{k:>20}: {v:,.1f}" if isinstance(v, float) else f"{k:>20}: {v}")
    return report


if __name__ == "__main__":
    main()
