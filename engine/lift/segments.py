"""Lift task ``segments``: do synthetic customers of the smallest segments help a churn
classifier there (telco-churn's ``customers``)?

Segments are learned once on every customer's account attributes (k-means with a fixed
``k``, :class:`engine.customers.segments.CustomerSegmenter`; churn is never a feature, so
no outcome leaks), which keeps their names the same in every fold; the ``n_small``
smallest are the ones augmented. By default 5-fold cross-fitting x 2 repeats, stratified
by segment and churn (every customer tested once per repeat; ``--folds 1``: one split,
25% test); validation customers (25% of all) come from the training folds. Arms: the
tuned real-only LightGBM classifier (the segment is one of its features); random
oversampling of the small segments' real training customers; each tabular generator fitted
on the training customers (with segment and churn) and sampled **conditioned on the
segment** (``conditions={"segment": S}``) for each small segment. The ratio is synthetic
customers per real training customer of that segment. Units are test customers; metrics
AUC (primary) and Brier score; segments: all customers and each small segment, which is
where the question is asked.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from augment.quality import column_shapes
from augment.registry import make_generator
from engine.customers.segments import CustomerSegmenter
from engine.customers.table import customer_table
from engine.lift.crossfit import fold_indices
from engine.lift.protocol import Arm, ArmState, LiftConfig, LiftSplit, LiftTask
from engine.lift.stats import Metric, Units, auc_metric, mean_metric
from features.errors import DataValidationError, check_param, is_int

ID, TARGET, SEGMENT = "customer_id", "churn", "segment"


def _real(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and bool(np.isfinite(v))


class SegmentsLiftTask(LiftTask):
    """See the module docstring."""

    name: ClassVar[str] = "segments"
    dataset: ClassVar[str] = "telco-churn"
    tables: ClassVar[tuple[str, ...]] = ("customers",)
    unit: ClassVar[str] = "customer"
    metrics: ClassVar[tuple[Metric, ...]] = (
        auc_metric(),
        mean_metric("brier", "sq_err", higher_is_better=False, label="Brier score"),
    )
    primary: ClassVar[str] = "auc"
    known_generators: ClassVar[tuple[str, ...]] = ("copula", "vae", "gan")
    known_baselines: ClassVar[tuple[str, ...]] = ("oversample",)
    known_models: ClassVar[tuple[str, ...]] = ("lightgbm",)

    def defaults(self, budget: str) -> dict[str, Any]:
        small = budget == "small"
        return {
            "generators": ("copula",) if small else ("copula", "vae"),
            "baselines": self.known_baselines,
            "ratios": (0.5, 1.0, 2.0) if small else (0.5, 1.0, 2.0, 4.0),
            "models": self.known_models,
            # every customer tested once per repeat: the small segments' verdicts rest on
            # all their customers, not a quarter of them
            "folds": 5, "seeds": (0, 1),
            "params": {"k": 5, "n_small": 2, "test_fraction": 0.25,
                       "validation_fraction": 0.25, "epochs": 100 if small else 300},
        }

    def validate(self, cfg: LiftConfig) -> None:
        p, owner = cfg.params, "SegmentsLiftTask"
        check_param(owner, "k", p["k"], is_int(p["k"]) and 2 <= p["k"] <= 20,
                    "an int in [2, 20]")
        check_param(owner, "n_small", p["n_small"], is_int(p["n_small"])
                    and 1 <= p["n_small"] < p["k"], "an int in [1, k)")
        for name in ("test_fraction", "validation_fraction"):
            check_param(owner, name, p[name], _real(p[name]) and 0 < p[name] < 0.5,
                        "a float in (0, 0.5)")
        check_param(owner, "epochs", p["epochs"], is_int(p["epochs"]) and p["epochs"] >= 1,
                    "an int >= 1")

    # ----------------------------------------------------------------------- split
    def _customers(self, tables: Mapping[str, Any], cfg: LiftConfig) -> pd.DataFrame:
        """The customers in id order with their segment (learned once, on every
        customer's attributes; churn is never a feature) and the small segments."""
        if "customers" not in tables:
            raise DataValidationError("lift segments needs the customers table",
                                      table="customers",
                                      fix="genlift data fetch telco-churn, or import yours")
        frame = tables["customers"]
        for col in (ID, TARGET):
            if col not in frame.columns:
                raise DataValidationError(f"customers has no {col} column", table="customers",
                                          column=col, fix=f"add the {col} column")
        counts = frame[TARGET].value_counts()
        if len(counts) < 2 or counts.min() < 20:
            raise DataValidationError(
                f"customers has {counts.to_dict()} rows per {TARGET} class; the lift split "
                "needs at least 20 of each", table="customers", column=TARGET,
                fix="use more labelled customers (churned and retained)")
        p = cfg.params
        frame = frame.sort_values(ID, kind="stable").reset_index(drop=True)
        key = (cfg.split_seed, int(p["k"]), int(p["n_small"]), len(frame),
               hash(tuple(frame[ID].astype(str))))
        if getattr(self, "_segmented", (None,))[0] != key:
            table = customer_table({"customers": frame}, "customers")
            if int(p["k"]) > len(table):
                raise DataValidationError(f"k={p['k']} segments for {len(table)} customers",
                                          fix="lower the k parameter")
            seg = CustomerSegmenter(method="kmeans", k=int(p["k"]),
                                    random_state=cfg.split_seed).fit(table)
            labels = seg.labels_.reindex(frame[ID].astype(str)).to_numpy(dtype=object)
            sizes = pd.Series(labels).value_counts()
            small = sorted(sizes.index, key=lambda x: (sizes[x], x))[:int(p["n_small"])]
            self._segmented = (key, labels, small, seg.segment_names_)
        _, labels, small, names = self._segmented
        self._small, self._names = list(small), list(names)
        return frame.assign(**{SEGMENT: labels})

    def _carve(self, rest: pd.DataFrame, test: pd.DataFrame, cfg: LiftConfig, test_f: float,
               state: int, method: str) -> LiftSplit:
        """Validation carved from ``rest`` (stratified by churn); ``test`` as is."""
        val_f = float(cfg.params["validation_fraction"])
        train, val = train_test_split(rest, test_size=val_f / (1 - test_f),
                                      stratify=rest[TARGET], random_state=state)
        train, val, test = (f.sort_values(ID, kind="stable").reset_index(drop=True)
                            for f in (train, val, test))
        small = self._small

        def segments(part: pd.DataFrame) -> dict[str, np.ndarray]:
            out = {"all": np.ones(len(part), bool)}
            for s in small:
                out[f"segment {s}"] = (part[SEGMENT] == s).to_numpy()
            return out

        sizes = train[SEGMENT].value_counts()
        info = {"train": len(train), "validation": len(val), "test": len(test),
                "segments": {s: int(sizes.get(s, 0)) for s in self._names},
                "small_segments": small,
                "churn_rate": {s: float(train.loc[train[SEGMENT] == s, TARGET].mean())
                               for s in self._names if sizes.get(s, 0)},
                "method": method}
        return LiftSplit(train=train, validation=val, test=test,
                         units_validation=val[ID].astype(str).to_numpy(),
                         units_test=test[ID].astype(str).to_numpy(),
                         segments_validation=segments(val), segments_test=segments(test),
                         info=info, extra={"small": small})

    def split(self, tables: Mapping[str, Any], cfg: LiftConfig) -> LiftSplit:
        frame = self._customers(tables, cfg)
        test_f = float(cfg.params["test_fraction"])
        rest, test = train_test_split(frame, test_size=test_f,
                                      stratify=frame[SEGMENT] + "/" + frame[TARGET].astype(str),
                                      random_state=cfg.split_seed)
        return self._carve(rest, test, cfg, test_f, cfg.split_seed,
                           f"stratified by segment and churn, split_seed {cfg.split_seed}; "
                           f"k-means segments (k={cfg.params['k']})")

    def folds(self, tables: Mapping[str, Any], cfg: LiftConfig, seed: int
              ) -> list[LiftSplit]:
        """K folds of all customers for repeat ``seed``, stratified by segment and churn
        (every small segment in every fold); fold k's validation customers come from the
        other folds."""
        frame = self._customers(tables, cfg)
        k = int(cfg.folds or 1)
        state = (cfg.split_seed * 1_000_003 + seed) % (2**31 - 1)
        strata = (frame[SEGMENT] + "/" + frame[TARGET].astype(str)).to_numpy()
        return [self._carve(frame.drop(index=rows), frame.iloc[rows], cfg, 1.0 / k,
                            state + fold, f"stratified by segment and churn, repeat {seed} "
                            f"fold {fold}; k-means segments (k={cfg.params['k']})")
                for fold, rows in enumerate(fold_indices(strata, k,
                                                         (cfg.split_seed, seed, 4441)))]

    # ------------------------------------------------------------------------ model
    def _design(self, frame: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
        """Model input: numbers as float, text as categories fixed by the training rows."""
        out = pd.DataFrame(index=frame.index)
        for col in reference.columns:
            if col in (ID, TARGET):
                continue
            ref = reference[col]
            if pd.api.types.is_numeric_dtype(ref.dtype) and \
                    not pd.api.types.is_bool_dtype(ref.dtype):
                out[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
            else:
                cats = sorted(ref.dropna().astype(str).unique().tolist())
                out[col] = pd.Categorical(frame[col].astype("string").astype(object),
                                          categories=cats)
        return out

    def _fit(self, params: Mapping[str, Any], seed: int, train: pd.DataFrame,
             reference: pd.DataFrame) -> lgb.LGBMClassifier:
        model = lgb.LGBMClassifier(n_estimators=200, learning_rate=0.05, subsample=0.8,
                                   subsample_freq=1, colsample_bytree=0.8, random_state=seed,
                                   n_jobs=1, verbose=-1, **params)
        return model.fit(self._design(train, reference), train[TARGET].astype(int))

    def _scores(self, model: lgb.LGBMClassifier, part: pd.DataFrame,
                reference: pd.DataFrame) -> Units:
        p = np.asarray(model.predict_proba(self._design(part, reference)))[:, 1]
        y = part[TARGET].to_numpy().astype(int)
        return {"y": y, "p": p, "sq_err": (p - y) ** 2}

    def tune(self, split: LiftSplit, cfg: LiftConfig) -> dict[str, dict[str, Any]]:
        auc = self.metric("auc")
        best: tuple[float, dict[str, Any]] = (-np.inf, {})
        for params in ({"num_leaves": nl, "min_child_samples": mc}
                       for nl in (7, 15) for mc in (20, 50)):
            model = self._fit(params, cfg.split_seed, split.train, split.train)
            score = auc.point(self._scores(model, split.validation, split.train))
            if score > best[0]:
                best = (score, params)
        return {m: best[1] for m in cfg.models or ()}

    # ------------------------------------------------------------------------ arms
    def arms(self, cfg: LiftConfig) -> list[Arm]:
        ratios = tuple(cfg.ratios or ())
        out = [Arm(name, "baseline", ratios, "random oversampling of the small segments")
               for name in cfg.baselines or ()]
        for name in cfg.generators or ():
            out.append(Arm(f"{name}-segment", "generator", ratios,
                           f"{name}, conditioned on the segment", {"generator": name}))
        return out

    def fit_arm(self, arm: Arm, train: Any, cfg: LiftConfig, seed: int) -> ArmState:
        frame: pd.DataFrame = train
        if arm.family == "baseline":
            return ArmState({"rows": frame})
        start = time.perf_counter()
        gen = make_generator("tabular", arm.options["generator"],
                             epochs=int(cfg.params["epochs"]), random_state=seed)
        gen.fit(frame.drop(columns=[ID]))
        return ArmState({"generator": gen}, quality_name="column shapes of the small "
                        "segments' synthetic customers vs their validation customers",
                        fit_seconds=time.perf_counter() - start)

    def synthetic_customers(self, arm: Arm, state: ArmState, train: pd.DataFrame,
                            small: list[str], ratio: float, seed: int) -> pd.DataFrame:
        """``ratio`` extra customers per real training customer of each small segment:
        resampled real ones (the baseline) or the generator's, conditioned on the segment."""
        rng = np.random.default_rng(seed)
        parts = []
        for i, s in enumerate(small):
            real = train[train[SEGMENT] == s]
            n = max(1, round(ratio * len(real)))
            if arm.family == "baseline":
                parts.append(real.iloc[rng.integers(0, len(real), n)].drop(columns=[ID]))
            else:
                syn = state.state["generator"].sample(n, conditions={SEGMENT: s},
                                                      random_state=seed * 101 + i)
                syn = syn.drop(columns=["is_synthetic"], errors="ignore")
                syn[TARGET] = (pd.to_numeric(syn[TARGET], errors="coerce").fillna(0)
                               .round().clip(0, 1).astype(int))
                parts.append(syn)
        return pd.concat(parts, ignore_index=True)

    def evaluate(self, split: LiftSplit, model: str, params: Mapping[str, Any],
                 arm: Arm | None, state: ArmState | None, ratio: float | None, seed: int,
                 cfg: LiftConfig) -> dict[str, Units]:
        train: pd.DataFrame = split.train
        fit_on = train
        if arm is not None and state is not None:
            syn = self.synthetic_customers(arm, state, train, split.extra["small"],
                                  float(ratio or 1.0), seed)
            fit_on = pd.concat([train.drop(columns=[ID]), syn], ignore_index=True)
            if state.quality is None and arm.family == "generator":
                val: pd.DataFrame = split.validation
                ref = val[val[SEGMENT].isin(split.extra["small"])].drop(columns=[ID])
                shapes = column_shapes(ref, syn[ref.columns])
                state.quality = float(np.mean(list(shapes.values())))
        fitted = self._fit(params, seed, fit_on, train)
        return {"validation": self._scores(fitted, split.validation, train),
                "test": self._scores(fitted, split.test, train)}


__all__ = ["SegmentsLiftTask"]
