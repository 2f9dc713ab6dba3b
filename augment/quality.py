"""Quality and privacy scorecards for synthetic tables.

Fidelity, in the SDMetrics sense so numbers compare with that library's reports:
column shapes (1 - KS statistic for numbers, 1 - total variation distance for
categories) and column-pair trends (1 - |correlation difference| / 2 for number pairs,
1 - TVD of the contingency table otherwise, numbers binned by real-data quantiles).
Detection: the cross-validated ROC AUC of a classifier told to tell real from synthetic
(0.5 = indistinguishable), and the columns its trees split on most (what gives synthetic
rows away). Utility: train on synthetic, test on real (TSTR) against train on real, test
on real (TRTR), with the same LightGBM. Privacy: distance to the closest training record for
synthetic rows versus for held-out real rows (synthetic rows should not sit closer to
training rows than unseen real rows do), a distance-based membership-inference AUC
(0.5 = the attacker learns nothing), and exact copies of training rows, which are
dropped and counted.

The scorecards for baskets and price paths live in ``quality_baskets`` and
``quality_paths``.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from features.errors import DataValidationError

logger = logging.getLogger(__name__)


def _is_numeric(s: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
            and s.nunique(dropna=True) > 2)


def is_number_column(s: pd.Series) -> bool:
    """Whether the scorecard treats ``s`` as a number (numeric, more than two values) rather
    than a category: the split behind column shapes, pair trends and the design matrix."""
    return _is_numeric(s)


def _text(s: pd.Series) -> np.ndarray:
    return s.astype("string").fillna("<NA>").to_numpy(dtype=object)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic, vectorised over the pooled values."""
    a, b = np.sort(a[~np.isnan(a)]), np.sort(b[~np.isnan(b)])
    if a.size == 0 or b.size == 0:
        return 1.0
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / a.size
    fb = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def tv_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance between the category frequencies of two samples."""
    pa = pd.Series(a).value_counts(normalize=True)
    pb = pd.Series(b).value_counts(normalize=True)
    return float(0.5 * pa.sub(pb, fill_value=0.0).abs().sum())


def column_shapes(real: pd.DataFrame, synth: pd.DataFrame) -> dict[str, float]:
    """Per column: 1 - KS (numbers, missing values ignored) or 1 - TVD (categories)."""
    out = {}
    for col in real.columns:
        if _is_numeric(real[col]):
            ks = ks_statistic(real[col].to_numpy(dtype=float, na_value=np.nan),
                              pd.to_numeric(synth[col], errors="coerce")
                              .to_numpy(dtype=float, na_value=np.nan))
            out[str(col)] = 1.0 - ks
        else:
            out[str(col)] = 1.0 - tv_distance(_text(real[col]), _text(synth[col]))
    return out


def column_shape_score(real: pd.DataFrame, synth: pd.DataFrame) -> float:
    """Mean column-shape score: the cheap validation fidelity used for early stopping."""
    return float(np.mean(list(column_shapes(real, synth).values())))


def encoded_fidelity(real_cont: np.ndarray, real_codes: np.ndarray, cont: np.ndarray,
                     codes: np.ndarray, cards: list[int]) -> float:
    """Mean column-shape score computed on encoded rows (normal scores and category
    codes): the cheap validation fidelity that early stopping reads every few epochs."""
    scores = [1.0 - ks_statistic(real_cont[:, j].astype(float), cont[:, j].astype(float))
              for j in range(real_cont.shape[1])]
    for j, k in enumerate(cards):
        p = np.bincount(real_codes[:, j], minlength=k) / max(1, len(real_codes))
        q = np.bincount(codes[:, j], minlength=k) / max(1, len(codes))
        scores.append(1.0 - 0.5 * float(np.abs(p - q).sum()))
    return float(np.mean(scores)) if scores else 1.0


def _binned(real: pd.Series, synth: pd.Series, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    if not _is_numeric(real):
        return _text(real), _text(synth)
    edges = np.unique(np.nanquantile(real.to_numpy(dtype=float, na_value=np.nan),
                                     np.linspace(0, 1, bins + 1)[1:-1]))
    r = np.searchsorted(edges, real.to_numpy(dtype=float, na_value=np.nan)).astype(object)
    s = np.searchsorted(edges, pd.to_numeric(synth, errors="coerce")
                        .to_numpy(dtype=float, na_value=np.nan)).astype(object)
    return r, s


def pair_trends(real: pd.DataFrame, synth: pd.DataFrame, *, max_pairs: int = 200,
                random_state: int = 0) -> dict[str, float]:
    """Per column pair: 1 - |Pearson difference| / 2 (two number columns) or 1 - TVD of the
    joint frequencies (otherwise). At most ``max_pairs`` pairs, chosen at random."""
    pairs = list(itertools.combinations(real.columns, 2))
    if len(pairs) > max_pairs:
        rng = np.random.default_rng(random_state)
        pairs = [pairs[i] for i in np.sort(rng.choice(len(pairs), max_pairs, replace=False))]
    out = {}
    for a, b in pairs:
        if _is_numeric(real[a]) and _is_numeric(real[b]):
            cr = real[[a, b]].astype(float).corr().iloc[0, 1]
            cs = synth[[a, b]].apply(pd.to_numeric, errors="coerce").corr().iloc[0, 1]
            cr, cs = np.nan_to_num(cr), np.nan_to_num(cs)
            out[f"{a}|{b}"] = float(1.0 - abs(cr - cs) / 2.0)
        else:
            ra, sa = _binned(real[a], synth[a])
            rb, sb = _binned(real[b], synth[b])
            joint_r = pd.Series(ra).astype(str) + "\x1f" + pd.Series(rb).astype(str)
            joint_s = pd.Series(sa).astype(str) + "\x1f" + pd.Series(sb).astype(str)
            out[f"{a}|{b}"] = 1.0 - tv_distance(joint_r.to_numpy(), joint_s.to_numpy())
    return out


def _design(frames: list[pd.DataFrame], reference: pd.DataFrame) -> list[np.ndarray]:
    """Numeric matrices for distances and classifiers: numbers scaled by the reference's
    interquartile range (robust), categories one-hot over the reference's top values."""
    return _design_owned(frames, reference)[0]


