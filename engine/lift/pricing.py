"""Lift task ``pricing``: synthetic policyholders for the expected-cost models
(medical-insurance).

One random split of the policies into train / validation / test (60 / 20 / 20 by
default); a further 20% of train (``stop_fraction``) is set aside, real, for the GBM's
early stopping and balance correction, so no synthetic row is made from the rows that
judge it (augmenters see the rest of train only). Arms: the tuned real-only model;
bootstrap duplication of training policies and SMOTE-style interpolation between
neighbouring policies (charges included: SMOTER); each tabular generator fitted on the
training policies. Ratios are synthetic rows per real training row. Units are test
policies; metrics the Gini of the ordered Lorenz curve (primary) and the mean Gamma (or
Tweedie) deviance; segments all policies, smokers and the over-50s.

Data-efficiency curves (``fractions``) subsample the training policies stratified by
charge quintile (nested across fractions, per seed; every category kept); validation, test and the
early-stopping holdout stay whole, and each generator is refitted on the subsample only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from augment.registry import make_generator
from engine.insurance import GBMPricing, GLMPricing, PricingModel, unit_deviance
from engine.insurance.pricing_data import ID, TARGET
from engine.insurance.pricing_metrics import gini_weighted
from engine.lift.credit import smote_nc
from engine.lift.crossfit import fold_indices
from engine.lift.efficiency import category_codes, nested_subsample
from engine.lift.protocol import Arm, ArmState, LiftConfig, LiftSplit, LiftTask
from engine.lift.stats import Metric, Units, mean_metric
from features.errors import DataValidationError, check_param, is_int

logger = logging.getLogger(__name__)

OBJECTIVES = ("gamma", "tweedie")


def gini_metric(name: str = "gini", actual: str = "y", score: str = "p") -> Metric:
    """Weighted Gini of the ordered Lorenz curve (one value per weight row)."""
    def fn(units: Units, w: np.ndarray) -> np.ndarray:
        return gini_weighted(units[actual], units[score], w)
    return Metric(name, fn, True, "Gini (ordered Lorenz)")


def _real(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and bool(np.isfinite(v))


class PricingLiftTask(LiftTask):
    """See the module docstring."""

    name: ClassVar[str] = "pricing"
    dataset: ClassVar[str] = "medical-insurance"
    tables: ClassVar[tuple[str, ...]] = ("policies",)
    unit: ClassVar[str] = "policy"
    metrics: ClassVar[tuple[Metric, ...]] = (
        gini_metric(),
        mean_metric("deviance", "dev", higher_is_better=False, label="mean deviance"),
    )
    primary: ClassVar[str] = "gini"
    known_generators: ClassVar[tuple[str, ...]] = ("copula", "vae", "gan", "diffusion")
    known_baselines: ClassVar[tuple[str, ...]] = ("bootstrap", "smote")
    known_models: ClassVar[tuple[str, ...]] = ("gbm", "glm")

    def strata(self, train: Any) -> np.ndarray:
        cost = pd.to_numeric(train[TARGET]).to_numpy(dtype=float)
        edges = np.quantile(cost, [0.2, 0.4, 0.6, 0.8])
        return np.searchsorted(edges, cost, side="right")

    def subsample(self, train: Any, fraction: float, seed: int, cfg: LiftConfig) -> Any:
        """Stratified by charge quintile, nested; every category kept (the models cannot
        price a rating factor level they never saw)."""
        frame: pd.DataFrame = train
        keep = nested_subsample(self.strata(frame), fraction, (cfg.split_seed, seed, 7717),
                                cover=category_codes(frame, (ID, TARGET)))
        return frame.iloc[keep].reset_index(drop=True)

    def defaults(self, budget: str) -> dict[str, Any]:
        small = budget == "small"
        return {
            "generators": ("copula", "vae") if small else ("copula", "vae", "gan"),
            "baselines": self.known_baselines,
            "ratios": (0.5, 1.0) if small else (0.25, 0.5, 1.0, 2.0),
            "models": ("gbm",) if small else self.known_models,
            "folds": 5, "seeds": (0, 1),
            "params": {"epochs": 150 if small else 300, "test_fraction": 0.2,
                       "validation_fraction": 0.2, "stop_fraction": 0.2,
                       "synthetic_weight": 1.0, "objective": "gamma", "old_age": 50},
        }

    def validate(self, cfg: LiftConfig) -> None:
        p, owner = cfg.params, "PricingLiftTask"
        for name in ("test_fraction", "validation_fraction", "stop_fraction"):
            check_param(owner, name, p[name], _real(p[name]) and 0 < p[name] < 0.5,
                        "a float in (0, 0.5)")
        check_param(owner, "epochs", p["epochs"], is_int(p["epochs"]) and p["epochs"] >= 1,
                    "an int >= 1")
        check_param(owner, "synthetic_weight", p["synthetic_weight"],
                    _real(p["synthetic_weight"]) and p["synthetic_weight"] >= 0,
                    "a float >= 0")
        check_param(owner, "objective", p["objective"], p["objective"] in OBJECTIVES,
                    "'gamma' or 'tweedie'")
        check_param(owner, "old_age", p["old_age"], _real(p["old_age"]), "a number")

    # ----------------------------------------------------------------------- split
    def _policies(self, tables: Mapping[str, Any]) -> pd.DataFrame:
        if "policies" not in tables:
            raise DataValidationError("lift pricing needs the policies table",
                                      table="policies", fix="genlift data fetch "
                                      "medical-insurance, or import yours")
        frame = tables["policies"]
        for col in (ID, TARGET):
            if col not in frame.columns:
                raise DataValidationError(f"policies has no {col} column", table="policies",
                                          column=col, fix=f"add the {col} column")
        if len(frame) < 100:
            raise DataValidationError(f"policies has {len(frame)} rows; the lift split needs "
                                      "at least 100", table="policies",
                                      fix="use more policies")
        return frame.sort_values(ID, kind="stable").reset_index(drop=True)

    def split(self, tables: Mapping[str, Any], cfg: LiftConfig) -> LiftSplit:
        frame = self._policies(tables)
        rest, test = train_test_split(frame, test_size=float(cfg.params["test_fraction"]),
                                      random_state=cfg.split_seed)
        return self._carve(rest, test, cfg, float(cfg.params["test_fraction"]),
                           cfg.split_seed, f"random, split_seed {cfg.split_seed}")

    def folds(self, tables: Mapping[str, Any], cfg: LiftConfig, seed: int
              ) -> list[LiftSplit]:
        """K folds of all policies for repeat ``seed``, stratified by charge quintile;
        fold k's validation and early-stopping rows come from the other folds."""
        frame = self._policies(tables)
        k = int(cfg.folds or 1)
        state = (cfg.split_seed * 1_000_003 + seed) % (2**31 - 1)
        return [self._carve(frame.drop(index=rows), frame.iloc[rows], cfg, 1.0 / k,
                            state + fold, f"random by charge quintile, repeat {seed} "
                            f"fold {fold}")
                for fold, rows in enumerate(fold_indices(self.strata(frame), k,
                                                         (cfg.split_seed, seed, 4441)))]

    def _carve(self, rest: pd.DataFrame, test: pd.DataFrame, cfg: LiftConfig,
               test_f: float, state: int, method: str) -> LiftSplit:
        """Validation and the early-stopping holdout carved from ``rest``."""
        p = cfg.params
        val_f = float(p["validation_fraction"])
        train, val = train_test_split(rest, test_size=val_f / (1 - test_f),
                                      random_state=state)
        train, stop = train_test_split(train, test_size=float(p["stop_fraction"]),
                                       random_state=state)
        train, val, test, stop = (f.sort_values(ID, kind="stable").reset_index(drop=True)
                                  for f in (train, val, test, stop))

        def segments(part: pd.DataFrame) -> dict[str, np.ndarray]:
            segs = {"all": np.ones(len(part), bool)}
            if "smoker" in part.columns:
                segs["smokers"] = (part["smoker"].astype(str) == "yes").to_numpy()
            if "age" in part.columns:
                segs[f"age>={p['old_age']}"] = (pd.to_numeric(part["age"])
                                                >= p["old_age"]).to_numpy()
            return segs

        info = {"train": len(train), "early_stopping": len(stop), "validation": len(val),
                "test": len(test), "mean_charges": {n: float(f[TARGET].mean()) for n, f in
                                                    (("train", train), ("validation", val),
                                                     ("test", test))},
                "method": method}
        return LiftSplit(train=train, validation=val, test=test,
                         units_validation=val[ID].astype(str).to_numpy(),
                         units_test=test[ID].astype(str).to_numpy(),
                         segments_validation=segments(val), segments_test=segments(test),
                         info=info, extra={"stop": stop})

    # ------------------------------------------------------------------------ models
    def _fit(self, name: str, params: Mapping[str, Any], seed: int, cfg: LiftConfig,
             split: LiftSplit, synthetic: pd.DataFrame | None = None,
             weight: float = 1.0) -> PricingModel:
        objective = str(cfg.params["objective"])
        if name == "gbm":
            return GBMPricing(**{"objective": objective, "random_state": seed, **params}).fit(
                split.train, synthetic=synthetic, synthetic_weight=weight,
                holdout=split.extra["stop"])
        # the GLM has no early stopping: it also learns from the real stop part
        train = pd.concat([split.train, split.extra["stop"]], ignore_index=True)
        return GLMPricing(objective=objective, **params).fit(
            train, synthetic=synthetic, synthetic_weight=weight)

    def _scores(self, model: PricingModel, part: pd.DataFrame) -> Units:
        p = model.predict(part)
        y = pd.to_numeric(part[TARGET]).to_numpy(dtype=float)
        return {"y": y, "p": p, "dev": unit_deviance(y, p, model.power_)}

    def tune(self, split: LiftSplit, cfg: LiftConfig) -> dict[str, dict[str, Any]]:
        grids: dict[str, list[dict[str, Any]]] = {
            "gbm": [{"num_leaves": nl, "min_child_samples": mc}
                    for nl in (4, 8) for mc in (20, 50)],
            "glm": [{}],
        }
        gini = self.metric("gini")
        out: dict[str, dict[str, Any]] = {}
        for name in cfg.models or ():
            best: tuple[float, dict[str, Any]] = (-np.inf, {})
            for params in grids[name]:
                model = self._fit(name, params, cfg.split_seed, cfg, split)
                score = gini.point(self._scores(model, split.validation))
                if score > best[0]:
                    best = (score, params)
            out[name] = best[1]
        return out

    # ------------------------------------------------------------------------ arms
    def arms(self, cfg: LiftConfig) -> list[Arm]:
        ratios = tuple(cfg.ratios or ())
        labels = {"bootstrap": "bootstrap duplicates", "smote": "SMOTE interpolation"}
        out = [Arm(name, "baseline", ratios, labels[name]) for name in cfg.baselines or ()]
        out += [Arm(name, "generator", ratios, name, {"generator": name})
                for name in cfg.generators or ()]
        return out

    def fit_arm(self, arm: Arm, train: Any, cfg: LiftConfig, seed: int) -> ArmState:
        frame: pd.DataFrame = train.drop(columns=[ID])
        if arm.family == "baseline":
            return ArmState({"rows": frame})
        start = time.perf_counter()
        gen = make_generator("tabular", arm.options["generator"],
                             epochs=int(cfg.params["epochs"]), random_state=seed).fit(frame)
        return ArmState({"generator": gen}, fit_seconds=time.perf_counter() - start)

    def _synthetic(self, arm: Arm, state: ArmState, n: int, seed: int,
                   positive: bool) -> pd.DataFrame:
        s = state.state
        if arm.name == "bootstrap":
            rng = np.random.default_rng(seed)
            syn = s["rows"].iloc[rng.integers(0, len(s["rows"]), n)]
        elif arm.name == "smote":
            syn = smote_nc(s["rows"], n, seed=seed)
        else:
            syn = s["generator"].sample(n, random_state=seed)
        syn = syn.drop(columns=[c for c in ("is_synthetic",) if c in syn.columns])
        cost = pd.to_numeric(syn[TARGET]).to_numpy(dtype=float)
        bad = ~np.isfinite(cost) | (cost <= 0 if positive else cost < 0)
        if bad.any():  # the Gamma objective cannot take them: dropped, and said so
            logger.warning("lift pricing: %s made %d of %d synthetic policies with charges "
                           "out of range; dropped", arm.name, int(bad.sum()), n)
            syn = syn[~bad]
        return syn.reset_index(drop=True)

    def evaluate(self, split: LiftSplit, model: str, params: Mapping[str, Any],
                 arm: Arm | None, state: ArmState | None, ratio: float | None, seed: int,
                 cfg: LiftConfig) -> dict[str, Units]:
        syn = None
        if arm is not None and state is not None:
            n = max(1, round(float(ratio or 1.0) * len(split.train)))
            syn = self._synthetic(arm, state, n, seed, cfg.params["objective"] == "gamma")
        fitted = self._fit(model, params, seed, cfg, split, syn,
                           float(cfg.params["synthetic_weight"]))
        return {"validation": self._scores(fitted, split.validation),
                "test": self._scores(fitted, split.test)}


__all__ = ["PricingLiftTask", "gini_metric"]
