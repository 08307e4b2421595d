"""The ARIA cost method: the worked example to the pound, and its identities."""

import json

import pytest

from dse import CostModel, StrategyPins, cost_terms, evaluate
from dse.cli import main
from tests._x64 import x64 as enable_x64


def test_aria_worked_example_to_the_pound(h100):
    with enable_x64():
        system = h100.replace(server_cost_gbp=60_000.0, server_power_w=11_300.0)
        c = cost_terms(system, CostModel(), 512.0, 3600.0)
        assert float(c.capital_gbp) == pytest.approx(3_840_000.0, abs=0.5)
        # 512/8 x 11.3 kW x 0.02 x 1.1 x 0.8 x 43,800 h = 557,500.4
        assert float(c.operating_gbp) == pytest.approx(557_500.4, abs=0.5)
        assert float(c.total_gbp) == pytest.approx(4_397_500.4, abs=1.0)
        assert float(c.servers) == 64.0


def test_run_cost_is_total_times_run_fraction(h100):
    with enable_x64():
        c = cost_terms(h100, CostModel(), 512.0, 3600.0)
        lifetime_s = 5 * 8760 * 3600.0
        assert float(c.run_cost_gbp) == pytest.approx(
            float(c.total_gbp) * 3600.0 / lifetime_s, rel=1e-12
        )
        # energy: servers x power x time x PUE
        assert float(c.energy_j) == pytest.approx(64 * 10_200.0 * 3600.0 * 1.1, rel=1e-12)


def test_operating_scales_with_every_constant(h100):
    with enable_x64():
        base = cost_terms(h100, CostModel(), 512.0, 1.0).operating_gbp
        for field, factor in (
            ("gbp_per_kwh", 2.0),
            ("pue", 1.5),
            ("utilisation", 0.5),
            ("lifetime_years", 2.0),
        ):
            cm = CostModel().replace(**{field: getattr(CostModel(), field) * factor})
            assert float(cost_terms(h100, cm, 512.0, 1.0).operating_gbp) == pytest.approx(
                float(base) * factor, rel=1e-12
            )


def test_evaluate_with_aria_overrides_gives_aria_pounds():
    r = evaluate(
        system="h100-sxm",
        accelerators=512,
        server_cost_gbp=60_000.0,
        server_power_w=11_300.0,
        pins=StrategyPins(global_batch=2048),
    )
    assert r["capital_gbp"] == pytest.approx(3_840_000.0, rel=1e-6)
    assert r["operating_gbp"] == pytest.approx(557_500.0, rel=1e-5)
    assert r["total_gbp"] == pytest.approx(4_397_500.0, rel=1e-5)


def test_cli_cost_flags(capsys):
    code = main(
        [
            "evaluate",
            "--system",
            "h100-sxm",
            "--accelerators",
            "512",
            "--server-cost-gbp",
            "60000",
            "--server-power-kw",
            "11.3",
            "--global-batch",
            "2048",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["capital_gbp"] == pytest.approx(3_840_000.0, rel=1e-6)
    assert out["operating_gbp"] == pytest.approx(557_500.0, rel=1e-5)
    code = main(
        [
            "evaluate",
            "--accelerators",
            "512",
            "--global-batch",
            "2048",
            "--gbp-per-kwh",
            "0.04",
            "--server-cost-gbp",
            "60000",
            "--server-power-kw",
            "11.3",
            "--json",
        ]
    )
    out2 = json.loads(capsys.readouterr().out)
    assert out2["operating_gbp"] == pytest.approx(2 * 557_500.0, rel=1e-5)


@pytest.mark.parametrize(
    "field,value",
    [("pue", 0.9), ("utilisation", 1.5), ("lifetime_years", 0.0), ("gbp_per_kwh", -1.0)],
)
def test_bad_cost_constants_are_named(field, value):
    with pytest.raises(ValueError, match=field):
        CostModel().replace(**{field: value})