def _design_owned(frames: list[pd.DataFrame], reference: pd.DataFrame
                  ) -> tuple[list[np.ndarray], list[str]]:
    """:func:`_design`, and the source column of each design column (a number's scaled
    value and its missing-value flag, a category's one-hot block) to add importances back."""
    blocks: list[list[np.ndarray]] = [[] for _ in frames]
    owners: list[str] = []
    for col in reference.columns:
        ref = reference[col]
        if _is_numeric(ref):
            x = ref.to_numpy(dtype=float, na_value=np.nan)
            med = np.nanmedian(x)
            q75, q25 = np.nanpercentile(x, [75, 25])
            scale = (q75 - q25) or (np.nanstd(x) or 1.0)
            for i, f in enumerate(frames):
                v = pd.to_numeric(f[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                blocks[i].append(np.nan_to_num((v - med) / scale, nan=0.0)[:, None])
                blocks[i].append(np.isnan(v).astype(float)[:, None])
            owners += [str(col), str(col)]
        else:
            top = pd.Series(_text(ref)).value_counts().index[:50].to_numpy()
            for i, f in enumerate(frames):
                t = _text(f[col])
                blocks[i].append((t[:, None] == top[None, :]).astype(float))
            owners += [str(col)] * len(top)
    mats = [np.hstack(b) if b else np.zeros((len(f), 0)) for b, f in zip(blocks, frames,
                                                                          strict=True)]
    return mats, owners


def _lgbm_params(random_state: int) -> dict[str, Any]:
    """Fixed, modest and deterministic LightGBM settings for the judges here."""
    return {"learning_rate": 0.1, "num_leaves": 15, "min_child_samples": 10, "verbose": -1,
            "n_jobs": 1, "random_state": random_state, "deterministic": True,
            "force_row_wise": True}


def detection(real: pd.DataFrame, synth: pd.DataFrame, *, folds: int = 3,
              random_state: int = 0, max_rows: int = 5000, top: int = 5) -> dict[str, Any]:
    """What tells synthetic rows from real ones.

    ``auc``: the cross-validated ROC AUC of gradient-boosted trees separating real from
    synthetic rows (0.5 = indistinguishable, 1 = every row told apart). ``top_features``:
    the ``top`` source columns the fold classifiers split on most, as ``{column, share}``
    with the share of the total split gain (one-hot blocks and missing-value flags are
    added back to their column; the shares of all columns sum to 1), largest first;
    empty when the classifiers found nothing to split on.
    """
    import lightgbm as lgb
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(random_state)
    n = min(len(real), len(synth), max_rows)
    if n < 2 * folds:  # e.g. every synthetic row was a copy of a training row
        return {"auc": float("nan"), "top_features": []}
    r = real.iloc[rng.choice(len(real), n, replace=False)]
    s = synth.iloc[rng.choice(len(synth), n, replace=False)]
    (xr, xs), owners = _design_owned([r, s], real)
    X = np.vstack([xr, xs])
    y = np.r_[np.zeros(n), np.ones(n)]
    scores = np.zeros(len(y))
    gain = np.zeros(X.shape[1])
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=random_state).split(X, y):
        clf = lgb.LGBMClassifier(n_estimators=100, **_lgbm_params(random_state))
        clf.fit(X[train], y[train])
        scores[test] = np.asarray(clf.predict_proba(X[test]))[:, 1]
        gain += clf.booster_.feature_importance(importance_type="gain")
    per_column = pd.Series(gain, index=owners).groupby(level=0, sort=False).sum()
    total = float(per_column.sum())
    shares = (per_column / total).sort_values(ascending=False, kind="stable") if total > 0 \
        else pd.Series(dtype=float)
    return {"auc": float(roc_auc_score(y, scores)),
            "top_features": [{"column": str(c), "share": float(v)}
                             for c, v in shares.iloc[:top].items()]}


def detection_auc(real: pd.DataFrame, synth: pd.DataFrame, *, folds: int = 3,
                  random_state: int = 0, max_rows: int = 5000) -> float:
    """Cross-validated ROC AUC of gradient-boosted trees separating real from synthetic."""
    return float(detection(real, synth, folds=folds, random_state=random_state,
                           max_rows=max_rows)["auc"])


def worst_pairs(pairs: dict[str, float], k: int = 5) -> list[dict[str, Any]]:
    """The ``k`` lowest pair-trend scores of :func:`pair_trends`, as ``{pair, score}``."""
    ordered = sorted(pairs.items(), key=lambda kv: (kv[1], kv[0]))[:k]
    return [{"pair": p, "score": float(v)} for p, v in ordered]


def worst_numeric_pair(reference: pd.DataFrame, pairs: dict[str, float]
                       ) -> tuple[str, str] | None:
    """The lowest-scoring pair of :func:`pair_trends` with a number column in it (number
    vs number or number vs category: the pair a plot of real vs synthetic explains best),
    as its two columns; None when no scored pair holds a number."""
    for key, _ in sorted(pairs.items(), key=lambda kv: (kv[1], kv[0])):
        for a, b in itertools.combinations(reference.columns, 2):
            if f"{a}|{b}" == key and (_is_numeric(reference[a]) or _is_numeric(reference[b])):
                return str(a), str(b)
    return None


def drop_copies(train: pd.DataFrame, synth: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Remove synthetic rows that equal a training row in every column."""
    cols = [c for c in train.columns if c in synth.columns]
    key = pd.util.hash_pandas_object(train[cols].astype("string").fillna("<NA>"), index=False)
    skey = pd.util.hash_pandas_object(synth[cols].astype("string").fillna("<NA>"), index=False)
    copy = skey.isin(set(key.to_numpy())).to_numpy()
    return synth.loc[~copy].reset_index(drop=True), int(copy.sum())


def privacy(train: pd.DataFrame, holdout: pd.DataFrame, synth: pd.DataFrame,
            *, max_rows: int = 5000, random_state: int = 0) -> dict[str, float]:
    """Distance to closest record and membership inference.

    ``dcr_synth_median`` / ``dcr_holdout_median``: median distance from synthetic rows and
    from held-out real rows to their nearest training row; a ratio below 1 means synthetic
    rows hug the training data more than unseen real rows do. ``share_closer_than_p5``:
    synthetic rows closer to training than the 5th percentile of holdout distances
    (about 0.05 when private). ``membership_auc``: an attacker scores each real row by its
    closeness to the synthetic data and guesses train (member) vs holdout; 0.5 is ideal.
    """
    rng = np.random.default_rng(random_state)

    def cap(f: pd.DataFrame) -> pd.DataFrame:
        return f if len(f) <= max_rows else f.iloc[rng.choice(len(f), max_rows, replace=False)]

    train, holdout, synth = cap(train), cap(holdout), cap(synth)
    if min(len(train), len(holdout), len(synth)) == 0:
        return dict.fromkeys(("dcr_synth_median", "dcr_holdout_median", "dcr_ratio",
                              "share_closer_than_p5", "membership_auc"), float("nan"))
    xt, xh, xs = _design([train, holdout, synth], train)
    nn_train = NearestNeighbors(n_neighbors=1).fit(xt)
    d_syn = nn_train.kneighbors(xs)[0][:, 0]
    d_hold = nn_train.kneighbors(xh)[0][:, 0]
    p5 = float(np.percentile(d_hold, 5))
    nn_syn = NearestNeighbors(n_neighbors=1).fit(xs)
    m = min(len(train), len(holdout))
    member = nn_syn.kneighbors(xt[:m])[0][:, 0]
    non_member = nn_syn.kneighbors(xh[:m])[0][:, 0]
    auc = roc_auc_score(np.r_[np.ones(m), np.zeros(m)], -np.r_[member, non_member])
    med_h = float(np.median(d_hold))
    return {
        "dcr_synth_median": float(np.median(d_syn)),
        "dcr_holdout_median": med_h,
        "dcr_ratio": float(np.median(d_syn) / med_h) if med_h > 0 else float("nan"),
        "share_closer_than_p5": float(np.mean(d_syn < p5)),
        "membership_auc": float(auc),
    }


def tabular_scorecard(train: pd.DataFrame, holdout: pd.DataFrame | None,
                      synth: pd.DataFrame, *, random_state: int = 0,
                      detection_folds: int = 3) -> dict[str, Any]:
    """The full scorecard of one tabular generator's sample.

    Exact copies of training rows are dropped first (and counted); fidelity is measured
    against the held-out real rows when given (the fair comparison), else the training rows.
    Besides the scores: ``detection_top_features`` (the columns that give synthetic rows
    away, :func:`detection`), ``worst_pairs`` (the 5 lowest pair trends), ``per_column``
    and ``per_pair`` (every score behind the means).
    """
    synth = synth.drop(columns=[c for c in ("is_synthetic",) if c in synth.columns])
    kept, copies = drop_copies(train, synth)
    reference = holdout if holdout is not None and len(holdout) else train
    shapes = column_shapes(reference, kept)
    pairs = pair_trends(reference, kept, random_state=random_state)
    found = detection(reference, kept, folds=detection_folds, random_state=random_state)
    card: dict[str, Any] = {
        "n_synthetic": len(synth),
        "copies_dropped": copies,
        "column_shapes": float(np.mean(list(shapes.values()))),
        "pair_trends": float(np.mean(list(pairs.values()))) if pairs else float("nan"),
        "detection_auc": found["auc"],
        "detection_top_features": found["top_features"],
        "worst_pairs": worst_pairs(pairs),
        "per_column": shapes,
        "per_pair": pairs,
    }
    card["quality"] = float(np.nanmean([card["column_shapes"], card["pair_trends"]]))
    if holdout is not None and len(holdout):
        card.update(privacy(train, holdout, kept, random_state=random_state))
    return card


def _target(frames: dict[str, pd.DataFrame], target: str) -> None:
    for name, frame in frames.items():
        if target not in frame.columns:
            raise DataValidationError(
                f"utility: target column {target!r} is missing from the {name} rows",
                column=target, fix=f"pass a column all three frames hold, e.g. one of "
                                   f"{', '.join(map(str, list(frames['train'].columns)[:8]))}")
    if len(frames["train"].columns) < 2:
        raise DataValidationError(
            f"utility: the frames hold no column besides the target {target!r}",
            column=target, fix="pass the whole table, target included")
    for name in ("train", "holdout"):
        if frames[name][target].nunique(dropna=True) < 2:
            raise DataValidationError(
                f"utility: target column {target!r} is constant (or empty) in the {name} rows",
                column=target, fix="pick a target that varies in the real training and "
                                   "held-out rows")


def utility(train: pd.DataFrame, holdout: pd.DataFrame, synth: pd.DataFrame,
            target: str, *, random_state: int = 0, n_estimators: int = 150
            ) -> dict[str, Any]:
    """Machine-learning utility: train on synthetic, test on real (TSTR) vs train on real,
    test on real (TRTR).

    The same LightGBM (fixed modest settings, one thread, deterministic) learns ``target``
    from the other columns once on ``synth`` and once on the real ``train`` rows; both are
    scored on the held-out real rows: ROC AUC for a category target (macro one-vs-rest
    over the training classes when there are more than two), R^2 for a number target.
    ``ratio`` = tstr / trtr (1 = the synthetic rows teach as much as the real ones; NaN
    when trtr <= 0). A synthetic target with a single value gives a constant prediction.
    Rows with a missing target are left out.
    """
    import lightgbm as lgb
    from sklearn.metrics import r2_score

    synth = synth.drop(columns=[c for c in ("is_synthetic",) if c in synth.columns])
    _target({"train": train, "holdout": holdout, "synthetic": synth}, target)
    train, holdout, synth = (f[f[target].notna()] for f in (train, holdout, synth))
    features = [c for c in train.columns if c != target]
    xt, xh, xs = _design([train[features], holdout[features], synth[features]],
                         train[features])
    params = _lgbm_params(random_state) | {"n_estimators": n_estimators,
                                            "learning_rate": 0.05}
    if _is_numeric(train[target]):
        def r2(x: np.ndarray, y: np.ndarray) -> float:
            x, y = x[np.isfinite(y)], y[np.isfinite(y)]
            if len(y) == 0 or np.unique(y).size < 2:
                pred = np.full(len(xh), float(np.mean(y)) if len(y) else 0.0)
            else:
                pred = np.asarray(lgb.LGBMRegressor(**params).fit(x, y).predict(xh), float)
            return float(r2_score(yh, pred))

        yh = holdout[target].to_numpy(dtype=float)
        tstr = r2(xs, pd.to_numeric(synth[target], errors="coerce").to_numpy(dtype=float))
        trtr = r2(xt, train[target].to_numpy(dtype=float))
        metric = "r2"
    else:
        classes = np.unique(_text(train[target]))
        index = {c: i for i, c in enumerate(classes)}

        def codes(frame: pd.DataFrame) -> np.ndarray:
            return np.array([index.get(c, -1) for c in _text(frame[target])])

        def auc(x: np.ndarray, y: np.ndarray) -> float:
            x, y = x[y >= 0], y[y >= 0]
            proba = np.zeros((len(xh), len(classes)))
            if np.unique(y).size < 2:
                proba[:, y[0] if len(y) else 0] = 1.0
            else:
                clf = lgb.LGBMClassifier(**params).fit(x, y)
                proba[:, clf.classes_] = np.asarray(clf.predict_proba(xh))
            per_class = [roc_auc_score(yh == k, proba[:, k]) for k in range(len(classes))
                         if 0 < (yh == k).sum() < len(yh)]
            return float(np.mean(per_class[:1] if len(classes) == 2 else per_class))

        yh = codes(holdout)
        xh, yh = xh[yh >= 0], yh[yh >= 0]  # held-out classes never seen in training
        if np.unique(yh).size < 2:
            raise DataValidationError(
                f"utility: the held-out rows hold fewer than two of the training classes "
                f"of {target!r}", column=target,
                fix="hold out more rows, or pick a target with common classes")
        tstr, trtr = auc(xs, codes(synth)), auc(xt, codes(train))
        metric = "auc"
    return {"tstr": tstr, "trtr": trtr, "ratio": tstr / trtr if trtr > 0 else float("nan"),
            "metric": metric}
