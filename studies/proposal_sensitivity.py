"""What a novel matrix-multiply block, memory or link must achieve to cut the
cost of training GPT-3 175B by 10x, 100x and 1000x at equal time.

The cost of training is the pounds of one run (``run_cost_gbp``): the ARIA
method's total pounds of the system (capital + 5-year operating) times the
run's share of the system's life (run time / 43,800 h). At equal time the
run cost is what a better building block has to cut: a block that makes the
system cheaper per unit of useful throughput.

Method (every number comes from the model):

1. Reference time: the ``h100-like`` design at 512 accelerators, evaluated
   exactly (``dse._api.evaluate_design``), sets the time limit ``T0``.
2. Building blocks equivalent to that design are read off its ``derive``
   report (``hwmodels.ComputeBlock``: the arrays' ops/s per mm² and ops per
   joule; ``MemoryBlock``: HBM energy per bit and price per byte;
   ``InterconnectBlock``: scale-up energy per bit and price per byte/s, from
   ``technology.csv``); attached to the design they reproduce it exactly
   (checked).
3. For each block kind alone (the others stay equivalent) and all three
   together, the block's figures are improved by a factor F: compute
   ops/s/mm² x F and ops/J x F (clock, precision and extra process cost
   unchanged); memory J/bit / F and $/byte / F; interconnect J/bit / F and
   $/(byte/s) / F. For each F, ``optimizers.optimize_design`` (objective
   ``run-cost``, ``Limits(max_time_to_train_s=T0)``, several accelerator
   counts) finds the best buildable design with that block. The study's
   search space is the package's ``SEARCH_SPACE`` without the clock (the
   compute block sets it) and with the array shape and up to 4,096 arrays
   per die free (``--space wide``, default), so a denser block can be used.
4. ``C0`` is the best run cost at F = 1 (today's blocks, same search, same
   limit), so the factors measure what the block buys beyond re-balancing
   the design. The run cost is swept geometrically in F (10, 100, 1000,
   10000); each target ``C0 / 10``, ``/ 100``, ``/ 1000`` that the sweep
   brackets is refined by bisection on log F and interpolated log-log on
   the monotone envelope of the results (a better block can only help;
   each run also starts from the cheapest design found so far whose blocks
   its blocks dominate). A kind whose run cost stops falling (< 3% per
   decade of F) is saturated: its remaining targets are reported as not
   reachable, with the capital, power and step-time breakdown of its
   cheapest design, which shows what sets the floor.

Outputs (``--out``, default ``studies/out/proposal/``): ``report.md`` and
``proposal.json`` (every optimizer run with its design and metrics); both
rewritten after every run, so finished work is never lost.

Usage (from the repository root, with the package installed)::

    python studies/proposal_sensitivity.py              # full study (5-8 min on 2 cores)
    python studies/proposal_sensitivity.py --quick      # smoke run (~2 min)
    python studies/proposal_sensitivity.py --kinds compute,all --bisect 3

Exit status: 0 on success, 1 if the baseline run finds no feasible design.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time

KINDS = ("compute", "memory", "interconnect", "all")
TARGETS = (10.0, 100.0, 1000.0)
SWEEP = (10.0, 100.0, 1000.0, 10000.0)
COUNTS = (16, 32, 64, 128, 256, 512)
SATURATION = 0.03  # a decade of F buying less than 3% of run cost: saturated
FREE_SHARE = 0.05  # a block under 5% of the run's pounds at the largest F: all but free
FREE_MIN_FACTOR = 1000.0  # ... judged only once F has reached this (the search has adapted)
WORKLOAD = "gpt3-175b"
BASE = "h100-like"
REFERENCE_ACCELERATORS = 512


def _log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _gbp(x) -> str:
    if x is None:
        return "-"
    return f"£{x:,.0f}" if abs(x) >= 100 else f"£{x:,.2f}"


def _fmt_f(f) -> str:
    if f is None:
        return "-"
    return f"{f:.3g}" if f < 1e4 else f"{f:.2e}"


# ----------------------------------------------------------------------------
# Blocks
# ----------------------------------------------------------------------------


def equivalent_blocks(design, tech, report) -> dict:
    """Compute, memory and interconnect blocks equivalent to ``design`` on ``tech``.

    The compute block's figures are those of the design's matrix arrays as
    ``derive`` prices them: tile area per MAC (arrays' area over built MACs,
    so spares count) gives ops/s/mm² = 2 x clock / tile; the datapath plus
    support power of the enabled MACs gives ops/J.
    """
    from hwmodels import ComputeBlock, InterconnectBlock, MemoryBlock

    built_macs = (
        (float(design.arrays_per_chip) + float(design.spare_arrays))
        * float(design.array_rows)
        * float(design.array_cols)
    )
    tile_mm2 = report["breakdown"]["area_mm2"]["arrays"] / built_macs
    power = report["breakdown"]["power_w"]
    mac_power = power["datapath"] + power["support"]
    compute = ComputeBlock(
        ops_per_s_per_mm2=2.0 * float(design.clock_hz) / tile_mm2,
        ops_per_j=2.0 * report["mac_rate_per_s"] / mac_power,
        precision_bits=float(design.datapath_bits),
        clock_hz=float(design.clock_hz),
        extra_cost_usd_per_mm2=0.0,
        name=f"{design.name}-arrays",
        source=f"derived from '{design.name}' (hwmodels.derive: arrays' area and MAC power)",
    )
    memory = MemoryBlock(
        energy_j_per_bit=float(tech.hbm_energy_j_per_bit),
        cost_usd_per_byte=float(tech.hbm_cost_usd_per_byte),
        name="hbm",
        source=f"technology.csv {design.process_node}: hbm_energy_j_per_bit, hbm_cost_usd_per_byte",
    )
    interconnect = InterconnectBlock(
        energy_j_per_bit=float(tech.scaleup_energy_j_per_bit),
        cost_usd_per_byte_per_s=float(tech.board_scaleup_cost_usd_per_byte_per_s),
        name="nvlink-class",
        source=(
            f"technology.csv {design.process_node}: scaleup_energy_j_per_bit, "
            "board_scaleup_cost_usd_per_byte_per_s"
        ),
    )
    return dict(compute=compute, memory=memory, interconnect=interconnect)


def scaled_blocks(blocks: dict, kind: str, factor: float) -> dict:
    """The blocks with ``kind`` (or all three for ``all``) improved by ``factor``."""
    out = dict(blocks)
    if kind in ("compute", "all"):
        c = blocks["compute"]
        out["compute"] = dataclasses.replace(
            c, ops_per_s_per_mm2=c.ops_per_s_per_mm2 * factor, ops_per_j=c.ops_per_j * factor
        )
    if kind in ("memory", "all"):
        m = blocks["memory"]
        out["memory"] = dataclasses.replace(
            m,
            energy_j_per_bit=m.energy_j_per_bit / factor,
            cost_usd_per_byte=m.cost_usd_per_byte / factor,
        )
    if kind in ("interconnect", "all"):
        i = blocks["interconnect"]
        out["interconnect"] = dataclasses.replace(
            i,
            energy_j_per_bit=i.energy_j_per_bit / factor,
            cost_usd_per_byte_per_s=i.cost_usd_per_byte_per_s / factor,
        )
    return out


def with_blocks(design, blocks: dict, label: str):
    return dataclasses.replace(
        design,
        name=f"{design.name}-{label}",
        blocks=tuple((k, blocks[k]) for k in ("compute", "memory", "interconnect")),
    )


def block_figures(blocks: dict) -> dict:
    """Human-unit figures of the blocks (for the report)."""
    c, m, i = blocks["compute"], blocks["memory"], blocks["interconnect"]
    return dict(
        compute_tops_per_mm2=float(c.ops_per_s_per_mm2) / 1e12,
        compute_tops_per_w=float(c.ops_per_j) / 1e12,
        memory_pj_per_bit=float(m.energy_j_per_bit) * 1e12,
        memory_usd_per_gb=float(m.cost_usd_per_byte) * 1e9,
        interconnect_pj_per_bit=float(i.energy_j_per_bit) * 1e12,
        interconnect_usd_per_gb_s=float(i.cost_usd_per_byte_per_s) * 1e9,
    )


def study_space(kind: str = "wide") -> dict:
    """The search space: ``SEARCH_SPACE`` without the clock (the compute block
    sets it: ``hwmodels.compose``), and for ``wide`` the array shape and up to
    4,096 arrays per die free."""
    from optimizers import SEARCH_SPACE

    space = {k: v for k, v in SEARCH_SPACE.items() if k != "clock_hz"}
    if kind == "wide":
        sizes = (16.0, 32.0, 64.0, 128.0, 256.0)
        space["arrays_per_chip"] = (16.0, 4096.0, ("step", 4.0))
        space["array_rows"] = (16.0, 256.0, ("set", sizes))
        space["array_cols"] = (16.0, 256.0, ("set", sizes))
    return space


# ----------------------------------------------------------------------------
# Runs
# ----------------------------------------------------------------------------


class Study:
    """State of the study: baseline, blocks, every optimizer run."""

    def __init__(self, args):
        from dse import CostModel, load_calibration
        from dse._api import evaluate_design
        from hwmodels import derive_checked, get_design, technology

        self.args = args
        self.cal, self.costs = load_calibration(), CostModel()
        self.design = get_design(BASE)
        self.tech = technology(self.design.process_node)
        _, report = derive_checked(self.design, self.tech)
        self.report0 = report
        self.blocks0 = equivalent_blocks(self.design, self.tech, report)
        self.space = study_space(args.space)
        self.t_start = time.perf_counter()
        self.runs: list[dict] = []
        self.kind_status: dict[str, dict] = {}

        _log(f"reference: {BASE} at {REFERENCE_ACCELERATORS} accelerators, exact evaluation")
        kw = dict(workload=WORKLOAD, calibration=self.cal, costs=self.costs)
        ref = evaluate_design(self.design, accelerators=REFERENCE_ACCELERATORS, **kw)
        same = evaluate_design(
            with_blocks(self.design, self.blocks0, "equivalent-blocks"),
            accelerators=REFERENCE_ACCELERATORS,
            **kw,
        )
        self.reference = ref
        self.T0 = ref["time_to_train_s"]
        self.equivalence = dict(
            time_rel_diff=same["time_to_train_s"] / ref["time_to_train_s"] - 1.0,
            run_cost_rel_diff=same["run_cost_gbp"] / ref["run_cost_gbp"] - 1.0,
            energy_rel_diff=same["energy_j"] / ref["energy_j"] - 1.0,
        )
        _log(
            f"  T0 = {self.T0 / 60:.2f} min, run cost {_gbp(ref['run_cost_gbp'])}; "
            f"equivalent blocks reproduce it to {max(abs(v) for v in self.equivalence.values()):.1e}"
        )

    # -- one optimizer run --------------------------------------------------

    def warm_start(self, kind: str, factor: float) -> dict | None:
        """The cheapest design found so far whose blocks this run's blocks
        dominate: ``kind`` (or the baseline) at a smaller factor, and for
        ``all`` also any single block at a factor no larger. With better
        blocks that design can only be cheaper, so starting there keeps the
        study's run costs monotone despite a noisy search."""

        def dominated(r):
            if r["kind"] == "baseline" or (r["kind"] == kind and r["factor"] < factor):
                return True
            return kind == "all" and r["kind"] != "all" and r["factor"] <= factor

        runs = [r for r in self.runs if r["best"] is not None and dominated(r)]
        if not runs:
            return None
        return min(runs, key=lambda r: r["best"]["run_cost_gbp"])

    def optimize(self, kind: str, factor: float) -> dict:
        from optimizers import Limits, optimize_design

        args = self.args
        blocks = scaled_blocks(self.blocks0, kind, factor)
        warm = self.warm_start(kind, factor) if args.warm_start else None
        start = self.design
        if warm is not None:
            start = dataclasses.replace(self.design, **warm["best"]["design"])
        base = with_blocks(start, blocks, f"{kind}-x{factor:g}")
        t0 = time.perf_counter()
        _log(
            f"{kind} x{factor:.4g}: optimizing run cost at {list(args.counts)} accelerators"
            + (f" (warm start: {warm['kind']} at F = {warm['factor']:.4g})" if warm else "")
            + " ..."
        )
        out = optimize_design(
            WORKLOAD,
            base=base,
            accelerators=list(args.counts),
            objective="run-cost",
            limits=Limits(max_time_to_train_s=self.T0),
            calibration=self.cal,
            costs=self.costs,
            space=self.space,
            starts=args.starts,
            steps=args.steps,
            polish_rounds=args.polish_rounds,
            seed=args.seed,
            # The package's Adam (cosine decay, per-start cleaning and clipping) at a
            # smaller peak step than its default 0.15.
            learning_rate=0.08,
        )
        wall = time.perf_counter() - t0
        rec = dict(
            kind=kind,
            factor=factor,
            warm_start=None if warm is None else dict(kind=warm["kind"], factor=warm["factor"]),
            blocks=block_figures(blocks),
            wall_s=wall,
            evaluations=out["evaluations"],
            gradient_evaluations=out["gradient_evaluations"],
            skipped=out["skipped"],
            best=out["best"],
            reason=out.get("reason"),
            gap=out.get("gap"),
        )
        if out["best"] is not None:
            rec["explain"] = self.explain(base, out["best"], kind)
            b = out["best"]
            _log(
                f"  -> {_gbp(b['run_cost_gbp'])} at {b['accelerators']} accelerators, "
                f"{b['time_to_train_s'] / 60:.1f} min ({wall:.0f} s)"
            )
        else:
            _log(f"  -> no feasible design ({out.get('reason')}; {wall:.0f} s)")
        self.runs.append(rec)
        return rec

    def explain(self, base, best: dict, kind: str) -> dict:
        """Exact re-evaluation of a best design with its breakdowns: capital
        per accelerator by part (host and board split), power by part, step
        time by term, and ``block_share``: the share of the run's pounds in
        the parts the studied block improves (an upper bound on what a
        further improvement of the block could still remove from this
        design: the die counts whole for compute though its SRAM, NoC and
        PHY area do not shrink)."""
        from dse._api import evaluate_design

        d = dataclasses.replace(
            base,
            servers=best["accelerators"] / float(base.accelerators_per_server),
            **best["design"],
        )
        r = evaluate_design(
            d,
            accelerators=best["accelerators"],
            workload=WORKLOAD,
            calibration=self.cal,
            costs=self.costs,
        )
        rep = r["design"]
        cap = dict(rep["breakdown"]["capital_gbp_per_accelerator"])
        cap.pop("network", None)  # not in capital (ARIA method)
        host = float(self.tech.host_cost_usd_per_accelerator) * float(self.tech.gbp_per_usd)
        cap["host"] = host
        cap["board (scale-up)"] = cap.pop("server") - host
        bd = r["breakdown"]
        step = {
            k: bd[k]
            for k in (
                "compute_s",
                "memory_bound_s",
                "exposed_comm_s",
                "bubble_s",
                "optimizer_s",
                "overhead_s",
            )
        }
        power = dict(rep["breakdown"]["power_w"])
        touched_cap = 0.0
        if kind in ("compute", "all"):
            # The arrays' share of the die and of the packaging (priced per mm²
            # of die and HBM footprint): SRAM, NoC, PHYs and uncore do not shrink.
            arrays = rep["breakdown"]["area_mm2"]["arrays"]
            stacks = float(best["design"].get("hbm_stacks", base.hbm_stacks))
            footprint = rep["die_area_mm2"] + stacks * float(self.tech.hbm_stack_footprint_mm2)
            touched_cap += cap["die"] * arrays / rep["die_area_mm2"]
            touched_cap += cap["packaging"] * arrays / footprint
        if kind in ("memory", "all"):
            touched_cap += cap["memory"]
        if kind in ("interconnect", "all"):
            touched_cap += cap["board (scale-up)"]
        touched_w = sum(v for k, v in power.items() if k in POWER_TOUCHES.get(kind, ()))
        pounds = r["capital_gbp"] + r["operating_gbp"]
        block_share = (
            touched_cap * best["accelerators"] + r["operating_gbp"] * touched_w / rep["power_w"]
        ) / pounds
        return dict(
            block_share=block_share,
            block_capital_per_accelerator=touched_cap,
            time_to_train_s=r["time_to_train_s"],
            run_cost_gbp=r["run_cost_gbp"],
            consistent=abs(r["run_cost_gbp"] / best["run_cost_gbp"] - 1.0) < 1e-4,
            capital_gbp=r["capital_gbp"],
            operating_gbp=r["operating_gbp"],
            capital_per_accelerator=cap,
            power_w=power,
            accelerator_power_w=rep["power_w"],
            step_time_s=r["step_time_s"],
            step=step,
            steps=r["steps"],
            mfu=r["mfu"],
            strategy=r["strategy"],
            peak_bf16_tflops=rep["peak_bf16_flops_per_s"] / 1e12,
            hbm_tb_s=rep["hbm_bw_bytes_per_s"] / 1e12,
            hbm_gb=rep["hbm_capacity_bytes"] / 1e9,
            die_area_mm2=rep["die_area_mm2"],
        )

    # -- the curve of one kind ------------------------------------------------

    def points(self, kind: str) -> list[tuple[float, float]]:
        """(F, best run cost) of every feasible run of ``kind`` (F = 1 shared)."""
        pts = []
        for r in self.runs:
            if r["best"] is None:
                continue
            if r["kind"] == kind or (r["factor"] == 1.0 and r["kind"] == "baseline"):
                pts.append((r["factor"], r["best"]["run_cost_gbp"]))
        return sorted(pts)

    @staticmethod
    def envelope(pts):
        """Monotone non-increasing envelope (a better block can only help)."""
        out, best = [], math.inf
        for f, c in sorted(pts):
            best = min(best, c)
            out.append((f, best))
        return out

    def crossing(self, kind: str, level: float) -> dict:
        """Where the envelope of ``kind`` first reaches ``level``: the bracket
        and the log-log interpolated factor."""
        env = self.envelope(self.points(kind))
        for (f0, c0), (f1, c1) in zip(env, env[1:], strict=False):
            if c0 > level >= c1:
                if c1 == c0:
                    est = f1
                else:
                    w = math.log(c0 / level) / math.log(c0 / c1)
                    est = math.exp(math.log(f0) + w * math.log(f1 / f0))
                return dict(status="reached", factor=est, bracket=(f0, f1), costs=(c0, c1))
        if env and env[0][1] <= level:
            return dict(status="reached", factor=env[0][0], bracket=(env[0][0], env[0][0]))
        st = self.kind_status.get(kind, {})
        floor = env[-1][1] if env else None
        # The block's share of the pounds of the cheapest run at the largest
        # factor swept: below FREE_SHARE the block is already all but free
        # there, so no further improvement of it moves the run cost.
        runs = [r for r in self.runs if r["kind"] == kind and r["best"] is not None]
        share, top = None, 0.0
        if runs:
            top = max(r["factor"] for r in runs)
            at_top = [r for r in runs if r["factor"] == top]
            share = min(at_top, key=lambda r: r["best"]["run_cost_gbp"])["explain"]["block_share"]
        free = share is not None and share < FREE_SHARE and top >= FREE_MIN_FACTOR
        if st.get("saturated") or free:
            status = "not reachable"
        else:
            status = "not reached"
        return dict(
            status=status,
            floor=floor,
            max_factor=st.get("max_f"),
            block_share_at_max_factor=share,
        )

    def run_kind(self, kind: str, c0: float) -> None:
        args = self.args
        levels = [c0 / t for t in args.targets]
        st = self.kind_status.setdefault(kind, dict(saturated=False, max_f=1.0))
        for f in args.sweep:
            self.optimize(kind, f)
            st["max_f"] = f
            self.save()
            env = self.envelope(self.points(kind))
            if env[-1][1] <= min(levels):
                break
            if len(env) >= 2:
                (fa, ca), (fb, cb) = env[-2], env[-1]
                per_decade = (ca / cb) ** (1.0 / math.log10(fb / fa)) - 1.0
                if per_decade < SATURATION:
                    st["saturated"] = True
                    st["saturation"] = dict(per_decade=per_decade, between=(fa, fb))
                    _log(f"  {kind}: saturated ({per_decade:.1%} per decade of F)")
                    break
        # Bisection on log F for every bracketed target.
        for level in levels:
            for _ in range(args.bisect):
                c = self.crossing(kind, level)
                if c["status"] != "reached" or c["bracket"][0] == c["bracket"][1]:
                    break
                lo, hi = c["bracket"]
                if hi / lo <= 1.05:
                    break
                self.optimize(kind, math.sqrt(lo * hi))
                self.save()

    # -- output -----------------------------------------------------------------

    def c0(self):
        base = [r for r in self.runs if r["kind"] == "baseline" and r["best"] is not None]
        return base[0]["best"]["run_cost_gbp"] if base else None

    def results(self) -> dict:
        c0 = self.c0()
        res = {}
        if c0 is None:
            return res
        for kind in self.args.kinds:
            if not any(r["kind"] == kind for r in self.runs):
                continue
            res[kind] = {
                f"{t:g}x": dict(
                    target_gbp=c0 / t,
                    **self.crossing(kind, c0 / t),
                    vs_reference=self.crossing(kind, self.reference["run_cost_gbp"] / t),
                )
                for t in self.args.targets
            }
        return res

    def save(self) -> None:
        out = dict(
            workload=WORKLOAD,
            base_design=BASE,
            reference=dict(
                accelerators=REFERENCE_ACCELERATORS,
                time_to_train_s=self.reference["time_to_train_s"],
                run_cost_gbp=self.reference["run_cost_gbp"],
                total_gbp=self.reference["total_gbp"],
                capital_gbp=self.reference["capital_gbp"],
                operating_gbp=self.reference["operating_gbp"],
                energy_j=self.reference["energy_j"],
                strategy=self.reference["strategy"],
                capital_gbp_per_accelerator=self.report0["breakdown"][
                    "capital_gbp_per_accelerator"
                ],
            ),
            T0_s=self.T0,
            C0_gbp=self.c0(),
            equivalence=self.equivalence,
            baseline_blocks=block_figures(self.blocks0),
            settings=self.settings(),
            space={k: [v[0], v[1], list(v[2][:1]) + [v[2][1]]] for k, v in self.space.items()},
            kind_status=self.kind_status,
            results=self.results(),
            runs=self.runs,
            wall_s=time.perf_counter() - self.t_start,
        )
        os.makedirs(self.args.out, exist_ok=True)
        with open(os.path.join(self.args.out, "proposal.json"), "w") as fh:
            json.dump(_jsonable(out), fh, indent=1)
        with open(os.path.join(self.args.out, "report.md"), "w") as fh:
            fh.write(self.markdown())

    def settings(self) -> dict:
        a = self.args
        return dict(
            quick=a.quick,
            counts=list(a.counts),
            starts=a.starts,
            steps=a.steps,
            polish_rounds=a.polish_rounds,
            seed=a.seed,
            sweep=list(a.sweep),
            bisect=a.bisect,
            warm_start=a.warm_start,
            targets=list(a.targets),
            kinds=list(a.kinds),
            space=a.space,
            saturation_per_decade=SATURATION,
        )

    def markdown(self) -> str:
        return render_report(self)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


