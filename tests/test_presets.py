"""Conformance over every preset, and user-described system files."""

import json
import math

import pytest

from dse import evaluate
from dse.cli import main
from hwmodels import FILE_KEYS, get_system, list_presets, preset_rows

REQUIRED = ["h100-sxm", "h200-sxm", "b200", "gb200", "a100-sxm-80gb", "tpu-v5p", "gaudi2"]


def test_required_presets_exist_with_sources():
    names = list_presets()
    for name in REQUIRED:
        assert name in names
    for name, row in preset_rows().items():
        assert len(row["source"]) > 40, f"{name} has no source"


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_evaluates(name):
    r = evaluate(system=name, accelerators=1024)
    for key in (
        "time_to_train_s",
        "step_time_s",
        "capital_gbp",
        "operating_gbp",
        "total_gbp",
        "run_cost_gbp",
        "energy_j",
    ):
        assert math.isfinite(r[key]) and r[key] > 0, key
    assert r["feasible"], r["infeasible_reason"]
    m = r["memory_per_device"]
    assert m["total_bytes"] <= m["capacity_bytes"]
    s = r["strategy"]
    assert s["tp"] * s["cp"] * s["pp"] * s["dp"] == 1024


def test_system_file_equals_preset(tmp_path):
    row = preset_rows()["h100-sxm"]
    toml = "\n".join(f"{k} = {row[k]}" for k in FILE_KEYS if row.get(k)) + '\nname = "my-h100"\n'
    path = tmp_path / "my.toml"
    path.write_text(toml)
    a = evaluate(system="h100-sxm", accelerators=512)
    b = evaluate(system=str(path), accelerators=512)
    assert b["time_to_train_s"] == pytest.approx(a["time_to_train_s"], rel=1e-6)
    assert b["total_gbp"] == pytest.approx(a["total_gbp"], rel=1e-6)
    jpath = tmp_path / "my.json"
    jpath.write_text(json.dumps({k: float(row[k]) for k in FILE_KEYS if row.get(k)}))
    c = evaluate(system=str(jpath), accelerators=512)
    assert c["time_to_train_s"] == pytest.approx(a["time_to_train_s"], rel=1e-6)


def test_systems_command(capsys):
    assert main(["systems", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = [s["name"] for s in out["systems"]]
    assert set(REQUIRED) <= set(names)
    h100 = out["systems"][names.index("h100-sxm")]
    assert h100["peak_bf16_tflops"] == pytest.approx(989.4)
    assert main(["systems"]) == 0
    assert "h100-sxm" in capsys.readouterr().out


def test_preset_units_are_si():
    s = get_system("h100-sxm")
    assert s.peak_bf16_flops_per_s == pytest.approx(989.4e12)
    assert s.hbm_bw_bytes_per_s == pytest.approx(3.35e12)
    assert s.scaleout_bw_bytes_per_s == pytest.approx(50e9)
    assert s.server_power_w == pytest.approx(10_200.0)
