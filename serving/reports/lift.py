"""HTML pages of the lift experiment: one per task and an index. Every number shown is
read from the run's result (the same dict that is written as JSON)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.lift.stats import INCONCLUSIVE, MIN_UNITS, POWER, VERDICTS
from serving.reports.html import figure, img, kv_table, page, table, write_html
from serving.reports.lift_efficiency import efficiency_section

COLORS = {"helps": "#1a7f37", "hurts": "#c62828", "equivalent": "#1f5fa8",
          "inconclusive": "#999999"}


def method_note(alpha: float = 0.05) -> str:
    level = f"{100 * (1 - alpha):g}%"
    return (
        "Each arm's ratio (synthetic rows per real training row) is chosen on the validation "
        "part by the primary metric averaged over seeds; its test numbers are then compared "
        f"with the tuned real-only model. Delta = arm - real-only, averaged over seeds; the "
        f"{level} interval is a percentile bootstrap, paired: the same resampled test units "
        "(runs of neighbouring windows for backtests) and the same resampled seeds for both "
        "arms, so it carries test-set and seed-to-seed variation. Verdict: <b>helps</b> when "
        "the whole interval is on the better side of 0, <b>hurts</b> when it is on the worse "
        "side; otherwise <b>equivalent</b> when the "
        f"{100 * (1 - 2 * alpha):g}% interval lies inside +-margin, the practical margin of "
        "the metric stated in the config (the two one-sided tests, TOST, each at "
        f"{100 * alpha:g}%), and <b>inconclusive</b> when it does not: the run could not tell "
        f"(<b>too few units</b> under {MIN_UNITS} units). <b>MDE</b>: the minimum detectable "
        f"effect at {100 * POWER:g}% power for this run's size, (z<sub>{1 - alpha / 2:g}"
        f"</sub> + z<sub>{POWER:g}</sub>) x the bootstrap standard error; <b>n x</b>: how many "
        "times the test units (x seeds) would have to grow for the MDE to fall to the margin "
        "(SE ~ 1/sqrt(n)). genlift "
        "recommends synthetic data only where the verdict is helps. With many arms and "
        "segments some intervals exclude 0 by chance: <b>Holm</b> says whether a primary-"
        "metric difference survives Holm's correction over every arm x segment of the task "
        "(p-values from the bootstrap standard error, normal approximation; family-wise "
        f"error {100 * alpha:g}%).")


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def format_ci(r: Mapping[str, Any]) -> str:
    """A row's confidence interval as text, ``[-0.012, +0.034]`` (``n/a`` without one)."""
    lo, hi = _num(r["ci_low"]), _num(r["ci_high"])
    if math.isnan(lo):
        return "n/a"
    return f"[{lo:+.4g}, {hi:+.4g}]"


def _verdict(v: str) -> str:
    cls = {"helps": "good", "hurts": "bad"}.get(v, "")
    if cls:
        return f'<span class="{cls}">{html.escape(v)}</span>'
    if v in COLORS:
        return f'<span style="color:{COLORS[v]}">{html.escape(v)}</span>'
    return html.escape(v)


def _holm(flag: Any) -> str:
    return "" if flag is None else ("significant" if flag else "not significant")


def format_ratio(r: Any) -> str:
    """A synthetic ratio as text (``-`` for the real-only arm)."""
    return "-" if r is None else f"{float(r):g}"


def format_mde(r: Mapping[str, Any]) -> str:
    """A row's MDE and margin as text, ``0.021 (margin 0.005)``."""
    mde, margin = _num(r.get("mde")), _num(r.get("margin"))
    if math.isnan(mde):
        return "n/a"
    return f"{mde:.3g}" + ("" if math.isnan(margin) else f" (margin {margin:.3g})")


def _label(result: Mapping[str, Any], metric: str) -> str:
    """A metric's name as a reader knows it (``AUC``, ``NDCG@k``, ``WAPE``)."""
    found = next((m for m in result.get("metrics", []) if m["name"] == metric), None)
    label = (found or {}).get("label") or metric
    return str(label if label != metric else metric.upper() if len(metric) <= 4 else metric)


