"""Pareto fronts of time-to-train versus total pounds over buildable designs.

For each of three MLPerf workloads (GPT-3 175B, Llama 3.1 405B and Llama 2 70B
LoRA) this study runs ``optimizers.pareto_designs`` from the ``h100-like``
base design over a range of accelerator counts suited to the workload: one
vmapped gradient run holds many scalarisation weights at every count, each
start is projected to a buildable design and polished, and the non-dominated
designs are re-evaluated exactly over every parallel strategy. The real
systems of ``dse pareto`` (H100, B200, GB200, TPU v5p, MI300X, A100) are
evaluated at the same counts with ``dse._studies.scale_study``, and each real
point is compared with the front's cheapest design that is no slower.

Outputs (under ``--out``, default ``studies/out/pareto/``):

* ``<workload>.json``: the ``pareto_designs`` result, the real systems
  (``systems``, each with ``front_gbp_at_same_time``), the settings and the
  wall time; written as soon as the workload finishes.
* ``<workload>.png``: the front and the real systems (``dse._plots.plot_design_front``).
* ``report.md``: per workload, the front as a table (accelerators, minutes,
  total and run pounds, energy, the design parameters, active constraints),
  the real systems against the front, the run settings and the wall time;
  rewritten after every workload so finished work is never lost.

Progress goes to stderr, a short summary to stdout.

Usage (from the repository root, with the package installed)::

    python studies/pareto_fronts.py                    # all three, 24 points, 200 steps (~1.5 min)
    python studies/pareto_fronts.py --quick            # smoke run (tiny settings, ~1 min)
    python studies/pareto_fronts.py --workloads gpt3-175b --points 32 --steps 300
    python studies/pareto_fronts.py --out /tmp/pareto

Exit status: 0 when every workload produced a front, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback

from dse.cli import MARKED_SYSTEMS

# Accelerator counts per workload (multiples of the 8-accelerator server). GPT-3
# 175B: the MLPerf range (its reference runs are at 512 to 11,616 GPUs, the
# design search at up to 4,096 keeps the step count reasonable). Llama 3.1
# 405B: more parameters, so larger systems (MLPerf submissions use 512 to
# 8,192+). Llama 2 70B LoRA: fine-tuning, MLPerf runs it on 8 to a few hundred
# accelerators.
COUNTS = {
    "gpt3-175b": (128, 256, 512, 1024, 2048, 4096),
    "llama31-405b": (256, 512, 1024, 2048, 4096, 8192),
    "llama2-70b-lora": (8, 16, 32, 64, 128, 256),
}
QUICK_COUNTS = {
    "gpt3-175b": (512, 1024),
    "llama31-405b": (1024, 2048),
    "llama2-70b-lora": (8, 64),
}
# The real systems 'dse pareto' marks.
SYSTEMS = MARKED_SYSTEMS
BASE = "h100-like"


def _log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _progress(name: str, t0: float):
    """A ``(fraction, message)`` callback printing a line every few steps."""
    last = [-1.0]

    def progress(frac: float, message: str) -> None:
        if frac - last[0] >= 0.1 or frac >= 0.8 or message.startswith("final"):
            last[0] = frac
            _log(f"  [{name} {time.perf_counter() - t0:6.1f} s {frac:4.0%}] {message}")

    return progress


def _jsonable(x):
    """Plain JSON types (numpy scalars and arrays, tuples)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def run_workload(name: str, counts, args) -> dict:
    """Front, real systems and comparison for one workload (a JSON-ready dict)."""
    from dse import CostModel, load_calibration
    from dse._api import resolve_workload
    from dse._studies import scale_study
    from optimizers import pareto_designs

    wl = resolve_workload(name)
    cal, costs = load_calibration(), CostModel()
    t0 = time.perf_counter()
    settings = dict(
        base=BASE,
        counts=list(counts),
        points=args.points,
        steps=args.steps,
        polish_rounds=args.polish_rounds,
        seed=args.seed,
        scalarisation="chebyshev",
    )
    kwargs = dict(
        base=BASE,
        counts=list(counts),
        points=args.points,
        steps=args.steps,
        polish_rounds=args.polish_rounds,
        seed=args.seed,
        calibration=cal,
        costs=costs,
        progress=_progress(name, t0),
    )
    optimizer_used = (
        "package default (Adam, cosine decay; each start's gradient cleaned and clipped at norm 10)"
    )
    out = pareto_designs(wl, **kwargs)
    t_front = time.perf_counter() - t0
    _log(f"  {name}: evaluating {len(args.systems)} real systems at the same counts")
    study = scale_study(wl, systems=list(args.systems), counts=out["counts"], cal=cal, costs=costs)
    out["systems"] = study["points"]
    out["systems_infeasible"] = study["infeasible"]
    for p in out["systems"]:
        cheaper = [g for t, g in out["front_points"] if t <= p["time_to_train_s"]]
        p["front_gbp_at_same_time"] = min(cheaper) if cheaper else None
    out["settings"] = dict(settings, optimizer=optimizer_used, systems=list(args.systems))
    out["wall_s"] = time.perf_counter() - t0
    out["front_wall_s"] = t_front
    return out


