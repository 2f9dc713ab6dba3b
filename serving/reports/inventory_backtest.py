"""The report of `genlift backtest inventory`: did the inventory plan work?

One self-contained HTML page (inline PNG plots, :mod:`serving.reports.html`): the totals
per policy, the service-level calibration (target vs achieved cycle service level), the
inventory-vs-service trade-off curves, each policy's inventory at the other's achieved
service and the worst series. Beside it
(``out_html.with_suffix(".parquet")`` / ``.json``): every policy x target x series result
and the run's config. All three are written to temporary names first and renamed into
place together once everything has been rendered.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.inventory_backtest import METRIC_COLUMNS
from features.errors import DataValidationError
from serving.reports import html

logger = logging.getLogger(__name__)

__all__ = ["POLICY_LABELS", "write_backtest_report"]

POLICY_LABELS = {"model": "demand model (sampled paths)", "moving_average": "moving average",
                 "point": "point forecast (no safety stock)"}
POLICY_COLORS = {"model": "#1f77b4", "moving_average": "#ff7f0e", "point": "#2ca02c"}
TOTAL_COLUMNS = ("policy", "target", "cycle_service_level", "fill_rate", "avg_on_hand",
                 "weeks_of_supply", "stockout_weeks", "units_short")
WORST_COLUMNS = ("store_id", "item_id", "demand", "fill_rate", "cycle_service_level",
                 "avg_on_hand", "stockout_weeks", "units_short")


def _num(v: Any) -> Any:
    if isinstance(v, float):
        if not np.isfinite(v):
            return ""
        if abs(v) >= 1000:  # units: whole numbers read better than 2.198e+07
            return int(round(v))
    return v


def _rows(frame: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> list[list[Any]]:
    return [[_num(v) for v in r] for r in frame.loc[:, list(columns)].astype(object)
            .to_numpy().tolist()]


def _calibration_plot(totals: pd.DataFrame) -> str:
    fig, axes = html.figure(11, 4.2, ncols=2)
    for ax, metric, label in ((axes[0], "cycle_service_level", "achieved cycle service level"),
                              (axes[1], "fill_rate", "achieved fill rate")):
        lo = float(np.nanmin(totals["target"])) - 0.03
        ax.plot([lo, 1], [lo, 1], ls="--", lw=0.8, color="#777", label="achieved = target")
        for policy in ("model", "moving_average"):
            g = totals[totals["policy"] == policy].sort_values("target")
            ax.plot(g["target"], g[metric], marker="o", lw=1.5, color=POLICY_COLORS[policy],
                    label=POLICY_LABELS[policy])
        ax.set_xlabel("target cycle service level")
        ax.set_ylabel(label)
        ax.legend(fontsize=8, loc="upper left")
    return html.img(fig)


def _tradeoff_plot(totals: pd.DataFrame) -> str:
    fig, axes = html.figure(11, 4.2, ncols=2, sharey=True)
    for ax, metric, label in ((axes[0], "cycle_service_level", "achieved cycle service level"),
                              (axes[1], "fill_rate", "achieved fill rate")):
        for policy in ("model", "moving_average"):
            g = totals[totals["policy"] == policy].sort_values("target")
            ax.plot(g[metric], g["avg_on_hand"], marker="o", lw=1.5,
                    color=POLICY_COLORS[policy], label=POLICY_LABELS[policy])
            for r in g.itertuples():
                ax.annotate(f"{r.target:g}", (getattr(r, metric), r.avg_on_hand), fontsize=7,
                            color=POLICY_COLORS[policy], xytext=(3, 3),
                            textcoords="offset points")
        p = totals[totals["policy"] == "point"]
        ax.scatter(p[metric], p["avg_on_hand"], marker="s", s=40, color=POLICY_COLORS["point"],
                   label=POLICY_LABELS["point"], zorder=3)
        ax.set_xlabel(label)
        ax.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("average on hand (units, all series)")
    return html.img(fig)


def _worst(per_series: pd.DataFrame, target: float, n: int) -> pd.DataFrame:
    model = per_series[(per_series["policy"] == "model") & (per_series["target"] == target)]
    ma = per_series[(per_series["policy"] == "moving_average")
                    & (per_series["target"] == target)]
    worst = model.sort_values(["fill_rate", "units_short"], ascending=[True, False]).head(n)
    cols = [c for c in WORST_COLUMNS if c in worst.columns]
    keys = [c for c in ("store_id", "item_id", "series") if c in worst.columns]
    out = worst[cols].merge(ma[[*keys, "fill_rate"]].rename(
        columns={"fill_rate": "ma_fill_rate"}), on=keys, how="left")
    return out


def write_backtest_report(result: Mapping[str, Any], out_html: str | Path, *,
                          summary: Mapping[str, Any], config: Mapping[str, Any],
                          worst: int = 20) -> dict[str, Path]:
    """Write the inventory backtest report, its per-series parquet and its config JSON.

    Parameters
    ----------
    result : dict
        The output of :func:`engine.inventory_backtest.backtest_inventory`.
    out_html : path
        The HTML file; ``.parquet`` (every policy x target x series row) and ``.json``
        (``config`` and ``summary``) go beside it.
    summary : mapping
        Run facts shown in the overview (window, series, lead time, refit note, ...);
        ``service_level`` names the run's target.
    config : mapping
        The run's config, saved in the JSON.
    worst : int, default 20
        Series shown in the worst-series table (lowest fill rate of the model policy).

    Returns
    -------
    dict
        ``report``, ``parquet`` and ``config`` paths.
    """
    per_series, totals = result.get("per_series"), result.get("totals")
    if not isinstance(per_series, pd.DataFrame) or not isinstance(totals, pd.DataFrame) \
            or not set(METRIC_COLUMNS) <= set(per_series.columns):
        raise DataValidationError("result lacks the per_series / totals frames",
                                  table="result",
                                  fix="pass the dict returned by backtest_inventory")
    out_html = Path(out_html)
    out_parquet, out_json = out_html.with_suffix(".parquet"), out_html.with_suffix(".json")
    target = float(summary["service_level"])
    main = totals[(totals["target"] == target) | (totals["policy"] == "point")]
    overview = {k.replace("_", " "): v for k, v in summary.items() if v is not None}
    comparison = result.get("comparison", pd.DataFrame())
    sections: list[tuple[str, str]] = [
        ("Overview", html.kv_table(overview)),
        (f"Totals at the target {target:g}",
         '<p class="muted">Cycle service level: share of replenishment cycles without a '
         "stockout (what the target promises); fill rate: units served from stock in "
         "their week / demand; average on hand: end-of-week units summed over series; "
         "stockout weeks: series-weeks with unmet demand.</p>"
         + html.table(_rows(main, TOTAL_COLUMNS), list(TOTAL_COLUMNS))),
        ("Service-level calibration",
         '<p class="muted">Achieved against target service level; on the dashed diagonal '
         "the policy keeps its promise.</p>" + _calibration_plot(totals)),
        ("Inventory vs service trade-off",
         '<p class="muted">Average inventory each policy needs for the service it achieved, '
         "one point per target (labels); lower and to the right is better.</p>"
         + _tradeoff_plot(totals)),
    ]
    if isinstance(comparison, pd.DataFrame) and len(comparison):
        sections.append((
            "Inventory at equal service",
            '<p class="muted">For each target of the anchor policy, the other policy\'s '
            "average on hand interpolated along its trade-off curve at the anchor's achieved "
            "cycle service level (and fill rate); model saving = 1 - model / moving average "
            "at that equal service; blank = outside the other policy's curve.</p>"
            + html.table(_rows(comparison, list(comparison.columns)),
                         list(comparison.columns))))
    bad = _worst(per_series, target, worst)
    sections += [
        (f"Worst {len(bad)} series (model policy at {target:g}, lowest fill rate)",
         html.table(_rows(bad, list(bad.columns)), list(bad.columns))),
        ("All policies and targets",
         f'<p class="muted">Every series in {escape(out_parquet.name)}.</p>'
         + html.table(_rows(totals, ["series", *TOTAL_COLUMNS]), ["series", *TOTAL_COLUMNS])),
    ]
    subtitle = (f"lead time {summary.get('lead_time')}, review period "
                f"{summary.get('review_period')}, {summary.get('unmet')} sales, "
                f"{summary.get('from')}..{summary.get('to')}")
    text = html.page("Inventory policy backtest", sections, subtitle=subtitle)

    out_html.parent.mkdir(parents=True, exist_ok=True)
    tmps = {path: path.with_name(f".{path.name}.tmp")
            for path in (out_parquet, out_json, out_html)}
    try:
        per_series.to_parquet(tmps[out_parquet], index=False)
        html.write_html(text, tmps[out_html])
        tmps[out_json].write_text(json.dumps({"config": dict(config), "summary": dict(summary)},
                                             indent=2, default=str), encoding="utf-8")
    except BaseException:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)
        raise
    for path, tmp in tmps.items():
        os.replace(tmp, path)
    logger.info("inventory backtest report -> %s, %s", out_html, out_parquet)
    return {"report": out_html, "parquet": out_parquet, "config": out_json}
