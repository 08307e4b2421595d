"""``dse calibrate``: fit the efficiency constants to published results.

The fit uses the rows of a results table that are *not* held out by the
documented split (``holdout_fold``: SHA-256 of the ``source`` column, 0 mod 3
held out), minimises the squared log error of time-to-train with Adam through
the model's own gradients, and returns the fitted calibration with a record of
what it was fitted on and the errors on fitted and held-out rows.
"""

from __future__ import annotations

import time

from dse._calibration import (
    FITTED_FIELDS,
    REFERENCE_FAMILY,
    Calibration,
    efficiency_class,
    family_key,
)
from dse._validate import fit_calibration, prepare_rows, validate

__all__ = [
    "calibrate",
    "MIN_ROWS_PER_FAMILY",
    "MIN_BENCHMARKS_PER_FAMILY",
    "MIN_ROWS_ONE_BENCHMARK",
]

# A family/kernel-class factor is fitted only with at least MIN_ROWS_PER_FAMILY
# fitted rows from at least MIN_BENCHMARKS_PER_FAMILY benchmarks, or with
# MIN_ROWS_ONE_BENCHMARK rows of one: a factor fitted on a few rows of one
# benchmark would be a per-workload constant, not a property of the family's
# software stack.
MIN_ROWS_PER_FAMILY = 3
MIN_BENCHMARKS_PER_FAMILY = 2
MIN_ROWS_ONE_BENCHMARK = 10

UNFITTED_SOURCES = {
    "gemm_efficiency_bf16": "0.714: bf16 GEMMs of GPT-3 shapes on an H100, fit of t0 + 2MNK/(e peak) (hwmodels/data/measured/README.md)",
    "kernel_overhead_s": "7 us per GEMM: fit of t0 + 2MNK/(e peak) to 254 H100 cuBLAS GEMMs (hwmodels/data/measured/h100_gemm_efficiency.csv, README there)",
    "attention_efficiency": "0.41: H100 cuDNN causal SDPA fwd+bwd on GPT-3 shapes, 96 heads (hwmodels/data/measured); FlashAttention-2/3 report 35-75% (Dao 2023; Shah et al. 2024)",
    "hbm_efficiency": "0.88: H100 elementwise ops on 1 GiB reach 2.87-3.01 of 3.35 TB/s (hwmodels/data/measured)",
    "memory_reserved_bytes": "E: CUDA context, NCCL buffers and allocator fragmentation, a few GB per device",
    "measured_h100_gemm_efficiency": "for comparison with the fitted values: bf16 0.714, fp8 0.632 of datasheet peak on a power-capped H100 (hwmodels/data/measured)",
}