def secondary_metrics(result: Mapping[str, Any]) -> list[str]:
    """The task's metrics other than its primary one, in the task's order."""
    primary = result["primary_metric"]
    names = [m["name"] for m in result.get("metrics", [])] or \
        list(dict.fromkeys(r["metric"] for r in result["rows"]))
    return [n for n in names if n != primary]


def verdict_counts(result: Mapping[str, Any], *, metric: str | None = None
                   ) -> dict[str, int]:
    """Verdicts over every arm x segment on one metric (the task's primary metric unless
    ``metric`` names another): the headline counts."""
    metric = metric or result["primary_metric"]
    verdicts = [r["verdict"] for r in result["rows"]
                if r["arm"] != "real" and r["metric"] == metric]
    return {v: verdicts.count(v) for v in VERDICTS}


def secondary_counts(result: Mapping[str, Any]) -> dict[str, int]:
    """Verdicts over every arm x segment x secondary metric (never in the headline)."""
    counts = dict.fromkeys(VERDICTS, 0)
    for metric in secondary_metrics(result):
        for v, n in verdict_counts(result, metric=metric).items():
            counts[v] += n
    return counts


def _counts_text(counts: Mapping[str, int]) -> str:
    return (f"{counts['helps']} helps, {counts['equivalent']} equivalent, "
            f"{counts[INCONCLUSIVE]} inconclusive, {counts['hurts']} hurts")


