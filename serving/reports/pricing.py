"""The pricing reports: `genlift train pricing` (relativities of the GLM and the GBM,
coefficients, premiums), `genlift evaluate pricing` (Lorenz curves, double-lift chart,
calibration by decile, CV table) and `genlift price portfolio` (premium and loss-ratio
distribution of a simulated book against the real one). Self-contained HTML pages
(:mod:`serving.reports.html`), written atomically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from serving.reports import html

__all__ = ["cv_rows", "write_evaluation_report", "write_portfolio_report",
           "write_train_report"]

COLORS = {"gbm": "#1f77b4", "glm": "#ff7f0e", "actual": "#222222", "perfect": "#9e9e9e",
          "real": "#222222", "simulated": "#c62828", "control": "#1a7f37"}
LABELS = {"gbm": "GBM (LightGBM)", "glm": "GLM (statsmodels)"}


def _ci(s: Mapping[str, Any]) -> str:
    return f"{s['mean']:.4f} [{s['ci_low']:.4f}, {s['ci_high']:.4f}]"


def cv_rows(cv: Mapping[str, Any]) -> list[list[Any]]:
    """One row per model (metric: mean [95% CI]) and per paired difference."""
    rows: list[list[Any]] = []
    for model, s in cv["summary"].items():
        rows.append([model, *(_ci(s[m]) for m in ("gini", "normalized_gini", "deviance",
                                                  "mean_ratio"))])
    for name, p in cv.get("paired", {}).items():
        rows.append([name, *(f"{p[m]['mean']:+.4f} [{p[m]['ci_low']:+.4f}, "
                             f"{p[m]['ci_high']:+.4f}] {p[m]['verdict']}"
                             for m in ("gini", "normalized_gini", "deviance")), ""])
    return rows


CV_HEADER = ["model", "Gini", "normalized Gini", "deviance", "actual / expected"]


# ----------------------------------------------------------------------------- train
def _relativity_plots(rel: pd.DataFrame) -> str:
    factors = list(dict.fromkeys(rel["factor"]))
    cols = 3
    rows = -(-len(factors) // cols)
    fig, axes = html.figure(12, 3.2 * rows, nrows=rows, ncols=cols, squeeze=False)
    for ax, factor in zip(axes.ravel(), factors, strict=False):
        part = rel[rel["factor"] == factor]
        numeric = all(isinstance(v, int | float) for v in part["value"])
        for method, model in (("GLM coefficient", "glm"), ("partial dependence", "gbm")):
            sub = part[part["method"] == method]
            if numeric:
                ax.plot(sub["value"].astype(float), sub["relativity"], marker=".",
                        color=COLORS[model], label=LABELS[model])
            else:
                x = np.arange(len(sub)) + (-0.2 if model == "glm" else 0.2)
                ax.bar(x, sub["relativity"], width=0.4, color=COLORS[model],
                       label=LABELS[model])
                ax.set_xticks(np.arange(len(sub)), [str(v) for v in sub["value"]],
                              rotation=30)
        ax.axhline(1.0, color="#999", lw=0.8)
        ax.set_title(factor)
        ax.set_ylabel("relativity")
    for ax in axes.ravel()[len(factors):]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=8)
    return html.img(fig)


def _relativity_rows(rel: pd.DataFrame) -> list[list[Any]]:
    wide = rel.assign(value=rel["value"].astype(str)).pivot_table(
        index=["factor", "value"], columns="method", values="relativity", sort=False)
    return [[factor, value, wide.loc[(factor, value)].get("GLM coefficient", np.nan),
             wide.loc[(factor, value)].get("partial dependence", np.nan)]
            for factor, value in wide.index]


def write_train_report(summary: Mapping[str, Any], relativities: pd.DataFrame,
                       coefficients: pd.DataFrame, premiums: pd.DataFrame,
                       cv: Mapping[str, Any] | None, path: str | Path) -> Path:
    """The page of `genlift train pricing`."""
    coef_rows = [[r.term, r.coef, r.se, r.p_value, r.relativity, r.ci_low, r.ci_high]
                 for r in coefficients.itertuples()]
    fig, ax = html.figure(10, 3.5)
    ax.hist(premiums["premium"], bins=50, color=COLORS[summary["champion"]])
    ax.set_xlabel(f"premium (expected cost x {summary['loading']:g})")
    ax.set_ylabel("policies")
    sections = [
        ("Summary", html.kv_table({k: v for k, v in summary.items()
                                   if not isinstance(v, dict | list)})),
        ("Rating-factor relativities",
         '<p class="muted">Against each factor\'s base (the most frequent level; the '
         "median of a numeric factor). GLM: exponentiated coefficients (a numeric factor: "
         "exp(beta (x - base))). GBM: partial dependence (mean predicted cost with the "
         "factor set to the value, over up to 400 policies, relative to the base).</p>"
         + _relativity_plots(relativities)),
        ("Relativities table", html.table(_relativity_rows(relativities),
                                           ["factor", "value", "GLM", "GBM"])),
        ("GLM coefficients", html.table(coef_rows, ["term", "coef", "se", "p-value",
                                                     "exp(coef)", "95% low", "95% high"])),
        ("Premiums of the champion", html.img(fig)),
    ]
    if cv is not None:
        sections.insert(1, (f"Champion by repeated CV ({cv['config']['repeats']} x "
                            f"{cv['config']['folds']}): {cv['champion']}",
                            html.table(cv_rows(cv), CV_HEADER)))
    return html.write_html(html.page("Pricing model", sections,
                                     "genlift train pricing"), path)


# -------------------------------------------------------------------------- evaluate
def _lorenz_plot(lorenz: Mapping[str, Mapping[str, Sequence[float]]],
                 test: Mapping[str, Mapping[str, float]]) -> str:
    fig, ax = html.figure(6, 5)
    ax.plot([0, 1], [0, 1], color="#bbb", lw=0.8, label="no ordering (Gini 0)")
    for name, curve in lorenz.items():
        label = "perfect ordering" if name == "perfect" else \
            f"{LABELS.get(name, name)}: Gini {test[name]['gini']:.3f}"
        ax.plot(curve["x"], curve["y"], color=COLORS.get(name, None), label=label,
                ls="--" if name == "perfect" else "-")
    ax.set_xlabel("share of policies (sorted by predicted cost, lowest first)")
    ax.set_ylabel("share of actual losses")
    ax.legend(fontsize=8)
    return html.img(fig)


def _double_lift_plot(table: pd.DataFrame) -> str:
    fig, ax = html.figure(8, 4)
    for col, name in (("actual", "actual"), ("model_a", "gbm"), ("model_b", "glm")):
        ax.plot(table["bin"], table[col], marker="o", color=COLORS[name],
                label=LABELS.get(name, name))
    ax.axhline(1.0, color="#bbb", lw=0.8)
    ax.set_xlabel("bucket of GBM / GLM predicted cost (equal policies)")
    ax.set_ylabel("average cost / overall average")
    ax.legend(fontsize=8)
    return html.img(fig)


def _calibration_plot(calibration: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    fig, axes = html.figure(10, 4, ncols=len(calibration), squeeze=False)
    for ax, (name, rows) in zip(axes.ravel(), calibration.items(), strict=True):
        t = pd.DataFrame(rows)
        ax.bar(t["bin"] - 0.2, t["predicted"], width=0.4, color=COLORS.get(name),
               label="predicted")
        ax.bar(t["bin"] + 0.2, t["actual"], width=0.4, color="#555", label="actual")
        ax.set_title(LABELS.get(name, name))
        ax.set_xlabel("decile of predicted cost")
        ax.set_ylabel("mean cost")
        ax.legend(fontsize=8)
    return html.img(fig)


def write_evaluation_report(result: Mapping[str, Any], path: str | Path) -> Path:
    """The page of `genlift evaluate pricing`."""
    cfg = result["config"]
    test = result["test"]
    d = result["gini_delta"]
    dl = pd.DataFrame(result["double_lift"])
    test_rows = [[LABELS.get(m, m), s["gini"], s["normalized_gini"], s["deviance"],
                  s["mean_ratio"]] for m, s in test.items()]
    dl_rows = [[int(r.bin), int(r.policies), r.sort_ratio, r.actual, r.model_a, r.model_b]
               for r in dl.itertuples()]
    sections = [
        (f"Champion by CV Gini on the training part: {result['champion']}",
         f'<p class="muted">{cfg["repeats"]} x {cfg["folds"]}-fold CV on {cfg["n_train"]} '
         "policies; mean [95% t-interval over folds, Nadeau-Bengio corrected]; paired "
         "differences fold by fold.</p>" + html.table(cv_rows(result["cv"]), CV_HEADER)),
        (f"Held-out test ({cfg['n_test']} policies)",
         html.table(test_rows, ["model", "Gini", "normalized Gini", "deviance",
                                "actual / expected"])
         + f"<p>Gini GBM - GLM on test: {d['delta']:+.4f} [95% paired bootstrap "
           f"{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]</p>"),
        ("Ordered Lorenz curves (test)", _lorenz_plot(result["lorenz"], test)),
        ("Double-lift chart, GBM vs GLM (test)",
         '<p class="muted">Policies sorted by GBM / GLM predicted cost, in 10 buckets. '
         "Where the two disagree, the model whose line follows the actual cost is "
         f"right: mean |model - actual| GBM {dl['error_a'].mean():.3f}, GLM "
         f"{dl['error_b'].mean():.3f}.</p>" + _double_lift_plot(dl)
         + html.table(dl_rows, ["bucket", "policies", "GBM / GLM", "actual", "GBM",
                                "GLM"])),
        ("Calibration by decile (test)", _calibration_plot(result["calibration"])),
    ]
    return html.write_html(html.page("Pricing model evaluation", sections,
                                     "genlift evaluate pricing"), path)


# ------------------------------------------------------------------------- portfolio
def write_portfolio_report(result: Mapping[str, Any], books: Mapping[str, pd.DataFrame],
                           loss_ratios: Mapping[str, np.ndarray], path: str | Path) -> Path:
    """The page of `genlift price portfolio`: ``books`` are the priced real, control
    (simulated, no shift) and simulated (shifted) books; ``loss_ratios`` their
    bootstrap book loss ratios."""
    fig, axes = html.figure(12, 4, ncols=2)
    top = max(float(np.percentile(b["premium"], 99)) for b in books.values())
    bins = np.linspace(0, top, 50)
    for name, book in books.items():
        axes[0].hist(book["premium"], bins=bins, density=True, histtype="step", lw=1.6,
                     color=COLORS.get(name), label=f"{name} (mean {book['premium'].mean():,.0f})")
    axes[0].set_xlabel("premium per policy")
    axes[0].set_ylabel("density")
    axes[0].legend(fontsize=8)
    for name, lr in loss_ratios.items():
        axes[1].hist(lr, bins=40, alpha=0.5, color=COLORS.get(name),
                     label=f"{name} (median {np.median(lr):.3f})")
    axes[1].axvline(1.0 / float(result["config"]["loading"]), color="#555", ls="--",
                    lw=0.8, label="1 / loading")
    axes[1].set_xlabel("book loss ratio (charges / premium), bootstrap over policies")
    axes[1].legend(fontsize=8)
    keys = ["policies", "mean_premium", "median_premium", "p90_premium", "mean_charges",
            "loss_ratio", "loss_ratio_p5", "loss_ratio_p95"]
    money = {"mean_premium", "median_premium", "p90_premium", "mean_charges"}
    rows = [[name, *(f"{s[k]:,.0f}" if k in money else s[k] for k in keys)]
            for name, s in result["books"].items()]
    mix_rows = [[r["factor"], r["value"], *(r[name] for name in books)]
                for r in result["mix"]]
    shift = ", ".join(result["config"]["conditions"]) or "none"
    if result["config"].get("mix"):
        shift += f"; mix {result['config']['mix']}"
    sections = [
        ("Books", '<p class="muted">real: the store\'s policies; control: simulated with '
         "no shift (how faithful the generator is: its loss ratio should sit near the "
         "real one); simulated: the shifted book. Loss ratio = charges / premium, the "
         "simulated books' charges drawn by the generator with the rating factors.</p>"
         + html.table(rows, ["book", "policies", "mean premium", "median premium",
                             "p90 premium", "mean charges", "loss ratio", "LR p5",
                             "LR p95"])),
        ("Premium and loss-ratio distributions", html.img(fig)),
        ("Portfolio mix (share of policies; mean for numeric factors)",
         html.table(mix_rows, ["factor", "value", *books])),
        ("Config", html.kv_table({k: v for k, v in result["config"].items()})),
    ]
    return html.write_html(html.page(f"Simulated portfolio: {shift}", sections,
                                     "genlift price portfolio"), path)