# ----------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------


def _md_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _block_needed(kind: str, factor: float, b0: dict) -> str:
    """The block figures at ``factor`` in human units."""
    parts = []
    if kind in ("compute", "all"):
        parts.append(
            f"{b0['compute_tops_per_mm2'] * factor:.3g} TOPS/mm², "
            f"{b0['compute_tops_per_w'] * factor:.3g} TOPS/W"
        )
    if kind in ("memory", "all"):
        parts.append(
            f"{b0['memory_pj_per_bit'] / factor:.3g} pJ/bit, "
            f"${b0['memory_usd_per_gb'] / factor:.3g}/GB"
        )
    if kind in ("interconnect", "all"):
        parts.append(
            f"{b0['interconnect_pj_per_bit'] / factor:.3g} pJ/bit, "
            f"${b0['interconnect_usd_per_gb_s'] / factor:.3g} per GB/s"
        )
    return "; ".join(parts)


def _share_text(d: dict, total: float, top: int = 4) -> str:
    items = sorted(d.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{k} {v / total:.0%}" for k, v in items)


STEP_NAMES = {
    "compute_s": "compute",
    "memory_bound_s": "memory-bound",
    "exposed_comm_s": "exposed communication",
    "bubble_s": "pipeline bubble",
    "optimizer_s": "optimizer step",
    "overhead_s": "overhead",
}

# Power parts (per accelerator) an improvement of each block reduces.
POWER_TOUCHES = {
    "compute": {"datapath", "support"},
    "memory": {"hbm"},
    "interconnect": {"scaleup_io"},
    "all": {"datapath", "support", "hbm", "scaleup_io"},
}

# Capital a block reduces, in words (computed in ``Study.explain``).
TOUCHES_TEXT = {
    "compute": "the arrays' share of die and packaging",
    "memory": "the HBM",
    "interconnect": "the scale-up baseboard and switches",
    "all": "the arrays' share of die and packaging, the HBM, the scale-up baseboard",
}


def _floor_text(study: Study, kind: str) -> str:
    runs = [r for r in study.runs if r["kind"] == kind and r["best"] is not None]
    if not runs:
        return ""
    r = min(runs, key=lambda r: (r["best"]["run_cost_gbp"], -r["factor"]))
    e, b = r["explain"], r["best"]
    cap = e["capital_per_accelerator"]
    cap_acc = sum(cap.values())
    untouched = cap_acc - e["block_capital_per_accelerator"]
    pounds = e["capital_gbp"] + e["operating_gbp"]
    op_share = e["operating_gbp"] / pounds
    untouched_share = untouched * b["accelerators"] / pounds
    step = e["step"]
    at_peak = e["mfu"] * e["step_time_s"]
    life_s = float(study.costs.lifetime_years) * 8760.0 * 3600.0
    host_run = cap["host"] * b["accelerators"] * b["time_to_train_s"] / life_s
    return (
        f"The cheapest run (F = {_fmt_f(r['factor'])}) takes {b['time_to_train_s'] / 60:.1f} min "
        f"on {b['accelerators']} accelerators ({e['peak_bf16_tflops']:,.0f} bf16 TFLOP/s, "
        f"{e['hbm_gb']:.0f} GB and {e['hbm_tb_s']:.1f} TB/s of HBM, {e['die_area_mm2']:.0f} mm², "
        f"{e['accelerator_power_w']:.0f} W each) for {_gbp(b['run_cost_gbp'])}. Capital is "
        f"{1 - op_share:.0%} of its pounds: {_gbp(cap_acc)} per accelerator "
        f"({_share_text(cap, cap_acc)}); {_gbp(untouched)} of it ({untouched / cap_acc:.0%}; "
        f"{untouched_share:.0%} of the run's pounds) is in parts the block does not reduce (it "
        f"reduces {TOUCHES_TEXT[kind]}; with their energy the block's parts are "
        f"{e['block_share']:.1%} of the run's pounds); the host's share alone is "
        f"{_gbp(host_run)} of the run. Step time {e['step_time_s']:.3g} s: "
        f"{_share_text({STEP_NAMES[k]: v for k, v in step.items()}, e['step_time_s'])}; MFU "
        f"{e['mfu']:.0%} (at peak the step's FLOPs would take {at_peak:.2g} s; the GEMMs' time "
        f"is the larger of FLOPs / peak and traffic / HBM bandwidth). Active constraints: "
        f"{', '.join(b['active_constraints']) or 'none'}."
    )


def render_report(study: Study) -> str:
    a = study.args
    ref = study.reference
    c0 = study.c0()
    b0 = block_figures(study.blocks0)
    L = []
    L.append(
        "# What a novel block must achieve to cut the cost of training GPT-3 175B at equal time"
    )
    L.append("")
    L.append(
        "Generated by `studies/proposal_sensitivity.py` "
        + ("(`--quick` smoke settings: the numbers are NOT converged) " if a.quick else "")
        + f"on {time.strftime('%Y-%m-%d %H:%M')}; wall time {time.perf_counter() - study.t_start:.0f} s, "
        f"{len(study.runs)} optimizer runs."
    )
    L.append("")
    L.append("## The question and the measure")
    L.append("")
    L.append(
        "How much better must a matrix-multiply block, an off-chip memory or a scale-up link be "
        "(or all three) for the optimizer to find a buildable system that trains GPT-3 175B "
        "10x, 100x or 1000x cheaper than today's blocks allow, in no more time than an H100-class "
        "system of 512 accelerators?"
    )
    L.append("")
    L.append(
        "**Cost of training = pounds of one run** (`run_cost_gbp`): the ARIA total (capital + "
        "5-year operating at 80% utilisation, £0.02/kWh, PUE 1.1) times run time / 43,800 h, i.e. "
        "the capital amortised linearly over the system's life plus the operating pounds, both "
        "pro rata to the run's wall time. It is chosen over total pounds because a training "
        "run, not a system, is what is being bought: total pounds ignore how much of the "
        "system's life a run uses (at a fixed time limit they reward the smallest system that "
        "just makes the limit), whereas run pounds price capital by the hours it is tied up, "
        "so a block that makes the same system faster counts. Note two properties of the ARIA "
        "form: the operating part of a run is billed at 80% of its energy (lifetime operating "
        "assumes 80% utilisation), and capital is spread over every hour of the life, not only "
        "utilised hours; both scale every design alike and do not move the factors."
    )
    L.append("")
    L.append("## Baseline")
    L.append("")
    L.append(
        f"- Reference: `{BASE}` at {REFERENCE_ACCELERATORS} accelerators, exact: "
        f"**T0 = {study.T0 / 60:.2f} min**, run cost {_gbp(ref['run_cost_gbp'])} "
        f"(total {_gbp(ref['total_gbp'])}: capital {_gbp(ref['capital_gbp'])}, operating "
        f"{_gbp(ref['operating_gbp'])}; {ref['energy_j'] / 3.6e9:.2f} MWh a run; strategy "
        f"tp {ref['strategy']['tp']} pp {ref['strategy']['pp']} dp {ref['strategy']['dp']}, "
        f"{ref['strategy']['precision']})."
    )
    cap0 = dict(study.report0["breakdown"]["capital_gbp_per_accelerator"])
    cap0.pop("network", None)
    L.append(
        f"- Its capital per accelerator {_gbp(study.report0['capital_gbp_per_accelerator'])}: "
        + ", ".join(f"{k} {_gbp(v)}" for k, v in sorted(cap0.items(), key=lambda kv: -kv[1]))
        + f" ('server' = host {_gbp(float(study.tech.host_cost_usd_per_accelerator) * float(study.tech.gbp_per_usd))}"
        " per accelerator + scale-up baseboard/switches)."
    )
    L.append(
        f"- Equivalent blocks (today's figures): compute {b0['compute_tops_per_mm2']:.3g} "
        f"TOPS/mm² and {b0['compute_tops_per_w']:.3g} TOPS/W (16-bit dense, the arrays' "
        f"tile area and MAC power from `derive`, at {float(study.design.clock_hz) / 1e9:.2f} GHz); "
        f"memory {b0['memory_pj_per_bit']:.3g} pJ/bit and ${b0['memory_usd_per_gb']:.3g}/GB; "
        f"interconnect {b0['interconnect_pj_per_bit']:.3g} pJ/bit and "
        f"${b0['interconnect_usd_per_gb_s']:.3g} per GB/s. Attached to `{BASE}` they reproduce "
        f"it: time {study.equivalence['time_rel_diff']:+.1e}, run cost "
        f"{study.equivalence['run_cost_rel_diff']:+.1e}, energy "
        f"{study.equivalence['energy_rel_diff']:+.1e} (relative)."
    )
    base_runs = [r for r in study.runs if r["kind"] == "baseline"]
    if base_runs and base_runs[0]["best"] is not None:
        b = base_runs[0]["best"]
        L.append(
            f"- **C0 = {_gbp(c0)}**: the optimizer's best with today's blocks (F = 1, same search, "
            f"time ≤ T0): {b['accelerators']} accelerators, {b['time_to_train_s'] / 60:.1f} min, "
            f"{ref['run_cost_gbp'] / c0:.2f}x cheaper than the reference by re-balancing alone. "
            "The targets are C0/10, C0/100, C0/1000, so the factors below are what the block "
            "buys beyond re-balancing; the last column gives them against the reference's run "
            "cost instead."
        )
    elif base_runs:
        L.append("- The F = 1 optimizer run found no feasible design: no targets.")
    L.append("")
    L.append("## What scales")
    L.append("")
    L.append(
        "An improvement factor F applies to one block (the other two keep today's figures) or, "
        "for `all`, to the three at once:\n\n"
        "- **compute** (`ComputeBlock`): ops/s per mm² × F and ops/J × F; precision "
        "(16-bit datapath, fp8 at twice the rate), clock and extra process cost unchanged. A "
        "denser block makes each MAC's tile smaller (area and die cost per unit of throughput "
        "÷ F); a more efficient one cuts MAC energy (support and datapath) ÷ F.\n"
        "- **memory** (`MemoryBlock`): HBM energy per bit ÷ F and price per byte ÷ F. Capacity "
        "and bandwidth per stack keep the HBM limits (36 GiB, 2 TB/s per stack, shoreline) - "
        "the block has no figure for them.\n"
        "- **interconnect** (`InterconnectBlock`): scale-up energy per bit ÷ F and "
        "baseboard/switch price per byte/s ÷ F. Scale-out (NICs, optics) is not part of the "
        "block.\n\n"
        "Untouched by every block: the host's share per accelerator (CPUs, memory, NICs, "
        "chassis: `host_cost_usd_per_accelerator`), test and assembly, packaging per mm² of "
        "HBM footprint, SRAM, NoC, PHYs and uncore area and leakage, scale-out I/O energy, "
        "and the server power overhead (fans, CPUs, conversion) as a fraction of accelerator power."
    )
    L.append("")
    L.append("## Results")
    L.append("")
    res = study.results()
    if res:
        rows = []
        for kind, by_t in res.items():
            for tkey, r in by_t.items():
                if r["status"] == "reached":
                    lo, hi = r["bracket"]
                    found = f"**{_fmt_f(r['factor'])}**"
                    brk = f"[{_fmt_f(lo)}, {_fmt_f(hi)}]"
                    needs = _block_needed(kind, r["factor"], b0)
                else:
                    found = f"{r['status']}"
                    what = "floor" if r["status"] == "not reachable" else "best"
                    brk = f"{what} {_gbp(r.get('floor'))} up to F = {_fmt_f(r.get('max_factor'))}"
                    if r.get("block_share_at_max_factor") is not None:
                        brk += f" (block {r['block_share_at_max_factor']:.1%} of it)"
                    needs = "-"
                vr = r["vs_reference"]
                vs = _fmt_f(vr["factor"]) if vr["status"] == "reached" else vr["status"]
                rows.append([kind, tkey, _gbp(r["target_gbp"]), found, brk, needs, vs])
        L.append(
            _md_table(
                [
                    "block",
                    "cut",
                    "target run £",
                    "F needed",
                    "bracket (runs)",
                    "block figures at F",
                    "F vs reference",
                ],
                rows,
            )
        )
        L.append("")
        L.append(
            "F is interpolated log-log between the two runs that bracket the target on the "
            "monotone envelope of the run costs (the bracket is refined by "
            f"{a.bisect} bisection step(s) on log F). 'not reachable': the run cost saturated "
            f"(< {SATURATION:.0%} per decade of F) above the target, or at the largest F swept "
            f"(at least {FREE_MIN_FACTOR:g}) "
            f"the block's own parts (capital and energy) are under {FREE_SHARE:.0%} of the "
            "cheapest run's pounds (shown in brackets), so the block is all but free and a "
            "better one cannot move the cost; 'not reached': neither, the sweep ended first."
        )
        L.append("")
    L.append("### Every optimizer run")
    L.append("")
    rows = []
    for r in study.runs:
        b = r["best"]
        if b is None:
            rows.append([r["kind"], _fmt_f(r["factor"]), "-", "-", "-", "-", "-", "-", "-"])
            continue
        d = b["design"]
        shape = (
            f"{d.get('array_rows', float(study.design.array_rows)):.0f}×"
            f"{d.get('array_cols', float(study.design.array_cols)):.0f}"
        )
        rows.append(
            [
                r["kind"],
                _fmt_f(r["factor"]),
                _gbp(b["run_cost_gbp"]),
                f"{(c0 or math.nan) / b['run_cost_gbp']:.3g}x" if c0 else "-",
                b["accelerators"],
                f"{b['time_to_train_s'] / 60:.1f}",
                f"{d['arrays_per_chip']:.0f} × {shape}, {d['hbm_stacks']:.0f}×"
                f"{d['hbm_bytes_per_stack'] / 2**30:.0f} GiB @ "
                f"{d['hbm_bw_bytes_per_s_per_stack'] / 1e12:.2f} TB/s, up "
                f"{d['scaleup_bw_bytes_per_s'] / 1e9:.0f} GB/s, out "
                f"{d['scaleout_bw_bytes_per_s'] * 8 / 1e9:.0f} Gb/s, SRAM "
                f"{d['sram_bytes'] / 1e6:.0f} MB",
                ", ".join(b["active_constraints"]) or "-",
                f"{r['wall_s']:.0f}",
            ]
        )
    L.append(
        _md_table(
            [
                "block",
                "F",
                "run £",
                "C0 / run £",
                "acc",
                "min",
                "design (arrays × shape, HBM, links, SRAM)",
                "active constraints",
                "s",
            ],
            rows,
        )
    )
    L.append("")
    L.append("## What sets the floor")
    L.append("")
    for kind in a.kinds:
        txt = _floor_text(study, kind)
        if not txt:
            continue
        st = study.kind_status.get(kind, {})
        sat = st.get("saturation")
        head = (
            f"saturated: {sat['per_decade']:.1%} per decade between F = {_fmt_f(sat['between'][0])} "
            f"and {_fmt_f(sat['between'][1])}"
            if sat
            else "not saturated within the sweep"
        )
        L.append(f"- **{kind}** ({head}). {txt}")
    L.append("")
    L.append(_conclusions(study))
    L.append("")
    L.append("## Settings")
    L.append("")
    s = study.settings()
    L.append(
        f"Workload `{WORKLOAD}`, base design `{BASE}` (N4, 16-bit datapath with fp8, "
        f"8-accelerator servers and scale-up domains, 12 spare arrays). Accelerator counts "
        f"{', '.join(str(c) for c in s['counts'])}; {s['starts']} starts per count, "
        f"{s['steps']} Adam steps, {s['polish_rounds']} polish rounds, seed {s['seed']}; sweep F = "
        f"{', '.join(_fmt_f(f) for f in s['sweep'])}; {s['bisect']} bisection step(s) per target; "
        f"search space `{s['space']}`: "
        + ", ".join(
            f"{k} [{lo:g}, {hi:g}]" + (f" step {g[1]:g}" if g[0] == "step" else " set")
            for k, (lo, hi, g) in study.space.items()
        )
        + ". Each run after the first starts (its first start at every count) from the "
        "cheapest design found so far whose blocks it dominates (the same block at a smaller F; "
        "for `all` also any single block at a factor no larger) "
        + ("(warm start)" if s["warm_start"] else "(warm start disabled: from h100-like)")
        + "; the other starts are random. Optimizer: the package's Adam with cosine decay "
        "(each start's gradient cleaned of non-finite entries and clipped on its own) at a "
        "peak step of 0.08. Strategy (tp, cp, pp, dp, "
        "micro- and global batch, interleave, recompute) searched for every design; the best "
        "design of every run is re-evaluated with `dse._api.evaluate_design` for the breakdowns "
        "(consistent with the optimizer's final evaluation: "
        + (
            "yes"
            if all(r.get("explain", {}).get("consistent", True) for r in study.runs)
            else "NO, see JSON"
        )
        + ")."
    )
    L.append("")
    L.append(
        "Caveats: the model has no loss for large arrays (utilisation of a 256 × 256 array on "
        "small GEMM tiles is not modelled), no cost for a new block's process beyond "
        "`extra_cost_usd_per_mm2` (0 here), and the optimizer is a local search with few "
        "starts: each run cost is an upper bound on the best the model allows, so a factor "
        "may be somewhat smaller than found."
    )
    L.append("")
    return "\n".join(L)


def _conclusions(study: Study) -> str:
    res = study.results()
    if not res:
        return ""
    lines = ["## Summary", ""]
    for kind, by_t in res.items():
        parts = []
        for tkey, r in by_t.items():
            if r["status"] == "reached":
                parts.append(f"{tkey}: F ≈ {_fmt_f(r['factor'])}")
            else:
                what = "floor" if r["status"] == "not reachable" else "best so far"
                parts.append(f"{tkey}: {r['status']} ({what} {_gbp(r.get('floor'))})")
        env = study.envelope(study.points(kind))
        best = env[-1][1] if env else None
        if best:
            parts.append(
                f"largest cut found {study.c0() / best:.3g}x vs C0 "
                f"({study.reference['run_cost_gbp'] / best:.3g}x vs the reference) at "
                f"{_gbp(best)} a run"
            )
        lines.append(f"- **{kind}**: " + "; ".join(parts) + ".")
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------


def _floats(text: str) -> list[float]:
    try:
        out = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated numbers") from None
    if not out or any(not (math.isfinite(x) and x > 0) for x in out):
        raise argparse.ArgumentTypeError(f"{text!r}: positive numbers")
    return out


def _ints(text: str) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated whole numbers") from None
    if not out or any(x <= 0 or x % 8 for x in out):
        raise argparse.ArgumentTypeError(f"{text!r}: positive multiples of 8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(
            "What a novel matrix-multiply block, memory or scale-up link must achieve (an "
            "improvement factor F on its figures) for the optimizer to cut the pounds of one "
            "GPT-3 175B training run by 10x, 100x and 1000x at no more time than an h100-like "
            "system of 512 accelerators. Writes report.md and proposal.json."
        )
    )
    parser.add_argument(
        "--out", default="studies/out/proposal", help="output folder (studies/out/proposal)"
    )
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help="blocks to study (default: " + ",".join(KINDS) + ")",
    )
    parser.add_argument(
        "--counts",
        type=_ints,
        default=list(COUNTS),
        help="accelerator counts the optimizer chooses from (default "
        + ",".join(map(str, COUNTS))
        + ")",
    )
    parser.add_argument(
        "--sweep",
        type=_floats,
        default=list(SWEEP),
        help="improvement factors swept, ascending (default "
        + ",".join(f"{f:g}" for f in SWEEP)
        + ")",
    )
    parser.add_argument(
        "--targets",
        type=_floats,
        default=list(TARGETS),
        help="run-cost cuts sought (default 10,100,1000)",
    )
    parser.add_argument(
        "--bisect", type=int, default=2, help="bisection steps on log F per target (2)"
    )
    parser.add_argument("--starts", type=int, default=8, help="starts per count (8)")
    parser.add_argument(
        "--no-warm-start",
        dest="warm_start",
        action="store_false",
        help="start every run from the h100-like values, not from the best design found at a "
        "smaller factor",
    )
    parser.add_argument("--steps", type=int, default=150, help="Adam steps (150)")
    parser.add_argument("--polish-rounds", type=int, default=4, help="polish rounds (4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument(
        "--space",
        choices=("wide", "default"),
        default="wide",
        help="search space: 'wide' (array shape and up to 4,096 arrays free; default) or "
        "'default' (the package's SEARCH_SPACE less the clock)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: counts 64,512, 2 starts, 10 steps, 1 polish round, F = 100 only, "
        "no bisection",
    )
    args = parser.parse_args(argv)
    args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [k for k in args.kinds if k not in KINDS]
    if bad:
        parser.error(f"--kinds: {bad} not allowed; choose from {list(KINDS)}")
    if args.quick:
        args.counts, args.starts, args.steps, args.polish_rounds = [64, 512], 2, 10, 1
        args.sweep, args.bisect = [100.0], 0
    args.sweep = sorted(f for f in args.sweep if f > 1.0)
    if args.starts < 1 or args.steps < 2 or args.polish_rounds < 0 or args.bisect < 0:
        parser.error("--starts >= 1, --steps >= 2, --polish-rounds >= 0, --bisect >= 0")

    study = Study(args)
    _log("baseline: today's blocks (F = 1)")
    base = study.optimize("baseline", 1.0)
    study.save()
    if base["best"] is None:
        _log("the F = 1 run found no feasible design: no targets")
        print(f"no feasible design at F = 1; report: {args.out}/report.md")
        return 1
    c0 = base["best"]["run_cost_gbp"]
    for kind in args.kinds:
        study.run_kind(kind, c0)
    study.save()

    wall = time.perf_counter() - study.t_start
    print(
        f"GPT-3 175B at equal time (T0 = {study.T0 / 60:.1f} min): reference run cost "
        f"{_gbp(study.reference['run_cost_gbp'])}, C0 = {_gbp(c0)} (optimizer, today's blocks); "
        f"{len(study.runs)} runs, {wall:.0f} s; report: {args.out}/report.md"
    )
    for kind, by_t in study.results().items():
        parts = []
        for tkey, r in by_t.items():
            if r["status"] == "reached":
                parts.append(f"{tkey} F≈{_fmt_f(r['factor'])}")
            else:
                what = "floor" if r["status"] == "not reachable" else "best so far"
                parts.append(f"{tkey} {r['status']} ({what} {_gbp(r.get('floor'))})")
        print(f"  {kind}: " + "; ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
