"""Fit the model's efficiency constants to published MLPerf GPT-3 results.

Fits the constants named in ``dse._calibration.FITTED_FIELDS`` by Adam on the
squared log error of time-to-train, through the model's own gradients, on the
GPT-3 rows of the project's results table that are *not* held out (the split is
``dse._validate.holdout_fold``: SHA-256 of the row's source column, 0 mod 3 held
out). Writes ``dse/data/calibration.json`` (or ``--out``) with the fitted
values, what they were fitted on, and the fit and hold-out errors.

    python studies/fit_gpt3.py [--steps 300] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os

from dse._calibration import FITTED_FIELDS, Calibration
from dse._validate import fit_calibration, load_results, prepare_rows, validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    default_out = os.path.join(os.path.dirname(__file__), "..", "dse", "data", "calibration.json")
    parser.add_argument("--out", default=default_out)
    args = parser.parse_args()

    rows = load_results()
    prepared, _ = prepare_rows(rows, benchmarks=["gpt3"])
    fit_rows = [p for p in prepared if not p["holdout"]]
    start = Calibration()
    print(f"fitting {list(FITTED_FIELDS)} on {len(fit_rows)} of {len(prepared)} GPT-3 rows")
    cal, history = fit_calibration(
        fit_rows,
        start,
        FITTED_FIELDS,
        steps=args.steps,
        learning_rate=args.learning_rate,
        log_every=50,
    )
    report = validate(rows, cal, benchmarks=["gpt3"])
    print(
        f"MAPE fit rows {report['mape_fit']:.4f}, held-out rows {report['mape_holdout']:.4f}, all {report['mape']:.4f}"
    )
    out = {
        "constants": cal.as_dict(),
        "fitted": list(FITTED_FIELDS),
        "fitted_on": {
            "table": "dse/data/mlperf-training-results.csv (copy of shared/data/mlperf-training-results.csv)",
            "benchmark": "gpt3",
            "split": "rows whose sha256(source) % 3 != 0 (holdout: == 0)",
            "rows_fitted": [
                p["ident"]["source"].split(":")[0] + ": " + p["ident"]["system_name"]
                for p in fit_rows
            ],
            "objective": "mean squared log error of time-to-train (Adam, sigmoid-boxed constants)",
            "steps": args.steps,
            "final_loss": history[-1],
        },
        "errors": {
            "mape_fit_rows": report["mape_fit"],
            "mape_holdout_rows": report["mape_holdout"],
            "mape_all_rows": report["mape"],
        },
        "unfitted_sources": {
            "kernel_overhead_s": "7 us per GEMM: fit of t0 + 2MNK/(e peak) to 254 H100 cuBLAS GEMMs (hwmodels/data/measured/h100_gemm_efficiency.csv, README there)",
            "attention_efficiency": "0.41: H100 cuDNN causal SDPA fwd+bwd on GPT-3 shapes, 96 heads (hwmodels/data/measured); FlashAttention-2/3 report 35-75% (Dao 2023; Shah et al. 2024)",
            "hbm_efficiency": "0.88: H100 elementwise ops on 1 GiB reach 2.87-3.01 of 3.35 TB/s (hwmodels/data/measured)",
            "measured_h100_gemm_efficiency": "for comparison with the fitted values: bf16 0.714, fp8 0.632 of datasheet peak on a power-capped H100 (hwmodels/data/measured)",
            "memory_reserved_bytes": "E: CUDA context, NCCL buffers and allocator fragmentation, a few GB per device",
        },
    }
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=2)
        fh.write("\n")
    print(f"wrote {os.path.normpath(args.out)}")


if __name__ == "__main__":
    main()
