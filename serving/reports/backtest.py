"""The HTML report of `genlift backtest`: equity on the real history, fan charts over the
synthetic paths, Sharpe and drawdown distributions, overfitting statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.portfolio import BacktestResult
from serving.reports.html import figure, img, kv_table, page, table, write_html


def _equity(returns: np.ndarray) -> np.ndarray:
    return np.cumprod(1.0 + returns, axis=-1)


def real_equity_plot(real: BacktestResult, dates: pd.Index) -> str:
    assert real.returns is not None
    eq = _equity(real.returns[0])
    fig, (ax1, ax2) = figure(10, 6.5, nrows=2, sharex=True)
    for j, name in enumerate(real.names):
        ax1.plot(dates, eq[j], lw=1, label=name)
        ax2.plot(dates, eq[j] / np.maximum.accumulate(np.maximum(eq[j], 1.0)) - 1, lw=0.8)
    ax1.set_yscale("log")
    ax1.set_ylabel("growth of 1 (log scale)")
    ax1.legend(fontsize=7, ncol=2)
    ax2.set_ylabel("drawdown")
    return img(fig)


def fan_chart(syn: BacktestResult) -> str:
    """Median and 5-25-75-95% bands of equity over the kept synthetic paths."""
    assert syn.returns is not None
    eq = _equity(syn.returns)  # (paths, strategies, days)
    n = len(syn.names)
    cols = 2
    rows = -(-n // cols)
    fig, axes = figure(10, 2.2 * rows, nrows=rows, ncols=cols, sharex=True, sharey=True)
    axes = np.atleast_1d(axes).ravel()
    years = np.arange(eq.shape[-1]) / 252
    for j, name in enumerate(syn.names):
        ax = axes[j]
        q = np.percentile(eq[:, j], [5, 25, 50, 75, 95], axis=0)
        ax.fill_between(years, q[0], q[4], alpha=0.2, color="C0", lw=0)
        ax.fill_between(years, q[1], q[3], alpha=0.35, color="C0", lw=0)
        ax.plot(years, q[2], color="C0", lw=1)
        ax.set_yscale("log")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("years", fontsize=8)
    for ax in axes[n:]:
        ax.set_visible(False)
    return img(fig)


def distribution_plot(real: BacktestResult, syn: BacktestResult, metric: str, label: str
                      ) -> str:
    values = [syn.metrics[metric][:, j][np.isfinite(syn.metrics[metric][:, j])]
              for j in range(len(syn.names))]
    fig, ax = figure(10, 0.35 * len(values) + 1.2)
    ax.boxplot(values, orientation="horizontal", whis=(5, 95), showfliers=False)
    ax.scatter(real.metrics[metric][0], np.arange(1, len(values) + 1), marker="D",
               color="#c62828", zorder=3, label="real history")
    ax.set_yticks(np.arange(1, len(values) + 1), syn.names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"{label} over synthetic paths (box: 25-75%, whiskers: 5-95%)")
    ax.legend(fontsize=8)
    return img(fig)


def write_report(result: dict[str, Any], real: BacktestResult, syn: BacktestResult,
                 dates: pd.Index, pbo: Any, path: Path) -> Path:
    metrics = ["cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar",
               "turnover", "time_under_water"]
    real_rows = [(m["strategy"], *(m[k] for k in metrics)) for m in result["real"]["metrics"]]
    summ = pd.DataFrame(result["synthetic"]["summary"])
    syn_rows = [(r["strategy"], r["cagr_p50"], r["sharpe_p5"], r["sharpe_p50"],
                 r["sharpe_p95"], r["max_drawdown_p5"], r["max_drawdown_p50"], r["p_loss"],
                 r["p_drawdown_0.2"], r["p_drawdown_0.3"]) for r in summ.to_dict("records")]
    dsr = result["overfitting"]["deflated_sharpe"]
    dsr_rows = [(d["strategy"], d["sr_annual"], d["psr"], d["dsr"])
                for d in dsr["per_strategy"]]
    pbo_info = result["overfitting"]["pbo"]
    logits = pbo.logits
    pbo_plot = ""
    if logits is not None and len(logits):
        fig, ax = figure(6.5, 3.2)
        ax.hist(np.asarray(logits), bins=40, color="C0")
        ax.axvline(0, color="#c62828", ls="--")
        ax.set_xlabel("logit of the in-sample winner's out-of-sample rank (<= 0: overfit)")
        pbo_plot = img(fig)
    sections = [
        ("Real history", f"<p>{result['real']['start']} to {result['real']['end']}, "
                         f"{result['real']['days']:,} trading days, assets "
                         f"{', '.join(result['assets'])}.</p>" + real_equity_plot(real, dates)
         + table(real_rows, ["strategy", *metrics])),
        (f"Synthetic paths: {result['synthetic']['generator']}, {result['synthetic']['paths']:,}"
         f" paths x {result['synthetic']['days']:,} days", fan_chart(syn) + table(
             syn_rows, ["strategy", "CAGR p50", "Sharpe p5", "Sharpe p50", "Sharpe p95",
                        "max DD p5", "max DD p50", "P(loss)", "P(DD > 20%)",
                        "P(DD > 30%)"])),
        ("Sharpe ratio distribution", distribution_plot(real, syn, "sharpe", "Sharpe ratio")),
        ("Max drawdown distribution", distribution_plot(real, syn, "max_drawdown",
                                                        "maximum drawdown")),
        ("Overfitting across the grid (real history)",
         "<p>Deflated Sharpe ratio: the probability that a strategy's true Sharpe ratio is "
         "above the best one expected by chance among this many trials (Bailey & Lopez de "
         "Prado 2014). PBO: probability of backtest overfitting by combinatorially "
         "symmetric cross-validation (Bailey et al. 2017).</p>"
         + table(dsr_rows, ["strategy", "Sharpe (annual)", "PSR vs 0", "DSR"])
         + kv_table({k: v for k, v in {**{f"dsr_{k}": v for k, v in dsr.items()
                                          if not isinstance(v, list | dict)},
                                       **pbo_info}.items()}) + pbo_plot),
        ("Timing", kv_table({**result["seconds"], "path-days x strategies per second":
                             result["path_days_strategies_per_s"]})),
    ]
    return write_html(page("genlift backtest", sections,
                           f"run {result['run_id']}: {len(result['strategies'])} strategies"),
                      path)


__all__ = ["write_report"]