# ----------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------


def _gbp(x) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return f"£{x:,.0f}"
    return f"£{x:,.2f}"


def _md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _front_rows(front: list[dict]) -> list[list]:
    rows = []
    for f in front:
        d = f["design"]
        rows.append(
            [
                f["accelerators"],
                f"{f['time_to_train_s'] / 60:.1f}",
                _gbp(f["total_gbp"]),
                _gbp(f["run_cost_gbp"]),
                f"{f['energy_j'] / 3.6e9:.3g}",
                f"{d['arrays_per_chip']:.0f}",
                f"{d['clock_hz'] / 1e9:.2f}",
                f"{d['sram_bytes'] / 1e6:.0f}",
                f"{d['hbm_stacks']:.0f}×{d['hbm_bytes_per_stack'] / 2**30:.0f}",
                f"{d['hbm_bw_bytes_per_s_per_stack'] / 1e12:.2f}",
                f"{d['scaleup_bw_bytes_per_s'] / 1e9:.0f}",
                f"{d['scaleout_bw_bytes_per_s'] * 8 / 1e9:.0f}",
                f"{f['peak_bf16_flops_per_s'] / 1e12:.0f}",
                f"{f['die_area_mm2']:.0f}",
                f"{f['accelerator_power_w']:.0f}",
                f"{f['strategy']['tp']}/{f['strategy']['cp']}/{f['strategy']['pp']}/"
                f"{f['strategy']['dp']}, gb {f['strategy']['global_batch']}",
                ", ".join(f["active_constraints"]) or "-",
            ]
        )
    return rows


FRONT_HEADER = [
    "acc",
    "min",
    "total £",
    "run £",
    "MWh",
    "arrays",
    "GHz",
    "SRAM MB",
    "HBM stacks×GiB",
    "TB/s/stack",
    "scale-up GB/s",
    "scale-out Gb/s",
    "bf16 TFLOP/s",
    "die mm²",
    "W",
    "tp/cp/pp/dp, batch",
    "active constraints",
]


def _saving(p) -> str:
    ref = p["front_gbp_at_same_time"]
    return "-" if ref is None else f"{1 - ref / p['total_gbp']:+.0%}"


