"""HTML reports of `genlift reserve` (one company x line) and `genlift reserve
--backtest` (percentiles of the actual outcomes over a line's companies)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.insurance.reserving import PaidTriangle, ReserveDistribution
from serving.reports.html import figure, img, kv_table, page, table, write_html

COLORS = {"chainladder": "#555555", "mack": "#c62828", "bootstrap": "#1565c0",
          "synthetic": "#2e7d32"}


def _heatmap(tri: PaidTriangle) -> str:
    """Incremental paid per accident year x lag as a share of the year's premium; the
    cells paid after the valuation (when known) are hatched."""
    full = tri.actual if tri.actual is not None else tri.known
    incr = np.diff(np.concatenate([np.zeros((tri.n, 1)), full], axis=1), axis=1)
    prem = np.where(tri.premium > 0, tri.premium, np.nan)[:, None]
    ratio = incr / prem
    fig, ax = figure(9, 4.6)
    im = ax.imshow(ratio, cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=ax, label="incremental paid / earned premium")
    mask = ~np.isfinite(tri.known)
    for i, j in zip(*np.nonzero(mask), strict=True):
        if np.isfinite(ratio[i, j]):
            ax.add_patch(_hatch(j, i))
    ax.set_xticks(range(tri.n), [str(k + 1) for k in range(tri.n)])
    ax.set_yticks(range(tri.n), [str(y) for y in tri.years])
    ax.set_xlabel("development lag (years)")
    ax.set_ylabel("accident year")
    ax.set_title("paid triangle (hatched: paid after the valuation, the actual outcome)"
                 if tri.actual is not None else "paid triangle known at the valuation")
    return img(fig)


def _hatch(x: int, y: int) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch="//", edgecolor="white",
                     linewidth=0)


def _by_calendar_year(square: np.ndarray) -> np.ndarray:
    """Total cumulative paid at the end of each calendar year after the valuation, over
    every accident year; ``square`` (..., n, n) -> (..., n - 1)."""
    n = square.shape[-1]
    rows = np.arange(n)
    return np.stack([square[..., rows, np.minimum(n - 1 - rows + k, n - 1)].sum(axis=-1)
                     for k in range(1, n)], axis=-1)


def _fan(tri: PaidTriangle, paths: np.ndarray | None, cl: ReserveDistribution | None) -> str:
    fig, ax = figure(9, 4)
    cal = tri.valuation_year + np.arange(1, tri.n)
    ax.axhline(tri.latest.sum(), color="#999999", linestyle=":", label="paid to date")
    if paths is not None:
        tot = _by_calendar_year(paths)
        for lo, hi, alpha in ((5, 95, 0.18), (25, 75, 0.35)):
            ax.fill_between(cal, np.percentile(tot, lo, axis=0), np.percentile(tot, hi, axis=0),
                            color=COLORS["synthetic"], alpha=alpha, linewidth=0,
                            label=f"synthetic {lo}-{hi}%")
        ax.plot(cal, np.median(tot, axis=0), color=COLORS["synthetic"], label="synthetic median")
    if cl is not None:
        ax.axhline(cl.mean_ultimate, color=COLORS["chainladder"], linestyle="--",
                   label="chain-ladder ultimate")
    if tri.actual is not None:
        ax.plot(cal, _by_calendar_year(tri.actual), color="black", marker="o",
                label="actual paid")
    ax.set_xlabel("calendar year")
    ax.set_ylabel("cumulative paid, all accident years")
    ax.set_title("development fan chart: paid by the end of each later year")
    ax.legend(fontsize=8, loc="lower right")
    return img(fig)


def _histogram(tri: PaidTriangle, dists: Mapping[str, ReserveDistribution]) -> str:
    from scipy import stats

    fig, ax = figure(9, 4)
    paid = tri.latest.sum()
    lo, hi = np.inf, -np.inf
    for d in dists.values():
        q = d.ultimate_quantiles(np.array([0.005, 0.995])) - paid
        lo, hi = min(lo, q[0]), max(hi, q[1])
    if tri.actual_ultimate is not None:
        lo, hi = min(lo, tri.actual_ultimate - paid), max(hi, tri.actual_ultimate - paid)
    if not np.isfinite([lo, hi]).all() or hi <= lo:
        lo, hi = lo - 1, lo + 1
    bins = np.linspace(lo, hi, 50)
    for name, d in dists.items():
        if d.samples is not None:
            ax.hist(d.samples - paid, bins=bins, density=True, alpha=0.4,
                    color=COLORS.get(name), label=name)
        elif d.lognormal is not None and d.lognormal[1] > 0:
            mean, sd = d.lognormal
            s2 = np.log1p((sd / mean) ** 2)
            x = np.linspace(lo, hi, 300)
            ax.plot(x, stats.lognorm(np.sqrt(s2), scale=mean * np.exp(-s2 / 2)).pdf(x + paid),
                    color=COLORS.get(name), label=f"{name} (lognormal)")
        else:
            ax.axvline(d.mean_reserve, color=COLORS.get(name), linestyle="--",
                       label=f"{name} (point)")
    if tri.actual_ultimate is not None:
        ax.axvline(tri.actual_ultimate - paid, color="black", linewidth=2,
                   label="actual outcome")
    ax.set_xlabel("reserve (ultimate paid - paid to date)")
    ax.set_ylabel("density")
    ax.set_title("reserve distributions")
    ax.legend(fontsize=8)
    return img(fig)


def write_reserve_report(out: Path, tri: PaidTriangle, dists: Mapping[str, ReserveDistribution],
                         paths: np.ndarray | None, result: Mapping[str, Any]) -> Path:
    cols = ["method", "mean_reserve", "sd", "reserve_p5", "reserve_p50", "reserve_p95",
            "reserve_p99"]
    has_actual = tri.actual is not None
    if has_actual:
        cols += ["actual_reserve", "actual_percentile"]
    rows = [[m.get(c, "") for c in cols] for m in result["methods"]]
    facts = {"company": f"{tri.company} {tri.company_name}".strip(), "line": tri.line,
             "accident years": f"{tri.years[0]}-{tri.years[-1]}",
             "valuation": f"end of {tri.valuation_year}",
             "paid to date": float(tri.latest.sum()), "earned premium": float(tri.premium.sum()),
             "actual ultimate": result["actual_ultimate"] if has_actual else "not in the store"}
    sections = [("Summary", kv_table(facts)),
                ("Reserve by method", table(rows, cols)
                 + '<p class="muted">chainladder, mack and bootstrap are the chainladder '
                 "library's Chainladder, MackChainladder (lognormal with Mack's total "
                 "standard error) and BootstrapODPSample(hat_adj=False) + Chainladder; "
                 "synthetic is genlift's development scenarios fitted across the companies "
                 "of the line."
                 "</p>"),
                ("Paid triangle", _heatmap(tri)),
                ("Development fan chart", _fan(tri, paths, dists.get("chainladder"))),
                ("Reserve distributions", _histogram(tri, dists))]
    title = f"Reserve: {tri.company} {tri.line}"
    return write_html(page(title, sections, subtitle=f"valuation {tri.valuation_year}"), out)


def _pp(results: Sequence[Mapping[str, Any]], methods: Sequence[str]) -> str:
    fig, axes = figure(4 * len(results), 3.8, ncols=len(results), squeeze=False)
    for ax, r in zip(axes[0], results, strict=True):
        for m in methods:
            p = np.sort(r["rows"][f"{m}_percentile"].dropna().to_numpy(dtype=float))
            if not p.size:
                continue
            expected = 100 * np.arange(1, p.size + 1) / (p.size + 1)
            ax.plot(expected, p, color=COLORS.get(m), label=m)
        n = len(r["rows"])
        band = 136 / np.sqrt(max(n, 1))  # KS 5% critical value in percent
        x = np.linspace(0, 100, 2)
        ax.plot(x, x, color="black", linewidth=0.8)
        ax.plot(x, x + band, color="black", linestyle=":", linewidth=0.8)
        ax.plot(x, x - band, color="black", linestyle=":", linewidth=0.8)
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.set_title(f"{r['line']} (n={n})")
        ax.set_xlabel("expected percentile")
        ax.set_ylabel("predicted percentile of the actual")
        ax.legend(fontsize=7)
    return img(fig)


def _hists(results: Sequence[Mapping[str, Any]], methods: Sequence[str]) -> str:
    fig, axes = figure(3.2 * len(methods), 2.6 * len(results), nrows=len(results),
                       ncols=len(methods), squeeze=False)
    for row, r in zip(axes, results, strict=True):
        for ax, m in zip(row, methods, strict=True):
            t = r["tests"][m]
            ax.bar(np.arange(5, 100, 10), t["histogram"], width=9, color=COLORS.get(m))
            ax.axhline(t["n"] / 10, color="black", linewidth=0.8)
            ax.set_title(f"{r['line']} {m}: KS p={t['ks_p']:.3f}", fontsize=9)
            ax.set_xlim(0, 100)
    return img(fig)


def write_backtest_report(out: Path, results: Sequence[Mapping[str, Any]],
                          summary: Mapping[str, Any]) -> Path:
    methods = [m for m in next(iter(results))["tests"]]
    rows = []
    for r in results:
        for m in methods:
            t = r["tests"][m]
            rows.append([r["line"], m, t["n"], t["mean_percentile"], t["ks_stat"],
                         t["ks_p"], t["ad_stat"], t["ad_p"],
                         "pass" if t["passes_ks"] else "FAIL"])
    uniform = table(rows, ["line", "method", "companies", "mean percentile", "KS D",
                           "KS p", "AD A2", "AD p", "uniform (KS p > 0.05)"])
    per_company = "".join(
        f"<h3>{r['line']}</h3>" + table(
            r["rows"][[c for c in r["rows"].columns if c == "company" or c == "company_name"
                       or c.endswith("_percentile")]].round(1).values.tolist(),
            [c for c in r["rows"].columns if c == "company" or c == "company_name"
             or c.endswith("_percentile")]) for r in results)
    sections = [
        ("Selection", f"<p>{summary['eligibility']}.</p>"),
        ("Uniformity of the actual outcomes' percentiles", uniform
         + '<p class="muted">Percentile of the actual ultimate paid loss (all accident '
         "years, lag 10) in each method's predictive distribution at the valuation; a "
         "calibrated method gives uniform percentiles. KS: scipy.stats.kstest against "
         "U(0, 1); AD: Anderson-Darling, scipy.stats.goodness_of_fit (Monte Carlo p).</p>"),
        ("p-p plots (dotted: KS 5% band)", _pp(results, methods)),
        ("Histograms of the percentiles", _hists(results, methods)),
        ("Per company", per_company),
    ]
    return write_html(page("Reserve backtest", sections,
                           subtitle=f"valuation {summary['valuation_year']}"), out)
