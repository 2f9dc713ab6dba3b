"""What every score of a generator's scorecard means, and which way is good.

One entry per name that :func:`augment.quality.tabular_scorecard`,
:func:`augment.quality_baskets.basket_scorecard`, :func:`augment.quality_paths.path_scorecard`
and the sales-window scorecard (``serving.jobs.augment``) emit, so a report, the CLI and
``--json`` explain a number where they show it. Names made from a parameter
(``wasserstein_{h}d``) are matched by pattern."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

HIGHER = "higher is better"
LOWER = "lower is better"
HALF = "closer to 0.5 is better"
ONE = "closer to 1 is better"
CONTEXT = "context: no good or bad direction"
MATCH = "closer to its real counterpart is better"

#: name -> (one-line meaning, good/bad direction)
GLOSSARY: dict[str, tuple[str, str]] = {
    # tabular fidelity
    "quality": ("mean of column_shapes and pair_trends: overall fidelity, 1 = identical "
                "distributions", HIGHER),
    "column_shapes": ("mean per-column similarity of the marginal distributions (1 - KS "
                      "statistic for numbers, 1 - total variation for categories), 0 to 1",
                      HIGHER),
    "pair_trends": ("mean per-pair similarity of how two columns move together (correlation "
                    "for two numbers, joint frequencies otherwise), 0 to 1", HIGHER),
    "detection_auc": ("AUC of a classifier telling synthetic rows from held-out real ones; "
                      "0.5 = it cannot, 1 = every row is told apart", HALF),
    "detection_top_features": ("the columns the detector splits on most: where synthetic "
                               "rows give themselves away; fix these first", CONTEXT),
    "worst_pairs": ("the 5 column pairs with the lowest pair-trend scores", CONTEXT),
    "per_column": ("the column-shape score of every column (column_shapes is their mean)",
                   HIGHER),
    "per_pair": ("the pair-trend score of every column pair scored (pair_trends is their "
                 "mean)", HIGHER),
    "n_synthetic": ("synthetic rows sampled for the scorecard", CONTEXT),
    "copies_dropped": ("synthetic rows that exactly copied a training row (dropped before "
                       "scoring); copies leak training data", LOWER),
    # tabular privacy
    "dcr_synth_median": ("median distance from a synthetic row to its closest training row",
                         "higher is better (read against dcr_holdout_median)"),
    "dcr_holdout_median": ("median distance from a held-out real row to its closest "
                           "training row: the yardstick for dcr_synth_median", CONTEXT),
    "dcr_ratio": ("dcr_synth_median / dcr_holdout_median; below 1 = synthetic rows hug the "
                  "training data more than unseen real rows do", "about 1 or above is good; "
                  "well below 1 is bad"),
    "share_closer_than_p5": ("share of synthetic rows closer to training than the 5th "
                             "percentile of held-out rows; about 0.05 when private",
                             "about 0.05 or below is good; higher is bad"),
    "membership_auc": ("AUC of an attacker guessing from the synthetic data which real rows "
                       "were in training; 0.5 = it cannot", HALF),
    # baskets
    "n_items": ("items in the catalogue", CONTEXT),
    "n_users_real": ("held-out real users with a non-empty basket", CONTEXT),
    "n_users_synthetic": ("synthetic users with a non-empty basket", CONTEXT),
    "popularity_pearson": ("correlation of item popularity, real vs synthetic (Pearson)",
                           HIGHER),
    "popularity_spearman": ("rank correlation of item popularity, real vs synthetic "
                            "(Spearman)", HIGHER),
    "pmi_pearson": ("correlation of the PMI of the most frequent real item pairs, real vs "
                    "synthetic: which items go together (Pearson)", HIGHER),
    "pmi_spearman": ("rank correlation of the PMI of the most frequent real item pairs "
                     "(Spearman)", HIGHER),
    "pair_coverage": ("share of the most frequent real item pairs that occur together in "
                      "some synthetic basket", HIGHER),
    "n_pairs": ("real item pairs the PMI scores are computed on", CONTEXT),
    "size_mean_real": ("mean basket size of the held-out real users", CONTEXT),
    "size_mean_synthetic": ("mean basket size of the synthetic users", MATCH),
    "size_wasserstein": ("Wasserstein distance between the basket-size distributions, "
                         "in items", LOWER),
    "size_wasserstein_rel": ("size_wasserstein divided by the real mean basket size", LOWER),
    "size_ks": ("KS statistic between the basket-size distributions, 0 to 1", LOWER),
    "coverage_real": ("share of the catalogue in some held-out real basket", CONTEXT),
    "coverage_synthetic": ("share of the catalogue in some synthetic basket", MATCH),
    "n_head_items": ("most popular real items that make 80% of the interactions (the head)",
                     CONTEXT),
    "tail_share_real": ("share of real interactions on long-tail items", CONTEXT),
    "tail_share_synthetic": ("share of synthetic interactions on long-tail items", MATCH),
    # price paths
    "acf_error_r": ("mean absolute error of the autocorrelation of returns (lags 1-20)",
                    LOWER),
    "acf_error_abs": ("mean absolute error of the autocorrelation of |returns|: volatility "
                      "clustering", LOWER),
    "acf_error_sq": ("mean absolute error of the autocorrelation of squared returns", LOWER),
    "leverage_error": ("mean absolute error of corr(r_t, r_t+k^2): the leverage effect",
                       LOWER),
    "cross_corr_error": ("mean absolute error of the correlations between assets", LOWER),
    "max_drawdown_distance": ("Wasserstein distance between the distributions of 60-day "
                              "maximum drawdowns", LOWER),
    "novelty": ("share of generated 20-day windows that nearly copy a training window",
                LOWER),
    "novel_share": ("1 - novelty: share of generated windows that are not near copies",
                    HIGHER),
    "nn_distance_median": ("median relative distance of a generated window to its nearest "
                           "training window (0.1 = near-copy threshold)", HIGHER),
    # sales windows
    "n_windows": ("synthetic sales windows sampled", CONTEXT),
    "log_units_ks": ("KS statistic between log(1 + units), real vs synthetic, 0 to 1",
                     LOWER),
    "real_log_units_mean": ("mean log(1 + units) of the held-out real weeks", CONTEXT),
    "synthetic_log_units_mean": ("mean log(1 + units) of the synthetic weeks", MATCH),
    "real_lag1_acf": ("lag-1 autocorrelation of log units in real series", CONTEXT),
    "synthetic_lag1_acf": ("lag-1 autocorrelation of log units in synthetic windows", MATCH),
}

_PATTERNS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"wasserstein_(\d+)d"), "Wasserstein distance between the {0}-day return "
     "distributions, real vs synthetic (per asset, averaged)", LOWER),
]


def describe(name: str) -> tuple[str, str] | None:
    """``(meaning, direction)`` of a score name, or None when it has no entry."""
    if name in GLOSSARY:
        return GLOSSARY[name]
    for pattern, meaning, direction in _PATTERNS:
        found = pattern.fullmatch(name)
        if found:
            return meaning.format(*found.groups()), direction
    return None


def glossary_for(names: Iterable[str]) -> dict[str, dict[str, str]]:
    """``{name: {"meaning": ..., "direction": ...}}`` for every name (in order); a name
    without an entry is described as such rather than left out."""
    out = {}
    for name in names:
        found = describe(name)
        meaning, direction = found or ("no glossary entry", CONTEXT)
        out[name] = {"meaning": meaning, "direction": direction}
    return out


def missing(scorecard: Mapping[str, Any]) -> list[str]:
    """Names in ``scorecard`` without a glossary entry (a test keeps this empty)."""
    return [k for k in scorecard if describe(k) is None]


__all__ = ["GLOSSARY", "describe", "glossary_for", "missing"]
