"""The ``recs`` lift task: do synthetic users make a recommender better for real users?

MovieLens-style interactions are split per user (a random 20% of each user's rows to
test, then 10% of the rest to validation). A share of users is then made *cold* on
purpose: their training rows are cut to a handful (their validation and test rows stay),
so the experiment can ask whether synthetic users help where real history is thin.

Synthetic users come from a basket generator (:class:`augment.baskets.BasketGenerator`,
fitted on the training interactions and the users' profiles) or from the ``crop``
baseline (copies of random real training users keeping a random 50-90% of their items).
They are appended as extra rows of the training matrix (``Recommender.fit(...,
synthetic=...)``), shape the item factors, and are never scored. Units are users; the
metrics are NDCG@k and recall@k per user, with the user's training items excluded (and,
on test, the user's validation items too).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import numpy as np
import pandas as pd
import scipy.sparse as sp

from augment.baskets import BasketGenerator
from augment.quality_baskets import basket_scorecard, fidelity_score
from augment.registry import make_generator
from engine.lift.protocol import Arm, ArmState, LiftConfig, LiftSplit, LiftTask
from engine.lift.stats import Metric, Units, mean_metric
from engine.recommenders import Recommender
from engine.recommenders.evaluation import make_model
from engine.recommenders.metrics import cold_user_segment, per_user_metrics, relevant_from_frame
from engine.recommenders.splits import user_holdout_split, validation_split
from features.errors import DataValidationError, check_param, is_int, is_real
from features.matrix import InteractionMatrix, build_user_items

logger = logging.getLogger(__name__)

_OWNER = "RecsLiftTask"
PROFILE_COLUMNS = ("age", "gender", "occupation")

# Tuning grids on validation NDCG; "small" keeps the demo fast.
GRIDS: dict[str, dict[str, dict[str, list[Any]]]] = {
    "small": {
        "als": {"factors": [32, 64], "regularization": [0.1, 1.0], "alpha": [5.0, 20.0],
                "iterations": [15]},
        "bpr": {"factors": [64], "learning_rate": [0.05], "regularization": [0.01],
                "iterations": [100]},
        "ease": {"regularization": [100.0, 500.0, 1000.0]},
    },
    "full": {
        "als": {"factors": [32, 64, 128], "regularization": [0.1, 1.0, 10.0],
                "alpha": [5.0, 20.0], "iterations": [15]},
        "bpr": {"factors": [64, 128], "learning_rate": [0.01, 0.05], "regularization": [0.01],
                "iterations": [100]},
        "ease": {"regularization": [50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0]},
    },
}


@dataclass(frozen=True)
class RecsTrain:
    """The training side of the split: everything a generator or a model may see.

    Attributes
    ----------
    interactions : DataFrame
        Training rows (after the simulated-cold truncation).
    users : DataFrame
        ``user_id`` plus the profile columns of the training users.
    matrix : InteractionMatrix
        ``interactions`` as a user x item count matrix (rows: every training user).
    simulated_cold : ndarray of str
        Users whose training rows were truncated.
    """

    interactions: pd.DataFrame
    users: pd.DataFrame
    matrix: InteractionMatrix
    simulated_cold: np.ndarray


@dataclass(frozen=True)
class RecsHoldout:
    """Validation or test rows and what scoring them needs, aligned with the units.

    Attributes
    ----------
    interactions : DataFrame
        The held-out rows.
    relevant : list of ndarray
        Held-out items of each unit (same order as the units).
    exclude : scipy.sparse.csr_matrix
        Per unit (row), extra items never to recommend (columns of the training matrix):
        the validation items on test, nothing on validation.
    """

    interactions: pd.DataFrame
    relevant: list[np.ndarray]
    exclude: sp.csr_matrix


@dataclass(frozen=True)
class _Params:
    k: int
    test_fraction: float
    validation_fraction: float
    cold_share: float
    cold_keep: int
    cold_threshold: int
    epochs: int
    synthetic_weight: float
    crop_min: float
    crop_max: float
    profile_columns: tuple[str, ...]


def _params(cfg: LiftConfig) -> _Params:
    """The task's knobs from ``cfg.params``, checked (scikit-learn style errors)."""
    p = cfg.params
    owner = _OWNER
    for name in ("k", "cold_keep", "cold_threshold", "epochs"):
        check_param(owner, name, p[name], is_int(p[name]) and p[name] >= 1,
                    "an int in the range [1, inf)")
    for name in ("test_fraction", "validation_fraction"):
        check_param(owner, name, p[name], is_real(p[name]) and 0 < p[name] < 1,
                    "a float in the range (0, 1)")
    check_param(owner, "cold_share", p["cold_share"],
                is_real(p["cold_share"]) and 0 <= p["cold_share"] < 1,
                "a float in the range [0, 1)")
    check_param(owner, "synthetic_weight", p["synthetic_weight"],
                is_real(p["synthetic_weight"]) and p["synthetic_weight"] > 0,
                "a float in the range (0, inf)")
    for name in ("crop_min", "crop_max"):
        check_param(owner, name, p[name], is_real(p[name]) and 0 < p[name] <= 1,
                    "a float in the range (0, 1]")
    check_param(owner, "crop_max", p["crop_max"], p["crop_max"] >= p["crop_min"],
                f"a float >= crop_min ({p['crop_min']!r})")
    cols = p["profile_columns"]
    check_param(owner, "profile_columns", cols,
                isinstance(cols, list | tuple) and all(isinstance(c, str) and c for c in cols)
                and len(set(cols)) == len(cols), "a sequence of distinct users column names")
    return _Params(k=int(p["k"]), test_fraction=float(p["test_fraction"]),
                   validation_fraction=float(p["validation_fraction"]),
                   cold_share=float(p["cold_share"]), cold_keep=int(p["cold_keep"]),
                   cold_threshold=int(p["cold_threshold"]), epochs=int(p["epochs"]),
                   synthetic_weight=float(p["synthetic_weight"]),
                   crop_min=float(p["crop_min"]), crop_max=float(p["crop_max"]),
                   profile_columns=tuple(cols))


