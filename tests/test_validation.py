"""Validation against published MLPerf Training GPT-3 results."""

import csv
import json

import pytest

from dse import load_calibration, load_results, validate
from dse.cli import main


@pytest.fixture(scope="module")
def report():
    return validate(load_results(), load_calibration())


def test_gpt3_mape_target(report):
    rows = [r for r in report["rows"] if r["benchmark"] == "gpt3"]
    assert len(rows) >= 25
    assert report["mape_by_benchmark"]["gpt3"] <= 0.15, report["mape_by_benchmark"]
    assert len({r["preset"] for r in rows}) >= 2
    counts = [r["accelerators"] for r in rows]
    assert min(counts) <= 64 and max(counts) > 10_000


def test_published_reference_points(report):
    """The ARIA example row (3.1-2057) within 15%, the largest run (11,616 H100) within 30%."""
    by = {(r["source"].split(":")[0], r["system_name"]): r for r in report["rows"]}
    eos = by[("mlcommons/training_results_v3.1", "Eos_n64")]
    assert eos["published_min"] == pytest.approx(58.30)
    assert abs(eos["error"]) < 0.15
    big = max(
        (r for r in report["rows"] if r["benchmark"] == "gpt3"), key=lambda r: r["accelerators"]
    )
    assert big["accelerators"] == 11616 and abs(big["error"]) < 0.30


def test_other_benchmarks_are_skipped_with_reason(report):
    assert report["skipped"]
    assert all("reason" in s and s["reason"] for s in report["skipped"])
    assert any("no workload model" in s["reason"] for s in report["skipped"])


def test_results_file_with_unknown_rows(tmp_path, capsys):
    rows = load_results()
    fields = list(rows[0].keys())
    keep = [r for r in rows if r["benchmark"] == "gpt3"][:3]
    odd = dict(keep[0], accelerator="Quantum Abacus 9000", source="made-up row")
    path = tmp_path / "r.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(keep + [odd])
    assert (
        main(["validate", "--results", str(path), "--json", "--plot", str(tmp_path / "p.png")]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert {"rows", "skipped", "mape"} <= set(out)
    assert len(out["rows"]) == 3
    assert any("Quantum Abacus" in s["reason"] for s in out["skipped"])
    assert 0 <= out["mape"] < 1
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_results_file_missing_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="lacks column"):
        load_results(str(path))


def test_shipped_calibration_matches_the_model(report):
    """The shipped fit records its errors; the model must still reproduce them
    (a model change without a refit with ``studies/fit_calibration.py`` fails here)."""
    from importlib import resources

    shipped = json.loads(resources.files("dse").joinpath("data/calibration.json").read_text())
    assert report["mape"] == pytest.approx(shipped["errors"]["mape_all_rows"], abs=2e-3)
    assert report["mape_holdout"] == pytest.approx(shipped["errors"]["mape_holdout_rows"], abs=2e-3)
    assert set(shipped["fitted"]) <= set(shipped["constants"])
