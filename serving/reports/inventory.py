"""The inventory planning report behind `genlift plan inventory`.

One self-contained HTML page (inline PNG plots, :mod:`serving.reports.html`) and the same plan
table as parquet beside it (``out_html.with_suffix(".parquet")``), both written to a
temporary name and renamed into place.
"""

from __future__ import annotations

import logging
import os
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

from engine.inventory import PLAN_COLUMNS, STATUSES
from features.errors import DataValidationError, check_param
from serving.reports import html

logger = logging.getLogger(__name__)

__all__ = ["write_plan_report"]

STATUS_COLORS = {"reorder now": "#c62828", "ok": "#1a7f37", "overstock": "#ef6c00",
                 "unknown": "#9e9e9e"}
ABC_COLORS = {"A": "#1f77b4", "B": "#ff7f0e", "C": "#2ca02c"}
#: Columns that need stock positions (``--on-hand``); left out of the HTML without them.
STOCK_COLUMNS = ("status", "inventory_position", "suggested_order", "stockout_probability")
#: What the header says when the plan was made without stock positions.
NO_STOCK_NOTE = ("Stock positions are unknown: this plan was made without --on-hand, so it "
                 "gives safety stock, reorder point and order-up-to level per series but no "
                 "inventory position, suggested order, stockout probability or status. To "
                 "get them, run `genlift plan inventory` again with --on-hand FILE: a CSV or "
                 "parquet file with the columns store_id, item_id, on_hand (units in stock) "
                 "and optionally on_order (units ordered, not yet delivered).")
#: Columns shown in the HTML plan table (the parquet holds them all).
TABLE_COLUMNS = ("store_id", "item_id", "abc", "status", "mean_lead_time_demand",
                 "sd_lead_time_demand", "service_level", "safety_stock", "reorder_point",
                 "order_up_to", "inventory_position", "suggested_order",
                 "expected_fill_rate", "stockout_probability")


def _write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return path


def _summary(plan: pd.DataFrame) -> str:
    """Series count and suggested units per status bucket x ABC class."""
    g = plan.groupby(["status", "abc"], observed=True).agg(
        series=("item_id", "size"), suggested_units=("suggested_order", "sum"),
        safety_stock=("safety_stock", "sum"),
        mean_fill_rate=("expected_fill_rate", "mean")).reset_index()
    order = {s: i for i, s in enumerate(STATUSES)}
    g = g.sort_values(["status", "abc"], key=lambda c: c.map(order) if c.name == "status"
                      else c)
    rows = [[r.status, r.abc, int(r.series), float(r.suggested_units),
             float(r.safety_stock), float(r.mean_fill_rate)] for r in g.itertuples()]
    return html.table(rows, ["status", "ABC", "series", "suggested units",
                             "safety stock (units)", "mean expected fill rate"])


def _future_axis(history: pd.DataFrame | None, future_dates: ArrayLike | None, horizon: int
                 ) -> NDArray[Any]:
    if future_dates is not None:
        fut = pd.to_datetime(pd.Index(np.asarray(future_dates)))
        if len(fut) != horizon:
            raise DataValidationError(
                f"future_dates has {len(fut)} dates but the paths cover {horizon} periods",
                column="future_dates", fix="pass one date per sampled period")
        return fut.to_numpy()
    if history is not None and len(history):
        dates = pd.to_datetime(pd.Series(history["date"].unique())).sort_values()
        step = dates.diff().median() if len(dates) > 1 else pd.Timedelta(weeks=1)
        if pd.isna(step):
            step = pd.Timedelta(weeks=1)
        return pd.DatetimeIndex([dates.iloc[-1] + step * k for k in range(1, horizon + 1)]
                                ).to_numpy()
    return np.arange(horizon)