def _table(tables: Mapping[str, Any], name: str, columns: Sequence[str]) -> pd.DataFrame:
    if name not in tables or not isinstance(tables[name], pd.DataFrame):
        raise DataValidationError(f"lift recs needs the {name!r} table as a DataFrame",
                                  table=name, fix=f"pass tables={{'{name}': ..., ...}}")
    frame: pd.DataFrame = tables[name]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{name} is missing column(s) {', '.join(missing)} (columns: "
            f"{', '.join(map(str, frame.columns))})", table=name, column=missing[0],
            n_rows=len(frame), fix=f"add or rename the column(s) {', '.join(missing)}")
    bad = frame[list(columns)].isna().any(axis=1).to_numpy()
    if bad.any():
        rows = (np.flatnonzero(bad)[:5] + 1).tolist()
        raise DataValidationError(
            f"{name} has {int(bad.sum())} rows with a missing {'/'.join(columns)} (rows "
            f"{', '.join(map(str, rows))}{', ...' if bad.sum() > 5 else ''})", table=name,
            n_rows=int(bad.sum()), rows=rows, fix="drop or fill those rows")
    return frame


def _truncate(train: pd.DataFrame, p: _Params, rng: np.random.Generator
              ) -> tuple[pd.DataFrame, np.ndarray]:
    """Keep ``cold_keep`` random training rows of a random ``cold_share`` of the users."""
    users = train["user_id"].astype(str).to_numpy()
    ids, codes, counts = np.unique(users, return_inverse=True, return_counts=True)
    eligible = np.flatnonzero(counts > p.cold_keep)
    n_cold = min(int(round(p.cold_share * len(ids))), len(eligible))
    if n_cold < int(round(p.cold_share * len(ids))):
        logger.info("lift recs: only %d users have more than cold_keep=%d training rows; "
                    "all of them are made cold", len(eligible), p.cold_keep)
    chosen = np.sort(rng.choice(eligible, n_cold, replace=False)) if n_cold else \
        np.zeros(0, dtype=np.int64)
    is_cold = np.zeros(len(ids), dtype=bool)
    is_cold[chosen] = True
    # Rank each row within its user by a random draw; cold users keep the first cold_keep.
    order = np.lexsort((rng.random(len(users)), codes))
    rank = np.empty(len(users), dtype=np.int64)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    rank[order] = np.arange(len(users)) - np.repeat(starts, counts)
    keep = ~is_cold[codes] | (rank < p.cold_keep)
    return train[keep], ids[chosen].astype(object)


