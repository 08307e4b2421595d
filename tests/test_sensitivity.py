"""Sensitivity reports: elasticities by autodiff, identities, worth lines checked
by re-evaluating the exact model, and the CLI."""

import json

import pytest

from dse._sensitivity import METRICS, sensitivity
from dse.cli import main


@pytest.fixture(scope="module")
def system_report():
    return sensitivity("resnet50", system="h100-sxm", accelerators=8, top=3)


def test_system_elasticities_obey_the_cost_identities(system_report):
    e = system_report["elasticities"]
    assert set(e) == set(METRICS)
    # Energy of a run = servers x server power x time x PUE: elasticity +1 in
    # server power; pounds per run are linear in the server cost and power.
    assert e["energy_j"]["system.server_power_w"] == pytest.approx(1.0, abs=1e-4)
    cap = e["total_gbp"]["system.server_cost_gbp"]
    opx = e["total_gbp"]["system.server_power_w"]
    assert cap + opx == pytest.approx(1.0, abs=1e-4)  # total = capital + operating
    # More throughput or bandwidth never slows training.
    for p in ("peak_bf16_flops_per_s", "hbm_bw_bytes_per_s", "scaleup_bw_bytes_per_s"):
        assert e["time_to_train_s"]["system." + p] <= 1e-9


def test_worth_lines_agree_with_re_evaluation(system_report):
    lines = system_report["worth"]
    assert lines and all(w["metric"] in METRICS for w in lines)
    for w in lines:
        assert w["reevaluated_relative"] is not None
        # Log-linear prediction against the exact model over a 10% step.
        assert w["reevaluated_relative"] == pytest.approx(w["predicted_relative"], abs=0.02)
    ranked = system_report["ranked"]["time_to_train_s"]
    assert abs(ranked[0][1]) >= abs(ranked[-1][1])


def test_design_sensitivity_covers_design_and_technology(capsys):
    assert (
        main(
            [
                "sensitivity",
                "--design",
                "h100-like",
                "--workload",
                "resnet50",
                "--accelerators",
                "8",
                "--top",
                "2",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    e = out["elasticities"]["total_gbp"]
    assert any(k.startswith("design.") for k in e) and any(k.startswith("technology.") for k in e)
    # Pounds rise with the price of wafers and HBM; time falls with the clock.
    assert e["technology.wafer_cost_usd"] > 0 and e["technology.hbm_cost_usd_per_byte"] > 0
    assert out["elasticities"]["time_to_train_s"]["design.clock_hz"] < 0
    assert "design.servers" in out["piecewise"]


def test_bad_input_is_refused(capsys):
    with pytest.raises(ValueError, match="exactly one of"):
        sensitivity("resnet50")
    with pytest.raises(ValueError, match="step=2"):
        sensitivity("resnet50", system="h100-sxm", step=2)
    with pytest.raises(SystemExit):  # argparse: mutually exclusive
        main(["sensitivity", "--system", "h100-sxm", "--design", "h100-like"])
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["sensitivity", "--design", "no-such-design"]) == 2
    assert "unknown design" in capsys.readouterr().err
