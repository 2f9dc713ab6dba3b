"""The lift report's headline counts verdicts on each task's primary metric only; the
secondary metrics' verdicts come after it, labelled, and never in the headline counts."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from serving.reports.lift import (
    secondary_counts,
    summary_markdown,
    verdict_counts,
    verdict_summary,
    write_index,
    write_task_report,
)

LiftResult = Callable[..., dict[str, Any]]

# Secondary metrics "help" everywhere, the primary only once: today's artifact pattern.
NOISY = {("copula-both", "all", "auc"): "helps",
         **{(a, s, m): "helps" for a in ("copula-both", "vae-both")
            for s in ("all", "age<30") for m in ("pr_auc", "brier")}}


def test_headline_counts_the_primary_metric_only(lift_result: LiftResult) -> None:
    res = lift_result(NOISY)
    assert verdict_counts(res) == {"helps": 1, "equivalent": 0, "inconclusive": 3,
                                   "hurts": 0}
    assert secondary_counts(res) == {"helps": 8, "equivalent": 0, "inconclusive": 0,
                                     "hurts": 0}
    text = verdict_summary(res)
    head, _, tail = text.partition("Secondary metrics")
    assert head.startswith("Primary metric AUC (auc): 4 comparisons (arm x segment): "
                           "1 helps, 0 equivalent, 3 inconclusive, 0 hurts.")
    assert "The 3 inconclusive ones" in head
    assert tail.startswith(" (pr_auc, brier; not counted above")
    assert "8 comparisons, 8 helps" in tail


def test_task_page_puts_primary_first_and_labels_secondary(lift_result: LiftResult,
                                                           tmp_path: Path) -> None:
    page = write_task_report(lift_result(NOISY), tmp_path / "credit.html").read_text()
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    verdicts = headings.index("Verdicts on the primary metric, auc")
    primary_plot = headings.index("Forest plot: auc (primary)")
    secondary = [i for i, h in enumerate(headings) if h.startswith("Secondary metric")]
    assert len(secondary) == 2 and verdicts < primary_plot < min(secondary)
    assert "All numbers: pr_auc (secondary)" in headings
    assert "All numbers: auc (primary)" in headings


def test_index_and_markdown_count_primary(lift_result: LiftResult, tmp_path: Path) -> None:
    res = lift_result(NOISY)
    index = write_index([res], tmp_path).read_text()
    # task, dataset, seeds, primary metric, helps, equivalent, inconclusive, hurts, secondary
    assert re.search(r"<td>auc</td><td>1</td><td>0</td><td>3</td><td>0</td><td>8/0/0/0</td>",
                     index), index
    assert "secondary metrics: helps/eq./inconcl./hurts" in index
    md = summary_markdown([res])
    assert "- credit: Primary metric AUC (auc): 4 comparisons" in md
    assert "| credit | lightgbm | copula-both | 0.5 | all | auc |" in md
    assert "pr_auc |" not in md  # the table is the primary metric's


def test_no_secondary_metrics_means_no_secondary_sentence(lift_result: LiftResult) -> None:
    res = lift_result()
    res["metrics"] = res["metrics"][:1]
    res["rows"] = [r for r in res["rows"] if r["metric"] == "auc"]
    text = verdict_summary(res)
    assert "Secondary" not in text and "4 inconclusive" in text


def test_what_resolves_inconclusive_rows_fits_the_run(lift_result: LiftResult) -> None:
    """One split of a task that cross-fits: suggest --folds; a cross-fitted run: more
    units or repeats (every unit is tested already); a task that cannot: more units."""
    res = lift_result()
    res["config"]["folds"], res["cross_fits"] = 1, True
    assert "--folds 5 cross-fitting tests every applicant" in verdict_summary(res)
    res["config"]["folds"] = 5
    text = verdict_summary(res)
    assert "already tested once per repeat" in text and "more repeats" in text
    assert "--folds" not in text
    res["config"]["folds"], res["cross_fits"] = 1, False
    text = verdict_summary(res)
    assert "cross-fitting" not in text and "more test applicants" in text
