"""The HTML report of `genlift backtest`: equity on the real history, fan charts over the
synthetic paths, Sharpe and drawdown distributions, overfitting statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.portfolio import BacktestResult
from engine.portfolio.drawdowns import window_max_drawdowns
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


def drawdown_plot(real: BacktestResult, syn: BacktestResult) -> str:
    """Max drawdown per strategy: the synthetic paths (blue) beside every window of the
    real history of the same length (red), both as boxes (25-75%, whiskers 5-95%)."""
    assert real.returns is not None
    windows = window_max_drawdowns(real.returns[0], syn.n_days)
    n = len(syn.names)
    fig, ax = figure(10, 0.55 * n + 1.4)
    pos = np.arange(1, n + 1)
    values = [syn.metrics["max_drawdown"][:, j][np.isfinite(syn.metrics["max_drawdown"][:, j])]
              for j in range(n)]
    ax.boxplot(values, positions=pos - 0.18, widths=0.3, orientation="horizontal",
               whis=(5, 95), showfliers=False, patch_artist=True,
               boxprops={"facecolor": "#9ecae1"})
    if len(windows):
        ax.boxplot([windows[:, j] for j in range(n)], positions=pos + 0.18, widths=0.3,
                   orientation="horizontal", whis=(5, 95), showfliers=False,
                   patch_artist=True, boxprops={"facecolor": "#f4a6a6"})
    ax.plot([], [], color="#9ecae1", lw=8, label=f"synthetic paths ({syn.n_days:,} days)")
    ax.plot([], [], color="#f4a6a6", lw=8,
            label=f"real history, every {syn.n_days:,}-day window")
    ax.set_yticks(pos, syn.names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("maximum drawdown over the same length of time (box: 25-75%, "
                  "whiskers: 5-95%)")
    ax.legend(fontsize=8)
    return img(fig)


def _pct(v: Any) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{100 * float(v):.0f}%"


def format_dsr(dsr: Any, z: Any) -> str:
    """A DSR as text; one that would print as 1.000 reads ``> 0.999 (z = 7.3)``."""
    if dsr is None or not np.isfinite(dsr):
        return "n/a"
    if float(dsr) > 0.9995 and z is not None and np.isfinite(z):
        return f"> 0.999 (z = {float(z):.1f})"
    return f"{float(dsr):.3f}"


def dsr_reading(dsr: Any) -> str:
    """What a DSR says, in words."""
    if dsr is None or not np.isfinite(dsr):
        return "not defined (constant returns)"
    if dsr >= 0.95:
        return "skill beyond the search's luck"
    if dsr >= 0.5:
        return "could be the luck of the search"
    return "no better than the best of the skill-less trials"


def pbo_reading(pbo: float) -> str:
    """What a PBO says, in words."""
    if not np.isfinite(pbo):
        return "not measured"
    if pbo < 0.2:
        return "picking the best backtest is informative: it usually stays good out of sample"
    if pbo < 0.5:
        return "the best backtest is often a middling strategy out of sample"
    return "the best backtest is as likely as not to be below median out of sample: overfit"


def summary_box(result: dict[str, Any], pbo: Any) -> str:
    """The verdicts on top: PBO of the grid and, per strategy, its Sharpe ratio, deflated
    Sharpe ratio, how often CSCV picked it, and its max drawdown on windows of the real
    history as long as the synthetic paths beside the paths' own."""
    info = result["overfitting"]
    dsr = info["deflated_sharpe"]
    pbo_value = float(info["pbo"]["pbo"])
    selected = np.asarray(getattr(pbo, "selected", []), dtype=int)
    names = list(result["strategies"])
    picked = {n: float((selected == j).mean()) if selected.size else float("nan")
              for j, n in enumerate(names)}
    dd = {r["strategy"]: r for r in (result.get("drawdowns") or {}).get("per_strategy", [])}
    window = (result.get("drawdowns") or {}).get("window", result["synthetic"]["days"])
    real_days = result["real"]["days"]
    rows = []
    for d in dsr["per_strategy"]:
        name = d["strategy"]
        w = dd.get(name, {})
        rows.append((name, d["sr_annual"], format_dsr(d["dsr"], d.get("dsr_z")),
                     dsr_reading(d["dsr"]), _pct(picked.get(name)),
                     f"{_pct(w.get('real_window_p50'))} / {_pct(w.get('real_window_p5'))}",
                     f"{_pct(w.get('synthetic_p50'))} / {_pct(w.get('synthetic_p5'))}",
                     _pct(w.get("real_full"))))
    header = ["strategy", "Sharpe (real, annual)", "DSR", "what the DSR says",
              "picked in-sample by CSCV", f"max DD, real {window:,}-day windows: median / "
              "worst 5%", f"max DD, synthetic {window:,}-day paths: median / worst 5%",
              f"max DD, whole real history ({real_days:,} days)"]
    years = dsr["n_obs"] / 252
    n_windows = (result.get("drawdowns") or {}).get("n_windows", 0)
    return (
        f"<div class='box'><p><b>PBO = {pbo_value:.2f}</b>: {pbo_reading(pbo_value)}. "
        "PBO is the probability that the strategy with the best in-sample Sharpe ratio "
        f"ranks in the bottom half out of sample (combinatorially symmetric cross-validation "
        f"over {info['pbo']['n_blocks']} blocks of the real history, Bailey et al. 2017); it "
        "is one number for the grid, and lower is better.</p>"
        + table(rows, header)
        + f"<p><b>DSR</b> (deflated Sharpe ratio, Bailey &amp; Lopez de Prado 2014): the "
        f"probability that the strategy's true Sharpe ratio beats SR* = "
        f"{dsr['sr_benchmark_annual']:.2f} a year, the best Sharpe ratio that "
        f"{dsr['n_trials']} skill-less trials would show by luck; 0.95 or more: unlikely to "
        f"be luck. A DSR of 1.000 is not a bug: over {years:.3g} years ({dsr['n_obs']:,} "
        "days) a Sharpe ratio well above SR* is overwhelming evidence, so the normal CDF "
        "saturates; z (the standardised distance above SR*) still ranks such strategies. "
        "SR* is low because the grid's strategies are close variants of one another (a small "
        "spread of Sharpe ratios across trials). The DSR counts only this grid's trials: "
        "count every grid you tried before, or it is too kind. It tests skill against the "
        "search's luck on this history, not against the market or a future regime.</p>"
        f"<p><b>Drawdowns, like for like</b>: a maximum drawdown grows with the length of "
        f"the period. Each synthetic path has {window:,} traded days, so the real history "
        f"({real_days:,} days) is cut into every {window:,}-day window starting each month "
        f"({n_windows:,} windows, overlapping: only about {real_days // max(window, 1)} are "
        "disjoint); its median and worst-5% window drawdowns are compared with the paths'. "
        "The whole-history drawdown is shown last, for reference only.</p>"
        "<p class='muted'>picked in-sample by CSCV: the share of splits in which the "
        "strategy had the best in-sample Sharpe ratio.</p></div>")


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
    dsr_rows = [(d["strategy"], d["sr_annual"], d["psr"], format_dsr(d["dsr"], d.get("dsr_z")),
                 d.get("dsr_z", float("nan")), d.get("dsr_complement", float("nan")))
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
        ("Summary: what to trust", summary_box(result, pbo)),
        ("Real history", f"<p>{result['real']['start']} to {result['real']['end']}, "
                         f"{result['real']['days']:,} trading days, assets "
                         f"{', '.join(result['assets'])}.</p>" + real_equity_plot(real, dates)
         + table(real_rows, ["strategy", *[f"{m} (whole history)" if m == "max_drawdown"
                                           else m for m in metrics]])),
        (f"Synthetic paths: {result['synthetic']['generator']}, {result['synthetic']['paths']:,}"
         f" paths x {result['synthetic']['days']:,} days", fan_chart(syn) + table(
             syn_rows, ["strategy", "CAGR p50", "Sharpe p5", "Sharpe p50", "Sharpe p95",
                        "max DD p5", "max DD p50", "P(loss)", "P(DD > 20%)",
                        "P(DD > 30%)"])),
        ("Sharpe ratio distribution", distribution_plot(real, syn, "sharpe", "Sharpe ratio")),
        ("Max drawdown distribution, like for like", drawdown_plot(real, syn)),
        ("Overfitting across the grid (real history)",
         "<p>Deflated Sharpe ratio: the probability that a strategy's true Sharpe ratio is "
         "above the best one expected by chance among this many trials (Bailey & Lopez de "
         "Prado 2014). PBO: probability of backtest overfitting by combinatorially "
         "symmetric cross-validation (Bailey et al. 2017).</p>"
         + table(dsr_rows, ["strategy", "Sharpe (annual)", "PSR vs 0", "DSR", "z",
                            "1 - DSR"])
         + kv_table({k: v for k, v in {**{f"dsr_{k}": v for k, v in dsr.items()
                                          if not isinstance(v, list | dict)},
                                       **pbo_info}.items()}) + pbo_plot),
        ("Timing", kv_table({**result["seconds"], "path-days x strategies per second":
                             result["path_days_strategies_per_s"]})),
    ]
    return write_html(page("genlift backtest", sections,
                           f"run {result['run_id']}: {len(result['strategies'])} strategies"),
                      path)


__all__ = ["dsr_reading", "format_dsr", "pbo_reading", "summary_box", "write_report"]
