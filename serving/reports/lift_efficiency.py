"""The data-efficiency part of a lift report: the metric against the fraction of real
training data per arm (one plot), the effective real-data multiplier as text, a table and
a forest plot. Every number is read from ``result["efficiency"]``
(:func:`engine.lift.efficiency.efficiency`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from serving.reports.html import figure, img, table


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _pct(f: float) -> str:
    return f"{100 * f:g}%"


def format_multiplier(m: Mapping[str, Any]) -> str:
    """``1.6x [1.1, 2.3]``; a capped point reads ``>= 1x`` (the arm beats real-only at the
    largest fraction tried), a floored one ``<= 0.5x``, and so do interval ends at the
    cap or the floor (``[<=1, 2.1]``)."""
    value, lo, hi = _num(m["multiplier"]), _num(m["ci_low"]), _num(m["ci_high"])
    if math.isnan(value):
        return "n/a"
    mark = {"above": ">= ", "below": "<= "}.get(m.get("flag") or "", "")

    def bound(v: float) -> str:  # an interval end at the curve's floor or cap is a bound
        if math.isclose(v, _num(m.get("floor")), rel_tol=1e-9):
            return f"<={v:.2g}"
        if math.isclose(v, _num(m.get("cap")), rel_tol=1e-9):
            return f">={v:.2g}"
        return f"{v:.2g}"

    ci = "" if math.isnan(lo) else f" [{bound(lo)}, {bound(hi)}]"
    return f"{mark}{value:.2g}x{ci}"


def multiplier_sentence(m: Mapping[str, Any], unit: str) -> str:
    """"at 10% of the applicants, vae-both rows are worth 1.6x [1.1, 2.3] real rows"."""
    text = (f"at {_pct(m['fraction'])} of the {unit}s, {m['arm']} ({m['model']}) is worth "
            f"{format_multiplier(m)} the real rows")
    if m.get("flag") == "above":
        text += " (beats real-only on all the data tried: the cap)"
    elif m.get("flag") == "below":
        text += " (worse than real-only on the smallest fraction tried: the floor)"
    return text


def curve_plot(result: Mapping[str, Any]) -> str:
    """Test metric vs fraction of real training data, one line per arm with its interval
    (log x axis); the real-only line is thick and black."""
    eff = result.get("efficiency")
    if not eff:
        return ""
    pts = eff["points"]
    keys = sorted({(p["model"], p["arm"]) for p in pts}, key=lambda k: (k[0], k[1] != "real",
                                                                        k[1]))
    fig, ax = figure(9, 4.5)
    # Real-only as a band; arms as points with error bars, nudged apart along x so that
    # overlapping intervals stay readable.
    nudge = np.linspace(-0.06, 0.06, max(len(keys) - 1, 1))
    i = 0
    for model, arm in keys:
        own = sorted((p for p in pts if (p["model"], p["arm"]) == (model, arm)),
                     key=lambda p: p["fraction"])
        x = np.array([p["fraction"] for p in own])
        y = np.array([_num(p["value"]) for p in own])
        lo = np.array([_num(p["ci_low"]) for p in own])
        hi = np.array([_num(p["ci_high"]) for p in own])
        if arm == "real":
            ax.plot(x, y, marker="o", lw=2.5, color="black", label=f"{model} · real only")
            ax.fill_between(x, lo, hi, color="black", alpha=0.12)
            continue
        xs = x * np.exp(nudge[i % len(nudge)])
        i += 1
        err = np.vstack([y - lo, hi - y])
        ax.errorbar(xs, y, yerr=np.where(np.isfinite(err), err, 0.0), marker="o", ms=4,
                    lw=1, capsize=2, label=f"{model} · {arm}")
    ax.set_xscale("log")
    ticks = list(eff["fractions"])
    ax.set_xticks(ticks, [_pct(t) for t in ticks])
    ax.minorticks_off()
    metric = eff["metric"]
    higher = next(m["higher_is_better"] for m in result["metrics"] if m["name"] == metric)
    ax.set_xlabel("share of the real training data (validation and test always whole)")
    ax.set_ylabel(f"test {metric} ({'higher' if higher else 'lower'} is better)")
    ax.legend(fontsize=7, ncol=2)
    return img(fig)


def multiplier_forest(result: Mapping[str, Any]) -> str:
    """Multiplier per arm and fraction with its interval, log scale; 1 = worth as much
    as the real-only model on the same data."""
    eff = result.get("efficiency")
    rows = [m for m in (eff or {}).get("multipliers", []) if np.isfinite(_num(m["multiplier"]))]
    if not rows:
        return ""
    y = np.arange(len(rows))[::-1]
    fig, ax = figure(9, 0.3 * len(rows) + 1.3)
    for i, m in enumerate(rows):
        v, lo, hi = _num(m["multiplier"]), _num(m["ci_low"]), _num(m["ci_high"])
        lo, hi = (v, v) if math.isnan(lo) else (min(lo, v), max(hi, v))
        # An interval end at the floor / cap is a bound, not evidence: colour only clear wins.
        clear_lo = lo > 1 + 1e-9 and not math.isclose(lo, _num(m.get("floor")), rel_tol=1e-9)
        clear_hi = hi < 1 - 1e-9 and not math.isclose(hi, _num(m.get("cap")), rel_tol=1e-9)
        color = "#1a7f37" if clear_lo else "#c62828" if clear_hi else "#555555"
        ax.errorbar(v, y[i], xerr=[[v - lo], [hi - v]], fmt="o" if not m.get("flag") else "D",
                    color=color, capsize=3, ms=4)
    ax.axvline(1, color="#999", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_yticks(y, [f"{m['model']} · {m['arm']} @ {_pct(m['fraction'])}" for m in rows],
                  fontsize=8)
    ax.set_xlabel("effective real-data multiplier (log scale; right of 1 = worth more than "
                  "its real rows)\ndiamonds: point capped or floored at the curve's end; "
                  "green / red: interval clear of 1", fontsize=9)
    return img(fig)


def efficiency_table(result: Mapping[str, Any]) -> str:
    eff = result.get("efficiency")
    if not eff:
        return ""
    pts = {(p["model"], p["arm"], p["fraction"]): p for p in eff["points"]}
    body = []
    for m in eff["multipliers"]:
        p = pts[(m["model"], m["arm"], m["fraction"])]
        body.append((m["model"], m["arm"], _pct(m["fraction"]), _num(p["train_rows"]),
                     "-" if m["ratio"] is None else f"{m['ratio']:g}", _num(p["value"]),
                     _num(p["delta"]), f"[{_num(p['delta_low']):+.3g}, "
                     f"{_num(p['delta_high']):+.3g}]", p["verdict"], format_multiplier(m),
                     _num(m["share_capped"])))
    return table(body, ["model", "arm", "fraction", "real rows", "ratio", eff["metric"],
                        "delta vs real-only", "95% CI", "verdict", "multiplier [95% CI]",
                        "share of resamples capped"])


def efficiency_section(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The report's sections (none without fractions)."""
    eff = result.get("efficiency")
    if not eff:
        return []
    sentences = "".join(f"<li>{multiplier_sentence(m, result['unit'])}</li>"
                        for m in eff["multipliers"] if m["fraction"] < 1)
    note = ("<p class='muted'>Every arm is run again on nested subsamples of the real "
            "training data (a new subsample per seed, stratified as the task splits; "
            "generators refitted on the subsample only; validation, test and any early-"
            "stopping holdout whole). The <b>effective real-data multiplier</b> reads an "
            "arm's test metric off the real-only curve (linear in log fraction, on its "
            "running best): the real-only model would need that many times the arm's real "
            "rows to match it. Its interval resamples test units and seeds for every curve "
            "at once (paired). Past the curve's ends it is capped (>=) or floored (<=).</p>")
    return [(f"Data efficiency: {eff['metric']} vs real training data",
             curve_plot(result) + (f"<ul>{sentences}</ul>" if sentences else "") + note),
            ("Effective real-data multiplier", multiplier_forest(result)
             + efficiency_table(result))]


__all__ = ["curve_plot", "efficiency_section", "efficiency_table", "format_multiplier",
           "multiplier_forest", "multiplier_sentence"]