def _holdout(frame: pd.DataFrame, units: np.ndarray, items: np.ndarray,
             exclude: pd.DataFrame | None) -> RecsHoldout:
    """Relevant items per unit and the extra exclusions (as columns of ``items``)."""
    if exclude is None:
        mask = sp.csr_matrix((len(units), len(items)), dtype=np.float32)
    else:
        mask = build_user_items(exclude, weight="binary", user_ids=units, item_ids=items).matrix
    return RecsHoldout(frame, relevant_from_frame(frame.assign(
        user_id=frame["user_id"].astype(str), item_id=frame["item_id"].astype(str)), units),
        mask)


def _segments(units: np.ndarray, train: pd.DataFrame, cold: np.ndarray, threshold: int
              ) -> dict[str, np.ndarray]:
    labels = cold_user_segment(train, units, threshold=threshold).to_numpy()
    return {"all": np.ones(len(units), dtype=bool),
            "cold": np.asarray(labels == "cold", dtype=bool),
            "simulated_cold": np.isin(units, cold)}


def _drop_excluded(recs: np.ndarray, items: np.ndarray, exclude: sp.csr_matrix, k: int
                   ) -> np.ndarray:
    """The first ``k`` recommendations of each row that ``exclude`` does not ban (None
    pads a row that ran short)."""
    out = np.full((recs.shape[0], k), None, dtype=object)
    idx = np.searchsorted(items, recs.astype(str))
    if exclude.nnz:
        n_items = exclude.shape[1]
        rows = np.repeat(np.arange(exclude.shape[0], dtype=np.int64), np.diff(exclude.indptr))
        keys = np.sort(rows * n_items + exclude.indices.astype(np.int64))
        query = np.arange(recs.shape[0], dtype=np.int64)[:, None] * n_items + idx
        pos = np.clip(np.searchsorted(keys, query), 0, keys.size - 1)
        valid = keys[pos] != query
    else:
        valid = np.ones(recs.shape, dtype=bool)
    rank = np.cumsum(valid, axis=1) - 1
    r, c = np.nonzero(valid & (rank < k))
    out[r, rank[r, c]] = recs[r, c]
    return out


def _unit_metrics(model: Recommender, units: np.ndarray, holdout: RecsHoldout,
                  items: np.ndarray, k: int) -> dict[str, np.ndarray]:
    extra = int(np.diff(holdout.exclude.indptr).max()) if holdout.exclude.nnz else 0
    n = k + extra
    if extra:
        # Never ask for more than every unit has left after its training items.
        seen = np.diff(model.user_items_[np.searchsorted(model.user_ids_, units)].indptr)
        n = min(n, len(items) - int(seen.max()))
    recs, _ = model.recommend(units, n=n, exclude_seen=True)
    if extra:
        recs = _drop_excluded(recs, items, holdout.exclude, k)
    frame = per_user_metrics(recs, holdout.relevant, k=k)
    return {"ndcg": frame["ndcg"].to_numpy(dtype=np.float64),
            "recall": frame["recall"].to_numpy(dtype=np.float64)}


@dataclass(frozen=True)
class _Synthetic:
    """Synthetic users of one fitted arm, in sampling order (prefixes are samples too)."""

    matrix: InteractionMatrix
    n_real_users: int

    def take(self, ratio: float) -> InteractionMatrix:
        n = min(max(1, int(round(ratio * self.n_real_users))), self.matrix.shape[0])
        return InteractionMatrix(self.matrix.matrix[:n], self.matrix.user_ids[:n],
                                 self.matrix.item_ids)