def _fan_charts(plan: pd.DataFrame, paths: NDArray[np.float64], history: pd.DataFrame | None,
                future_dates: ArrayLike | None, n_charts: int, history_points: int) -> str:
    top = np.argsort(-plan["mean_lead_time_demand"].to_numpy(), kind="stable")[:n_charts]
    x_future = _future_axis(history, future_dates, paths.shape[2])
    dated = np.issubdtype(np.asarray(x_future).dtype, np.datetime64)
    ncols = min(2, len(top))
    nrows = int(np.ceil(len(top) / ncols))
    fig, axes = html.figure(11, 2.9 * nrows, nrows=nrows, ncols=ncols, squeeze=False)
    hist_groups = {}
    if history is not None and len(history):
        h = history.assign(date=pd.to_datetime(history["date"])).sort_values("date")
        hist_groups = {k: g for k, g in h.groupby(["store_id", "item_id"], sort=False)}
    for ax, i in zip(axes.ravel(), top, strict=False):
        row = plan.iloc[i]
        q = np.quantile(paths[i], [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
        ax.fill_between(x_future, q[0], q[4], color="#1f77b4", alpha=0.18, label="5-95%")
        ax.fill_between(x_future, q[1], q[3], color="#1f77b4", alpha=0.35, label="25-75%")
        ax.plot(x_future, q[2], color="#1f77b4", lw=1.5, label="median")
        g = hist_groups.get((row["store_id"], row["item_id"]))
        if g is not None:
            g = g.tail(history_points)
            hx = g["date"].to_numpy() if dated else \
                np.arange(-len(g), 0)
            ax.plot(hx, g["units"].to_numpy(), color="#222", lw=1.0, label="history")
        lt = int(plan.attrs.get("lead_time", 0))
        if 0 < lt <= len(x_future):
            ax.axvline(x_future[lt - 1], color="#c62828", ls=":", lw=1, label="lead time")
        ax.set_title(f"{row['store_id']} / {row['item_id']} ({row['abc']}, {row['status']})",
                     fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(top):]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=7, loc="upper left")
    return html.img(fig)


def _ss_scatter(plan: pd.DataFrame) -> str:
    fig, ax = html.figure(7, 4.2)
    sd = plan["sd_lead_time_demand"].to_numpy()
    for cls, g in plan.groupby("abc", sort=True):
        ax.scatter(g["sd_lead_time_demand"], g["safety_stock"], s=14, alpha=0.7,
                   color=ABC_COLORS.get(str(cls), "#555"), label=f"class {cls}")
    xs = np.linspace(0, float(np.nanmax(sd)) if len(sd) and np.nanmax(sd) > 0 else 1.0, 50)
    for level in sorted(plan["service_level"].unique()):
        z = float(special.ndtri(level))
        ax.plot(xs, z * xs, ls="--", lw=0.8, color="#777")
        ax.annotate(f"normal z={z:.2f} ({level:g})", (xs[-1], z * xs[-1]), fontsize=7,
                    color="#555", ha="right", va="bottom")
    ax.set_xlabel("sd of lead-time demand (units)")
    ax.set_ylabel("safety stock (units)")
    ax.legend(fontsize=8)
    return html.img(fig)


def _status_bars(plan: pd.DataFrame) -> str:
    counts = plan["status"].value_counts()
    labels = [s for s in STATUSES if s in counts.index or s != "unknown"]
    fig, ax = html.figure(6, 3.2)
    vals = [int(counts.get(s, 0)) for s in labels]
    bars = ax.bar(labels, vals, color=[STATUS_COLORS[s] for s in labels])
    ax.bar_label(bars, fontsize=8)
    ax.set_ylabel("series")
    return html.img(fig)


def write_plan_report(
    plan: pd.DataFrame,
    paths: ArrayLike,
    history: pd.DataFrame | None,
    future_dates: ArrayLike | None,
    out_html: str | Path,
    *,
    title: str = "Inventory plan",
    max_fan_charts: int = 6,
    history_points: int = 52,
    max_table_rows: int = 50,
) -> dict[str, Any]:
    """Write the inventory plan as an HTML report with plots and as parquet.

    Parameters
    ----------
    plan : DataFrame
        The output of :func:`engine.inventory.plan` (its ``attrs`` name the lead time,
        review period and policy in the subtitle when present).
    paths : array of shape (n_series, n_paths, horizon)
        The sampled demand paths the plan came from, rows in the order of ``plan``.
    history : DataFrame with columns store_id, item_id, date, units, optional
        Observed demand drawn before the fan of each chart.
    future_dates : array-like of length horizon, optional
        Dates of the sampled periods; by default the last history date plus the median
        history step per period, or period numbers without history.
    out_html : path
        The HTML file; the parquet goes to ``out_html.with_suffix(".parquet")``.
    title : str, default "Inventory plan"
    max_fan_charts : int, default 6
        Fan charts for this many series with the largest mean lead-time demand.
    history_points : int, default 52
        Last history periods shown per fan chart.
    max_table_rows : int, default 50
        Rows of the plan shown in the HTML table (the parquet holds all).

    Returns
    -------
    dict
        ``html`` and ``parquet`` paths, ``n_series``, ``status_counts``,
        ``suggested_units``.
    """
    owner = "write_plan_report"
    check_param(owner, "max_fan_charts", max_fan_charts,
                isinstance(max_fan_charts, int) and max_fan_charts >= 0,
                "an int in the range [0, inf)")
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if missing:
        raise DataValidationError(f"plan lacks columns {missing}", table="plan",
                                  fix="pass the frame returned by engine.inventory.plan")
    arr = np.asarray(paths, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[0] != len(plan):
        raise DataValidationError(
            f"paths has shape {arr.shape} but the plan has {len(plan)} rows",
            table="paths", fix="pass the (n_series, n_paths, horizon) paths of the plan")
    if history is not None:
        need = {"store_id", "item_id", "date", "units"} - set(history.columns)
        if need:
            raise DataValidationError(f"history lacks columns {sorted(need)}",
                                      table="sales", fix="pass sales rows with "
                                      "store_id, item_id, date, units")
    out_html = Path(out_html)
    out_parquet = out_html.with_suffix(".parquet")

    counts = {s: int(n) for s, n in plan["status"].value_counts().items()}
    stock_known = bool(plan["inventory_position"].notna().any())
    suggested = float(np.nansum(plan["suggested_order"].to_numpy()))
    attrs = plan.attrs
    subtitle = ", ".join(f"{k.replace('_', ' ')} {attrs[k]}" for k in
                         ("lead_time", "review_period", "policy", "n_paths") if k in attrs)
    overview: dict[str, Any] = {"series": len(plan)}
    if stock_known:
        overview.update({**{f"status: {s}": n for s, n in counts.items()},
                         "suggested units (total)": suggested})
    overview["safety stock (total units)"] = float(plan["safety_stock"].sum())
    header = "" if stock_known else f"<p><strong>{escape(NO_STOCK_NOTE)}</strong></p>"
    sections: list[tuple[str, str]] = [("Overview", header + html.kv_table(overview))]
    if stock_known:
        sections.append(("By status bucket and ABC class", _summary(plan)))
    n_charts = min(max_fan_charts, len(plan))
    if n_charts:
        sections.append((
            f"Forecast fan charts (top {n_charts} by lead-time demand)",
            '<p class="muted">Sampled future demand per period: 5-95% and 25-75% bands and '
            "median; history in black; dotted line = end of the lead time.</p>"
            + _fan_charts(plan, arr, history, future_dates, n_charts, history_points)))
    sections += [
        ("Safety stock vs demand variability",
         '<p class="muted">Each point is one store x item; dashed lines are the normal-theory '
         "safety stock z * sd for each target service level.</p>" + _ss_scatter(plan)),
    ]
    if stock_known:
        sections.append(("Status buckets", _status_bars(plan)))
    columns = [c for c in TABLE_COLUMNS if stock_known or c not in STOCK_COLUMNS]
    shown = plan.loc[:, columns].head(max_table_rows)
    rows = shown.astype(object).where(shown.notna(), "").to_numpy().tolist()
    note = (f'<p class="muted">First {len(shown)} of {len(plan)} rows; all rows in '
            f"{escape(out_parquet.name)}.</p>")
    sections.append(("Plan", note + html.table(rows, columns)))

    _write_parquet(plan, out_parquet)
    html.write_html(html.page(title, sections, subtitle=subtitle), out_html)
    logger.info("inventory report: %d series -> %s, %s", len(plan), out_html, out_parquet)
    return {"html": out_html, "parquet": out_parquet, "n_series": len(plan),
            "stock_known": stock_known, "status_counts": counts,
            "suggested_units": suggested if stock_known else None}
