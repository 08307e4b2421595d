"""The ``dse`` command line: systems, evaluate, validate, demo.

Every subcommand takes ``--json`` for one machine-readable JSON object on
stdout. Bad input exits with status 2 and a one-line message naming the field,
the value and what is allowed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

__all__ = ["main", "build_parser"]

# Real systems marked on Pareto plots by default (one of each major family).
MARKED_SYSTEMS = ("h100-sxm", "b200", "gb200", "tpu-v5p", "mi300x", "a100-sxm-80gb")


def _counts(text: str) -> list[int]:
    """``--accelerators 128,256,512`` -> [128, 256, 512] (argparse type)."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise argparse.ArgumentTypeError(
                f"accelerators={text!r} is not allowed: whole numbers >= 1, comma-separated"
            )
        out.append(int(part))
    return out


_COST_FLAGS = (
    ("--gbp-per-kwh", "gbp_per_kwh", "electricity price, GBP/kWh (ARIA: 0.02)"),
    ("--pue", "pue", "power usage effectiveness (ARIA: 1.1)"),
    ("--utilisation", "utilisation", "fraction of the lifetime drawing power (ARIA: 0.8)"),
    ("--lifetime-years", "lifetime_years", "service life in years (ARIA: 5 = 43,800 h)"),
)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument(
        "--calibration",
        metavar="FILE",
        help="calibration JSON of efficiency constants (default: the shipped fit)",
    )


def _add_samples(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "uncertainty (designs: technology constants drawn within their ranges)"
    )
    g.add_argument(
        "--samples",
        type=int,
        help="Monte Carlo samples: report the 10th, 50th and 90th percentiles",
    )
    g.add_argument("--samples-seed", type=int, default=0, help="seed of the samples (0)")


def _uncertainty(workload, design, accelerators, args, cal, costs, pins=None) -> dict | None:
    if args.samples is None:
        return None
    from dse._uncertainty import design_uncertainty

    return design_uncertainty(
        workload,
        design,
        accelerators=accelerators,
        samples=args.samples,
        seed=args.samples_seed,
        pins=pins,
        calibration=cal,
        costs=costs,
    )


def _print_uncertainty(u: dict, indent: str = "  ") -> None:
    p = u["percentiles"]
    print(
        f"{indent}uncertainty ({u['samples']} samples of {len(u['varied'])} technology constants; "
        "p10 / median / p90):"
    )
    print(
        f"{indent}  time to train {p['time_to_train_s']['p10'] / 60:.1f} / "
        f"{p['time_to_train_s']['p50'] / 60:.1f} / {p['time_to_train_s']['p90'] / 60:.1f} min; "
        f"total {_gbp(p['total_gbp']['p10'])} / {_gbp(p['total_gbp']['p50'])} / "
        f"{_gbp(p['total_gbp']['p90'])}; energy {p['energy_j']['p10'] / 3.6e9:.2f} / "
        f"{p['energy_j']['p50'] / 3.6e9:.2f} / {p['energy_j']['p90'] / 3.6e9:.2f} MWh"
    )


def _add_costs(p: argparse.ArgumentParser, *, server_overrides: bool = True) -> None:
    g = p.add_argument_group("cost constants (ARIA method; defaults from its worked example)")
    for flag, _, text in _COST_FLAGS:
        g.add_argument(flag, type=float, help=text)
    if not server_overrides:
        return
    g.add_argument(
        "--server-cost-gbp",
        type=float,
        help="capital cost of one server, GBP (default: the system's)",
    )
    g.add_argument(
        "--server-power-kw", type=float, help="power of one server, kW (default: the system's)"
    )


