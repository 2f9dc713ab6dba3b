"""The quality report of a fitted generator (`genlift augment report`): its scorecard
against held-out real data, plots of real vs synthetic data per kind (tabular, baskets,
price paths, sales windows), its training history and its configuration.

The job (:func:`serving.jobs.augment.report`) samples and scores; the functions here
only draw what they are given."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augment.quality import is_number_column
from augment.quality_glossary import glossary_for
from serving.reports import html

Section = tuple[str, str]


def history_plot(history: Sequence[Mapping[str, float]]) -> str:
    """Training losses and validation fidelity per epoch."""
    frame = pd.DataFrame(history).set_index("epoch")
    fig, axes = html.figure(10, 3.2, ncols=2)
    losses = [c for c in frame.columns if "val" not in c]
    frame[losses].plot(ax=axes[0], title="training losses")
    vals = [c for c in frame.columns if "val" in c]
    if vals:
        frame[vals].dropna().plot(ax=axes[1], marker="o", title="validation fidelity")
    return html.img(fig)


def tabular_plots(ref: pd.DataFrame, synth: pd.DataFrame, columns: Sequence[str],
                  per_column: Mapping[str, float]) -> list[Section]:
    """Marginals of ``columns`` (real ``ref`` vs ``synth``, titled with their column-shape
    scores) and correlation heatmaps of the numeric columns."""
    cols = list(columns)
    ncols = 4
    nrows = -(-len(cols) // ncols)
    fig, axes = html.figure(12, 2.6 * nrows, nrows=nrows, ncols=ncols, squeeze=False)
    for ax, col in zip(axes.ravel(), cols, strict=False):
        r, s = ref[col], synth[col]
        if pd.api.types.is_numeric_dtype(r.dtype) and r.nunique() > 10:
            bins = np.histogram_bin_edges(r.dropna().astype(float), bins=30)
            ax.hist(r.dropna().astype(float), bins=bins, density=True, alpha=0.5, label="real")
            ax.hist(pd.to_numeric(s, errors="coerce").dropna(), bins=bins, density=True,
                    alpha=0.5, label="synthetic")
        else:
            freq = pd.DataFrame({"real": r.astype(str).value_counts(normalize=True),
                                 "synthetic": s.astype(str).value_counts(normalize=True)}
                                ).fillna(0).sort_values("real", ascending=False).head(8)
            freq.index = [str(i)[:14] for i in freq.index]
            freq.plot.bar(ax=ax, legend=False, rot=60, fontsize=7)
        ax.set_title(f"{col[:30]} ({per_column.get(col, float('nan')):.2f})",
                     fontsize=8)
    for ax in axes.ravel()[len(cols):]:
        ax.axis("off")
    axes.ravel()[0].legend(["real", "synthetic"], fontsize=7)
    plots = [("Marginals: real (held out) vs synthetic, with column-shape scores", html.img(fig))]
    num = [c for c in ref.columns if pd.api.types.is_numeric_dtype(ref[c].dtype)]
    if len(num) >= 2:
        fig, axes = html.figure(11, 4.6, ncols=2)
        for ax, (label, frame) in zip(axes, (("real", ref), ("synthetic", synth)), strict=True):
            corr = frame[num].apply(pd.to_numeric, errors="coerce").corr().to_numpy()
            im = ax.imshow(corr, vmin=-1, vmax=1, cmap="RdBu_r")
            ax.set_title(f"{label}: correlation of numeric columns")
            ax.set_xticks(range(len(num)), [c[:12] for c in num], rotation=90, fontsize=7)
            ax.set_yticks(range(len(num)), [c[:12] for c in num], fontsize=7)
        fig.colorbar(im, ax=axes, shrink=0.8)
        plots.append(("Correlation heatmaps", html.img(fig)))
    return plots


def detection_reading(auc: float) -> str:
    """The detection AUC in plain words."""
    if not np.isfinite(auc):
        return "not measured (too few synthetic rows left after dropping copies)"
    if auc < 0.6:
        return "hard to tell apart: close to 0.5, where a classifier does no better than a coin"
    if auc < 0.75:
        return "somewhat distinguishable: a classifier beats a coin, but often errs"
    if auc < 0.9:
        return "clearly distinguishable: a classifier tells most rows apart"
    return "easily told apart: a classifier picks out nearly every synthetic row"


def giveaway_sections(scorecard: Mapping[str, Any], ref: pd.DataFrame, synth: pd.DataFrame,
                      pair: tuple[str, str] | None) -> list[Section]:
    """What gives synthetic rows away: the detection AUC in words, a bar chart of the
    columns the detector splits on most (``detection_top_features``), a table of the
    ``worst_pairs`` and a plot of ``pair`` (the worst pair with a number in it), real
    (``ref``) vs synthetic."""
    auc = float(scorecard.get("detection_auc", float("nan")))
    text = (f"<p>Detection AUC <b>{auc:.3f}</b>: {html.fmt(detection_reading(auc))}. "
            "Gradient-boosted trees learn to tell held-out real rows from synthetic ones "
            "(cross-validated); 0.5 = indistinguishable, 0.75 = noticeably different, "
            "0.9 or more = easily told apart.</p>")
    top = list(scorecard.get("detection_top_features", []))
    if top:
        fig, ax = html.figure(8, 0.45 * len(top) + 1.2)
        names = [str(t["column"])[:40] for t in top][::-1]
        ax.barh(names, [float(t["share"]) for t in top][::-1], color="#c62828")
        ax.set_xlabel("share of the detector's split gain")
        ax.set_title("columns that give synthetic rows away")
        text += ("<p>The columns the detector leans on most (share of its split gain, "
                 "one-hot levels and missing-value flags added back to their column): "
                 "fix these first.</p>" + html.img(fig))
    else:
        text += "<p>The detector found no column to split on.</p>"
    sections: list[Section] = [("What gives synthetic rows away", text)]
    worst = list(scorecard.get("worst_pairs", []))
    if worst:
        sections.append(("Worst column pairs", (
            "<p>Pair trends (1 = the pair moves together in synthetic rows as in real "
            "ones): correlation for two numbers, joint frequencies otherwise.</p>"
            + html.table([(w["pair"].replace("|", " vs "), float(w["score"]))
                          for w in worst], ["pair", "pair-trend score"]))))
    if pair is not None:
        a, b = pair
        score = dict(scorecard.get("per_pair", {})).get(f"{a}|{b}", float("nan"))
        sections.append((f"Worst pair with a number: {a} vs {b} ({score:.2f})",
                         pair_plot(ref, synth, a, b)))
    return sections


def pair_plot(ref: pd.DataFrame, synth: pd.DataFrame, a: str, b: str,
              max_points: int = 2000) -> str:
    """Real vs synthetic for one column pair: side-by-side scatters for two numbers, the
    number's box per category (the 8 commonest real ones) otherwise."""
    rng = np.random.default_rng(0)

    def some(frame: pd.DataFrame) -> pd.DataFrame:
        take = min(len(frame), max_points)
        return frame.iloc[np.sort(rng.choice(len(frame), take, replace=False))]

    if is_number_column(ref[a]) and is_number_column(ref[b]):
        fig, axes = html.figure(11, 4.2, ncols=2, sharex=True, sharey=True)
        for ax, (label, frame) in zip(axes, (("real (held out)", ref), ("synthetic", synth)),
                                      strict=True):
            f = some(frame[[a, b]].apply(pd.to_numeric, errors="coerce").dropna())
            ax.scatter(f[a], f[b], s=4, alpha=0.35,
                       color="#444" if label.startswith("real") else "#c62828")
            ax.set_title(label)
            ax.set_xlabel(a[:40])
        axes[0].set_ylabel(b[:40])
        return html.img(fig)
    num, cat = (a, b) if is_number_column(ref[a]) else (b, a)
    cats = ref[cat].astype("string").fillna("<NA>").value_counts().index[:8].tolist()
    fig, ax = html.figure(11, 4.2)
    for offset, (label, frame, color) in enumerate((("real (held out)", ref, "#444"),
                                                    ("synthetic", synth, "#c62828"))):
        keys = frame[cat].astype("string").fillna("<NA>")
        values = pd.to_numeric(frame[num], errors="coerce")
        data = [values[(keys == c).to_numpy()].dropna().to_numpy() for c in cats]
        data = [d if len(d) else np.array([np.nan]) for d in data]
        box = ax.boxplot(data, positions=np.arange(len(cats)) * 3 + offset, widths=0.8,
                         patch_artist=True, showfliers=False)
        for patch in box["boxes"]:
            patch.set(facecolor=color, alpha=0.45)
        ax.plot([], [], color=color, lw=6, alpha=0.45, label=label)
    ax.set_xticks(np.arange(len(cats)) * 3 + 0.5, [str(c)[:14] for c in cats], rotation=30,
                  fontsize=8)
    ax.set_xlabel(cat[:40])
    ax.set_ylabel(num[:40])
    ax.set_title(f"{num[:30]} by {cat[:30]}: real vs synthetic")
    ax.legend(fontsize=8)
    return html.img(fig)


