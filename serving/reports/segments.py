"""The page of `genlift segment`: how k was chosen, a 2-D map of the customers, segment
sizes and one profile table per segment (:mod:`engine.customers.profiles`).
Self-contained HTML (:mod:`serving.reports.html`), written atomically."""

from __future__ import annotations

import html as _html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serving.reports import html

__all__ = ["write_segment_report"]

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")


def _colour(i: int) -> str:
    return _PALETTE[i % len(_PALETTE)]


def _k_plot(curve: Sequence[Mapping[str, float]], score_name: str, chosen: int) -> str:
    fig, ax = html.figure(7, 3.4)
    ks = [c["k"] for c in curve]
    ax.plot(ks, [c["score"] for c in curve], marker="o", color="#1f77b4")
    ax.axvline(chosen, color="#c62828", lw=1, ls="--", label=f"chosen k = {chosen}")
    ax.set_xlabel("k (segments)")
    ax.set_ylabel(score_name + (" (higher is better)" if score_name == "silhouette"
                                else " (lower is better)"))
    ax.set_xticks(ks)
    ax.legend(fontsize=8)
    return html.img(fig)


def _map_plot(mapped: Mapping[str, Any], names: Sequence[str]) -> str:
    fig, ax = html.figure(7, 5.5)
    labels = np.asarray(mapped["labels"], dtype=object)
    for i, name in enumerate(names):
        hit = labels == name
        if hit.any():
            ax.scatter(np.asarray(mapped["x"])[hit], np.asarray(mapped["y"])[hit], s=6,
                       alpha=0.55, color=_colour(i), label=f"{name} ({int(hit.sum()):,})")
    ex = list(mapped["explained"]) + [0.0, 0.0]
    ax.set_xlabel(f"PC 1 ({ex[0]:.0%} of the variance)")
    ax.set_ylabel(f"PC 2 ({ex[1]:.0%})")
    ax.legend(fontsize=8, markerscale=2.5, loc="best")
    return html.img(fig)


def _size_plot(profiles: Sequence[Mapping[str, Any]]) -> str:
    fig, ax = html.figure(7, 0.45 * len(profiles) + 1.2)
    names = [p["segment"] for p in profiles]
    sizes = [p["size"] for p in profiles]
    y = np.arange(len(names))[::-1]
    ax.barh(y, sizes, color=[_colour(i) for i in range(len(names))])
    for yi, p in zip(y, profiles, strict=True):
        ax.text(p["size"], yi, f"  {p['size']:,} ({p['share']:.0%})", va="center", fontsize=8)
    ax.set_yticks(y, names)
    ax.set_xlabel("customers")
    ax.set_xlim(0, max(sizes) * 1.25 if sizes else 1)
    return html.img(fig)


def _overview(profiles: Sequence[Mapping[str, Any]]) -> str:
    rfm_cols = sorted({c for p in profiles for c in p["rfm"]},
                      key=["recency_days", "frequency", "monetary"].index)
    outcome_cols = sorted({c for p in profiles for c in p["outcomes"]})
    value_cols = sorted({c for p in profiles for c in (p["value"] or {})})
    header = ["segment", "customers", "share", *(f"median {c}" for c in rfm_cols),
              *(f"{c} rate" for c in outcome_cols), *value_cols, "what sets it apart"]
    rows = [[p["segment"], p["size"], f"{p['share']:.1%}",
             *(p["rfm"].get(c, "") for c in rfm_cols),
             *(p["outcomes"].get(c, "") for c in outcome_cols),
             *((p["value"] or {}).get(c, "") for c in value_cols),
             p["description"]] for p in profiles]
    return html.table(rows, header)


def _profile(p: Mapping[str, Any]) -> str:
    parts = []
    if p["distinguishing"]:
        parts.append("<p><b>What distinguishes it</b> (standardised mean difference "
                     "against all other customers; |SMD| &gt; 0.5 is a large gap)</p>"
                     + html.table([[d["feature"], d["smd"]] for d in p["distinguishing"]],
                                  ["feature", "SMD"]))
    if p["medians"]:
        parts.append("<p><b>Medians</b></p>" + html.table(
            [[c, v] for c, v in p["medians"].items()], ["feature", "median"]))
    if p["categories"]:
        parts.append("<p><b>Most common values</b></p>" + html.table(
            [[c, ", ".join(f"{k} {v:.0%}" for k, v in vals.items())]
             for c, vals in p["categories"].items()], ["attribute", "top values"]))
    if p["top_categories"]:
        parts.append("<p><b>Top item categories</b> (share of the segment's interactions; "
                     "lift over all customers)</p>" + html.table(
                         [[c["category"], f"{c['share']:.1%}", c["lift"]]
                          for c in p["top_categories"]], ["category", "share", "lift"]))
    if p["top_items"]:
        parts.append("<p><b>Top items</b> (share of the segment's customers)</p>"
                     + html.table([[i["item_id"], i["title"] or "", f"{i['share']:.1%}",
                                    i["lift"]] for i in p["top_items"]],
                                  ["item", "title", "share", "lift"]))
    if p["value"]:
        parts.append("<p><b>Lifetime value</b></p>" + html.kv_table(p["value"]))
    return "\n".join(parts)


def write_segment_report(path: str | Path, *, summary: Mapping[str, Any],
                         curve: Sequence[Mapping[str, float]], mapped: Mapping[str, Any],
                         profiles: Sequence[Mapping[str, Any]]) -> Path:
    """Write the segment report to ``path``."""
    names = [p["segment"] for p in profiles]
    head = {k: v for k, v in summary.items()
            if k in ("run_id", "table", "method", "customers", "k", "k_chosen", "score_name",
                     "score", "clv", "map") or (k == "k_note" and v)}
    head["features"] = ", ".join(summary.get("features", []))
    if summary.get("dropped_columns"):
        head["left out (id-like, empty or a copy of another)"] = \
            ", ".join(summary["dropped_columns"])
    sections: list[tuple[str, str]] = [("Summary", html.kv_table(head))]
    if curve:
        how = ("the silhouette of k-means (on a fixed sample of customers): the k with the "
               "highest wins" if summary["score_name"] == "silhouette" else
               "the BIC of a Gaussian mixture: the k with the lowest wins")
        note = "" if summary.get("k_chosen") == "auto" else " k was given, not chosen."
        if summary.get("k_note"):
            note += f" <b>{_html.escape(str(summary['k_note']))}.</b>"
        sections.append(("Choosing k", f'<p class="muted">Scored by {how}.{note}</p>'
                         + _k_plot(curve, summary["score_name"], int(summary["k"]))))
    sections += [
        ("Customers on a map",
         f'<p class="muted">{_html.escape(str(summary.get("map", "")))}; '
         f'{mapped["n_shown"]:,} of {mapped["n"]:,} customers shown.</p>'
         + _map_plot(mapped, names)),
        ("Segment sizes", _size_plot(profiles)),
        ("Segments at a glance", _overview(profiles)),
    ]
    for p in profiles:
        sections.append((f"{p['segment']}: {p['size']:,} customers ({p['share']:.1%})"
                         + (f" - {p['description']}" if p["description"] else ""),
                         _profile(p)))
    return html.write_html(html.page(f"Customer segments: {summary['method']} on "
                                     f"{summary['table']}", sections, "genlift segment"),
                           path)
