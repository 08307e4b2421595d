"""Plots: the time-versus-pounds study, and the validation parity plot."""

from __future__ import annotations

import os

__all__ = ["plot_parity", "plot_design_front"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _ensure_dir(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"cannot write plot '{path}': folder '{folder}' does not exist")


def plot_parity(report: dict, path: str) -> str:
    """Predicted versus published minutes, log-log, coloured by benchmark
    (by accelerator when there is one benchmark); squares are held-out rows."""
    _ensure_dir(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 6))
    rows = report["rows"]
    key = "benchmark" if len({r["benchmark"] for r in rows}) > 1 else "preset"
    groups = sorted({r[key] for r in rows})
    cmap = plt.get_cmap("tab10")
    for i, name in enumerate(groups):
        rs = [r for r in rows if r[key] == name]
        for held, marker in ((False, "o"), (True, "s")):
            sel = [r for r in rs if r["holdout"] == held]
            if sel:
                ax.scatter(
                    [r["published_min"] for r in sel],
                    [r["predicted_min"] for r in sel],
                    color=cmap(i % 10),
                    marker=marker,
                    label=f"{name}{' (held out)' if held else ''}",
                )
    lo = min(min(r["published_min"], r["predicted_min"]) for r in rows) / 1.5
    hi = max(max(r["published_min"], r["predicted_min"]) for r in rows) * 1.5
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.plot([lo, hi], [lo * 1.15, hi * 1.15], "k:", lw=0.6)
    ax.plot([lo, hi], [lo / 1.15, hi / 1.15], "k:", lw=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("published time to train, minutes")
    ax.set_ylabel("predicted, minutes")
    mape = report.get("mape")
    ax.set_title(
        f"MLPerf Training validation (MAPE {mape:.1%})" if mape is not None else "validation"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_design_front(result: dict, path: str) -> str:
    """The design front (time versus pounds, log-log), coloured by accelerator
    count, with the real systems of ``result["systems"]`` marked at the same
    counts."""
    _ensure_dir(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 6.2))
    front = result["front"]
    counts = sorted(
        {f["accelerators"] for f in front} | {p["accelerators"] for p in result.get("systems", [])}
    )
    cmap = plt.get_cmap("viridis")
    colour = {c: cmap(i / max(len(counts) - 1, 1)) for i, c in enumerate(counts)}
    ax.plot(
        [f["total_gbp"] for f in front],
        [f["time_to_train_s"] / 60 for f in front],
        "k-",
        lw=1.2,
        zorder=2,
        label="Pareto front of buildable designs (model)",
    )
    ax.scatter(
        [f["total_gbp"] for f in front],
        [f["time_to_train_s"] / 60 for f in front],
        c=[colour[f["accelerators"]] for f in front],
        s=46,
        edgecolors="k",
        linewidths=0.6,
        zorder=3,
    )
    markers = "s^vDPXo<>*"
    systems = sorted({p["system"] for p in result.get("systems", [])})
    for i, name in enumerate(systems):
        pts = [p for p in result["systems"] if p["system"] == name]
        ax.scatter(
            [p["total_gbp"] for p in pts],
            [p["time_to_train_s"] / 60 for p in pts],
            marker=markers[i % len(markers)],
            facecolors="none",
            edgecolors=[colour.get(p["accelerators"], "grey") for p in pts],
            s=60,
            linewidths=1.3,
            zorder=2,
            label=name,
        )
    for c in counts:
        ax.scatter([], [], color=colour[c], s=30, label=f"{c} accelerators")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("total cost, GBP (capital + 5-year operating, ARIA method)")
    ax.set_ylabel("time to train, minutes")
    ax.set_title(
        f"{result['workload']}: designs from '{result['base_design']}' (filled) vs real systems (open)"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
