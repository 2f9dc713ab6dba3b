"""The `genlift clv` report: fitted parameters, the holdout check (predicted vs actual
repeat purchases by calibration repeat purchases, FHL 2005's figure 4, and the weekly
tracking of cumulative repeat purchases, their figure 2) and the value distribution."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.customers.clv import ClvResult
from serving.reports.html import figure, img, kv_table, page, table, write_html

MODEL_NOTE = (
    "BG/NBD (Fader, Hardie & Lee 2005): while alive a customer buys at a Poisson rate "
    "lambda ~ Gamma(r, alpha) per week and drops out after a repeat purchase with "
    "probability p ~ Beta(a, b). Gamma-Gamma: each purchase's value is Gamma(p, nu) with "
    "nu ~ Gamma(q, gamma) per customer. Both fitted by maximum likelihood (scipy). Several "
    "purchases of one customer on one day count as one purchase occasion. CLV: the "
    "expected purchases of each week of the horizon x expected spend x margin, "
    "discounted at the annual rate.")


def _holdout_plot(result: ClvResult) -> str:
    assert result.holdout is not None
    t = result.holdout.by_frequency
    fig, ax = figure(8, 3.8)
    pos = np.arange(len(t))
    ax.plot(pos, t["actual"], "o-", color="#222", label="actual")
    ax.plot(pos, t["predicted"], "s--", color="#1f5fa8", label="BG/NBD conditional expectation")
    ax.plot(pos, t["naive"], "^:", color="#c62828", label="naive: calibration rate")
    ax.set_xticks(pos, t["calibration_repeat_purchases"])
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel("mean repeat purchases in the holdout")
    ax.legend(frameon=False)
    return img(fig)


def _tracking_plot(result: ClvResult) -> str:
    assert result.holdout is not None
    tr = result.holdout.tracking
    if tr.empty:
        return ""
    fig, ax = figure(8, 3.5)
    ax.plot(tr["unit"], tr["actual_cumulative"], color="#222", label="actual")
    ax.plot(tr["unit"], tr["model_cumulative"], "--", color="#1f5fa8", label="BG/NBD")
    cal = result.summary.attrs["calibration_end"]
    start = result.summary["first_purchase"].min()
    unit = float(result.summary.attrs["unit_days"])
    ax.axvline((pd.Timestamp(cal) - pd.Timestamp(start)).days / unit,
               color="#777", linestyle=":", label=f"calibration end {cal}")
    ax.set_xlabel("week")
    ax.set_ylabel("cumulative repeat purchases")
    ax.legend(frameon=False)
    return img(fig)


def _value_plot(result: ClvResult) -> str:
    v = result.values
    fig, (left, right) = figure(10, 3.4, ncols=2)
    clv = v["clv"].to_numpy()
    left.hist(np.log10(np.maximum(clv, 1e-2)), bins=50, color="#1f5fa8")
    left.set_xlabel("log10 CLV")
    left.set_ylabel("customers")
    right.hist(v["p_alive"], bins=40, color="#777")
    right.set_xlabel("P(alive)")
    return img(fig)


def _fmt_params(params: dict[str, float]) -> str:
    return ", ".join(f"{k} = {v:.4g}" for k, v in params.items())


def write_clv_report(result: ClvResult, path: str | Path, *, table_name: str,
                     extra: dict[str, Any] | None = None) -> Path:
    """Render the report and write it atomically to ``path``."""
    cfg = result.config
    facts: dict[str, Any] = {
        "table": table_name,
        "customers valued": len(result.values),
        "values as of": result.as_of,
        "horizon (weeks)": cfg.horizon_weeks,
        "annual discount rate": cfg.discount_rate,
        "margin": cfg.margin,
        "BG/NBD (all purchases)": _fmt_params(result.bgnbd.params_),
        "Gamma-Gamma (all purchases)": _fmt_params(result.spend.params_),
        "total CLV": float(result.values["clv"].sum()),
        "expected purchases in the horizon": float(result.values["expected_purchases"].sum()),
    }
    facts.update(extra or {})
    sections = [("Summary", kv_table(facts))]
    if result.holdout is not None and result.calibration_bgnbd is not None:
        tot = result.holdout.totals
        attrs = result.summary.attrs
        box = kv_table({
            "calibration": f"to {attrs['calibration_end']}; holdout to "
                           f"{attrs['holdout_end']} ({tot['holdout_length']:.4g} weeks)",
            "BG/NBD (calibration)": _fmt_params(result.calibration_bgnbd.params_),
            "actual holdout repeat purchases": tot["actual_total"],
            "predicted (BG/NBD)": tot["predicted_total"],
            "error": f"{tot['error_pct']:+.2f}%",
            "naive (calibration rate)": tot["naive_total"],
            "per-customer MAE: BG/NBD": tot["mae_model"],
            "per-customer MAE: naive": tot["mae_naive"],
        })
        t = result.holdout.by_frequency
        sections += [
            ("Holdout check", f"<div class='box'>{box}</div>" + _holdout_plot(result)
             + table(t.itertuples(index=False), list(t.columns))),
            ("Tracking: cumulative repeat purchases", _tracking_plot(result)),
        ]
    top = result.values.sort_values("clv", ascending=False).head(20)
    sections += [
        ("Value and P(alive)", _value_plot(result)
         + table(top.itertuples(index=False), list(top.columns))),
        ("Model", f"<p>{html.escape(MODEL_NOTE)}</p>" + "".join(
            f"<p class='muted'>{html.escape(n)}</p>" for n in result.notes)),
    ]
    return write_html(page(f"Customer lifetime value: {table_name}", sections,
                           subtitle=f"BG/NBD + Gamma-Gamma, as of {result.as_of}"), path)


__all__ = ["write_clv_report"]
