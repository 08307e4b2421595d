"""The compute model against a real measurement: one GPT-3 layer on an H100.

``hwmodels/data/measured/h100_gpt3_layer.csv`` holds forward and
forward+backward times of one GPT-3 175B block (bf16, eager PyTorch, one
tensor-parallel rank without communication) measured on an H100 for this
project. The model, with only the constants measured by GEMM, attention and
bandwidth microbenchmarks on the same GPU (not the MLPerf fit), must predict
those layer times: the measured layer is a different quantity from the
microbenchmarks it is built from.
"""

import csv
from importlib import resources

from dse import Calibration, Strategy
from dse._model import layer_times
from tests._x64 import x64

# Microbenchmark constants measured on the same H100 (hwmodels/data/measured/README.md).
H100_MEASURED = Calibration(
    gemm_efficiency_bf16=0.714,
    gemm_efficiency_fp8=0.632,
    kernel_overhead_s=7e-6,
    attention_efficiency=0.41,
    hbm_efficiency=0.88,
)


def _rows():
    text = resources.files("hwmodels").joinpath("data/measured/h100_gpt3_layer.csv").read_text()
    return [r for r in csv.DictReader(text.splitlines()) if r["mode"] == "eager"]


def test_layer_time_matches_h100_measurement(h100, gpt3):
    rows = _rows()
    assert len(rows) >= 16
    errors = []
    with x64():
        for r in rows:
            b, t = float(r["b"]), float(r["t"])
            st = Strategy(
                tp=t,
                pp=1.0,
                dp=1.0,
                microbatch=b,
                global_batch=b,
                interleave=1.0,
                recompute=0.0,
                fp8=0.0,
            )
            pred = layer_times(gpt3, st, h100, H100_MEASURED, sequence_parallel=False)
            key = "forward" if r["pass"] == "fwd" else "forward_backward"
            measured = float(r["time_ms"]) / 1e3
            err = float(pred[key]) / measured - 1.0
            errors.append(err)
            tolerance = 0.15 if key == "forward" else 0.08
            assert abs(err) < tolerance, (r["b"], r["t"], r["pass"], err)
    assert sum(abs(e) for e in errors) / len(errors) < 0.06