def _crop(train: RecsTrain, n: int, p: _Params, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` copies of random real training users, each keeping a random 50-90% (by
    default) of their distinct items (at least one)."""
    m = train.matrix.matrix
    src = rng.integers(0, m.shape[0], n)
    sub = m[src].tocsr()
    sizes = np.diff(sub.indptr)
    share = rng.uniform(p.crop_min, p.crop_max, n)
    keep_n = np.maximum(1, np.round(share * sizes)).astype(np.int64)
    rows = np.repeat(np.arange(n), sizes)
    order = np.lexsort((rng.random(sub.nnz), rows))
    rank = np.empty(sub.nnz, dtype=np.int64)
    rank[order] = np.arange(sub.nnz) - np.repeat(sub.indptr[:-1], sizes)
    keep = rank < keep_n[rows]
    width = max(6, len(str(n)))
    ids = np.array([f"crop-{i:0{width}d}" for i in range(1, n + 1)], dtype=object)
    return pd.DataFrame({"user_id": ids[rows[keep]],
                         "item_id": train.matrix.item_ids[sub.indices[keep]]})


class RecsLiftTask(LiftTask):
    """Lift of synthetic users on top-k recommendation (MovieLens 100k).

    Parameters (``LiftConfig.params``)
    ----------------------------------
    k : int, default 10
        Cut-off of NDCG and recall.
    test_fraction, validation_fraction : float, default 0.2, 0.1
        Per-user random holdouts: test from all rows, validation from the rest.
    cold_share : float, default 0.2
        Share of users made cold on purpose (their training rows truncated).
    cold_keep : int, default 5
        Training rows those users keep.
    cold_threshold : int, default 20
        Units with fewer training rows than this form the ``cold`` segment.
    epochs : int
        Generator training epochs (small 15, full 60).
    synthetic_weight : float, default 1.0
        Weight of the synthetic rows in the recommender's fit.
    crop_min, crop_max : float, default 0.5, 0.9
        Share of a real user's items the ``crop`` baseline keeps (uniform in between).
    profile_columns : tuple of str, default ("age", "gender", "occupation")
        ``users`` columns the generators condition on.

    Notes
    -----
    A ratio is synthetic *users* per real training user. The quality of an arm is the
    basket fidelity (:func:`augment.quality_baskets.fidelity_score`) of its synthetic
    users against the training baskets of the users that were not truncated; the
    generators were fitted on those baskets, so it measures fit, not generalisation.

    Examples
    --------
    >>> from engine.lift import LiftConfig, run_lift
    >>> result = run_lift(RecsLiftTask(), {"interactions": inter, "users": users},
    ...                   LiftConfig(task="recs"))  # doctest: +SKIP
    """

    name: ClassVar[str] = "recs"
    dataset: ClassVar[str] = "movielens-100k"
    tables: ClassVar[tuple[str, ...]] = ("interactions", "users")
    unit: ClassVar[str] = "user"
    metrics: ClassVar[tuple[Metric, ...]] = (
        mean_metric("ndcg", "ndcg", higher_is_better=True, label="NDCG@k"),
        mean_metric("recall", "recall", higher_is_better=True, label="recall@k"),
    )
    primary: ClassVar[str] = "ndcg"
    known_generators: ClassVar[tuple[str, ...]] = ("vae", "gan")
    known_baselines: ClassVar[tuple[str, ...]] = ("crop",)
    known_models: ClassVar[tuple[str, ...]] = ("als", "bpr", "ease")

    def defaults(self, budget: str) -> dict[str, Any]:
        small = budget == "small"
        return {
            "generators": ("vae",) if small else ("vae", "gan"),
            "baselines": ("crop",),
            "ratios": (0.25, 0.5, 1.0) if small else (0.25, 0.5, 1.0, 2.0),
            "models": ("als",) if small else ("als", "bpr"),
            "params": {"k": 10, "test_fraction": 0.2, "validation_fraction": 0.1,
                       "cold_share": 0.2, "cold_keep": 5, "cold_threshold": 20,
                       "epochs": 15 if small else 60, "synthetic_weight": 1.0,
                       "crop_min": 0.5, "crop_max": 0.9, "profile_columns": PROFILE_COLUMNS},
        }

    # ------------------------------------------------------------------------ split
    def validate(self, cfg: LiftConfig) -> None:
        _params(cfg)

    def subsample(self, train: Any, fraction: float, seed: int, cfg: LiftConfig) -> Any:
        """``fraction`` of every training user's rows (at least one each, so every user
        stays a training user): thinner histories, nested across fractions per seed, in
        the full split's matrix layout; validation and test stay whole."""
        data: RecsTrain = train
        if fraction >= 1:
            return data
        frame = data.interactions
        users = frame["user_id"].astype(str).to_numpy()
        _, codes, counts = np.unique(users, return_inverse=True, return_counts=True)
        rng = np.random.default_rng((cfg.split_seed, seed, 7717))
        order = np.lexsort((rng.random(len(users)), codes))  # one random order per user
        rank = np.empty(len(users), dtype=np.int64)
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        rank[order] = np.arange(len(users)) - np.repeat(starts, counts)
        keep_n = np.maximum(1, np.round(fraction * counts).astype(np.int64))
        kept = frame[rank < keep_n[codes]].reset_index(drop=True)
        # The full split's layout (rows, item columns): the held-out exclusions and the
        # scoring refer to it; an item no kept row holds is an empty column.
        matrix = build_user_items(kept, user_ids=data.matrix.user_ids,
                                  item_ids=data.matrix.item_ids)
        return RecsTrain(kept, data.users, matrix, data.simulated_cold)

    def split(self, tables: Mapping[str, Any], cfg: LiftConfig) -> LiftSplit:
        p = _params(cfg)
        need_ts = bool(cfg.generators)
        inter = _table(tables, "interactions",
                       ("user_id", "item_id", "ts") if need_ts else ("user_id", "item_id"))
        users = _table(tables, "users", ("user_id", *p.profile_columns))
        inter = inter.assign(user_id=inter["user_id"].astype(str),
                             item_id=inter["item_id"].astype(str))
        users = users.assign(user_id=users["user_id"].astype(str))
        unknown = ~inter["user_id"].isin(users["user_id"]).to_numpy()
        if unknown.any():
            shown = ", ".join(map(repr, pd.unique(inter["user_id"][unknown])[:5]))
            raise DataValidationError(
                f"interactions has {int(unknown.sum())} rows of users missing from users "
                f"(e.g. {shown})", table="users", column="user_id", n_rows=int(unknown.sum()),
                fix="add those users to the users table or drop their interactions")

        seq = np.random.SeedSequence(cfg.split_seed).spawn(3)
        rest, test = user_holdout_split(inter, fraction=p.test_fraction,
                                        seed=np.random.default_rng(seq[0]))
        train, val = validation_split(rest, method="random", fraction=p.validation_fraction,
                                      seed=np.random.default_rng(seq[1]))
        train, cold = _truncate(train, p, np.random.default_rng(seq[2]))
        units_val = np.unique(val["user_id"].to_numpy().astype(str)).astype(object)
        units_test = np.unique(test["user_id"].to_numpy().astype(str)).astype(object)
        if not len(units_val) or not len(units_test):
            raise DataValidationError(
                f"interactions ({len(inter)} rows, {inter['user_id'].nunique()} users) leave "
                f"{len(units_val)} validation and {len(units_test)} test users",
                table="interactions", n_rows=len(inter),
                fix="give users at least 2 interactions each (ideally 10 or more)")
        matrix = build_user_items(train)
        items = matrix.item_ids.astype(str)
        most_seen = int(np.diff(matrix.matrix.indptr).max())
        if len(items) - most_seen < p.k:
            raise DataValidationError(
                f"the training catalogue has {len(items)} items but a user has already seen "
                f"{most_seen}, leaving fewer than k={p.k} to recommend",
                table="interactions", column="item_id", fix="lower k or add items")
        ts = inter["ts"] if "ts" in inter.columns else None
        train_users = users[users["user_id"].isin(matrix.user_ids)]
        data = RecsTrain(train, train_users[["user_id", *p.profile_columns]]
                         .reset_index(drop=True), matrix, cold)
        info = {
            "rows": {"all": len(inter), "train": len(train), "validation": len(val),
                     "test": len(test),
                     "dropped_by_truncation": len(rest) - len(val) - len(train)},
            "users": int(inter["user_id"].nunique()), "items": int(inter["item_id"].nunique()),
            "train_users": int(matrix.shape[0]), "train_items": int(matrix.shape[1]),
            "simulated_cold_users": len(cold), "units_validation": len(units_val),
            "units_test": len(units_test), "k": p.k, "cold_keep": p.cold_keep,
            "cold_threshold": p.cold_threshold,
            "ts_range": [str(ts.min()), str(ts.max())] if ts is not None and len(ts) else [],
        }
        return LiftSplit(
            train=data,
            validation=_holdout(val, units_val, items, None),
            test=_holdout(test, units_test, items, val),
            units_validation=units_val, units_test=units_test,
            segments_validation=_segments(units_val, train, cold, p.cold_threshold),
            segments_test=_segments(units_test, train, cold, p.cold_threshold),
            info=info)

    # ------------------------------------------------------------------------- tune
    def tune(self, split: LiftSplit, cfg: LiftConfig) -> dict[str, dict[str, Any]]:
        """Grid search of each model on validation NDCG@k (real data only)."""
        p = _params(cfg)
        out: dict[str, dict[str, Any]] = {}
        for name in cfg.models or ():
            grid = GRIDS[cfg.budget][name]
            best, best_score = {}, -np.inf
            for values in itertools.product(*grid.values()):
                params = dict(zip(grid, values, strict=True))
                model = make_model(name, cfg.split_seed, **params).fit(split.train.matrix)
                units = _unit_metrics(model, split.units_validation, split.validation,
                                      split.train.matrix.item_ids.astype(str), p.k)
                score = float(np.nanmean(units["ndcg"]))
                logger.info("lift recs tune %s %s: ndcg@%d %.4f", name, params, p.k, score)
                if score > best_score:
                    best, best_score = params, score
            out[name] = best
        return out

    # ------------------------------------------------------------------------- arms
    def arms(self, cfg: LiftConfig) -> list[Arm]:
        ratios = tuple(cfg.ratios or ())
        labels = {"crop": "random crop of real baskets", "vae": "basket Mult-VAE",
                  "gan": "basket WGAN-GP"}
        out = [Arm(b, "baseline", ratios, labels[b]) for b in cfg.baselines or ()]
        out += [Arm(g, "generator", ratios, labels[g], {"generator": g})
                for g in cfg.generators or ()]
        return out

    def fit_arm(self, arm: Arm, train: Any, cfg: LiftConfig, seed: int) -> ArmState:
        p = _params(cfg)
        if not isinstance(train, RecsTrain):
            raise TypeError(f"{_OWNER}.fit_arm expects split.train (a RecsTrain); got "
                            f"{type(train).__name__}")
        start = time.perf_counter()
        n_real = train.matrix.shape[0]
        n = max(1, int(round(max(arm.ratios or (1.0,)) * n_real)))
        if arm.name == "crop":
            baskets = _crop(train, n, p, np.random.default_rng(seed))
        else:
            gen = cast(BasketGenerator, make_generator(
                "baskets", arm.name, epochs=p.epochs, profile_columns=list(p.profile_columns),
                random_state=seed))
            gen.fit(train.interactions, train.users)
            _, baskets = gen.sample_users(n, random_state=seed)
        ids = np.sort(pd.unique(baskets["user_id"]).astype(str))
        matrix = build_user_items(baskets, user_ids=ids,
                                  item_ids=train.matrix.item_ids.astype(str))
        seconds = time.perf_counter() - start
        reference = train.interactions[~train.interactions["user_id"].isin(
            train.simulated_cold)]
        quality = fidelity_score(basket_scorecard(reference, baskets)) if len(reference) \
            else None
        return ArmState(_Synthetic(matrix, n_real), quality,
                        "basket fidelity vs train (seen by the generator)", seconds)

    # --------------------------------------------------------------------- evaluate
    def evaluate(self, split: LiftSplit, model: str, params: Mapping[str, Any],
                 arm: Arm | None, state: ArmState | None, ratio: float | None, seed: int,
                 cfg: LiftConfig) -> dict[str, Units]:
        p = _params(cfg)
        train: RecsTrain = split.train
        synthetic = None
        if state is not None and ratio is not None:
            synthetic = state.state.take(ratio)
        fitted = make_model(model, seed, **params).fit(
            train.matrix, synthetic=synthetic, synthetic_weight=p.synthetic_weight)
        items = train.matrix.item_ids.astype(str)
        return {"validation": _unit_metrics(fitted, split.units_validation, split.validation,
                                            items, p.k),
                "test": _unit_metrics(fitted, split.units_test, split.test, items, p.k)}


__all__ = ["RecsHoldout", "RecsLiftTask", "RecsTrain"]
