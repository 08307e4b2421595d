"""Validation against published MLPerf Training results, and calibration fits.

Rows come from a CSV with the columns of the project's copy of the results
table (``dse/data/mlperf-training-results.csv``, from ``shared/data``).
Each usable row is mapped to a preset (by its accelerator spelling) and a
workload (by its benchmark), its global batch is pinned, and the strategy is
searched. All rows are evaluated in one vmapped, jitted batch: candidate lists
are padded to a common length by repeating a row's first candidate, which
leaves the exact best strategy unchanged.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
from importlib import resources

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dse._api import candidates_for, resolve_precision
from dse._batch import search_batch, stack_problems
from dse._calibration import (
    BOUNDS,
    FAMILY_BOUNDS,
    Calibration,
    apply_calibration,
    apply_software_maturity,
    efficiency_class,
    family_key,
)
from dse._cost import CostModel
from dse._search import search_strategies
from dse._strategy import StrategyPins
from hwmodels import SystemSpec, accelerator_name_map, get_system
from hwmodels._files import read_text
from workloads import get_workload, workload_for_round

__all__ = [
    "RESULT_COLUMNS",
    "BENCHMARK_WORKLOADS",
    "load_results",
    "prepare_rows",
    "predict_minutes",
    "validate",
    "fit_calibration",
    "holdout_fold",
]

RESULT_COLUMNS = (
    "round",
    "submitter",
    "system_name",
    "accelerator",
    "accelerator_count",
    "benchmark",
    "time_to_train_min",
    "global_batch_size",
    "precision_notes",
    "source",
)
# Benchmarks of the results table the model knows, and their workload.
BENCHMARK_WORKLOADS = {
    "gpt3": "gpt3-175b",
    "llama31_405b": "llama31-405b",
    "llama31_8b": "llama31-8b",
    "llama2_70b_lora": "llama2-70b-lora",
    "bert": "bert-large",
    "resnet": "resnet50",
    "retinanet": "retinanet",
    "unet3d": "unet3d",
    "stable_diffusion": "stable-diffusion-v2",
    "dlrm_dcnv2": "dlrm-dcnv2",
}


# MLPerf Training rounds in order (two a year: v2.0 June 2022 ... v5.1 November
# 2025); a row's software maturity is how many rounds it precedes the latest.
ROUNDS = ("v2.0", "v2.1", "v3.0", "v3.1", "v4.0", "v4.1", "v5.0", "v5.1")


def rounds_behind(round_name: str) -> float:
    """Rounds between a result's round and the latest known one (0 if unknown)."""
    name = round_name.strip()
    return float(len(ROUNDS) - 1 - ROUNDS.index(name)) if name in ROUNDS else 0.0


# Benchmarks deliberately not modelled yet, with the reason.
UNMODELLED = {
    "gnn": (
        "R-GAT (gnn) is not modelled: its time is dominated by terms outside the "
        "accelerator model (neighbour sampling on the GPU, a feature store in host memory "
        "when IGBH's 0.56-2.2 TB of features exceed the node's HBM, and dataset loading on "
        "the clock), which need host-memory, PCIe and storage bandwidths that SystemSpec "
        "does not carry yet"
    ),
}