def calibrate(
    rows: list[dict],
    *,
    table: str,
    benchmarks=None,
    fields: tuple[str, ...] = FITTED_FIELDS,
    start: Calibration | None = None,
    steps: int = 300,
    learning_rate: float = 0.05,
    use_all_rows: bool = False,
    loss: str = "squared",
    fit_families: bool = True,
    progress=None,
) -> tuple[Calibration, dict]:
    """Fit ``fields`` of the calibration to the rows of a results table.

    Args:
        rows: Rows of a results CSV (``load_results``).
        table: Name of the table, recorded in the output.
        benchmarks: Only these benchmarks (default: all the model knows).
        fields: Constants to fit (names of ``Calibration`` fields).
        start: Starting values (default: ``Calibration()``).
        steps: Adam steps.
        learning_rate: Adam learning rate (unconstrained space).
        use_all_rows: Fit on every row (no hold-out) when True.
        loss: ``squared`` or ``huber`` (see ``fit_calibration``).
        fit_families: Also fit a software-efficiency factor per accelerator
            family and kernel class with at least ``MIN_ROWS_PER_FAMILY``
            fitted rows from ``MIN_BENCHMARKS_PER_FAMILY`` benchmarks, or
            ``MIN_ROWS_ONE_BENCHMARK`` of one (the reference family stays 1).
        progress: Optional callable taking a status line.

    Returns:
        ``(calibration, record)``: the record is the JSON written by
        ``dse calibrate`` (constants, what was fitted on, errors).

    Raises:
        ValueError: unknown field, or no usable row to fit.
    """
    start = start or Calibration()
    unknown = [f for f in fields if f not in Calibration().as_dict()]
    if unknown:
        raise ValueError(
            f"unknown constant(s) to fit {unknown}; allowed: {sorted(Calibration().as_dict())}"
        )
    prepared, _ = prepare_rows(rows, benchmarks=benchmarks)
    fit_rows = prepared if use_all_rows else [p for p in prepared if not p["holdout"]]
    if not fit_rows:
        raise ValueError("no usable row to fit: check --results and --benchmark")
    families = ()
    if fit_families:
        counts: dict[str, int] = {}
        benches: dict[str, set] = {}
        for p in fit_rows:
            if p["spec"].family and p["spec"].family != REFERENCE_FAMILY:
                key = family_key(p["spec"].family, efficiency_class(p["precision"], p["workload"]))
                counts[key] = counts.get(key, 0) + 1
                benches.setdefault(key, set()).add(p["ident"]["benchmark"])
        # A factor fitted on one or two rows would be a per-row constant, and one
        # fitted on a single benchmark a per-workload constant.
        families = tuple(
            sorted(
                k
                for k, c in counts.items()
                if c >= MIN_ROWS_ONE_BENCHMARK
                or (c >= MIN_ROWS_PER_FAMILY and len(benches[k]) >= MIN_BENCHMARKS_PER_FAMILY)
            )
        )
    if progress:
        progress(
            f"fitting {list(fields)} and family factors {list(families)} on {len(fit_rows)} of "
            f"{len(prepared)} usable rows"
        )
    t0 = time.perf_counter()
    log = (lambda i, loss: progress(f"  step {i:4d}  loss {loss:.5f}")) if progress else None
    cal, history = fit_calibration(
        fit_rows,
        start,
        tuple(fields),
        steps=steps,
        learning_rate=learning_rate,
        callback=log,
        loss=loss,
        families=families,
    )
    report = validate(rows, cal, benchmarks=benchmarks)
    record = {
        "constants": cal.as_dict(),
        "family_efficiency": dict(cal.family_efficiency),
        "reference_family": REFERENCE_FAMILY,
        "fitted": list(fields) + [f"family_efficiency.{f}" for f in families],
        "fitted_on": {
            "table": table,
            "benchmarks": sorted({p["ident"]["benchmark"] for p in fit_rows}),
            "split": "all usable rows"
            if use_all_rows
            else "rows whose sha256(source) % 3 != 0 (held out: == 0)",
            "rows_fitted": [
                p["ident"]["source"].split(":")[0] + ": " + p["ident"]["system_name"]
                for p in fit_rows
            ],
            "convergence": "each row's samples to converge from its own round's reference "
            "convergence points (workloads/data/rcp_by_round.csv)",
            "objective": (
                "mean squared log error of time-to-train"
                if loss == "squared"
                else "mean pseudo-Huber (width 0.05) of the log error of time-to-train"
            )
            + " (Adam through the model's gradients, sigmoid-boxed constants)",
            "steps": steps,
            "final_loss": history[-1],
            "seconds": time.perf_counter() - t0,
        },
        "errors": {
            "mape_fit_rows": report["mape_fit"] if not use_all_rows else report["mape"],
            "mape_holdout_rows": report["mape_holdout"],
            "mape_all_rows": report["mape"],
            "mape_by_benchmark": report["mape_by_benchmark"],
            "mape_by_accelerator": report["mape_by_accelerator"],
        },
        "unfitted_sources": UNFITTED_SOURCES,
    }
    return cal, record
