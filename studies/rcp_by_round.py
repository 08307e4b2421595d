"""Write ``workloads/data/rcp_by_round.csv`` from MLPerf's own RCP files.

MLPerf Training judges each round's results against that round's reference
convergence points (RCPs): ``rcp_checker/training_X.Y.0/rcps_<benchmark>.json``
in the ``mlperf-logging`` package. A submission converging in fewer samples
than the RCP mean has its time scaled up to that mean, so a published time is
at least the time to train the round's RCP samples; RCP sets change between
rounds (Stable Diffusion at global batch 512: 2.56 M images in v3.1-v4.1,
2.10 M in v5.0). This script reads every round's files, computes the olympic
means exactly as ``rcp_checker.compute_rcp_stats`` does (sort, drop the
lowest and highest run, 4 + 4 for unet3d), converts them to each workload's
sample unit and writes the table ``workloads.workload_for_round`` reads.

It needs the package, not the network at run time::

    pip download --no-deps mlperf-logging==4.1.68 -d /tmp/wheel
    cd /tmp/wheel && unzip -q mlperf_logging-4.1.68-py3-none-any.whl
    python studies/rcp_by_round.py --package /tmp/wheel/mlperf_logging/rcp_checker

The project reads only the CSV this writes (committed), never the package.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys

import numpy as np

PACKAGE = "mlperf-logging 4.1.68 (PyPI)"

# RCP file stem -> project workload (the results table's benchmarks).
WORKLOADS = {
    "bert": "bert-large",
    "resnet": "resnet50",
    "ssd": "retinanet",  # named ssd up to training_4.1.0
    "retinanet": "retinanet",
    "unet3d": "unet3d",
    "dlrm_dcnv2": "dlrm-dcnv2",
    "gpt3": "gpt3-175b",
    "stable_diffusion": "stable-diffusion-v2",
    "llama2_70b_lora": "llama2-70b-lora",
    "llama31_405b": "llama31-405b",
}

# Training-set sizes for epoch units (as in workloads/data/*_convergence.csv).
IMAGENET_TRAIN = 1_281_167
OPENIMAGES_MLPERF_TRAIN = 1_170_301
CRITEO_1TB_TRAIN = 4_195_197_692
KITS19_TRAIN = 168
GPT3_SEQUENCE = 2048
LLAMA_SEQUENCE = 8192


def to_samples(stem: str, batch: int, value: float) -> tuple[float, str]:
    """One RCP value in the workload's sample unit, and how it was converted."""
    if stem == "resnet":
        return value * IMAGENET_TRAIN, f"epochs x {IMAGENET_TRAIN:,} images"
    if stem in ("ssd", "retinanet"):
        return value * OPENIMAGES_MLPERF_TRAIN, f"epochs x {OPENIMAGES_MLPERF_TRAIN:,} images"
    if stem == "dlrm_dcnv2":
        return value * CRITEO_1TB_TRAIN, f"epochs x {CRITEO_1TB_TRAIN:,} samples"
    if stem == "gpt3":
        return value / GPT3_SEQUENCE, f"tokens / {GPT3_SEQUENCE} = sequences"
    if stem == "unet3d" and value < 10_000:
        # Epoch files (up to training_3.0.0): an epoch drops the last partial
        # batch, floor(168 / BS) x BS samples (training_3.1.0 restates
        # training_3.0.0's lists in samples with exactly these factors).
        per_epoch = (KITS19_TRAIN // batch) * batch
        return value * per_epoch, f"epochs x floor(168/BS) x BS = {per_epoch} samples"
    if stem == "stable_diffusion" and value < 100_000:
        return value * batch, "steps x global batch = images"
    if stem == "llama31_405b" and value > 1e8:
        return value / LLAMA_SEQUENCE, f"tokens / {LLAMA_SEQUENCE} = sequences"
    return value, "samples"


def olympic(values: list[float], drop: int) -> tuple[float, float]:
    """Olympic mean and population std (``rcp_checker.compute_rcp_stats``)."""
    kept = sorted(values)[drop : len(values) - drop]
    return float(np.mean(kept)), float(np.std(kept))


def read_round(path: str, stem: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        records = json.load(f)
    out = []
    for name, rec in records.items():
        runs = rec.get("Epochs to converge", rec.get("samples to converge"))
        drop = 4 if rec.get("Benchmark") == "unet3d" else 1
        if not runs or len(runs) <= 2 * drop:
            continue
        batch = int(rec["BS"])
        mean, std = olympic([float(v) for v in runs], drop)
        samples, unit = to_samples(stem, batch, mean)
        out.append(
            dict(
                batch=batch,
                n_runs=len(runs),
                mean=samples,
                std=std * samples / mean if mean else 0.0,
                unit=unit,
                record=name,
            )
        )
    return sorted(out, key=lambda r: r["batch"])


def build(package: str) -> list[list]:
    rows = []
    folders = sorted(
        (d for d in os.listdir(package) if re.fullmatch(r"training_\d+\.\d+\.0", d)),
        key=lambda d: tuple(int(x) for x in d[len("training_") :].split(".")[:2]),
    )
    for folder in folders:
        major, minor = folder[len("training_") :].split(".")[:2]
        rnd = f"v{major}.{minor}"
        if (int(major), int(minor)) < (2, 0):
            continue
        for stem, workload in WORKLOADS.items():
            for fname in (f"rcps_{stem}.json", f"rcps_{stem}_v2.json"):
                path = os.path.join(package, folder, fname)
                if not os.path.exists(path):
                    continue
                first = True
                for r in read_round(path, stem):
                    source = (
                        f"{PACKAGE}: mlperf_logging/rcp_checker/{folder}/{fname} "
                        f"(olympic mean; {r['unit']})"
                        if first
                        else "same file"
                    )
                    first = False
                    rows.append(
                        [
                            workload,
                            rnd,
                            r["batch"],
                            r["n_runs"],
                            round(r["mean"]),
                            round(r["std"]),
                            source,
                        ]
                    )
                break
    return rows


HEADER = """\
# Reference convergence points (RCPs) by MLPerf Training round: the samples-to-converge
# curve each round's results were judged and normalised against (workloads.workload_for_round).
# Written by studies/rcp_by_round.py from the RCP files shipped in {package}.
# mean_samples_to_converge = olympic mean (rcp_checker.compute_rcp_stats: sort, drop the lowest
# and highest run, 4 + 4 for unet3d) in the workload's sample unit; std_samples = population std
# of the kept runs. A round without rows here uses the newest earlier round that has them.
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--package",
        required=True,
        help="the rcp_checker folder of an unpacked mlperf-logging wheel",
    )
    parser.add_argument(
        "--out",
        default=os.path.join(
            os.path.dirname(__file__), "..", "workloads", "data", "rcp_by_round.csv"
        ),
        help="CSV to write (default: the project's workloads/data/rcp_by_round.csv)",
    )
    args = parser.parse_args(argv)
    if not os.path.isdir(args.package):
        print(f"--package {args.package!r} is not a folder", file=sys.stderr)
        return 2
    rows = build(args.package)
    if not rows:
        print(f"no RCP files found under {args.package!r}", file=sys.stderr)
        return 1
    buf = io.StringIO()
    buf.write(HEADER.format(package=PACKAGE))
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        [
            "workload",
            "round",
            "global_batch_size",
            "n_runs",
            "mean_samples_to_converge",
            "std_samples",
            "source",
        ]
    )
    writer.writerows(rows)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(buf.getvalue())
    rounds = sorted({(r[0], r[1]) for r in rows})
    print(
        f"wrote {len(rows)} points ({len(rounds)} workload-rounds) to {os.path.normpath(args.out)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