def build_parser() -> argparse.ArgumentParser:
    from dse._validate import CONVERGENCE_MODES
    from optimizers._pareto import DEFAULT_PARETO_COUNTS

    parser = argparse.ArgumentParser(
        prog="dse",
        description=(
            "Differentiable design-space explorer for AI-training hardware: time-to-train "
            "and pound cost (ARIA method) of MLPerf Training workloads on real systems."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("systems", help="list the built-in system presets and their key figures")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_systems)

    p = sub.add_parser(
        "workloads", help="list the built-in workloads: shapes, MLPerf setup, convergence data"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_workloads)

    p = sub.add_parser(
        "evaluate",
        help="time-to-train, breakdown, memory and pounds of one run (strategy searched)",
        description=(
            "Simulate one training run. Parts of the parallel strategy not pinned with "
            "flags are searched (fastest strategy that fits in memory)."
        ),
    )
    p.add_argument(
        "--workload",
        default="gpt3-175b",
        help="workload name (see `dse workloads`), or FILE.py:FUNCTION returning your own "
        "(e.g. traced from a Flax module with workloads.workload_from_flax) (default: gpt3-175b)",
    )
    p.add_argument(
        "--system",
        help="preset name or .toml/.json system file (default: h100-sxm)",
    )
    p.add_argument(
        "--design",
        metavar="NAME|FILE",
        help="derive the system from a hardware design instead of --system: a built-in design "
        "(`dse hardware --list`) or a .toml/.json design file (see `dse hardware --help`)",
    )
    p.add_argument(
        "--include-network",
        action="store_true",
        help="with --design: add scale-out switches and optics to capital and server power "
        "(default: left out, as the ARIA method and the presets do)",
    )
    p.add_argument(
        "--accelerators",
        type=int,
        help="accelerator count (default: 512, or with --design the design's servers x "
        "accelerators per server)",
    )
    _add_samples(p)
    g = p.add_argument_group("pin parts of the strategy (default: searched)")
    g.add_argument(
        "--tp", type=int, help="tensor-parallel degree (power of two dividing the heads)"
    )
    g.add_argument("--cp", type=int, help="context-parallel degree (splits the sequence)")
    g.add_argument("--pp", type=int, help="pipeline stages (uneven stages allowed)")
    g.add_argument("--dp", type=int, help="data-parallel replicas")
    g.add_argument("--microbatch", type=int, help="sequences per microbatch")
    g.add_argument("--global-batch", type=int, help="sequences per optimizer step")
    g.add_argument("--interleave", type=int, help="virtual pipeline stages per device (1 = 1F1B)")
    g.add_argument(
        "--recompute", choices=["none", "selective", "full"], help="activation recomputation"
    )
    g.add_argument(
        "--precision",
        choices=["bf16", "fp8"],
        help="matmul precision (default: the system's documented default)",
    )
    p.add_argument(
        "--software-rounds-behind",
        type=float,
        default=0.0,
        help="run the software of this many MLPerf rounds (half-years) ago, as validation "
        "does for old results (default: 0, today's software)",
    )
    _add_costs(p)
    _add_common(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "hardware",
        help="derive an accelerator and its system from design parameters and technology constants",
        description=(
            "The hardware generator: from a design (matrix arrays, clock, datapath and storage "
            "precision, SRAM, HBM stacks, links, server and system size, process node N7/N5/N4/N3) "
            "and the technology constants of its node (hwmodels/data/technology.csv, each with "
            "source and range), derive peak throughput, memory, die area, yield, dies per wafer, "
            "power and capital per accelerator and per server with their breakdowns, check "
            "feasibility (reticle, power density, HBM per stack and shoreline, training precision "
            "floors), and print the system spec the simulator uses. Exit status 1 when the "
            "design breaks a constraint (named), 2 on bad input."
        ),
        epilog=(
            "A design file (TOML or JSON) uses the columns of hwmodels/data/designs.csv: "
            "process_node, fp8 (true/false), array_rows, array_cols, arrays_per_chip, "
            "spare_arrays, clock_ghz, datapath_bits (16 = bf16 class, 8 = fp8 class), "
            "weight_bits, activation_bits, optimizer_state_bits, sram_mb, hbm_stacks, "
            "hbm_gib_per_stack, hbm_tb_s_per_stack, scaleup_gb_s_per_dir, scaleup_domain_size, "
            "scaleout_gb_s_per_dir, accelerators_per_server, servers. "
            "Evaluate a workload on it with `dse evaluate --design NAME|FILE`."
        ),
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument(
        "--design", metavar="NAME|FILE", help="built-in design name or .toml/.json design file"
    )
    g.add_argument("--list", action="store_true", help="list the built-in designs")
    p.add_argument(
        "--include-network",
        action="store_true",
        help="add scale-out switches and optics to capital and server power (default: left "
        "out, as the ARIA method and the presets do; the network is priced either way)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_hardware)

    p = sub.add_parser(
        "validate",
        help="compare predictions with published MLPerf Training results",
        description=(
            "Predict every known row of a results CSV (default: the project's copy of the "
            "MLPerf Training results table) and report per-row error and MAPE."
        ),
    )
    p.add_argument(
        "--results",
        metavar="FILE",
        help="CSV with the results-table columns (default: the project's copy)",
    )
    p.add_argument(
        "--benchmark",
        action="append",
        help="only these benchmarks (repeatable; default: all the model knows)",
    )
    p.add_argument("--plot", metavar="FILE.png", help="write a parity plot")
    p.add_argument(
        "--convergence",
        choices=list(CONVERGENCE_MODES),
        default="round",
        help="samples to converge per row: the reference convergence points of the row's own "
        "MLPerf round (default; MLPerf scales a faster-converging submission up to them), or the "
        "newest ones for every row (to see what the per-round curves change)",
    )
    _add_common(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "calibrate",
        help="fit the model's efficiency constants to published results (Optax, model gradients)",
        description=(
            "Fit the efficiency constants by Adam on the squared log error of time-to-train over "
            "the rows of a results CSV that the documented split does not hold out (SHA-256 of the "
            "source column, 0 mod 3 held out); write them to a calibration JSON that evaluate and "
            "validate read with --calibration."
        ),
    )
    p.add_argument(
        "--results",
        metavar="FILE",
        help="CSV with the results-table columns (default: the project's copy)",
    )
    p.add_argument("--benchmark", action="append", help="only these benchmarks (repeatable)")
    p.add_argument(
        "--fields", help="comma-separated constants to fit (default: the documented fitted set)"
    )
    p.add_argument("--steps", type=int, default=300, help="Adam steps (default: 300)")
    p.add_argument(
        "--learning-rate", type=float, default=0.05, help="Adam learning rate (default: 0.05)"
    )
    p.add_argument("--all-rows", action="store_true", help="fit on every usable row (no hold-out)")
    p.add_argument(
        "--no-families",
        action="store_true",
        help="do not fit a software-efficiency factor per accelerator family",
    )
    p.add_argument(
        "--loss",
        choices=["squared", "huber"],
        default="squared",
        help="squared log error (default) or pseudo-Huber of the log error (robust to anomalous rows)",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        default="calibration.json",
        help="output JSON (default: calibration.json)",
    )
    p.epilog = "--calibration FILE sets the starting values (default: the unfitted defaults)."
    _add_common(p)
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser(
        "sensitivity",
        help="what each knob is worth: elasticities of time and pounds, checked by re-evaluation",
        description=(
            "Elasticities d ln(metric) / d ln(parameter) of time-to-train, total pounds, the "
            "pounds of one run and its energy, by automatic differentiation through the smooth "
            "strategy search: for a system, with respect to every continuous field of its spec; "
            "for a design, with respect to every design parameter and every technology constant "
            "of its node. The largest are turned into 'what is it worth' lines (the change of "
            "each metric when the parameter grows by --step), checked by re-evaluating the "
            "exact model."
        ),
    )
    p.add_argument("--workload", default="gpt3-175b", help="workload name or FILE.py:FUNCTION")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--system", metavar="NAME|FILE", help="preset or system file (default h100-sxm)")
    g.add_argument("--design", metavar="NAME|FILE", help="built-in design or design file")
    p.add_argument(
        "--accelerators",
        type=int,
        help="accelerator count (default: 512 for a system; servers x accelerators per "
        "server for a design)",
    )
    p.add_argument(
        "--include-network",
        action="store_true",
        help="with --design: switches and optics in capital and server power",
    )
    p.add_argument(
        "--step", type=float, default=0.10, help="relative change of the worth lines (default 0.10)"
    )
    p.add_argument("--top", type=int, default=5, help="parameters per metric (default 5)")
    _add_common(p)
    _add_costs(p, server_overrides=False)
    p.set_defaults(func=cmd_sensitivity)

    p = sub.add_parser(
        "optimize",
        help="gradient search for the best buildable design: time, pounds, run pounds or energy",
        description=(
            "Search the free parameters of a hardware design (arrays, clock, SRAM, HBM stacks, "
            "capacity and bandwidth per stack, scale-up and scale-out bandwidth) by Adam through "
            "the differentiable model, from many starts at once, under the hardware's own "
            "constraints and yours; project every start to a buildable design, re-evaluate it "
            "with the exact model, polish it on the grid of buildable values, and print the "
            "best design, its metrics and the constraints active at it. The rest of the design "
            "(array shape, process node, precision, scale-up domain, server size) is the base "
            "design's; the accelerator count is fixed, or chosen from the counts given."
        ),
    )
    p.add_argument("--workload", default="gpt3-175b", help="workload name or FILE.py:FUNCTION")
    p.add_argument(
        "--objective",
        choices=["time", "cost", "run-cost", "energy"],
        default="time",
        help="minimise time-to-train, total pounds, pounds of one run, or energy of one run",
    )
    p.add_argument("--base", default="h100-like", metavar="NAME|FILE", help="base design")
    p.add_argument(
        "--accelerators",
        type=_counts,
        default=[512],
        metavar="N[,N...]",
        help="accelerator count, or counts to choose from, comma-separated (512)",
    )
    p.add_argument("--max-gbp", type=float, help="budget: total pounds (capital + operating)")
    p.add_argument("--max-time-to-train-min", type=float, help="time-to-train limit, minutes")
    p.add_argument("--max-power-mw", type=float, help="power cap of the whole system, MW")
    p.add_argument("--starts", type=int, default=8, help="random starts run at once (8)")
    p.add_argument("--steps", type=int, default=200, help="Adam steps (200)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the starts (0)")
    p.add_argument(
        "--robust",
        type=float,
        metavar="PERCENTILE",
        help="minimise this percentile (e.g. 90) of the objective over technologies drawn "
        "within their ranges (--samples of them, default 16), every constraint held at it",
    )
    _add_samples(p)
    _add_common(p)
    _add_costs(p, server_overrides=False)
    p.set_defaults(func=cmd_optimize)

    p = sub.add_parser(
        "sweep",
        help="evaluate a described design space, streamed to a folder; resumable",
        description=(
            "Evaluate every design of a space file (TOML: free design parameters with their "
            "values or ranges, accelerator counts, grid / random / Sobol sampling; see "
            "studies/spaces/example.toml) with the exact model, sharded over the local JAX "
            "devices (and over processes under jax.distributed), streaming chunks of results "
            "to DIR with a progress line and an ETA. Killed at any time, --resume continues "
            "without losing or recomputing a finished chunk. --summarise DIR prints the best "
            "designs and the Pareto front of what was evaluated."
        ),
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--space", metavar="FILE", help="space file (TOML or JSON)")
    g.add_argument("--summarise", metavar="DIR", help="summarise the sweep in DIR")
    p.add_argument("--workload", help="workload (default: the space file's, else gpt3-175b)")
    p.add_argument("--out", metavar="DIR", help="output folder (required with --space)")
    p.add_argument("--resume", action="store_true", help="continue the sweep in --out")
    p.add_argument("--top", type=int, default=5, help="--summarise: best designs per metric (5)")
    g = p.add_argument_group(
        "several hosts (jax.distributed; start one process per host, each with its own id)"
    )
    g.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0")
    g.add_argument("--num-processes", type=int, help="number of processes")
    g.add_argument("--process-id", type=int, help="this process's id, 0 .. N-1")
    _add_common(p)
    p.set_defaults(func=cmd_sweep)

    def add_pareto_args(p, *, points: int):
        p.add_argument("--workload", default="gpt3-175b", help="workload name or FILE.py:FUNCTION")
        p.add_argument("--base", default="h100-like", metavar="NAME|FILE", help="base design")
        p.add_argument(
            "--accelerators",
            type=_counts,
            default=list(DEFAULT_PARETO_COUNTS),
            metavar="N[,N...]",
            help="accelerator counts to choose from, comma-separated (default "
            + ",".join(str(c) for c in DEFAULT_PARETO_COUNTS)
            + ")",
        )
        p.add_argument(
            "--points",
            type=int,
            default=points,
            help=f"scalarised starts, spread over the counts; also the most designs shown ({points})",
        )
        p.add_argument(
            "--scalarisation",
            choices=["chebyshev", "log-sum"],
            default="chebyshev",
            help="smooth augmented Chebyshev (default) or weighted log-sum of log time and log pounds",
        )
        p.add_argument("--steps", type=int, default=200, help="Adam steps (200)")
        p.add_argument("--seed", type=int, default=0, help="random seed of the starts (0)")
        p.add_argument("--max-gbp", type=float, help="budget: total pounds (capital + operating)")
        p.add_argument("--max-time-to-train-min", type=float, help="time-to-train limit, minutes")
        p.add_argument("--max-power-mw", type=float, help="power cap of the whole system, MW")
        p.add_argument(
            "--systems",
            default=",".join(MARKED_SYSTEMS),
            metavar="NAME[,NAME...]",
            help="real systems marked on the plot and listed for comparison, evaluated at the "
            "same counts ('none' for none; default " + ",".join(MARKED_SYSTEMS) + ")",
        )
        _add_samples(p)
        _add_common(p)
        _add_costs(p, server_overrides=False)

    p = sub.add_parser(
        "pareto",
        help="Pareto front of time-to-train vs total pounds over buildable designs",
        description=(
            "Sweep the trade-off between time-to-train and total pounds over hardware designs "
            "(the free parameters of 'dse optimize') and accelerator counts: one vmapped gradient "
            "run holds many scalarisation weights at every count; every start is projected to a "
            "buildable design, re-evaluated exactly and polished; the non-dominated designs are "
            "re-evaluated over every parallel strategy and printed with the real systems at the "
            "same counts for comparison."
        ),
    )
    add_pareto_args(p, points=32)
    p.add_argument("--plot", metavar="FILE.png", help="write the front and the real systems")
    p.add_argument(
        "--worth",
        action="store_true",
        help="also the elasticities of time and pounds at the front's balanced design",
    )
    p.set_defaults(func=cmd_pareto)

    p = sub.add_parser(
        "demo",
        help="the main job: a Pareto study of GPT-3 175B designs, time vs pounds, with a plot",
        description=(
            "The main job: 'dse pareto' for GPT-3 175B with its defaults (h100-like base design, "
            "128 to 4,096 accelerators, 32 points): prints the front of buildable designs with "
            "the real systems at the same counts and what each knob is worth at the front's "
            "balanced design, and writes a plot."
        ),
    )
    add_pareto_args(p, points=32)
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        default="dse-demo.png",
        help="plot path (default: dse-demo.png)",
    )
    p.add_argument("--no-plot", action="store_true", help="do not write the plot")
    p.set_defaults(func=cmd_pareto, worth=True)
    return parser


# ----------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------


def _cost_model(args):
    from dse._cost import CostModel, check_cost_model

    changes = {
        field: getattr(args, field)
        for _, field, _ in _COST_FLAGS
        if getattr(args, field, None) is not None
    }
    return check_cost_model(CostModel().replace(**changes) if changes else CostModel())


def _calibration(args):
    from dse._calibration import load_calibration

    return load_calibration(getattr(args, "calibration", None))


def _emit_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=float)
    sys.stdout.write("\n")


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join("{:>" + str(w) + "}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(lines)


def _gbp(x: float) -> str:
    return f"£{x:,.0f}"


# ----------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------


def cmd_systems(args) -> int:
    from hwmodels import get_system, preset_rows

    out = []
    for name, row in preset_rows().items():
        s = get_system(name)
        out.append(
            dict(
                name=name,
                description=row["description"],
                peak_bf16_tflops=s.peak_bf16_flops_per_s / 1e12,
                peak_fp8_tflops=s.peak_fp8_flops_per_s / 1e12,
                hbm_gb=s.hbm_capacity_bytes / 1e9,
                hbm_tb_s=s.hbm_bw_bytes_per_s / 1e12,
                scaleup_gb_s_per_dir=s.scaleup_bw_bytes_per_s / 1e9,
                scaleup_domain_size=int(s.scaleup_domain_size),
                scaleout_gb_s_per_dir=s.scaleout_bw_bytes_per_s / 1e9,
                accelerators_per_server=int(s.accelerators_per_server),
                server_power_kw=s.server_power_w / 1e3,
                server_cost_gbp=s.server_cost_gbp,
                default_precision=row["default_precision"],
                source=row["source"],
            )
        )
    if args.json:
        _emit_json({"systems": out})
        return 0
    rows = [
        [
            o["name"],
            f"{o['peak_bf16_tflops']:.0f}",
            f"{o['peak_fp8_tflops']:.0f}" if o["peak_fp8_tflops"] else "-",
            f"{o['hbm_gb']:.0f}",
            f"{o['hbm_tb_s']:.2f}",
            f"{o['scaleup_gb_s_per_dir']:.0f}",
            o["scaleup_domain_size"],
            f"{o['scaleout_gb_s_per_dir']:.1f}",
            o["accelerators_per_server"],
            f"{o['server_power_kw']:.1f}",
            _gbp(o["server_cost_gbp"]),
            o["default_precision"],
        ]
        for o in out
    ]
    print(
        _table(
            rows,
            [
                "system",
                "bf16 TF",
                "8-bit TF",
                "HBM GB",
                "HBM TB/s",
                "up GB/s",
                "domain",
                "out GB/s",
                "acc/srv",
                "srv kW",
                "srv £",
                "default",
            ],
        )
    )
    print(
        "\nPer accelerator; link bandwidths per direction. Sources: `dse systems --json` or hwmodels/data/systems.csv."
    )
    return 0


def cmd_workloads(args) -> int:
    from workloads import OpWorkload, convergence_rounds, get_workload, list_workloads

    out = []
    for name in list_workloads():
        w = get_workload(name)
        common = dict(
            name=name,
            kind="op-level" if isinstance(w, OpWorkload) else "transformer",
            params=w.params_total,
            flops_per_sample=w.flops_per_sample(),
            typical_global_batch=w.typical_global_batch,
            quality_target=w.quality_target,
            eval_interval_samples=w.eval_interval_samples,
            eval_samples=w.eval_samples,
            convergence=[
                dict(global_batch=b, samples_to_converge=s)
                for b, s in zip(w.convergence_batch, w.convergence_samples, strict=True)
            ],
            # Rounds with their own reference convergence points (validation
            # judges each result against its round's; the table above is the newest).
            convergence_rounds=convergence_rounds(name),
            sources=w.sources,
        )
        if isinstance(w, OpWorkload):
            shape = dict(
                sample_unit=w.sample_unit,
                ops=len(w.ops),
                trainable_params=w.params,
                frozen_params=w.frozen_params,
                table_params=w.table_params,
                forward_flops_per_sample=w.forward_flops_per_sample(),
                default_precision="fp8" if w.fp8_training else "bf16",
            )
        else:
            shape = dict(
                n_layers=w.n_layers,
                hidden_size=w.hidden_size,
                n_heads=w.n_heads,
                n_kv_heads=w.n_kv_heads,
                ffn_size=w.ffn_size,
                seq_len=w.seq_len,
                vocab_size=w.vocab_size,
                lora_rank=w.lora_rank,
            )
        out.append({**common, **shape})
    if args.json:
        _emit_json({"workloads": out})
        return 0
    for o in out:
        if o["kind"] == "op-level":
            print(
                f"{o['name']}: {o['params'] / 1e6:.1f}M parameters "
                f"({o['trainable_params'] / 1e6:.1f}M trained), "
                f"{o['flops_per_sample'] / 1e9:.4g} GFLOP per {o['sample_unit'][:-1]} "
                f"(forward {o['forward_flops_per_sample'] / 1e9:.4g}), typical batch "
                f"{o['typical_global_batch']}, {o['ops']} ops, default precision "
                f"{o['default_precision']}"
            )
        else:
            print(
                f"{o['name']}: {o['params'] / 1e9:.1f}B parameters"
                + (f" (LoRA rank {o['lora_rank']} on a frozen base)" if o["lora_rank"] else "")
                + f", {o['flops_per_sample'] / 1e15:.3g} PFLOP per sample, typical batch "
                f"{o['typical_global_batch']}, {o['n_layers']} layers, hidden "
                f"{o['hidden_size']}, {o['n_heads']} heads, ffn {o['ffn_size']}, "
                f"sequence {o['seq_len']}, vocabulary {o['vocab_size']}"
            )
        print(
            f"  target: {o['quality_target']}; evaluation every {o['eval_interval_samples']:,.0f} samples"
        )
        rows = [
            [f"{c['global_batch']:.0f}", f"{c['samples_to_converge']:,.0f}"]
            for c in o["convergence"]
        ]
        print(_table(rows, ["global batch", "samples to converge"]))
        if o["convergence_rounds"]:
            print(
                "  per-round reference convergence points (used by validate): "
                + ", ".join(o["convergence_rounds"])
            )
        print(f"  sources: {o['sources']}")
    return 0


def cmd_evaluate(args) -> int:
    from dse._api import evaluate
    from dse._strategy import StrategyPins

    pins = StrategyPins(
        tp=args.tp,
        cp=args.cp,
        pp=args.pp,
        dp=args.dp,
        microbatch=args.microbatch,
        global_batch=args.global_batch,
        interleave=args.interleave,
        recompute=args.recompute,
        precision=args.precision,
    )
    common = dict(
        workload=args.workload,
        pins=pins,
        calibration=_calibration(args),
        costs=_cost_model(args),
        server_cost_gbp=args.server_cost_gbp,
        server_power_w=None if args.server_power_kw is None else args.server_power_kw * 1e3,
        software_rounds_behind=args.software_rounds_behind,
    )
    if args.design is not None:
        from dse._api import evaluate_design

        if args.system is not None:
            raise ValueError("give --system or --design, not both")
        result = evaluate_design(
            args.design,
            accelerators=args.accelerators,
            include_network=args.include_network,
            **common,
        )
    else:
        result = evaluate(
            system=args.system or "h100-sxm",
            accelerators=512 if args.accelerators is None else args.accelerators,
            **common,
        )
    design = result.get("design")
    ok = result["feasible"] and (design is None or design["feasible"])
    if args.samples is not None:
        if args.design is None:
            raise ValueError(
                "--samples needs --design: the uncertain constants are the technology table's, "
                "which derived designs use (presets are datasheet figures)"
            )
        # The percentiles describe the run printed above: flags the Monte Carlo
        # evaluation does not apply are refused rather than silently dropped.
        unsupported = [
            flag
            for flag, given in (
                ("--include-network", args.include_network),
                ("--software-rounds-behind", args.software_rounds_behind != 0.0),
                ("--server-cost-gbp", args.server_cost_gbp is not None),
                ("--server-power-kw", args.server_power_kw is not None),
            )
            if given
        ]
        if unsupported:
            raise ValueError(
                f"--samples with {', '.join(unsupported)} is not allowed: the technology "
                "samples are evaluated with the design's own servers and today's software; "
                "drop those flags or --samples"
            )
        result["uncertainty"] = _uncertainty(
            common["workload"],
            args.design,
            args.accelerators,
            args,
            common["calibration"],
            common["costs"],
            pins=pins,
        )
    if args.json:
        _emit_json(result)
        return 0 if ok else 1
    s = result["strategy"]
    b = result["breakdown"]
    m = result["memory_per_device"]
    print(f"{result['workload']} on {result['accelerators']} x {result['system']}")
    if design is not None:
        print(
            f"  system derived from design '{design['design']}' ({design['process_node']}): "
            f"{design['peak_bf16_flops_per_s'] / 1e12:.0f} TFLOP/s bf16, die "
            f"{design['die_area_mm2']:.0f} mm², {design['power_w']:.0f} W, "
            f"{_gbp(design['capital_gbp_per_server'])} per server "
            + ("incl. network" if design["include_network"] else "excl. network")
            + " (`dse hardware --design` for the breakdown)"
        )
        if not design["feasible"]:
            print(f"DESIGN INFEASIBLE: {design['infeasible_reason']}")
    if not result["feasible"]:
        print(f"INFEASIBLE: {result['infeasible_reason']}")
    print(
        f"  time to train      {result['time_to_train_min']:10.2f} min  ({result['steps']:.0f} steps of {result['step_time_s']:.3f} s, MFU {result['mfu']:.1%})"
    )
    print(
        f"  strategy           tp={s['tp']} cp={s['cp']} pp={s['pp']} dp={s['dp']} microbatch={s['microbatch']} "
        f"global_batch={s['global_batch']} interleave={s['interleave']} recompute={s['recompute']} "
        f"precision={s['precision']}  (best of {result['strategies_searched']} searched)"
    )
    print("  step breakdown (s):")
    for key in (
        "compute_s",
        "memory_bound_s",
        "exposed_comm_s",
        "bubble_s",
        "optimizer_s",
        "overhead_s",
    ):
        print(f"    {key[:-2]:<16}{b[key]:10.4f}")
    print(
        f"      (exposed comm = tp {b['tp_comm_s']:.4f} + pp {b['pp_comm_s']:.4f} + dp {b['dp_exposed_s']:.4f} of {b['dp_comm_s']:.4f})"
    )
    print(f"  evaluation on the clock {b['eval_time_s'] / 60:8.2f} min (whole run)")
    print(
        f"  memory per device  {m['total_bytes'] / 1e9:6.1f} GB of {m['capacity_bytes'] / 1e9:.1f} "
        f"(weights {m['weights_bytes'] / 1e9:.1f}, grads {m['grads_bytes'] / 1e9:.1f}, optimizer {m['optimizer_bytes'] / 1e9:.1f}, "
        f"activations {m['activations_bytes'] / 1e9:.1f}, reserved {m['reserved_bytes'] / 1e9:.1f})"
    )
    print(f"  capital            {_gbp(result['capital_gbp']):>14}")
    print(f"  operating          {_gbp(result['operating_gbp']):>14}  (lifetime)")
    print(f"  total              {_gbp(result['total_gbp']):>14}")
    print(f"  one run            {_gbp(result['run_cost_gbp']):>14}")
    print(f"  energy of one run  {result['energy_j'] / 3.6e9:10.2f} MWh")
    if result.get("uncertainty"):
        _print_uncertainty(result["uncertainty"])
    return 0 if ok else 1


def cmd_hardware(args) -> int:
    from dse._api import design_dict
    from hwmodels import derive_checked, design_rows, get_design

    if args.list:
        rows = design_rows()
        if args.json:
            _emit_json({"designs": [dict(row) for row in rows.values()]})
            return 0
        for name, row in rows.items():
            print(f"{name} ({row['process_node']}): {row['description']}")
        print("\nDetails: `dse hardware --design NAME`; sources in hwmodels/data/designs.csv.")
        return 0
    design = get_design(args.design)
    include_network = args.include_network
    spec, report = derive_checked(design, include_network=include_network)
    out = design_dict(design, report, include_network=include_network)
    out["system"] = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    if args.json:
        _emit_json(out)
        return 0 if out["feasible"] else 1
    p = out["design_params"]
    bd = out["breakdown"]

    def parts(d: dict, fmt) -> str:
        return ", ".join(f"{k} {fmt(v)}" for k, v in sorted(d.items(), key=lambda kv: -kv[1]))

    fp8 = f", {out['peak_fp8_flops_per_s'] / 1e12:.1f} fp8" if out["peak_fp8_flops_per_s"] else ""
    print(
        f"{out['design']} ({out['process_node']}): {p['arrays_per_chip']:.0f} arrays "
        f"(+{p['spare_arrays']:.0f} spare) of {p['array_rows']:.0f} x {p['array_cols']:.0f} "
        f"MACs at {p['clock_hz'] / 1e9:.3g} GHz, {p['datapath_bits']:.0f}-bit datapath"
    )
    for kind, block in out["blocks"].items():
        print(f"  {kind + ' block':<18} {block['name']}: {block['source'] or '(no source given)'}")
    print(f"  peak               {out['peak_bf16_flops_per_s'] / 1e12:.1f} TFLOP/s bf16{fp8}")
    print(
        f"  memory             {out['hbm_capacity_bytes'] / 1e9:.1f} GB HBM in "
        f"{p['hbm_stacks']:.0f} stacks, {out['hbm_bw_bytes_per_s'] / 1e12:.2f} TB/s; "
        f"SRAM {out['sram_bytes'] / 1e6:.0f} MB"
    )
    print(
        f"  links              scale-up {p['scaleup_bw_bytes_per_s'] / 1e9:.0f} GB/s/dir "
        f"(domain {p['scaleup_domain_size']:.0f}), scale-out "
        f"{p['scaleout_bw_bytes_per_s'] / 1e9:.0f} GB/s/dir"
    )
    print(
        f"  die area           {out['die_area_mm2']:.1f} mm² ("
        + parts(bd["area_mm2"], lambda v: f"{v:.1f}")
        + ")"
    )
    print(
        f"  yield              {out['yield']:.3f} of {out['dies_per_wafer']:.1f} dies per "
        f"wafer ({out['good_dies_per_wafer']:.1f} good); die {_gbp(out['die_cost_gbp'])}"
    )
    print(
        f"  power              {out['power_w']:.1f} W ("
        + parts(bd["power_w"], lambda v: f"{v:.1f}")
        + f"); {out['power_density_w_per_mm2']:.2f} W/mm²; server "
        f"{out['server_power_w'] / 1e3:.2f} kW"
    )
    capital_parts = dict(bd["capital_gbp_per_accelerator"])
    network = capital_parts.pop("network")
    if include_network:
        capital_parts["network"] = network
    print(
        f"  capital            {_gbp(out['capital_gbp_per_accelerator'])} per accelerator ("
        + parts(capital_parts, _gbp)
        + ")"
    )
    print(
        f"                     {_gbp(out['capital_gbp_per_server'])} per server of "
        f"{p['accelerators_per_server']:.0f} ("
        + (
            f"{_gbp(out['capital_gbp_per_server_excluding_network'])} without the network, "
            "as the ARIA method counts it"
            if include_network
            else f"the network, {_gbp(network)} per accelerator, left out as the ARIA method "
            "does; --include-network adds it"
        )
        + f"); {_gbp(out['system_capital_gbp'])} for {out['accelerators']:.0f} accelerators"
    )
    if out["feasible"]:
        print("  feasible           yes (every constraint within its limit)")
    else:
        print(f"  INFEASIBLE         {out['infeasible_reason']}")
    print(
        "\nHow each figure is derived: hwmodels/_derive.py; constants with sources and ranges: "
        "hwmodels/data/technology.csv; the system spec: `--json`."
    )
    return 0 if out["feasible"] else 1


def cmd_validate(args) -> int:
    from dse._plots import plot_parity
    from dse._validate import load_results, validate

    rows = load_results(args.results)
    report = validate(
        rows, _calibration(args), benchmarks=args.benchmark, convergence=args.convergence
    )
    if args.plot and report["rows"]:
        plot_parity(report, args.plot)
    if args.json:
        _emit_json(report)
        return 0
    table = [
        [
            r["round"],
            r["system_name"][:28],
            r["preset"],
            r["accelerators"],
            r["global_batch"],
            r["precision"],
            f"{r['published_min']:.2f}",
            f"{r['predicted_min']:.2f}",
            f"{r['error']:+.1%}",
            "held out" if r["holdout"] else "fit",
        ]
        for r in report["rows"]
    ]
    if table:
        print(
            _table(
                table,
                [
                    "round",
                    "system",
                    "preset",
                    "acc",
                    "batch",
                    "prec",
                    "published",
                    "predicted",
                    "error",
                    "split",
                ],
            )
        )
    print(
        f"\nskipped {len(report['skipped'])} rows (benchmark or accelerator the model does not know); --json lists them with reasons"
    )
    if report["mape"] is None:
        print("no rows could be predicted")
        return 1
    print(
        f"MAPE {report['mape']:.1%} over {len(report['rows'])} rows (fit rows {report['mape_fit']:.1%}, held-out rows {report['mape_holdout']:.1%})"
    )
    rows = report["rows"]

    def _summary(key: str, by: dict) -> list[list[str]]:
        out = []
        for name, v in by.items():
            held = [abs(r["error"]) for r in rows if r[key] == name and r["holdout"]]
            n = sum(1 for r in rows if r[key] == name)
            out.append(
                [name, n, f"{v:.1%}", len(held), f"{sum(held) / len(held):.1%}" if held else "-"]
            )
        return out

    header = ["rows", "MAPE", "held out", "MAPE held out"]
    print()
    print(_table(_summary("benchmark", report["mape_by_benchmark"]), ["benchmark", *header]))
    print()
    print(_table(_summary("preset", report["mape_by_accelerator"]), ["accelerator", *header]))
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def cmd_calibrate(args) -> int:
    import os

    from dse._calibrate import calibrate
    from dse._calibration import FITTED_FIELDS, Calibration
    from dse._validate import load_results

    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    if not args.learning_rate > 0:
        raise ValueError(f"--learning-rate must be > 0, got {args.learning_rate}")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise ValueError(f"--out '{args.out}': folder '{out_dir}' does not exist")
    fields = tuple(f.strip() for f in args.fields.split(",")) if args.fields else FITTED_FIELDS
    rows = load_results(args.results)
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if not args.json else None
    _, record = calibrate(
        rows,
        table=args.results or "dse/data/mlperf-training-results.csv",
        benchmarks=args.benchmark,
        fields=fields,
        start=_calibration(args) if args.calibration else Calibration(),
        steps=args.steps,
        learning_rate=args.learning_rate,
        use_all_rows=args.all_rows,
        loss=args.loss,
        fit_families=not args.no_families,
        progress=say,
    )
    with open(args.out, "w") as fh:
        json.dump(record, fh, indent=2)
        fh.write("\n")
    if args.json:
        _emit_json(record)
        return 0
    table = [
        [k, f"{v:.6g}", "fitted" if k in fields else "fixed"]
        for k, v in record["constants"].items()
    ]
    table += [[f"family {k}", f"{v:.4g}", "fitted"] for k, v in record["family_efficiency"].items()]
    print(_table(table, ["constant", "value", ""]))
    e = record["errors"]
    held = f"{e['mape_holdout_rows']:.1%}" if e["mape_holdout_rows"] is not None else "-"
    print(
        f"\nMAPE: fitted rows {e['mape_fit_rows']:.1%}, held-out rows {held}, all rows {e['mape_all_rows']:.1%}"
    )
    print(f"wrote {args.out}")
    return 0


_METRIC_LABELS = {
    "time_to_train_s": ("time-to-train", lambda v: f"{v / 60:.2f} min"),
    "total_gbp": ("total pounds", _gbp),
    "run_cost_gbp": ("pounds per run", _gbp),
    "energy_j": ("energy per run", lambda v: f"{v / 3.6e9:.3f} MWh"),
}


def cmd_sensitivity(args) -> int:
    from dse._api import resolve_workload
    from dse._sensitivity import sensitivity

    out = sensitivity(
        resolve_workload(args.workload),
        system=None if args.design else (args.system or "h100-sxm"),
        design=args.design,
        accelerators=args.accelerators,
        calibration=_calibration(args),
        costs=_cost_model(args),
        include_network=args.include_network,
        step=args.step,
        top=args.top,
    )
    if args.json:
        _emit_json(out)
        return 0
    subj = out["subject"]
    print(
        f"{out['workload']} on {out['accelerators']} x {subj['name']} ({subj['kind']}, "
        f"{out['precision']})"
    )
    print(
        "  "
        + ", ".join(
            f"{_METRIC_LABELS[m][0]} {_METRIC_LABELS[m][1](v)}" for m, v in out["metrics"].items()
        )
    )
    for m, ranked in out["ranked"].items():
        label = _METRIC_LABELS[m][0]
        print(f"\nElasticity of {label}, d ln / d ln(parameter), largest first:")
        rows = [[p, f"{e:+.4f}"] for p, e in ranked[: max(args.top * 2, 8)]]
        print(_table(rows, ["parameter", "elasticity"]))
    print(
        f"\nWhat it is worth: the change when one parameter grows by {args.step:.0%} "
        "(predicted from the elasticity; re-evaluated with the exact model):"
    )
    for w in out["worth"]:
        label, fmt = _METRIC_LABELS[w["metric"]]
        delta = w["predicted_delta"]
        line = (
            f"  +{w['change']:.0%} {w['parameter']}: {label} {w['predicted_relative']:+.2%} "
            f"({'-' if delta < 0 else '+'}{fmt(abs(delta))})"
        )
        if w["reevaluated_relative"] is None:
            line += f"; not re-evaluated: {w['note']}"
        else:
            line += f", re-evaluated {w['reevaluated_relative']:+.2%}"
        print(line)
    if out["piecewise"]:
        print(
            "\nCounts used piecewise (rank placement) or not at all at a fixed accelerator count, "
            "left out of the worth lines: " + ", ".join(out["piecewise"])
        )
    return 0


def cmd_optimize(args) -> int:
    from optimizers import optimize_design

    def progress(frac, message):
        if sys.stderr.isatty():
            bar = "#" * int(30 * frac)
            sys.stderr.write(f"\r[{bar:<30}] {message}\x1b[K")
            sys.stderr.flush()
            if frac >= 1.0:
                sys.stderr.write("\n")

    limits = _limits(args)
    out = optimize_design(
        args.workload,
        base=args.base,
        accelerators=args.accelerators,
        objective=args.objective,
        limits=limits,
        calibration=_calibration(args),
        costs=_cost_model(args),
        starts=args.starts,
        steps=args.steps,
        seed=args.seed,
        robust=None
        if args.robust is None
        else (args.robust, 16 if args.samples is None else args.samples, args.samples_seed),
        progress=progress,
    )
    if out["best"] and args.samples is not None:
        out["best"]["uncertainty"] = _uncertainty(
            args.workload,
            _built(args.base, out["best"]),
            out["best"]["accelerators"],
            args,
            _calibration(args),
            _cost_model(args),
        )
    if args.json:
        _emit_json(out)
        return 0 if out["best"] else 1
    print(
        f"{out['workload']} on {out['accelerators']} accelerators from base design "
        f"'{out['base_design']}': minimise {out['objective']} ({out['objective_metric']})"
    )
    if not out["best"]:
        print(f"  no buildable design found: {out['reason']}")
        return 1
    b = out["best"]
    d = b["design"]
    print(f"\nBest buildable design ({b['accelerators']} accelerators):")
    rows = [
        ["arrays per chip", f"{d['arrays_per_chip']:.0f}"],
        ["clock", f"{d['clock_hz'] / 1e9:.2f} GHz"],
        ["SRAM", f"{d['sram_bytes'] / 1e6:.0f} MB"],
        ["HBM stacks", f"{d['hbm_stacks']:.0f} x {d['hbm_bytes_per_stack'] / 2**30:.0f} GiB"],
        ["HBM bandwidth per stack", f"{d['hbm_bw_bytes_per_s_per_stack'] / 1e12:.2f} TB/s"],
        ["scale-up", f"{d['scaleup_bw_bytes_per_s'] / 1e9:.0f} GB/s/dir"],
        ["scale-out", f"{d['scaleout_bw_bytes_per_s'] * 8 / 1e9:.0f} Gb/s"],
    ]
    print(_table(rows, ["parameter", "value"]))
    print(
        f"\n  time to train   {b['time_to_train_s'] / 60:.2f} min\n"
        f"  total pounds    {_gbp(b['total_gbp'])}\n"
        f"  pounds per run  {_gbp(b['run_cost_gbp'])}\n"
        f"  energy per run  {b['energy_j'] / 3.6e9:.3f} MWh\n"
        f"  system power    {b['power_w'] / 1e6:.2f} MW\n"
        f"  accelerator     {b['peak_bf16_flops_per_s'] / 1e12:.0f} TFLOP/s bf16, "
        f"{b['die_area_mm2']:.0f} mm², {b['accelerator_power_w']:.0f} W, "
        f"{_gbp(b['capital_gbp_per_accelerator'])}"
    )
    s = b["strategy"]
    print(
        f"  strategy        tp={s['tp']} cp={s['cp']} pp={s['pp']} dp={s['dp']} "
        f"microbatch={s['microbatch']} global_batch={s['global_batch']} precision={s['precision']}"
    )
    active = b["active_constraints"]
    print(
        "  active constraints: "
        + (
            ", ".join(f"{k} ({b['constraint_ratios'][k]:.0%} of its limit)" for k in active)
            or "none"
        )
    )
    if b.get("uncertainty"):
        _print_uncertainty(b["uncertainty"])
    if out.get("robust"):
        r = out["robust"]
        print(
            f"  robust: p{r['percentile']:g} of {r['metric']} over {r['samples']} technology "
            f"samples = {r['value']:.6g} (minimised)"
        )
    print(
        f"\nRelaxed optimum {out['relaxed']['objective']:.6g}; projected {out['gap']:+.2%} from it; "
        f"{out['evaluations']} exact evaluations, {out['starts']} starts x {out['steps']} steps."
    )
    return 0


def cmd_pareto(args) -> int:
    from dse._api import resolve_workload
    from dse._studies import scale_study
    from optimizers import pareto_designs

    def progress(frac, message):
        if args.json:
            return
        if sys.stderr.isatty():
            bar = "#" * int(30 * frac)
            sys.stderr.write(f"\r[{bar:<30}] {message}\x1b[K")
            if frac >= 1.0:
                sys.stderr.write("\n")
        elif frac >= 1.0 or message.startswith((f"step {args.steps}/", "final")):
            sys.stderr.write(message + "\n")
        sys.stderr.flush()

    wl = resolve_workload(args.workload)
    cal = _calibration(args)
    costs = _cost_model(args)
    systems = (
        []
        if args.systems.strip().lower() == "none"
        else [x.strip() for x in args.systems.split(",") if x.strip()]
    )
    out = pareto_designs(
        wl,
        base=args.base,
        counts=args.accelerators,
        points=args.points,
        scalarisation=args.scalarisation,
        limits=_limits(args),
        calibration=cal,
        costs=costs,
        steps=args.steps,
        seed=args.seed,
        progress=progress,
    )
    if systems:
        progress(1.0, f"evaluating {len(systems)} real systems at the same counts for comparison")
        study = scale_study(wl, systems=systems, counts=out["counts"], cal=cal, costs=costs)
        out["systems"] = study["points"]
        out["systems_infeasible"] = study["infeasible"]
        # How much each real point is beaten: the front's pounds at no more time.
        for p in out["systems"]:
            cheaper = [g for t, g in out["front_points"] if t <= p["time_to_train_s"]]
            p["front_gbp_at_same_time"] = min(cheaper) if cheaper else None
    else:
        out["systems"], out["systems_infeasible"] = [], []
    if out["front"] and getattr(args, "worth", False):
        # What each knob is worth at the balanced design of the front (least
        # sum of log time and log pounds relative to the front's extremes).
        import dataclasses
        import math

        from dse._sensitivity import sensitivity
        from hwmodels import get_design

        t_min = min(f["time_to_train_s"] for f in out["front"])
        c_min = min(f["total_gbp"] for f in out["front"])
        knee = min(
            out["front"],
            key=lambda f: math.log(f["time_to_train_s"] / t_min) + math.log(f["total_gbp"] / c_min),
        )
        progress(1.0, "elasticities at the balanced design of the front")
        base = get_design(args.base)
        design = dataclasses.replace(
            base,
            name=f"{base.name}-pareto",
            servers=knee["accelerators"] / base.accelerators_per_server,
            **knee["design"],
        )
        rep = sensitivity(wl, design=design, calibration=cal, costs=costs, top=3)
        out["balanced"] = dict(
            accelerators=knee["accelerators"],
            design=knee["design"],
            time_to_train_s=knee["time_to_train_s"],
            total_gbp=knee["total_gbp"],
            elasticities=rep["elasticities"],
            worth=rep["worth"],
        )
    if out["front"] and args.samples is not None:
        progress(
            1.0, f"uncertainty of {len(out['front'])} front designs ({args.samples} samples each)"
        )
        for f in out["front"]:
            f["uncertainty"] = _uncertainty(
                wl, _built(args.base, f), f["accelerators"], args, cal, costs
            )
    plot = None if getattr(args, "no_plot", False) else args.plot
    if plot and out["front"]:
        from dse._plots import plot_design_front

        plot_design_front(out, plot)
        out["plot"] = plot
    if args.json:
        _emit_json(out)
        return 0 if out["front"] else 1
    print(
        f"\n{out['workload']}: Pareto-optimal buildable designs, time to train vs total pounds "
        f"(base design '{out['base_design']}'; {out['starts']} starts x {out['steps']} Adam steps, "
        f"{out['exact_evaluations']} exact evaluations; {out['front_size']} non-dominated, "
        f"{len(out['front'])} shown)"
    )
    for s_ in out["skipped"]:
        print(f"  skipped {s_['accelerators']} accelerators: {s_['reason']}")
    if not out["front"]:
        print("  no feasible design found")
        return 1
    rows = []
    for f in out["front"]:
        d = f["design"]
        rows.append(
            [
                f["accelerators"],
                f"{f['time_to_train_s'] / 60:.1f}",
                _gbp(f["total_gbp"]),
                _gbp(f["run_cost_gbp"]),
                f"{f['energy_j'] / 3.6e9:.2f}",
                f"{d['arrays_per_chip']:.0f}",
                f"{d['clock_hz'] / 1e9:.2f}",
                f"{d['sram_bytes'] / 1e6:.0f}",
                f"{d['hbm_stacks']:.0f}x{d['hbm_bytes_per_stack'] / 2**30:.0f}",
                f"{d['hbm_bw_bytes_per_s_per_stack'] / 1e12:.2f}",
                f"{d['scaleup_bw_bytes_per_s'] / 1e9:.0f}",
                f"{d['scaleout_bw_bytes_per_s'] * 8 / 1e9:.0f}",
                f"{f['peak_bf16_flops_per_s'] / 1e12:.0f}",
                f"{f['die_area_mm2']:.0f}",
                f"{f['accelerator_power_w']:.0f}",
                ",".join(f["active_constraints"]) or "-",
            ]
        )
    print(
        _table(
            rows,
            [
                "acc",
                "minutes",
                "total £",
                "run £",
                "MWh",
                "arrays",
                "GHz",
                "SRAM MB",
                "HBM GiB",
                "TB/s/st",
                "up GB/s",
                "out Gb/s",
                "bf16 TF",
                "mm²",
                "W",
                "active constraints",
            ],
        )
    )
    if out["front"] and out["front"][0].get("uncertainty"):
        print(
            "\nUncertainty of the front (technology constants within their ranges; p10 / median / p90):"
        )
        rows = []
        for f in out["front"]:
            p = f["uncertainty"]["percentiles"]
            rows.append(
                [
                    f["accelerators"],
                    " / ".join(
                        f"{p['time_to_train_s'][q] / 60:.1f}" for q in ("p10", "p50", "p90")
                    ),
                    " / ".join(_gbp(p["total_gbp"][q]) for q in ("p10", "p50", "p90")),
                ]
            )
        print(_table(rows, ["acc", "minutes", "total £"]))
    if out["systems"]:
        print(
            "\nReal systems at the same counts (best strategy each), and the front's pounds at no more time:"
        )
        rows = []
        for p in sorted(out["systems"], key=lambda p: (p["system"], p["accelerators"])):
            ref = p["front_gbp_at_same_time"]
            saving = "-" if ref is None else f"{1 - ref / p['total_gbp']:+.0%}"
            rows.append(
                [
                    p["system"],
                    p["accelerators"],
                    f"{p['time_to_train_s'] / 60:.1f}",
                    _gbp(p["total_gbp"]),
                    "-" if ref is None else _gbp(ref),
                    saving,
                ]
            )
        print(_table(rows, ["system", "acc", "minutes", "total £", "front £", "saving"]))
    if out.get("balanced"):
        b = out["balanced"]
        print(
            f"\nWhat each knob is worth at the balanced design ({b['accelerators']} accelerators, "
            f"{b['time_to_train_s'] / 60:.1f} min, {_gbp(b['total_gbp'])}): elasticity "
            "d ln(metric) / d ln(parameter), largest first"
        )
        e = b["elasticities"]
        items = sorted(
            e["time_to_train_s"].items(),
            key=lambda kv: -(abs(kv[1]) + abs(e["total_gbp"][kv[0]])),
        )
        rows = [[k, f"{v:+.3f}", f"{e['total_gbp'][k]:+.3f}"] for k, v in items[:10]]
        print(_table(rows, ["parameter", "time to train", "total £"]))
    if out.get("plot"):
        print(f"\nwrote {out['plot']}")
    return 0


def cmd_sweep(args) -> int:
    from optimizers._sweep import load_space, run_sweep, summarise_sweep

    if args.summarise:
        out = summarise_sweep(args.summarise, top=args.top)
        if args.json:
            _emit_json(out)
            return 0
        print(
            f"{out['workload']}: {out['evaluated']:,} of {out['total']:,} designs evaluated, "
            f"{out.get('feasible', 0):,} feasible ({out['out']})"
        )
        for metric, rows in out.get("best", {}).items():
            print(f"\nBest by {metric}:")
            print(_sweep_table(rows))
        if out.get("front"):
            print(f"\nPareto front, time to train vs total pounds ({len(out['front'])} designs):")
            print(_sweep_table(out["front"]))
        return 0
    if not args.out:
        raise ValueError("--out is required with --space: the folder the results stream to")
    space = load_space(args.space)
    given = [
        args.coordinator is not None,
        args.num_processes is not None,
        args.process_id is not None,
    ]
    if any(given):
        if not all(given):
            raise ValueError(
                "--coordinator, --num-processes and --process-id go together (all or none)"
            )
        if args.num_processes < 1 or not 0 <= args.process_id < args.num_processes:
            raise ValueError(
                f"--process-id={args.process_id} with --num-processes={args.num_processes} is "
                "not allowed: 0 <= id < number of processes"
            )
        import jax

        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
        )

    def progress(done, total, message):
        if args.json:
            return
        line = f"chunk {done}/{total}: {message}"
        if sys.stderr.isatty():
            bar = "#" * int(30 * done / max(total, 1))
            sys.stderr.write(f"\r[{bar:<30}] {line}\x1b[K" + ("\n" if done >= total else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    res = run_sweep(
        space,
        args.out,
        workload=args.workload,
        resume=args.resume,
        calibration=_calibration(args),
        progress=progress,
    )
    if args.json:
        _emit_json(res)
        return 0
    rate = res["evals_per_s"]
    print(
        f"{res['total']:,} designs in {res['chunks']} chunks: {res['computed']} computed, "
        f"{res['skipped']} already done; "
        + (f"{rate:,.0f} designs/s on {res['devices']} device(s); " if rate else "")
        + f"results in {res['out']} (dse sweep --summarise {res['out']})"
    )
    return 0


def _sweep_table(rows: list[dict]) -> str:
    names = list(rows[0]["design"])
    table = [
        [
            r["accelerators"],
            f"{r['time_to_train_s'] / 60:.1f}",
            _gbp(r["total_gbp"]),
            f"{r['energy_j'] / 3.6e9:.2f}",
            *[f"{r['design'][n]:.4g}" for n in names],
        ]
        for r in rows
    ]
    return _table(table, ["acc", "minutes", "total £", "MWh", *names])


def _built(base: str, found: dict):
    """The base design with a search result's free parameters and count."""
    from hwmodels import get_design

    d = get_design(base)
    return dataclasses.replace(
        d,
        name=f"{d.name}-optimised",
        servers=found["accelerators"] / float(d.accelerators_per_server),
        **found["design"],
    )


def _limits(args):
    from optimizers import Limits

    return Limits(
        max_gbp=args.max_gbp,
        max_time_to_train_s=None
        if args.max_time_to_train_min is None
        else args.max_time_to_train_min * 60.0,
        max_power_w=None if args.max_power_mw is None else args.max_power_mw * 1e6,
    )


def _compilation_cache() -> None:
    """A persistent XLA compilation cache, so a repeated command skips its
    compiles: ``$DSE_CACHE_DIR`` (``off`` disables it), else ``~/.cache/dse/xla``.
    Left alone when the caller has configured one; failures are ignored (the
    cache only saves time)."""
    import os

    where = os.environ.get(
        "DSE_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "dse", "xla")
    )
    if where.strip().lower() == "off":
        return
    try:
        import jax

        if jax.config.jax_compilation_cache_dir:
            return
        os.makedirs(where, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", where)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    except Exception:  # noqa: BLE001 - a cache is an optimisation, never an error
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    _compilation_cache()
    try:
        return args.func(args)
    except ValueError as err:
        print(f"dse {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a command that stopped reading
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
