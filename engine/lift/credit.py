"""Lift task ``credit``: synthetic applicants for the LightGBM PD model (german-credit).

One stratified split of the applicants into train / validation / test (60 / 20 / 20 by
default); a further 20% of train (``stop_fraction``) is set aside, real, for the LightGBM
model's early stopping and calibration, so that no synthetic row is ever made from the
rows that judge it (augmenters see the rest of train only). Arms: the tuned real-only
model; class weights (defaults weighted up to balance the classes), random oversampling
and SMOTE-NC of the defaults; each tabular generator (fitted on the training applicants
only) sampling either defaults only (``-minority``, conditioned on ``default=1``) or both
classes as learned (``-both``). Ratios are synthetic rows per real training row. Units are
test applicants; metrics AUC (primary), PR-AUC, recall at a fixed false-positive rate and
Brier score; segments all applicants and the young (a thin-file segment with a higher
default rate).

Data-efficiency curves (``fractions``) subsample the training applicants stratified by
``default`` (nested across fractions, per seed; every category kept, its first applicant
added where the share lacks it); validation, test and the early-stopping holdout stay
whole, and each generator is refitted on the subsample only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors

from augment.quality import column_shapes, pair_trends
from augment.registry import make_generator
from engine.credit import CreditModel, CreditPD, Scorecard, WoeLogistic, select_champion
from engine.lift.crossfit import fold_indices
from engine.lift.efficiency import category_codes, nested_subsample
from engine.lift.protocol import Arm, ArmState, LiftConfig, LiftSplit, LiftTask
from engine.lift.stats import (
    Metric,
    Units,
    auc_metric,
    average_precision_metric,
    mean_metric,
    recall_at_fpr_metric,
)
from features.credit import TARGET
from features.errors import DataValidationError, check_param, is_int

ID = "applicant_id"
MODES = ("minority", "both")


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def smote_nc(minority: pd.DataFrame, n: int, *, k: int = 5, seed: int = 0) -> pd.DataFrame:
    """SMOTE-NC (Chawla et al. 2002) rows interpolated between minority-class neighbours.

    Distances: Euclidean on standardised numeric columns plus, per categorical column that
    differs, the median standard deviation of the standardised numerics (1). A new row
    lies at a uniform point between a random minority row and one of its ``k`` nearest
    minority neighbours; each categorical takes the most frequent value among those
    neighbours. Integer columns are rounded.

    Parameters
    ----------
    minority : DataFrame
        Rows of the class to oversample (feature columns only, plus any constant label).
    n : int
        Rows to create.
    k : int, default 5
        Neighbours per row (capped at ``len(minority) - 1``).
    seed : int
        Randomness of the draws.
    """
    if len(minority) < 2:
        raise DataValidationError(
            f"SMOTE-NC needs at least 2 minority rows, got {len(minority)}",
            table="applicants", column=TARGET, fix="use more applicants with default=1")
    rng = np.random.default_rng(seed)
    frame = minority.reset_index(drop=True)
    num_cols = [c for c in frame.columns if _numeric(frame[c])]
    cat_cols = [c for c in frame.columns if c not in num_cols]
    x = frame[num_cols].to_numpy(float)
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    codes = np.stack([pd.factorize(frame[c])[0] for c in cat_cols], axis=1) if cat_cols \
        else np.zeros((len(frame), 0), int)
    # One-hot scaled by 1/sqrt(2): a differing category adds exactly 1 to the squared
    # distance, as SMOTE-NC's median-std penalty does on standardised numerics.
    onehot = [np.eye(codes[:, j].max() + 1)[codes[:, j]] / np.sqrt(2.0)
              for j in range(codes.shape[1])]
    design = np.hstack([z, *onehot]) if onehot else z
    k = min(k, len(frame) - 1)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(design)
    _, found = nn.kneighbors(design)
    neighbours = np.array([[j for j in row if j != i][:k] for i, row in enumerate(found)])
    base = rng.integers(0, len(frame), n)
    partner = neighbours[base, rng.integers(0, k, n)]
    gap = rng.random((n, 1))
    out = pd.DataFrame(index=range(n))
    new_x = x[base] + gap * (x[partner] - x[base])
    for j, c in enumerate(num_cols):
        col = new_x[:, j]
        if pd.api.types.is_integer_dtype(frame[c]):
            col = np.round(col).astype(frame[c].dtype)
        out[c] = col
    for j, c in enumerate(cat_cols):
        votes = codes[neighbours[base], j]  # (n, k)
        counts = np.apply_along_axis(np.bincount, 1, votes, minlength=codes[:, j].max() + 1)
        uniques = pd.factorize(frame[c])[1]
        out[c] = np.asarray(uniques)[counts.argmax(axis=1)]
    return out[list(frame.columns)]


def _real(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and bool(np.isfinite(v))


def _modes(value: object) -> list[str]:
    """``modes`` as a list: one name or a list of names."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    return []


