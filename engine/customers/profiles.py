"""Segment profiles: what a CRM analyst reads about each segment.

Per segment: its size and share, the medians of the RFM columns and of every other number,
the outcome rates (churn), the most common values of each category, the top items and
item categories (genres) its customers bought or rated, lifetime value (joined from the
``customer_value`` table when there is one) and what distinguishes it: the features whose
standardised mean difference against the rest of the customers is largest,
``(mean_in - mean_out) / sqrt((var_in + var_out) / 2)``, with each category level as a
0/1 indicator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from engine.customers.table import ID, RFM, CustomerTable

CLV_COLUMNS = ("expected_purchases", "p_alive", "expected_spend", "clv")
TOP = 5
ARROW = {True: "higher", False: "lower"}


def standardised_differences(table: CustomerTable, labels: np.ndarray
                             ) -> dict[str, dict[str, float]]:
    """Segment -> feature (``col`` or ``col=level``) -> standardised mean difference of
    the segment against every other customer (0 where a side has no spread)."""
    frame = table.frame
    cols: dict[str, np.ndarray] = {}
    for c in table.numeric:
        v = frame[c].to_numpy(dtype=float, na_value=np.nan)
        cols[c] = np.where(np.isfinite(v), v, np.nanmedian(v) if np.isfinite(v).any() else 0)
    for c in table.categorical:
        text = frame[c].astype("string").to_numpy(dtype=object, na_value=None)
        for level in sorted({t for t in text if t is not None}):
            cols[f"{c}={level}"] = (text == level).astype(float)
    out: dict[str, dict[str, float]] = {}
    for seg in pd.unique(labels):
        mask = labels == seg
        row = {}
        for name, v in cols.items():
            a, b = v[mask], v[~mask]
            if len(a) == 0 or len(b) == 0:
                row[name] = 0.0
                continue
            pooled = np.sqrt((a.var() + b.var()) / 2)
            row[name] = float((a.mean() - b.mean()) / pooled) if pooled > 0 else 0.0
        out[str(seg)] = row
    return out


def _top_items(interactions: pd.DataFrame, members: pd.DataFrame,
               items: pd.DataFrame | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(top items, top item categories) of one segment's customers, by share of the
    segment's customers who touched them, with the lift over all customers."""
    inter = interactions[["user_id", "item_id"]].astype(str).drop_duplicates()
    n_all = inter["user_id"].nunique()
    seg = inter[inter["user_id"].isin(members[ID])]
    n_seg = max(seg["user_id"].nunique(), 1)
    share_all = inter.groupby("item_id")["user_id"].nunique() / max(n_all, 1)
    share_seg = seg.groupby("item_id")["user_id"].nunique() / n_seg
    top = share_seg.sort_values(ascending=False, kind="stable").head(TOP)
    title = None
    if items is not None and "item_id" in items.columns:
        it = items.assign(item_id=items["item_id"].astype(str)).set_index("item_id")
        title = it["title"] if "title" in it.columns else None
    rows = [{"item_id": i, "title": None if title is None else str(title.get(i, "")),
             "share": float(s), "lift": float(s / share_all[i]) if share_all[i] else None}
            for i, s in top.items()]
    cats: list[dict[str, Any]] = []
    cat_col = next((c for c in ("genres", "category", "genre") if items is not None
                    and c in items.columns), None)
    if items is not None and cat_col is not None:
        tags = items.assign(item_id=items["item_id"].astype(str))[["item_id", cat_col]]
        tags = tags.assign(tag=tags[cat_col].astype("string").str.split()).explode("tag")
        tags = tags.dropna(subset=["tag"])
        joined_all = inter.merge(tags[["item_id", "tag"]], on="item_id")
        joined_seg = joined_all[joined_all["user_id"].isin(members[ID])]
        all_share = joined_all["tag"].value_counts(normalize=True)
        seg_share = joined_seg["tag"].value_counts(normalize=True).head(TOP)
        cats = [{"category": str(t), "share": float(s),
                 "lift": float(s / all_share[t]) if all_share.get(t) else None}
                for t, s in seg_share.items()]
    return rows, cats


def segment_profiles(table: CustomerTable, labels: np.ndarray, *,
                     order: Sequence[str] | None = None,
                     interactions: pd.DataFrame | None = None,
                     items: pd.DataFrame | None = None,
                     customer_value: pd.DataFrame | None = None,
                     top_features: int = 3) -> dict[str, Any]:
    """Profiles of the segments ``labels`` (one per row of ``table.frame``).

    Returns ``{"segments": [...], "clv": "joined" | "absent: ..."}``: one dict per
    segment (in ``order``, default by size) with ``segment, size, share, medians,
    outcomes, categories, distinguishing, description, top_items, top_categories,
    value``.
    """
    frame = table.frame
    labels = np.asarray(labels, dtype=object)
    names = list(order) if order is not None else \
        list(pd.Series(labels).value_counts(sort=True).index)
    smd = standardised_differences(table, labels)
    clv_note = "absent: no customer_value table in the store (run `genlift clv`)"
    value = None
    if customer_value is not None:
        have = [c for c in CLV_COLUMNS if c in customer_value.columns]
        if ID in customer_value.columns and have:
            value = frame[[ID]].merge(
                customer_value.assign(**{ID: customer_value[ID].astype(str)})[[ID, *have]],
                on=ID, how="left")
            matched = int(value[have[0]].notna().sum())
            clv_note = f"joined from customer_value ({matched:,} of {len(frame):,} customers)"
            if matched == 0:
                clv_note = "absent: customer_value holds none of these customers"
                value = None
    out = []
    for seg in names:
        mask = labels == seg
        members = frame[mask]
        medians = {c: float(members[c].median()) for c in table.numeric
                   if members[c].notna().any()}
        rfm = {c: medians[c] for c in RFM if c in medians}
        outcomes = {c: float(pd.to_numeric(members[c], errors="coerce").mean())
                    for c in table.outcomes}
        categories = {c: {str(k): float(v) for k, v in members[c].astype("string")
                          .value_counts(normalize=True).head(3).items()}
                      for c in table.categorical}
        ranked = sorted(smd.get(str(seg), {}).items(), key=lambda kv: -abs(kv[1]))
        distinguishing: list[dict[str, Any]] = [{"feature": f, "smd": v}
                                                for f, v in ranked[:top_features] if abs(v) > 0]
        description = ", ".join(f"{d['feature']} {ARROW[float(d['smd']) > 0]}"
                                for d in distinguishing[:2])
        row: dict[str, Any] = {
            "segment": str(seg), "size": int(mask.sum()),
            "share": float(mask.mean()) if len(mask) else 0.0,
            "rfm": rfm, "medians": medians, "outcomes": outcomes,
            "categories": categories, "distinguishing": distinguishing,
            "description": description, "top_items": [], "top_categories": [],
            "value": None,
        }
        if interactions is not None and len(members):
            row["top_items"], row["top_categories"] = _top_items(interactions, members, items)
        if value is not None:
            seg_value = value[mask]
            have = [c for c in CLV_COLUMNS if c in seg_value.columns]
            row["value"] = {**{f"mean_{c}": float(seg_value[c].mean()) for c in have},
                            **({"total_clv": float(seg_value["clv"].sum())}
                               if "clv" in have else {})}
        out.append(row)
    return {"segments": out, "clv": clv_note}


__all__ = ["CLV_COLUMNS", "segment_profiles", "standardised_differences"]