def _summary(out: dict) -> dict:
    """Headline numbers of a workload's result."""
    front = out["front"]
    s = dict(front_size=out["front_size"], shown=len(front))
    if front:
        fast = min(front, key=lambda f: f["time_to_train_s"])
        cheap = min(front, key=lambda f: f["total_gbp"])
        s.update(
            fastest=(fast["accelerators"], fast["time_to_train_s"] / 60, fast["total_gbp"]),
            cheapest=(cheap["accelerators"], cheap["time_to_train_s"] / 60, cheap["total_gbp"]),
        )
    savings = {}
    for p in out.get("systems", []):
        ref = p["front_gbp_at_same_time"]
        if ref is not None:
            savings.setdefault(p["system"], []).append(1 - ref / p["total_gbp"])
    s["saving_by_system"] = {
        k: (min(v), sorted(v)[len(v) // 2], max(v), len(v)) for k, v in sorted(savings.items())
    }
    beaten = [
        p for p in out.get("systems", []) if p["front_gbp_at_same_time"] is None
    ]  # faster than every design on the front
    s["faster_than_front"] = [(p["system"], p["accelerators"]) for p in beaten]
    return s


def _workload_section(name: str, out: dict | None, error: str | None) -> str:
    lines = [f"## {name}", ""]
    if error is not None:
        lines += ["**Failed:**", "", "```", error.strip(), "```", ""]
        return "\n".join(lines)
    st = out["settings"]
    s = _summary(out)
    lines.append(
        f"Base design `{out['base_design']}`; counts {', '.join(str(c) for c in out['counts'])}; "
        f"{out['starts']} scalarised starts ({st['scalarisation']}), {out['steps']} Adam steps, "
        f"polish rounds {st['polish_rounds']}, seed {st['seed']}; optimizer: {st['optimizer']}. "
        f"{out['gradient_evaluations']:,} value-and-gradient evaluations, "
        f"{out['exact_evaluations']:,} exact evaluations (pruned strategies: "
        f"{', '.join(str(n) for n in out['strategies_searched'])} per count), "
        f"{out['final_evaluations']} designs re-evaluated over every strategy. "
        f"Wall time {out['wall_s']:.0f} s ({out['front_wall_s']:.0f} s for the front)."
    )
    lines.append("")
    for sk in out["skipped"]:
        lines.append(f"- skipped {sk['accelerators']} accelerators: {sk['reason']}")
    if out["skipped"]:
        lines.append("")
    if not out["front"]:
        lines += ["No feasible design was found.", ""]
        return "\n".join(lines)
    fa, ch = s["fastest"], s["cheapest"]
    lines.append(
        f"**Front:** {out['front_size']} non-dominated designs ({len(out['front'])} shown, spread "
        f"evenly in log time and log pounds) from {fa[1]:.1f} min at {fa[0]} accelerators "
        f"({_gbp(fa[2])}) to {ch[1]:.1f} min at {ch[0]} accelerators ({_gbp(ch[2])})."
    )
    lines.append("")
    lines.append(
        f"![{name} front]({name}.png)\n\nThe front (total £ = capital + 5-year operating, "
        "ARIA method; run £ = the pounds of one run, total × run time / lifetime; energy = "
        "facility energy of one run). Design columns: enabled matrix arrays per die, clock, "
        "shared SRAM, HBM stacks × capacity, bandwidth per stack, scale-up and scale-out "
        "bandwidth per accelerator and direction; bf16 dense peak, die area and accelerator "
        "power are derived. Array shape, node, precision, spares, scale-up domain (8) and "
        "server size (8) are the base design's. Active constraints are at ≥ 97% of their limit."
    )
    lines.append("")
    lines.append(_md_table(FRONT_HEADER, _front_rows(out["front"])))
    lines.append("")
    if out.get("systems"):
        lines.append(
            "**Real systems at the same counts** (best strategy each; 'front £' is the cheapest "
            "design on the front that is no slower; 'saving' = 1 − front £ / system £; '-' means "
            "the system is faster than every design on the front):"
        )
        lines.append("")
        rows = []
        for p in sorted(out["systems"], key=lambda p: (p["system"], p["accelerators"])):
            rows.append(
                [
                    p["system"],
                    p["accelerators"],
                    p["precision"],
                    f"{p['time_to_train_s'] / 60:.1f}",
                    _gbp(p["total_gbp"]),
                    _gbp(p["run_cost_gbp"]),
                    _gbp(p["front_gbp_at_same_time"]),
                    _saving(p),
                ]
            )
        lines.append(
            _md_table(
                ["system", "acc", "precision", "min", "total £", "run £", "front £", "saving"],
                rows,
            )
        )
        lines.append("")
        bullet = []
        for sys_name, (lo, med, hi, n) in s["saving_by_system"].items():
            bullet.append(
                f"- {sys_name}: saving at no more time, median {med:+.0%} over {n} counts "
                f"(range {lo:+.0%} to {hi:+.0%}; negative: the front's design costs more)"
            )
        lines += bullet
        if s["faster_than_front"]:
            lines.append(
                "- faster than the whole front: "
                + ", ".join(f"{a} × {b}" for a, b in s["faster_than_front"])
            )
        lines.append("")
    if out.get("systems_infeasible"):
        by_sys = {}
        for p in out["systems_infeasible"]:
            by_sys.setdefault(p["system"], []).append(str(p["accelerators"]))
        lines.append(
            "Real systems with no feasible strategy (no strategy fits in memory or none is "
            "valid): " + "; ".join(f"{k} at {', '.join(v)}" for k, v in by_sys.items()) + "."
        )
        lines.append("")
    return "\n".join(lines)


def write_report(path: str, results: dict, errors: dict, args, t_start: float) -> None:
    parts = [
        "# Pareto fronts over buildable designs: time-to-train vs total pounds",
        "",
        "Generated by `studies/pareto_fronts.py` "
        + ("(`--quick` smoke settings) " if args.quick else "")
        + f"on {time.strftime('%Y-%m-%d %H:%M')}; total wall time so far "
        f"{time.perf_counter() - t_start:.0f} s.",
        "",
        "Each front comes from `optimizers.pareto_designs` (base design `h100-like`, its free "
        "parameters searched: arrays per die, clock, SRAM, HBM stacks, stack capacity and "
        "bandwidth, scale-up and scale-out bandwidth; the accelerator count chosen among the "
        "listed counts). Every design on a front is buildable (projected to the parameter grids) "
        "and satisfies the hardware constraints (reticle, power density, HBM stack limits and "
        "shoreline, precision floors). Its time and pounds are the exact model over every valid "
        "parallel strategy, as `dse evaluate` reports them. The real systems are the presets at "
        "the same counts with their own strategy search; derived designs carry no per-family "
        "software-efficiency factor (1.0, as for Hopper in the shipped calibration). Costs: ARIA "
        "method defaults (£0.02/kWh, PUE 1.1, 80% utilisation, 5-year life, network not in "
        "capital). The designs keep the base's single reticle-limited N4 die, 32 × 64 arrays, "
        "8-accelerator servers and scale-up domains, so systems with two dies per package, "
        "newer memory or larger domains (B200, GB200) can lie beyond the front. The "
        "comparison uses every non-dominated design found (`front_points`), not only those "
        "shown in the tables.",
        "",
    ]
    for name in args.workloads:
        if name in results or name in errors:
            parts.append(_workload_section(name, results.get(name), errors.get(name)))
        else:
            parts += [f"## {name}", "", "(not run yet)", ""]
    with open(path, "w") as fh:
        fh.write("\n".join(parts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Pareto fronts of time-to-train vs total pounds over buildable designs (h100-like "
            "base) for GPT-3 175B, Llama 3.1 405B and Llama 2 70B LoRA, with real systems at "
            "the same counts; writes report.md, <workload>.json and <workload>.png."
        )
    )
    parser.add_argument(
        "--out", default="studies/out/pareto", help="output folder (studies/out/pareto)"
    )
    parser.add_argument(
        "--points", type=int, default=24, help="scalarised starts and most designs shown (24)"
    )
    parser.add_argument("--steps", type=int, default=200, help="Adam steps (200)")
    parser.add_argument(
        "--polish-rounds", type=int, default=8, help="neighbourhood polish rounds (8)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of the starts (0)")
    parser.add_argument(
        "--workloads",
        default=",".join(COUNTS),
        help="comma-separated workloads (default " + ",".join(COUNTS) + ")",
    )
    parser.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help="real systems to compare, comma-separated (default " + ",".join(SYSTEMS) + ")",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 counts per workload, 4 points, 10 steps, 1 polish round",
    )
    args = parser.parse_args(argv)
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [w for w in args.workloads if w not in COUNTS]
    if unknown:
        parser.error(f"--workloads: {unknown} not allowed; choose from {list(COUNTS)}")
    if args.quick:
        args.points, args.steps, args.polish_rounds = 4, 10, 1
    counts_of = QUICK_COUNTS if args.quick else COUNTS
    os.makedirs(args.out, exist_ok=True)
    report = os.path.join(args.out, "report.md")

    from dse._plots import plot_design_front

    t_start = time.perf_counter()
    results: dict[str, dict] = {}
    errors: dict[str, str] = {}
    for name in args.workloads:
        _log(f"{name}: Pareto front over designs at {list(counts_of[name])} accelerators")
        try:
            out = run_workload(name, counts_of[name], args)
        except Exception:  # keep the finished workloads; report this one
            errors[name] = traceback.format_exc()
            _log(f"{name}: FAILED\n{errors[name]}")
            write_report(report, results, errors, args, t_start)
            continue
        if out["front"]:
            png = os.path.join(args.out, f"{name}.png")
            plot_design_front(out, png)
            out["plot"] = png
        with open(os.path.join(args.out, f"{name}.json"), "w") as fh:
            json.dump(_jsonable(out), fh, indent=1)
        results[name] = out
        write_report(report, results, errors, args, t_start)
        _log(f"{name}: done in {out['wall_s']:.0f} s, wrote {args.out}/{name}.json")

    total = time.perf_counter() - t_start
    print(f"Pareto fronts over designs (base {BASE}), {total:.0f} s; report: {report}")
    for name in args.workloads:
        if name in errors:
            print(f"  {name}: FAILED ({errors[name].strip().splitlines()[-1]})")
            continue
        s = _summary(results[name])
        if not results[name]["front"]:
            print(f"  {name}: no feasible design")
            continue
        fa, ch = s["fastest"], s["cheapest"]
        med = s["saving_by_system"].get("h100-sxm")
        vs = f"; vs h100-sxm median {med[1]:+.0%}" if med else ""
        print(
            f"  {name}: {s['front_size']} designs, {fa[1]:.1f} min ({fa[0]} acc, {_gbp(fa[2])}) "
            f"to {ch[1]:.1f} min ({ch[0]} acc, {_gbp(ch[2])}){vs}"
        )
    ok = not errors and all(r["front"] for r in results.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
