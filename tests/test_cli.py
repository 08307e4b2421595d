"""The command line: evaluate's JSON schema, pins, help, and the demo."""

import json
import subprocess
import sys

import pytest

from dse.cli import main

KEYS = {
    "time_to_train_s",
    "step_time_s",
    "capital_gbp",
    "operating_gbp",
    "total_gbp",
    "run_cost_gbp",
    "energy_j",
    "strategy",
    "breakdown",
}


def test_evaluate_json_schema(capsys):
    assert (
        main(
            [
                "evaluate",
                "--workload",
                "gpt3-175b",
                "--system",
                "h100-sxm",
                "--accelerators",
                "512",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert KEYS <= set(out)
    assert {"compute_s", "exposed_comm_s", "bubble_s", "memory_bound_s"} <= set(out["breakdown"])
    assert {
        "tp",
        "pp",
        "dp",
        "microbatch",
        "global_batch",
        "interleave",
        "recompute",
        "precision",
    } <= set(out["strategy"])


def test_evaluate_pins_are_respected(capsys):
    args = [
        "evaluate",
        "--accelerators",
        "512",
        "--tp",
        "8",
        "--pp",
        "8",
        "--microbatch",
        "1",
        "--global-batch",
        "2048",
        "--interleave",
        "2",
        "--recompute",
        "full",
        "--precision",
        "bf16",
        "--json",
    ]
    assert main(args) == 0
    s = json.loads(capsys.readouterr().out)["strategy"]
    assert (
        s["tp"],
        s["pp"],
        s["dp"],
        s["microbatch"],
        s["global_batch"],
        s["interleave"],
        s["recompute"],
        s["precision"],
    ) == (8, 8, 8, 1, 2048, 2, "full", "bf16")


def test_evaluate_text(capsys):
    assert main(["evaluate", "--accelerators", "512"]) == 0
    text = capsys.readouterr().out
    for word in (
        "time to train",
        "strategy",
        "compute",
        "exposed_comm",
        "bubble",
        "memory per device",
        "capital",
        "operating",
        "total",
        "one run",
        "energy",
    ):
        assert word in text


def test_help_runs():
    out = subprocess.run(
        [sys.executable, "-m", "dse.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for cmd in ("systems", "evaluate", "validate", "demo"):
        assert cmd in out


@pytest.mark.slow
def test_demo_json_and_plot(tmp_path, capsys):
    plot = tmp_path / "demo.png"
    assert main(["demo", "--json", "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["front"] and out["points"] == 32
    times = [p["time_to_train_s"] for p in out["front"]]
    costs = [p["total_gbp"] for p in out["front"]]
    assert times == sorted(times) and costs == sorted(costs, reverse=True)
    assert plot.stat().st_size > 1000
    assert {"h100-sxm", "b200", "tpu-v5p"} <= {p["system"] for p in out["systems"]}
    assert "design.clock_hz" in out["balanced"]["elasticities"]["time_to_train_s"]


def test_workloads_command(capsys):
    assert main(["workloads", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    gpt3 = out["workloads"][0]
    assert (gpt3["n_layers"], gpt3["hidden_size"], gpt3["n_heads"], gpt3["seq_len"]) == (
        96,
        12288,
        96,
        2048,
    )
    assert gpt3["convergence"][1] == {"global_batch": 2048.0, "samples_to_converge": 575078.0}
    assert gpt3["convergence_rounds"] == ["v3.0", "v3.1", "v4.0", "v4.1"]


def test_calibrate_writes_a_file_validate_reads(tmp_path, capsys):
    import csv

    from dse import load_results

    rows = [r for r in load_results() if r["benchmark"] == "gpt3"][:9]
    path = tmp_path / "rows.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "cal.json"
    args = ["calibrate", "--results", str(path), "--steps", "5", "--out", str(out), "--json"]
    assert main(args) == 0
    record = json.loads(capsys.readouterr().out)
    assert {"constants", "family_efficiency", "fitted", "fitted_on", "errors"} <= set(record)
    assert json.loads(out.read_text())["constants"] == record["constants"]
    assert main(["validate", "--results", str(path), "--calibration", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mape"] == pytest.approx(record["errors"]["mape_all_rows"], rel=1e-6)
    assert (
        main(["calibrate", "--results", str(path), "--fields", "nonsense", "--out", str(out)]) == 2
    )


def test_op_level_workloads_in_the_cli(capsys):
    """Op-level workloads are listed and evaluated data-parallel in bf16 by default."""
    assert main(["workloads", "--json"]) == 0
    listed = {w["name"]: w for w in json.loads(capsys.readouterr().out)["workloads"]}
    assert listed["resnet50"]["kind"] == "op-level"
    assert listed["resnet50"]["default_precision"] == "bf16"
    assert listed["gpt3-175b"]["kind"] == "transformer"
    args = ["evaluate", "--workload", "resnet50", "--system", "h100-sxm", "--accelerators", "8"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["strategy"]["precision"] == "bf16" and out["strategy"]["dp"] == 8
    assert out["feasible"] and 0 < out["mfu"] < 1
    assert main([*args, "--pp", "2"]) == 2
    assert "pp=2 is not allowed" in capsys.readouterr().err
