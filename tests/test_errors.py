"""Bad input gets a clear error naming the field, the value and what is allowed."""

import json

import pytest

from dse import StrategyPins, evaluate, load_calibration
from dse.cli import main
from hwmodels import get_system, list_presets
from workloads import get_workload


@pytest.mark.parametrize(
    "field", ["hbm_bw_bytes_per_s", "scaleout_bw_bytes_per_s", "scaleup_bw_bytes_per_s"]
)
@pytest.mark.parametrize("value", [0.0, -1e9, float("nan")])
def test_non_positive_bandwidth(h100, field, value):
    with pytest.raises(ValueError, match=field):
        h100.replace(**{field: value})


def test_unknown_system_lists_presets():
    with pytest.raises(ValueError) as err:
        get_system("h999")
    assert "h999" in str(err.value)
    for name in list_presets():
        assert name in str(err.value)


def test_unknown_workload_lists_known():
    with pytest.raises(ValueError, match="gpt3-175b"):
        get_workload("gpt5")


def test_accelerator_count_no_strategy_can_use():
    with pytest.raises(ValueError, match="no valid parallel strategy for 7 accelerators"):
        evaluate(system="h100-sxm", accelerators=7, pins=StrategyPins(global_batch=2048))
    with pytest.raises(ValueError, match="accelerators must be a whole number >= 1"):
        evaluate(system="h100-sxm", accelerators=0)


def test_infeasible_memory_is_reported_not_nan():
    r = evaluate(system="h100-sxm", accelerators=8, pins=StrategyPins(global_batch=2048))
    assert r["feasible"] is False
    assert "no strategy fits in memory" in r["infeasible_reason"]
    assert r["time_to_train_s"] > 0 and r["time_to_train_s"] < float("inf")


def test_pinned_strategy_checks():
    with pytest.raises(ValueError, match="tp=3"):
        evaluate(system="h100-sxm", accelerators=512, pins=StrategyPins(tp=3))
    with pytest.raises(ValueError, match="pp=200"):
        evaluate(system="h100-sxm", accelerators=512, pins=StrategyPins(pp=200))
    with pytest.raises(ValueError, match="no valid parallel strategy"):
        evaluate(system="h100-sxm", accelerators=512, pins=StrategyPins(pp=5))
    with pytest.raises(ValueError, match="cp=3"):
        evaluate(
            workload="llama31-8b", system="h100-sxm", accelerators=512, pins=StrategyPins(cp=3)
        )
    with pytest.raises(ValueError, match="fp8"):
        evaluate(system="a100-sxm-80gb", accelerators=512, pins=StrategyPins(precision="fp8"))


def test_malformed_system_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("peak_bf16_tflops = [oops\n")
    with pytest.raises(ValueError, match="not valid"):
        get_system(str(bad))
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"peak_bf16_tflops": 1000}))
    with pytest.raises(ValueError, match="missing required key 'hbm_gb'"):
        get_system(str(missing))
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"peak_bf16_tflops": "fast"}))
    with pytest.raises(ValueError, match="'peak_bf16_tflops' must be a number"):
        get_system(str(wrong))
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"peak_bf16_tflop": 1}))
    with pytest.raises(ValueError, match="unknown key"):
        get_system(str(extra))
    with pytest.raises(ValueError, match="does not exist"):
        get_system(str(tmp_path / "nope.toml"))


def test_bad_calibration_file(tmp_path):
    f = tmp_path / "cal.json"
    f.write_text(json.dumps({"constants": {"gemm_efficiency_bf16": 3.0}}))
    with pytest.raises(ValueError, match="gemm_efficiency_bf16.*outside its bounds"):
        load_calibration(str(f))


def test_cli_exits_2_with_message(capsys):
    assert main(["evaluate", "--system", "h999"]) == 2
    err = capsys.readouterr().err
    assert "unknown system 'h999'" in err and "h100-sxm" in err
    assert main(["evaluate", "--accelerators", "7", "--global-batch", "2048"]) == 2
    assert main(["validate", "--results", "/nonexistent.csv"]) == 2
