"""Synthetic customers per segment, scored segment by segment (`genlift evaluate
segments`).

A tabular generator fitted on ``segment_features`` (`genlift augment fit tabular --table
segment_features`, the customer feature table of the latest `genlift segment` run with
its ``segment`` column) samples the customers of one segment with ``conditions={"segment":
S}`` (`genlift augment sample DIR --condition segment=S`). Here every segment's sample is
scored with the tabular scorecard (:func:`augment.quality.tabular_scorecard`) against
that segment's held-out real customers (the generator never saw them), or against its
training customers where fewer than :data:`MIN_REFERENCE` were held out (said in the
``reference`` column): a small segment is where synthetic customers are wanted and where
their fidelity is hardest to judge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from augment.quality import tabular_scorecard
from features.errors import DataValidationError
from features.store import Store
from serving.jobs.augment import read_fit, real_parts

SEGMENT = "segment"
MIN_REFERENCE = 10


def segment_fidelity(store: Store, generator_dir: str | Path, *, n: int = 500, seed: int = 0,
                     segments: list[str] | None = None) -> dict[str, Any]:
    """Per segment: real customers (train / held out), the synthetic sample's size and its
    column-shape, pair-trend, detection-AUC and overall quality scores."""
    if n < 10:
        raise DataValidationError(f"-n {n}: too few synthetic customers to score",
                                  fix="use -n 10 or more")
    gen, info = read_fit(generator_dir)
    if info["kind"] != "tabular":
        raise DataValidationError(f"{generator_dir} holds a {info['kind']} generator",
                                  fix="fit a tabular one: genlift augment fit tabular "
                                      "--table segment_features --generator copula")
    parts = real_parts(store, info)
    train, hold = parts["train"], parts["holdout"]
    if SEGMENT not in train.columns:
        raise DataValidationError(
            f"the generator was fitted on {info['table']}, which has no {SEGMENT} column",
            table=info["table"], column=SEGMENT,
            fix="run `genlift segment`, then fit the generator on --table segment_features")
    train_seg = train[SEGMENT].astype(str)
    hold_seg = hold[SEGMENT].astype(str) if len(hold) else pd.Series([], dtype=str)
    names = list(train_seg.value_counts(sort=True).index)
    if segments:
        unknown = [s for s in segments if s not in names]
        if unknown:
            raise DataValidationError(f"segment(s) {', '.join(unknown)} are not in the "
                                      "generator's training data", column=SEGMENT,
                                      fix=f"use some of {', '.join(names)}")
        names = [s for s in names if s in segments]
    rows = []
    for i, name in enumerate(names):
        real_train = train[train_seg.to_numpy() == name].drop(columns=[SEGMENT])
        real_hold = hold[hold_seg.to_numpy() == name].drop(columns=[SEGMENT]) \
            if len(hold) else real_train.iloc[:0]
        syn = gen.sample(n, conditions={SEGMENT: name}, random_state=seed + i)
        off = int((syn[SEGMENT].astype(str) != name).sum())
        syn = syn.drop(columns=[SEGMENT, "is_synthetic"], errors="ignore")
        use_hold = len(real_hold) >= MIN_REFERENCE
        card = tabular_scorecard(real_train, real_hold if use_hold else None,
                                 syn[real_train.columns], random_state=seed)
        rows.append({"segment": name, "real_customers": len(real_train) + len(real_hold),
                     "train": len(real_train), "held_out": len(real_hold),
                     "reference": "held out" if use_hold else "train",
                     "n_synthetic": n, "off_segment": off,
                     **{k: card[k] for k in ("column_shapes", "pair_trends", "detection_auc",
                                             "quality", "copies_dropped")},
                     "worst_columns": sorted(card["per_column"].items(),
                                             key=lambda kv: kv[1])[:3]})
    return {"generator": str(generator_dir), "generator_class": type(gen).__name__,
            "table": info["table"], "fit_run": info.get("run_id"), "segments": rows}


__all__ = ["MIN_REFERENCE", "segment_fidelity"]