def basket_plots(hold: pd.DataFrame, synth: pd.DataFrame) -> list[Section]:
    """Item popularity by rank and basket sizes, real (held out) vs synthetic."""
    fig, axes = html.figure(11, 3.6, ncols=2)
    for label, frame in (("real (held out)", hold), ("synthetic", synth)):
        pop = frame["item_id"].value_counts(normalize=True).to_numpy()
        axes[0].loglog(np.arange(1, len(pop) + 1), pop, label=label)
        sizes = frame.groupby("user_id").size()
        axes[1].hist(sizes, bins=30, alpha=0.5, density=True, label=label)
    axes[0].set_title("item popularity by rank")
    axes[1].set_title("basket sizes")
    axes[0].legend()
    return [("Popularity and basket sizes", html.img(fig))]


def path_plots(real: np.ndarray, paths: np.ndarray) -> list[Section]:
    """Fan chart of an equal-weight portfolio and the ACF of |r|: ``real`` held-out log
    returns (days, assets) vs synthetic ``paths`` (paths, days, assets)."""
    fig, axes = html.figure(12, 3.8, ncols=2)
    port = np.cumsum(paths.mean(axis=2), axis=1)  # equal-weight log-return portfolio
    qs = np.quantile(port, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    x = np.arange(len(real))
    axes[0].fill_between(x, qs[0], qs[4], alpha=0.2, label="synthetic 5-95%")
    axes[0].fill_between(x, qs[1], qs[3], alpha=0.35, label="synthetic 25-75%")
    axes[0].plot(x, qs[2], lw=1, label="synthetic median")
    axes[0].plot(x, np.cumsum(real.mean(axis=1)), color="k", lw=1.5, label="real (held out)")
    axes[0].set_title("equal-weight portfolio, cumulative log return")
    axes[0].legend(fontsize=7)
    lags = np.arange(1, 21)

    def acf_abs(x2: np.ndarray) -> np.ndarray:
        a = np.abs(x2) - np.abs(x2).mean(axis=0)
        den = (a * a).sum(axis=0)
        return np.array([((a[k:] * a[:-k]).sum(axis=0) / den).mean() for k in lags])

    axes[1].plot(lags, acf_abs(real), "k-o", ms=3, label="real (held out)")
    synth_acf = np.mean([acf_abs(p) for p in paths[: min(50, len(paths))]], axis=0)
    axes[1].plot(lags, synth_acf, "-o", ms=3, label="synthetic (mean)")
    axes[1].set_title("ACF of |r| (volatility clustering)")
    axes[1].legend(fontsize=7)
    return [("Fan chart and volatility clustering", html.img(fig))]


def sales_plots(hold: pd.DataFrame, synth: pd.DataFrame) -> list[Section]:
    """log(1 + units) distributions and the price response, real (held out) vs
    synthetic sales windows."""
    real_log = np.log1p(hold["units"].to_numpy(dtype=float))
    syn_log = np.log1p(synth["units"].to_numpy(dtype=float))
    fig, axes = html.figure(11, 3.6, ncols=2)
    bins = np.histogram_bin_edges(real_log, bins=40)
    axes[0].hist(real_log, bins=bins, density=True, alpha=0.5, label="real (held out)")
    axes[0].hist(syn_log, bins=bins, density=True, alpha=0.5, label="synthetic")
    axes[0].set_title("log(1 + units) per store-item-week")
    axes[0].legend(fontsize=7)
    for promo in (0, 1):
        r = hold[hold["promo"] == promo]
        s = synth[synth["promo"] == promo]
        if len(r) and len(s):
            axes[1].scatter(np.log(r["price"]), np.log1p(r["units"]), s=2, alpha=0.2,
                            label=f"real, promo={promo}")
            axes[1].scatter(np.log(s["price"]), np.log1p(s["units"]), s=2, alpha=0.2,
                            label=f"synthetic, promo={promo}")
    axes[1].set_title("price response: log units vs log price")
    axes[1].legend(fontsize=7, markerscale=4)
    return [("Distribution and price response", html.img(fig))]


def scorecard_table(scores: Mapping[str, Any]) -> str:
    """Each score with its value, its one-line meaning and which way is good (the
    glossary, :mod:`augment.quality_glossary`)."""
    words = glossary_for(scores)
    return html.table([(k, v, words[k]["meaning"], words[k]["direction"])
                       for k, v in scores.items()],
                      ["score", "value", "what it means", "good / bad"])


def glossary_section(names: Sequence[str]) -> Section:
    """The glossary of every score named in the report, as its own table."""
    words = glossary_for(names)
    return ("Glossary of the scores", html.table(
        [(k, w["meaning"], w["direction"]) for k, w in words.items()],
        ["score", "what it means", "good / bad"]))


def write_generator_report(path: str | Path, *, title: str, scorecard: Mapping[str, Any],
                           plots: Sequence[Section],
                           history: Sequence[Mapping[str, float]],
                           config: Mapping[str, Any], run_id: Any) -> Path:
    """The page: scorecard (its numbers and words; lists and tables are the plots'
    business), the kind's plots, training history (when there is one) and
    the fit configuration."""
    scalars = {k: v for k, v in scorecard.items() if isinstance(v, int | float | str)}
    sections: list[Section] = [("Scorecard (synthetic vs held-out real data)",
                                scorecard_table(scalars))]
    sections += plots
    if history:
        sections.append(("Training history", history_plot(history)))
    sections.append(glossary_section(list(scorecard)))
    sections.append(("Configuration", "<pre>" + json.dumps(
        dict(config), indent=2, default=str) + "</pre>"))
    return html.write_html(html.page(title, sections, subtitle=f"fit run {run_id}"), path)


__all__ = ["basket_plots", "detection_reading", "giveaway_sections", "glossary_section",
           "history_plot", "pair_plot", "path_plots", "sales_plots", "scorecard_table",
           "tabular_plots", "write_generator_report"]