def load_results(path: str | None = None) -> list[dict]:
    """Rows of a results CSV (the project's copy when ``path`` is None).

    Raises:
        ValueError: missing file, unreadable CSV, or missing columns (named).
    """
    if path is None:
        text = resources.files("dse").joinpath("data/mlperf-training-results.csv").read_text()
        where = "the project's results table"
    else:
        text = read_text(path, "results file")
        where = f"results file '{path}'"
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = [c for c in RESULT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{where} lacks column(s) {missing}; required: {list(RESULT_COLUMNS)}")
        return list(reader)
    except csv.Error as err:
        raise ValueError(f"{where} is not a readable CSV table: {err}") from None


def holdout_fold(row: dict) -> bool:
    """Documented split: a row is held out of fitting when the SHA-256 of its
    ``source`` column is 0 mod 3 (about a third of the rows)."""
    digest = hashlib.sha256(row["source"].encode()).hexdigest()
    return int(digest, 16) % 3 == 0


@functools.cache
def precision_rules() -> dict[tuple[str, str, str], str]:
    """Documented per-round precision exceptions: (preset, round, benchmark) -> precision.

    From ``dse/data/precision_rules.csv`` (each rule with its source; ``*``
    matches any round or benchmark). Rows not covered use the precision notes
    of the row, then the preset's default.
    """
    text = resources.files("dse").joinpath("data/precision_rules.csv").read_text()
    return {
        (r["preset"], r["round"], r["benchmark"]): r["precision"]
        for r in csv.DictReader(io.StringIO(text))
    }


def _row_precision(row: dict, preset: str, spec: SystemSpec) -> str:
    rules = precision_rules()
    rnd, bench = row.get("round", ""), row["benchmark"]
    rule = None
    for key in ((preset, rnd, bench), (preset, rnd, "*"), (preset, "*", bench), ("*", "*", bench)):
        rule = rule or rules.get(key)
    if rule:
        return rule
    notes = row.get("precision_notes", "")
    if "pre-FP8" in notes:
        return "bf16"
    if "FP8" in notes and spec.supports_fp8():
        return "fp8"
    return resolve_precision(preset, spec, None)


CONVERGENCE_MODES = ("round", "newest")


def prepare_rows(
    rows: list[dict], *, benchmarks=None, convergence: str = "round"
) -> tuple[list[dict], list[dict]]:
    """Map rows to (workload, system, strategies); list the rest as skipped.

    ``convergence`` picks each row's samples-to-converge curve: ``round``
    (default) the reference convergence points of the row's own MLPerf round
    (``workloads.workload_for_round``), ``newest`` the newest RCPs for every
    row (the default tables), to see what the per-round curves change.

    Returns:
        ``(prepared, skipped)``: prepared items hold the row, preset, spec,
        workload, precision and candidate strategies; skipped items hold the
        row's identity and the reason.
    """
    if convergence not in CONVERGENCE_MODES:
        raise ValueError(
            f"convergence={convergence!r} is not allowed: one of {list(CONVERGENCE_MODES)}"
        )
    names = accelerator_name_map()
    wanted = set(benchmarks) if benchmarks else set(BENCHMARK_WORKLOADS)
    prepared, skipped = [], []
    for i, row in enumerate(rows):
        ident = dict(
            index=i,
            round=row["round"],
            system_name=row["system_name"],
            accelerator=row["accelerator"],
            benchmark=row["benchmark"],
            source=row["source"],
        )
        bench = row["benchmark"]
        if bench not in BENCHMARK_WORKLOADS:
            if benchmarks is None or bench in wanted:
                skipped.append(
                    {
                        **ident,
                        "reason": UNMODELLED.get(
                            bench,
                            f"benchmark '{bench}' has no workload model yet "
                            f"(known: {sorted(BENCHMARK_WORKLOADS)})",
                        ),
                    }
                )
            continue
        if bench not in wanted:
            continue
        preset = names.get(row["accelerator"].strip())
        if preset is None:
            skipped.append(
                {**ident, "reason": f"accelerator '{row['accelerator']}' maps to no preset"}
            )
            continue
        try:
            n = int(float(row["accelerator_count"]))
            published = float(row["time_to_train_min"])
            batch_text = row["global_batch_size"].split("/")[0].strip()
            gb = int(float(batch_text))
        except ValueError as err:
            skipped.append({**ident, "reason": f"unreadable number: {err}"})
            continue
        spec = get_system(preset)
        wl = get_workload(BENCHMARK_WORKLOADS[bench])
        if convergence == "round":
            try:
                # Judged against the reference convergence points of its own round
                # (a round column not written like 'v4.1' keeps the newest, as
                # ``rounds_behind`` keeps today's software).
                wl = workload_for_round(wl, row.get("round", ""))
            except ValueError:
                pass
        precision = _row_precision(row, preset, spec)
        try:
            cands = candidates_for(wl, spec, n, precision, StrategyPins(global_batch=gb))
        except ValueError as err:
            skipped.append({**ident, "reason": str(err)})
            continue
        prepared.append(
            dict(
                ident=ident,
                preset=preset,
                spec=spec,
                workload=wl,
                precision=precision,
                accelerators=n,
                global_batch=gb,
                published_min=published,
                holdout=holdout_fold(row),
                rounds_behind=rounds_behind(row.get("round", "")),
                candidates=cands,
            )
        )
    return prepared, skipped


def predict_minutes(prepared: list[dict], cal: Calibration, costs: CostModel | None = None):
    """Predicted minutes, chosen strategy indices and feasibility, per row."""
    costs = costs or CostModel()
    out_t = np.zeros(len(prepared))
    out_i = np.zeros(len(prepared), dtype=int)
    out_f = np.zeros(len(prepared))
    # One batched call per workload (frozen, hashable: a round's convergence
    # curve makes a different key).
    groups: dict = {}
    for i, p in enumerate(prepared):
        groups.setdefault(p["workload"], []).append(i)
    for idx in groups.values():
        sub = [prepared[i] for i in idx]
        res = search_batch(
            [
                apply_software_maturity(
                    apply_calibration(p["spec"], cal, p["precision"], p["workload"]),
                    cal,
                    p["rounds_behind"],
                )
                for p in sub
            ],
            sub[0]["workload"],
            [p["candidates"] for p in sub],
            cal,
            costs,
        )
        out_t[idx] = np.asarray(res.best.time_to_train_s) / 60.0
        out_i[idx] = np.asarray(res.best_index)
        out_f[idx] = np.asarray(res.any_feasible)
    return out_t, out_i, out_f


def validate(
    rows: list[dict], cal: Calibration, *, benchmarks=None, convergence: str = "round"
) -> dict:
    """Per-row published vs predicted minutes, errors and MAPE.

    ``convergence``: ``round`` (each row on its round's reference convergence
    points) or ``newest`` (see ``prepare_rows``).

    Returns:
        Dict with ``rows`` (per-row dicts), ``skipped``, ``mape`` (fraction,
        all rows), ``mape_fit`` and ``mape_holdout`` (the documented split),
        ``mape_by_accelerator`` and ``mape_by_benchmark``.
    """
    from dse._strategy import describe_strategy

    prepared, skipped = prepare_rows(rows, benchmarks=benchmarks, convergence=convergence)
    if not prepared:
        return dict(
            rows=[],
            skipped=skipped,
            mape=None,
            mape_fit=None,
            mape_holdout=None,
            mape_by_accelerator={},
            mape_by_benchmark={},
        )
    minutes, index, feasible = predict_minutes(prepared, cal)
    out_rows = []
    for p, pred, k, f in zip(prepared, minutes, index, feasible, strict=True):
        err = (pred - p["published_min"]) / p["published_min"]
        out_rows.append(
            dict(
                **{
                    k2: p["ident"][k2]
                    for k2 in ("round", "system_name", "accelerator", "benchmark", "source")
                },
                preset=p["preset"],
                accelerators=p["accelerators"],
                global_batch=p["global_batch"],
                precision=p["precision"],
                published_min=p["published_min"],
                predicted_min=float(pred),
                error=float(err),
                feasible=bool(f > 0.5),
                holdout=p["holdout"],
                strategy=describe_strategy(p["candidates"][int(k)]),
            )
        )
    ape = lambda rs: float(np.mean([abs(r["error"]) for r in rs])) if rs else None  # noqa: E731
    by_acc: dict[str, list] = {}
    by_bench: dict[str, list] = {}
    for r in out_rows:
        by_acc.setdefault(r["preset"], []).append(r)
        by_bench.setdefault(r["benchmark"], []).append(r)
    return dict(
        rows=out_rows,
        skipped=skipped,
        mape=ape(out_rows),
        mape_fit=ape([r for r in out_rows if not r["holdout"]]),
        mape_holdout=ape([r for r in out_rows if r["holdout"]]),
        mape_by_accelerator={k: ape(v) for k, v in sorted(by_acc.items())},
        mape_by_benchmark={k: ape(v) for k, v in sorted(by_bench.items())},
    )


HUBER_DELTA = 0.05
LOSSES = ("squared", "huber")


def fit_calibration(
    prepared: list[dict],
    start: Calibration,
    fields: tuple[str, ...],
    *,
    steps: int = 400,
    learning_rate: float = 0.05,
    log_every: int = 50,
    callback=None,
    loss: str = "squared",
    families: tuple[str, ...] = (),
) -> tuple[Calibration, list[float]]:
    """Fit calibration constants by Adam on the squared log error of minutes.

    Each fitted constant lives in a sigmoid box of its ``BOUNDS``; gradients
    come from the model itself (through the exact best strategy of each row).
    Rows of several workloads are fitted together (one vmapped batch each).

    Args:
        prepared: Rows from ``prepare_rows``.
        start: Starting calibration (also supplies the unfitted constants).
        fields: Names of the constants to fit.
        steps: Adam steps.
        learning_rate: Adam learning rate in the unconstrained space.
        log_every: Call ``callback(step, loss)`` every this many steps.
        callback: Optional progress callable.
        loss: ``squared`` (mean squared log error) or ``huber`` (pseudo-Huber
            of the log error with width ``HUBER_DELTA``: squared below about
            5%, linear above, so that a few anomalous submissions do not
            dominate the fit).
        families: ``family/precision`` keys whose software-efficiency factor
            is fitted too (relative to the reference family, which stays 1).

    Returns:
        ``(fitted calibration, loss history)``.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not allowed: choose one of {list(LOSSES)}")
    groups = []
    by_workload: dict = {}
    for p in prepared:
        by_workload.setdefault(p["workload"], []).append(p)
    for rows in by_workload.values():
        systems, strategies = stack_problems(
            [p["spec"] for p in rows], [p["candidates"] for p in rows]
        )
        target = jnp.log(jnp.asarray([p["published_min"] * 60.0 for p in rows]))
        # Row -> index of its fitted family (len(families) = not fitted: factor 1).
        keys = [
            family_key(p["spec"].family, efficiency_class(p["precision"], p["workload"]))
            for p in rows
        ]
        index = np.asarray([families.index(k) if k in families else len(families) for k in keys])
        behind = np.asarray([p.get("rounds_behind", 0.0) for p in rows])
        groups.append((rows[0]["workload"], systems, strategies, target, index, behind))
    n_rows = len(prepared)
    costs = CostModel()

    def to_cal(z):
        values = {}
        for name in fields:
            lo, hi = BOUNDS[name]
            values[name] = lo + (hi - lo) * jax.nn.sigmoid(z[name])
        return start.replace(**values)

    def family_factors(z):
        lo, hi = FAMILY_BOUNDS
        fitted = [lo + (hi - lo) * jax.nn.sigmoid(z["family:" + f]) for f in families]
        return jnp.stack([*fitted, jnp.asarray(1.0)])

    def loss_fn(z):
        cal = to_cal(z)
        factors = family_factors(z)
        total = 0.0
        for workload, systems, strategies, target, index, behind in groups:
            maturity = jnp.exp(-cal.software_gain_per_round * behind)
            systems = dataclasses.replace(
                systems,
                software_efficiency=systems.software_efficiency * factors[index] * maturity,
            )

            def one(system, cands, workload=workload):
                return search_strategies(system, workload, cands, cal, costs).best.time_to_train_s

            t = jax.vmap(one)(systems, strategies)
            err = jnp.log(t) - target
            if loss == "huber":
                total = total + jnp.sum(
                    HUBER_DELTA * (jnp.sqrt(1.0 + (err / HUBER_DELTA) ** 2) - 1.0)
                )
            else:
                total = total + jnp.sum(err**2)
        return total / n_rows

    def logit(name):
        lo, hi = BOUNDS[name]
        x = (float(getattr(start, name)) - lo) / (hi - lo)
        x = min(max(x, 1e-4), 1 - 1e-4)
        return float(np.log(x / (1 - x)))

    z = {name: jnp.asarray(logit(name)) for name in fields}
    lo, hi = FAMILY_BOUNDS
    for f in families:
        x = (dict(start.family_efficiency).get(f, 1.0) - lo) / (hi - lo)
        z["family:" + f] = jnp.asarray(float(np.log(x / (1 - x))))
    opt = optax.adam(learning_rate)
    state = opt.init(z)

    @jax.jit
    def step(z, state):
        value, grads = jax.value_and_grad(loss_fn)(z)
        updates, state = opt.update(grads, state)
        return optax.apply_updates(z, updates), state, value

    history = []
    for i in range(steps):
        z, state, value = step(z, state)
        history.append(float(value))
        if callback and log_every and (i % log_every == 0 or i == steps - 1):
            callback(i, float(value))
    fitted = to_cal(z)
    if families:
        values = np.asarray(family_factors(z))[:-1]
        merged = dict(start.family_efficiency)
        merged.update({f: float(v) for f, v in zip(families, values, strict=True)})
        fitted = fitted.replace(family_efficiency=tuple(sorted(merged.items())))
    return fitted, history