def verdict_summary(result: Mapping[str, Any]) -> str:
    """Plain words: how many comparisons on the task's primary metric got each verdict,
    what would resolve the inconclusive ones, and (after that, labelled secondary) the
    other metrics' counts, which a reader should not act on alone."""
    primary = result["primary_metric"]
    counts = verdict_counts(result)
    total = sum(counts.values())
    text = (f"Primary metric {_label(result, primary)} ({primary}): {total} comparisons "
            f"(arm x segment): {_counts_text(counts)}.")
    open_rows = [r for r in result["rows"] if r["verdict"] == INCONCLUSIVE
                 and r["arm"] != "real" and r["metric"] == primary]
    if open_rows:
        factors = sorted(_num(r.get("n_factor")) for r in open_rows
                         if not math.isnan(_num(r.get("n_factor"))))
        n_seeds = len(result["config"]["seeds"])
        text += (f" The {len(open_rows)} inconclusive ones could not tell an effect from none: "
                 "their intervals are wider than the practical margin.")
        if factors:
            med = factors[len(factors) // 2]
            text += (f" For the minimum detectable effect to fall to the margin, the number of "
                     f"test {_plural(result['unit'])} would have to grow about {med:.0f}x "
                     f"(median; {factors[0]:.0f}x to {factors[-1]:.0f}x, taking SE ~ "
                     "1/sqrt(n)).")
        folds = int(result["config"].get("folds") or 1)
        if folds > 1:
            data = (f"more test data (every {result['unit']} is already tested once per "
                    "repeat: only more units narrow the unit part of the interval)")
            seeds = f"more repeats ({n_seeds} now; --repeats)"
        elif result.get("cross_fits"):
            data = (f"more test data (--folds 5 cross-fitting tests every {result['unit']} "
                    "instead of one split)")
            seeds = f"more seeds ({n_seeds} now; they narrow the seed-to-seed part)"
        else:
            data = f"more test {_plural(result['unit'])}"
            seeds = f"more seeds ({n_seeds} now; they narrow the seed-to-seed part)"
        text += (f" What resolves them: {data}, {seeds}, or a wider margin if a smaller "
                 "effect would not matter.")
    others = secondary_metrics(result)
    if others:
        sec = secondary_counts(result)
        text += (f" Secondary metrics ({', '.join(others)}; not counted above, read them "
                 f"only beside the primary): {sum(sec.values())} comparisons, "
                 f"{_counts_text(sec)}.")
    return text


def _plural(unit: str) -> str:
    return unit if unit.endswith("s") else f"{unit}s"  # series, not seriess


def summary_rows(result: Mapping[str, Any], *, metric: str | None = None
                 ) -> list[dict[str, Any]]:
    """Per model, arm and segment: the (primary) metric's delta, CI, MDE and verdict, plus
    the verdict counts over every metric."""
    metric = metric or result["primary_metric"]
    rows = [r for r in result["rows"] if r["arm"] != "real"]
    out = []
    for r in rows:
        if r["metric"] != metric:
            continue
        same = [x["verdict"] for x in rows if (x["model"], x["arm"], x["segment"]) ==
                (r["model"], r["arm"], r["segment"])]
        ref = next(x for x in result["rows"] if x["arm"] == "real" and x["model"] ==
                   r["model"] and x["segment"] == r["segment"] and x["metric"] == metric)
        out.append({"task": result["task"], "model": r["model"], "arm": r["arm"],
                    "family": r["family"], "ratio": r["ratio"], "segment": r["segment"],
                    "metric": metric, "real": ref["value"], "with": r["value"],
                    "delta": r["delta"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                    "verdict": r["verdict"], "holm": r.get("holm_significant"),
                    "mde": r.get("mde"), "margin": r.get("margin"),
                    "n_factor": r.get("n_factor"), "helps": same.count("helps"),
                    "equivalent": same.count("equivalent"),
                    "inconclusive": same.count(INCONCLUSIVE), "hurts": same.count("hurts")})
    return out


def forest_plot(result: Mapping[str, Any], metric: str) -> str:
    """Deltas with 95% CIs per arm and segment, oriented so that right = better."""
    rows = [r for r in result["rows"] if r["metric"] == metric and r["arm"] != "real"]
    if not rows:
        return ""
    labels, mids, los, his, colors = [], [], [], [], []
    for r in rows:
        sign = 1.0 if r["higher_is_better"] else -1.0
        lo, hi = sorted((sign * _num(r["ci_low"]), sign * _num(r["ci_high"])))
        labels.append(f"{r['model']} · {r['arm']} (x{format_ratio(r['ratio'])}) · {r['segment']}")
        mids.append(sign * _num(r["delta"]))
        los.append(lo)
        his.append(hi)
        colors.append(COLORS.get(r["verdict"], "#555555"))
    y = np.arange(len(rows))[::-1]
    fig, ax = figure(9, 0.32 * len(rows) + 1.2)
    mids_a = np.array(mids)
    err = np.vstack([mids_a - np.array(los), np.array(his) - mids_a])
    err = np.where(np.isfinite(err), err, 0.0)
    for i in range(len(rows)):
        ax.errorbar(mids[i], y[i], xerr=err[:, i:i + 1], fmt="o", color=colors[i],
                    capsize=3, ms=4)
    ax.axvline(0, color="#999", lw=1, ls="--")
    ax.set_yticks(y, labels, fontsize=8)
    better = "higher" if rows[0]["higher_is_better"] else "lower"
    ax.set_xlabel(f"improvement in {metric} over real-only ({better} {metric} is better; "
                  "right of 0 = better)")
    return img(fig)


def ratio_curves(result: Mapping[str, Any], metric: str) -> str:
    """Delta of ``metric`` vs ratio per arm: validation (picks the ratio) and test."""
    curves = [c for c in result["curves"] if c["metric"] == metric and c["ratio"] is not None]
    arms = sorted({(c["model"], c["arm"]) for c in curves})
    if not arms:
        return ""
    fig, axes = figure(10, 3.6, ncols=2, sharey=False)
    for ax, part in zip(axes, ("validation", "test"), strict=True):
        for model, arm in arms:
            pts = sorted((c["ratio"], c["delta"]) for c in curves
                         if (c["model"], c["arm"], c["part"]) == (model, arm, part))
            xs, ys = zip(*pts, strict=True)
            line = ax.plot(xs, ys, marker="o", label=f"{model} · {arm}")[0]
            pick = result["chosen_ratio"][model].get(arm)
            if pick is not None:
                ax.plot([pick], [dict(pts)[pick]], marker="*", ms=13, color=line.get_color())
        ax.axhline(0, color="#999", lw=1, ls="--")
        ax.set_xscale("log")
        ticks = sorted({c["ratio"] for c in curves})
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("synthetic rows per real training row")
        ax.set_title(f"{part}" + (" (picks the ratio: star)" if part == "validation"
                                  else " (reported at the starred ratio)"), fontsize=10)
        ax.set_ylabel(f"delta {metric} vs real-only")
    axes[0].legend(fontsize=7)
    return img(fig)


def quality_plot(result: Mapping[str, Any]) -> str:
    """Generator quality (its own fidelity score) against the test lift of the primary
    metric (all units, chosen ratio)."""
    metric = result["primary_metric"]
    qual = result.get("quality") or {}
    pts = [(q["mean"], r["delta"], f"{r['model']} · {r['arm']}", r["verdict"])
           for r in result["rows"] if r["metric"] == metric and r["segment"] == "all"
           and (q := qual.get(r["arm"])) is not None and q["mean"] is not None]
    if not pts:
        return ""
    fig, ax = figure(6.5, 4)
    for x, y, label, v in pts:
        ax.scatter([x], [y], color=COLORS.get(v, "#555555"))
        ax.annotate(label, (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.axhline(0, color="#999", lw=1, ls="--")
    names = sorted({q["name"] for q in qual.values()})
    ax.set_xlabel(f"generator quality ({'; '.join(names)}; higher is better)", fontsize=8)
    higher = next(m["higher_is_better"] for m in result["metrics"] if m["name"] == metric)
    ax.set_ylabel(f"test delta {metric} vs real-only\n({'higher' if higher else 'lower'} "
                  "is better)")
    return img(fig)


def _rows_table(result: Mapping[str, Any], metric: str) -> str:
    rows = [r for r in result["rows"] if r["metric"] == metric]
    body = [(r["model"], r["arm"], format_ratio(r["ratio"]), r["segment"], r["n_units"],
             _num(r["value"]), _num(r["delta"]), format_ci(r), _num(r["seed_sd"]),
             _num(r.get("margin")), _num(r.get("mde")), _num(r.get("n_factor")),
             _num(r.get("p_value")), _holm(r.get("holm_significant")), r["verdict"])
            for r in rows]
    text = table(body, ["model", "arm", "ratio", "segment", "units", metric, "delta",
                        "95% CI", "seed sd", "margin", "MDE (80%)", "n x to resolve", "p",
                        "Holm", "verdict"])
    for v in VERDICTS:
        text = text.replace(f"<td>{v}</td>", f"<td>{_verdict(v)}</td>")
    return text


def design_note(result: Mapping[str, Any]) -> str:
    """One line on how the test units were made: one split, or K-fold cross-fitting."""
    cfg, split = result["config"], result.get("split") or {}
    folds = int(cfg.get("folds") or 1)
    n = (result.get("verdicts") or {}).get("n_test_units")
    units = f"{n:,} test {result['unit']}s" if isinstance(n, int) else \
        f"test {result['unit']}s"
    if folds == 1:
        return f"one split, {len(cfg['seeds'])} seeds, {units}"
    return (f"{folds}-fold cross-fitting x {len(cfg['seeds'])} repeats: every "
            f"{result['unit']} tested once per repeat ({units}; models and generators of a "
            "fold never see its test units)"
            + (f", folds of {min(split['test_per_fold'])}-{max(split['test_per_fold'])}"
               if split.get("test_per_fold") else ""))


def champion_note(result: Mapping[str, Any]) -> str | None:
    """What the real-only arm is when it is the product's champion (credit): the choice
    per fold and the selection's own CV AUC beside the lift's real-only test AUC."""
    params = (result.get("params") or {}).get("champion")
    if not params:
        return None
    fits: list[Any] = list(params["per_fold"]) if "per_fold" in params else [params]
    kinds = [f.get("kind") for f in fits]
    real = next((r for r in result["rows"] if r["model"] == "champion" and r["arm"] == "real"
                 and r["segment"] == "all" and r["metric"] == result["primary_metric"]), None)
    cv = [f["cv_auc"].get(f["kind"]) for f in fits if f.get("cv_auc")]
    text = ("The real-only arm is the model `genlift train credit` makes on the same training "
            f"rows: its champion selection chose the scorecard in {kinds.count('scorecard')} "
            f"and LightGBM in {kinds.count('lightgbm')} of {len(kinds)} fits.")
    if cv and real is not None:
        text += (f" The command's own CV AUC on those training rows (mean over fits) is "
                 f"{np.mean([c for c in cv if c is not None]):.4f}; the same models score "
                 f"{real['value']:.4f} on the held-out units here.")
    return text


def write_task_report(result: Mapping[str, Any], path: Path) -> Path:
    """The HTML page of one task's result."""
    metrics = result["metrics"]
    primary = result["primary_metric"]
    cfg = result["config"]
    head = (f"{result['dataset']}: {design_note(result)}; test {result['unit']}s per segment "
            f"{result['segments']}, budget {cfg['budget']}, run {result.get('run_id')}")
    sections: list[tuple[str, str]] = []
    champ = champion_note(result)
    if result.get("provisional"):
        sections.append(("Provisional", "<p class='bad'>Fewer than 5 fits per arm (seeds x "
                                        "folds): the protocol asks for at least 5 before "
                                        "trusting a verdict.</p>"))
    rec = result.get("recommended") or []
    rec_text = ("<p>Synthetic data is <b>not</b> recommended anywhere in this run: no arm's "
                "interval lies above zero.</p>" if not rec else
                table([(r["model"], r["arm"], format_ratio(r["ratio"]), r["segment"], r["metric"],
                        _num(r["delta"]), format_ci(r)) for r in rec],
                      ["model", "arm", "ratio", "segment", "metric", "delta", "95% CI"]))
    note = method_note(float(cfg.get("alpha", 0.05)))
    sections.append(("Where synthetic data helps", rec_text + f"<p class='muted'>{note}</p>"))
    sections.append((f"Verdicts on the primary metric, {primary}",
                     f"<p>{html.escape(verdict_summary(result))}</p>"
                     + (f"<p>{html.escape(champ)}</p>" if champ else "")))
    sections.append((f"Forest plot: {primary} (primary)", forest_plot(result, primary)))
    sections += efficiency_section(result)
    sections.append((f"Lift vs ratio: {primary}", ratio_curves(result, primary)))
    qp = quality_plot(result)
    if qp:
        sections.append(("Generator quality vs lift", qp))
    for m in metrics:
        if m["name"] != primary:
            sections.append((f"Secondary metric, not in the headline: forest plot of "
                             f"{m['label'] or m['name']}", forest_plot(result, m["name"])))
    for m in metrics:
        kind = "primary" if m["name"] == primary else "secondary"
        sections.append((f"All numbers: {m['name']} ({kind})", _rows_table(result, m["name"])))
    qual = result.get("quality") or {}
    if qual:
        sections.append(("Generator quality", table(
            [(a, q["name"], _num(q["mean"])) for a, q in qual.items()],
            ["arm", "score", "mean over seeds"])))
    fits = result.get("fit_seconds") or {}
    sections.append(("Arms", table(
        [(a["name"], a["family"], a["label"], ", ".join(f"{x:g}" for x in a["ratios"]) or "-",
          ", ".join(f"{m}: {format_ratio(result['chosen_ratio'][m].get(a['name']))}"
                    for m in result["chosen_ratio"]), _num(fits.get(a["name"])))
         for a in result["arms"]],
        ["arm", "family", "what", "ratios tried", "ratio chosen on validation",
         "fit s / seed"])))
    sections.append(("Split", kv_table({k: json.dumps(v) if isinstance(v, dict | list) else v
                                        for k, v in result["split"].items()})))
    sections.append(("Real-only model settings (tuned per split or fold)",
                     f"<pre>{html.escape(json.dumps(result.get('params'), indent=1))}</pre>"))
    sections.append(("Config", f"<pre>{html.escape(json.dumps(cfg, indent=1))}</pre>"))
    sections.append(("Data fingerprints", kv_table(result.get("fingerprints") or {})))
    sections.append(("Timing", f"<p>{_num(result.get('seconds')):.1f} s</p>"))
    return write_html(page(f"Lift: {result['task']}", sections, head), path)


def write_index(results: Sequence[Mapping[str, Any]], out_dir: Path) -> Path:
    """``index.html`` over ``results`` (every task result in ``out_dir``, see
    :func:`serving.jobs.lift.load_results`), and ``summary.md`` (the primary-metric table
    as markdown, for a README or a pull request)."""
    rows, tasks = [], []
    for res in results:
        counts, sec = verdict_counts(res), secondary_counts(res)
        tasks.append((res["task"], res["dataset"], len(res["config"]["seeds"]),
                      res["primary_metric"], counts["helps"], counts["equivalent"],
                      counts[INCONCLUSIVE], counts["hurts"],
                      f"{sec['helps']}/{sec['equivalent']}/{sec[INCONCLUSIVE]}/{sec['hurts']}",
                      res.get("run_id", "")))
        for s in summary_rows(res):
            rows.append((s["task"], s["model"], s["arm"], format_ratio(s["ratio"]), s["segment"],
                         s["metric"], _num(s["real"]), _num(s["delta"]), format_ci(s),
                         format_mde(s), s["verdict"], _holm(s["holm"])))
    alpha = float(results[0]["config"].get("alpha", 0.05)) if results else 0.05
    task_table = table(tasks, ["task", "dataset", "seeds", "primary metric", "helps",
                               "equivalent", "inconclusive", "hurts",
                               "secondary metrics: helps/eq./inconcl./hurts", "run"])
    for res in results:  # link each task's page (its name is one of TASKS: no escaping)
        name = res["task"]
        task_table = task_table.replace(f"<td>{name}</td>",
                                        f'<td><a href="{name}.html">{name}</a></td>', 1)
    summary = table(rows, ["task", "model", "arm", "ratio", "segment", "metric", "real-only",
                           "delta", "95% CI", "MDE (80%)", "verdict", "Holm"])
    for v in VERDICTS:
        summary = summary.replace(f"<td>{v}</td>", f"<td>{_verdict(v)}</td>")
    plain = "".join(f"<p>{res['task']}: {html.escape(verdict_summary(res))}</p>"
                    for res in results)
    sections = [("Tasks", task_table + "<p class='muted'>helps / equivalent / inconclusive / "
                                       "hurts count every arm x segment on the task's "
                                       "<b>primary</b> metric only; the other metrics' "
                                       "verdicts (secondary column) are context, not the "
                                       "verdict.</p>" + plain),
                ("Primary metric per arm and segment", summary),
                ("How to read this", f"<p class='muted'>{method_note(alpha)}</p>")]
    md = out_dir / "summary.md"
    tmp = md.with_name(f".{md.name}.tmp")
    tmp.write_text(summary_markdown(results) + "\n", encoding="utf-8")
    tmp.replace(md)
    return write_html(page("genlift lift experiment", sections,
                           "Does synthetic data lift each model on held-out real data?"),
                      out_dir / "index.html")


def summary_markdown(results: Sequence[Mapping[str, Any]]) -> str:
    """The README's table: primary metric per task, arm and segment."""
    lines = ["| task | run | seeds | budget |", "|---|---|---:|---|"]
    for res in results:
        cfg = res["config"]
        flag = " (provisional: < 5 seeds)" if res.get("provisional") else ""
        lines.append(f"| {res['task']} | {res.get('run_id', '')} | {len(cfg['seeds'])}{flag} | "
                     f"{cfg['budget']} |")
    lines += ["", "| task | model | arm | ratio | segment | metric | real-only | delta | "
              "95% CI | MDE (80%) | verdict | Holm |",
              "|---|---|---|---:|---|---|---:|---:|---|---|---|---|"]
    for res in results:
        for s in summary_rows(res):
            lines.append(f"| {s['task']} | {s['model']} | {s['arm']} | "
                         f"{format_ratio(s['ratio'])} | "
                         f"{s['segment']} | {s['metric']} | {_num(s['real']):.4f} | "
                         f"{_num(s['delta']):+.4f} | {format_ci(s)} | {format_mde(s)} | "
                         f"{s['verdict']} | {'yes' if s['holm'] else 'no'} |")
    lines += [""] + [f"- {res['task']}: {verdict_summary(res)}" for res in results]
    return "\n".join(lines)


__all__ = ["format_ci", "format_mde", "format_ratio", "forest_plot", "quality_plot", "ratio_curves",
           "secondary_counts", "secondary_metrics", "summary_markdown", "summary_rows",
           "verdict_counts", "verdict_summary",
           "write_index", "write_task_report"]