def _tabular_quality(reference: pd.DataFrame, synth: pd.DataFrame, seed: int) -> float:
    """Mean of the column-shape and pair-trend scores (0..1, higher is better)."""
    shapes = column_shapes(reference, synth)
    pairs = pair_trends(reference, synth, random_state=seed)
    return float(np.nanmean([np.mean(list(shapes.values())),
                             np.mean(list(pairs.values())) if pairs else np.nan]))


class CreditLiftTask(LiftTask):
    """See the module docstring."""

    name: ClassVar[str] = "credit"
    dataset: ClassVar[str] = "german-credit"
    tables: ClassVar[tuple[str, ...]] = ("applicants",)
    unit: ClassVar[str] = "applicant"
    # Ranking metrics read the raw log-odds ("s"): calibration is monotone, so the order is
    # the PDs', but an isotonic calibration ties many applicants (20 distinct PDs for 200)
    # and metrics computed on those ties move by chance. The Brier score reads the PD.
    metrics: ClassVar[tuple[Metric, ...]] = (
        auc_metric(score="s"), average_precision_metric(score="s"),
        recall_at_fpr_metric(0.1, score="s"),
        mean_metric("brier", "sq_err", higher_is_better=False, label="Brier score"),
    )
    primary: ClassVar[str] = "auc"
    known_generators: ClassVar[tuple[str, ...]] = ("copula", "vae", "gan")
    known_baselines: ClassVar[tuple[str, ...]] = ("class_weights", "oversample", "smote_nc")
    known_models: ClassVar[tuple[str, ...]] = ("champion", "lightgbm", "woe_logistic")

    def __init__(self) -> None:
        self._generators: dict[tuple[str, int, int], tuple[Any, float]] = {}

    def strata(self, train: Any) -> np.ndarray:
        return np.asarray(train[TARGET])

    def subsample(self, train: Any, fraction: float, seed: int, cfg: LiftConfig) -> Any:
        """Stratified by ``default``, nested; every category of the training applicants
        kept (its first applicant in the order added when the share lacks it: the model
        cannot score validation or test applicants with a category it never saw)."""
        frame: pd.DataFrame = train
        keep = nested_subsample(self.strata(frame), fraction, (cfg.split_seed, seed, 7717),
                                cover=category_codes(frame, (ID, TARGET)))
        return frame.iloc[keep].reset_index(drop=True)

    def defaults(self, budget: str) -> dict[str, Any]:
        small = budget == "small"
        return {
            "generators": ("copula", "vae") if small else ("copula", "vae", "gan"),
            "baselines": self.known_baselines,
            "ratios": (0.25, 0.5, 1.0) if small else (0.25, 0.5, 1.0, 2.0),
            # The real-only arm is the model `genlift train credit` makes (the champion);
            # the full budget also runs the plain LightGBM and WOE baselines.
            "models": ("champion",) if small else self.known_models,
            "folds": 5, "seeds": (0, 1),
            "params": {"epochs": 150 if small else 300, "test_fraction": 0.2,
                       # repeats of the 5-fold CV that picks the champion (the command's
                       # default is 2; the small budget uses 1 to halve its cost)
                       "champion_repeats": 1 if small else 2,
                       "validation_fraction": 0.2, "stop_fraction": 0.2, "young_age": 30,
                       "age_column": "age_in_years", "modes": list(MODES),
                       "synthetic_weight": 1.0},
        }

    def validate(self, cfg: LiftConfig) -> None:
        p, owner = cfg.params, "CreditLiftTask"
        for name in ("test_fraction", "validation_fraction", "stop_fraction"):
            check_param(owner, name, p[name], _real(p[name]) and 0 < p[name] < 0.5,
                        "a float in (0, 0.5)")
        check_param(owner, "epochs", p["epochs"], is_int(p["epochs"]) and p["epochs"] >= 1,
                    "an int >= 1")
        check_param(owner, "champion_repeats", p["champion_repeats"],
                    is_int(p["champion_repeats"]) and 1 <= p["champion_repeats"] <= 10,
                    "an int in [1, 10]")
        check_param(owner, "young_age", p["young_age"], _real(p["young_age"]),
                    "a number (the age below which an applicant is young)")
        check_param(owner, "age_column", p["age_column"], isinstance(p["age_column"], str),
                    "a column name")
        check_param(owner, "synthetic_weight", p["synthetic_weight"],
                    _real(p["synthetic_weight"]) and p["synthetic_weight"] >= 0,
                    "a float >= 0")
        modes = _modes(p["modes"])
        check_param(owner, "modes", p["modes"], bool(modes) and set(modes) <= set(MODES)
                    and len(set(modes)) == len(modes),
                    f"distinct names among {', '.join(MODES)} (a list or one name)")

    # ----------------------------------------------------------------------- split
    def _applicants(self, tables: Mapping[str, Any]) -> pd.DataFrame:
        if "applicants" not in tables:
            raise DataValidationError("lift credit needs the applicants table",
                                      table="applicants",
                                      fix="genlift data fetch german-credit, or import yours")
        frame = tables["applicants"]
        for col in (ID, TARGET):
            if col not in frame.columns:
                raise DataValidationError(f"applicants has no {col} column", table="applicants",
                                          column=col, fix=f"add the {col} column")
        y = frame[TARGET].to_numpy()
        counts = pd.Series(y).value_counts()
        if len(counts) < 2 or counts.min() < 10:
            raise DataValidationError(
                f"applicants has {counts.to_dict()} rows per {TARGET} class; the lift split "
                "needs at least 10 of each", table="applicants", column=TARGET,
                fix="use more labelled applicants (both defaults and non-defaults)")
        return frame.sort_values(ID, kind="stable").reset_index(drop=True)

    def _carve(self, rest: pd.DataFrame, test: pd.DataFrame, cfg: LiftConfig, state: int,
               method: str) -> LiftSplit:
        """Validation and the early-stopping holdout carved from ``rest``; ``test`` as is."""
        p = cfg.params
        test_f, val_f = float(p["test_fraction"]), float(p["validation_fraction"])
        train, val = train_test_split(rest, test_size=val_f / (1 - test_f),
                                      stratify=rest[TARGET], random_state=state)
        train, stop = train_test_split(train, test_size=float(p["stop_fraction"]),
                                       stratify=train[TARGET], random_state=state)
        train, val, test, stop = (f.sort_values(ID, kind="stable").reset_index(drop=True)
                                  for f in (train, val, test, stop))
        age = p["age_column"]

        def segments(part: pd.DataFrame) -> dict[str, np.ndarray]:
            segs = {"all": np.ones(len(part), bool)}
            if age in part.columns and _numeric(part[age]):
                segs[f"age<{p['young_age']}"] = (part[age] < p["young_age"]).to_numpy()
            return segs

        info = {"train": len(train), "early_stopping": len(stop), "validation": len(val),
                "test": len(test),
                "default_rate": {n: float(f[TARGET].mean()) for n, f in
                                 (("train", train), ("validation", val), ("test", test))},
                "method": method}
        return LiftSplit(train=train, validation=val, test=test,
                         units_validation=val[ID].astype(str).to_numpy(),
                         units_test=test[ID].astype(str).to_numpy(),
                         segments_validation=segments(val), segments_test=segments(test),
                         info=info, extra={"stop": stop, "repeat": state})

    def split(self, tables: Mapping[str, Any], cfg: LiftConfig) -> LiftSplit:
        frame = self._applicants(tables)
        self._generators.clear()  # a new split: never reuse a generator fitted on another
        rest, test = train_test_split(frame, test_size=float(cfg.params["test_fraction"]),
                                      stratify=frame[TARGET], random_state=cfg.split_seed)
        return self._carve(rest, test, cfg, cfg.split_seed,
                           f"stratified by default, split_seed {cfg.split_seed}")

    def folds(self, tables: Mapping[str, Any], cfg: LiftConfig, seed: int
              ) -> list[LiftSplit]:
        """Stratified K folds of all applicants for repeat ``seed``; fold k's validation
        and early-stopping rows come from the other folds (``validation_fraction`` of
        all applicants, as in the one-split run; ``test_fraction`` is unused)."""
        frame = self._applicants(tables)
        k = int(cfg.folds or 1)
        state = (cfg.split_seed * 1_000_003 + seed) % (2**31 - 1)
        out = []
        for fold, test_rows in enumerate(fold_indices(frame[TARGET].to_numpy(), k,
                                                      (cfg.split_seed, seed, 4441))):
            rest = frame.drop(index=test_rows)
            out.append(self._carve(rest, frame.iloc[test_rows], replace(
                cfg, params={**cfg.params, "test_fraction": 1.0 / k}), state + fold,
                f"stratified by default, repeat {seed} fold {fold}"))
        return out

    # ------------------------------------------------------------------------ tune
    def _model(self, name: str, params: Mapping[str, Any], seed: int,
               cfg: LiftConfig) -> CreditPD | WoeLogistic:
        if name == "champion":  # what `genlift train credit` fits (select_champion)
            if params["kind"] == "lightgbm":
                return CreditModel(**{"random_state": seed, **params["params"]})
            return Scorecard(**params["params"])
        if name == "lightgbm":
            return CreditModel(**{"random_state": seed, "n_jobs": 1, **params})
        return WoeLogistic(**params)

    def _fit(self, name: str, params: Mapping[str, Any], seed: int, cfg: LiftConfig,
             split: LiftSplit, synthetic: pd.DataFrame | None = None,
             weight: float = 1.0) -> CreditPD | WoeLogistic:
        model = self._model(name, params, seed, cfg)
        if name == "lightgbm":  # early stopping + calibration on real rows only
            assert isinstance(model, CreditModel)
            return model.fit(split.train, synthetic=synthetic, synthetic_weight=weight,
                             holdout=split.extra["stop"])
        # The champion is fitted as the command fits it: on the training applicants (+
        # synthetic ones), its rounds and calibration from its own CV.
        return model.fit(split.train, synthetic=synthetic, synthetic_weight=weight)

    def _scores(self, model: CreditPD | WoeLogistic, part: pd.DataFrame) -> Units:
        p = model.predict_proba(part)
        y = part[TARGET].to_numpy().astype(int)
        return {"y": y, "p": p, "s": model.decision_function(part), "sq_err": (p - y) ** 2}

    def tune(self, split: LiftSplit, cfg: LiftConfig) -> dict[str, dict[str, Any]]:
        grids: dict[str, list[dict[str, Any]]] = {
            "lightgbm": [{"num_leaves": nl, "min_child_samples": mc}
                         for nl in (4, 8) for mc in (10, 20)],
            "woe_logistic": [{"bins": b, "C": c} for b in (4, 6) for c in (0.1, 1.0)],
        }
        auc = self.metric("auc")
        out: dict[str, dict[str, Any]] = {}
        for name in cfg.models or ():
            if name == "champion":
                out[name] = self._champion(split, cfg)
                continue
            best: tuple[float, dict[str, Any]] = (-np.inf, {})
            for params in grids[name]:
                model = self._fit(name, params, cfg.split_seed, cfg, split)
                score = auc.point(self._scores(model, split.validation))
                if score > best[0]:
                    best = (score, params)
            out[name] = best[1]
        return out

    def _champion(self, split: LiftSplit, cfg: LiftConfig) -> dict[str, Any]:
        """`genlift train credit`'s selection on the training applicants: tuned LightGBM
        vs the scorecard by repeated 5-fold CV (validation and test never seen)."""
        seed = int(split.extra.get("repeat", cfg.split_seed))
        _, report = select_champion(split.train, model="auto",
                                    repeats=int(cfg.params["champion_repeats"]), folds=5,
                                    seed=seed)
        kind = report["champion"]
        params = report["lightgbm"]["params"] if kind == "lightgbm" \
            else report["scorecard"]["params"]
        return {"kind": kind, "params": dict(params), "reason": report["reason"],
                "cv_auc": {k: report[k]["cv_auc"]["mean"]
                           for k in ("lightgbm", "scorecard")}}

    # ------------------------------------------------------------------------ arms
    def arms(self, cfg: LiftConfig) -> list[Arm]:
        ratios = tuple(cfg.ratios or ())
        out = []
        for name in cfg.baselines or ():
            if name == "class_weights":
                out.append(Arm(name, "baseline", (), "class weights (balanced)"))
            else:
                out.append(Arm(name, "baseline", ratios, {"oversample": "random oversampling",
                                                          "smote_nc": "SMOTE-NC"}[name]))
        modes = _modes(cfg.params["modes"])
        for name in cfg.generators or ():
            for mode in modes:
                label = f"{name}, defaults only" if mode == "minority" else f"{name}, both classes"
                out.append(Arm(f"{name}-{mode}", "generator", ratios, label,
                               {"generator": name, "mode": mode}))
        return out

    def _generator(self, name: str, train: pd.DataFrame, cfg: LiftConfig, seed: int
                   ) -> tuple[Any, float]:
        # The training rows are part of the key: a data-efficiency fraction is another fit.
        key = (name, seed, hash(tuple(train[ID].astype(str))))
        if key in self._generators:  # the other sampling mode of the same fit: no new cost
            return self._generators[key][0], 0.0
        start = time.perf_counter()
        gen = make_generator("tabular", name, epochs=int(cfg.params["epochs"]),
                             random_state=seed).fit(train.drop(columns=[ID]))
        self._generators = {k: v for k, v in self._generators.items()
                            if k[1:] == key[1:]}
        self._generators[key] = (gen, time.perf_counter() - start)
        return self._generators[key]

    def fit_arm(self, arm: Arm, train: Any, cfg: LiftConfig, seed: int) -> ArmState:
        frame: pd.DataFrame = train
        minority = frame[frame[TARGET] == 1].drop(columns=[ID])
        if arm.name == "class_weights":
            n_pos = len(minority)
            weight = (len(frame) - n_pos) / n_pos - 1.0
            return ArmState({"rows": minority, "weight": max(weight, 0.0)})
        if arm.name in ("oversample", "smote_nc"):
            return ArmState({"minority": minority})
        gen, seconds = self._generator(arm.options["generator"], frame, cfg, seed)
        return ArmState({"generator": gen, "mode": arm.options["mode"]},
                        quality_name="shape + pair-trend score vs validation",
                        fit_seconds=seconds)

    def _synthetic(self, arm: Arm, state: ArmState, n: int, seed: int) -> pd.DataFrame:
        s = state.state
        rng = np.random.default_rng(seed)
        if arm.name == "oversample":
            return s["minority"].iloc[rng.integers(0, len(s["minority"]), n)]
        if arm.name == "smote_nc":
            return smote_nc(s["minority"], n, seed=seed)
        conditions = {TARGET: 1} if s["mode"] == "minority" else None
        syn = s["generator"].sample(n, conditions=conditions, random_state=seed)
        return syn.drop(columns=[c for c in ("is_synthetic",) if c in syn.columns])

    def evaluate(self, split: LiftSplit, model: str, params: Mapping[str, Any],
                 arm: Arm | None, state: ArmState | None, ratio: float | None, seed: int,
                 cfg: LiftConfig) -> dict[str, Units]:
        train: pd.DataFrame = split.train
        syn, weight = None, float(cfg.params["synthetic_weight"])
        if arm is not None and state is not None:
            if arm.name == "class_weights":
                syn, weight = state.state["rows"], state.state["weight"]
            else:
                n = max(1, round(float(ratio or 1.0) * len(train)))
                syn = self._synthetic(arm, state, n, seed)
                if state.quality is None and arm.family == "generator":
                    sample = self._synthetic(arm, state, len(train), seed + 10_007)
                    self._set_quality(state, sample, split, seed)
        fitted = self._fit(model, params, seed, cfg, split, syn, weight)
        return {"validation": self._scores(fitted, split.validation),
                "test": self._scores(fitted, split.test)}

    def _set_quality(self, state: ArmState, syn: pd.DataFrame, split: LiftSplit,
                     seed: int) -> None:
        ref: pd.DataFrame = split.validation.drop(columns=[ID])
        if state.state["mode"] == "minority":
            ref = ref[ref[TARGET] == 1]
        state.quality = _tabular_quality(ref, syn[ref.columns], seed)


__all__ = ["CreditLiftTask", "smote_nc"]
