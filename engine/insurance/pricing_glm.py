"""The GLM baseline of the pricing models (:class:`GLMPricing`): a Gamma or Tweedie GLM
with a log link fitted by statsmodels (its IRLS, not genlift's), on the classic tariff
structure: numeric rating factors linear on the log scale, categoricals as levels
against their most frequent one. Its relativities are the exponentiated coefficients."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from engine.insurance.pricing import PricingModel
from engine.insurance.pricing_data import TARGET, RatingFactors, exposure_of
from features.errors import DataValidationError, check_int, check_param

logger = logging.getLogger(__name__)

GLM_FILE = "glm.json"
INTERCEPT = "(intercept)"


class GLMPricing(PricingModel):
    """Gamma / Tweedie GLM with a log link (statsmodels), the tariff baseline.

    Parameters
    ----------
    objective : {"gamma", "tweedie"}, default "gamma"
    tweedie_power : float in (1, 2), default 1.5
        Variance power of the Tweedie family.
    factors : sequence of str, optional
        Rating factors (default every column but ``policy_id``, ``charges``, ``exposure``).
    balance : bool, default True
        Scale predictions so that the expected cost of the real training rows totals
        their actual cost (the log-link Gamma GLM balances ``mean(y / mu)`` instead;
        the intercept's relativity is not changed, the factor is ``balance_factor_``).
    max_iter : int, default 100
        IRLS iterations of statsmodels.

    Attributes
    ----------
    coef_ : DataFrame
        One row per design column: ``term``, ``factor``, ``level`` (the level of a
        categorical, '' for a numeric factor's per-unit slope), ``coef``, ``se``,
        ``p_value``, ``relativity`` = exp(coef), ``ci_low`` / ``ci_high`` (95%,
        exponentiated).
    scale_ : float
        Estimated dispersion.
    deviance_ : float
        Residual deviance on the training rows.
    """

    def __init__(self, *, objective: str = "gamma", tweedie_power: float = 1.5,
                 factors: tuple[str, ...] | None = None, balance: bool = True,
                 max_iter: int = 100) -> None:
        self.objective = objective
        self.tweedie_power = tweedie_power
        self.factors = factors
        self.balance = balance
        self.max_iter = max_iter

    def _validate_params(self) -> None:
        check_int("GLMPricing", "max_iter", self.max_iter, 1)
        check_param("GLMPricing", "balance", self.balance, isinstance(self.balance, bool),
                    "a bool")

    def _terms(self) -> list[tuple[str, str, str]]:
        """(term, factor, level) of every design column after the intercept."""
        f = self.features_
        out: list[tuple[str, str, str]] = []
        for col in f.names_:
            if col in f.levels_:
                out += [(f"{col}[{lv}]", col, lv) for lv in f.levels_[col] if lv != f.base_[col]]
            else:
                out.append((col, col, ""))
        return out

    def design(self, frame: pd.DataFrame) -> np.ndarray:
        """The GLM's design matrix: intercept, numeric factors, level indicators."""
        cols = [np.ones(len(frame))]
        for _, factor, level in self._terms():
            if level:
                cols.append((frame[factor].astype(str) == level).to_numpy(dtype=float))
            else:
                cols.append(pd.to_numeric(frame[factor]).to_numpy(dtype=float))
        return np.column_stack(cols)

    def _glm_family(self) -> sm.families.Family:
        link = sm.families.links.Log()
        if self.objective == "gamma":
            return sm.families.Gamma(link=link)
        return sm.families.Tweedie(link=link, var_power=float(self.tweedie_power))

    def _fit_model(self, frame: pd.DataFrame, synthetic: pd.DataFrame | None, weight: float,
                   holdout: pd.DataFrame | None) -> None:
        parts = [frame] if synthetic is None else [frame, synthetic]
        X = np.vstack([self.design(p) for p in parts])
        w = np.concatenate([exposure_of(p) * (1.0 if i == 0 else weight)
                            for i, p in enumerate(parts)])
        y = np.concatenate([pd.to_numeric(p[TARGET]).to_numpy(dtype=float) / exposure_of(p)
                            for p in parts])
        names = [INTERCEPT, *(t for t, _, _ in self._terms())]
        rank = np.linalg.matrix_rank(X)
        if rank < X.shape[1]:
            raise DataValidationError(
                f"the GLM's design has {X.shape[1]} columns but rank {rank}: some rating "
                "factors are constant or duplicate each other", table="policies",
                fix="drop constant or duplicated factors (factors=...)")
        # start at the mean cost: the log link's IRLS can overflow from statsmodels'
        # default start on costs in the tens of thousands
        start = np.zeros(X.shape[1])
        start[0] = np.log(np.average(y, weights=w))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=sm.tools.sm_exceptions.DomainWarning)
            result = sm.GLM(y, X, family=self._glm_family(), var_weights=w).fit(
                start_params=start, maxiter=int(self.max_iter))
        if not bool(getattr(result, "converged", True)):
            logger.warning("GLMPricing: statsmodels IRLS did not converge in %d iterations",
                           self.max_iter)
        params, bse = np.asarray(result.params), np.asarray(result.bse)
        self.params_ = params
        self.scale_ = float(result.scale)
        self.deviance_ = float(result.deviance)
        self.aic_ = float(result.aic) if np.isfinite(result.aic) else float("nan")
        self.coef_ = self._coef_table(names, params, bse)
        n_real = len(frame)
        self._set_balance(y[:n_real], np.exp(X[:n_real] @ params), w[:n_real])

    def _coef_table(self, names: list[str], params: np.ndarray, bse: np.ndarray
                    ) -> pd.DataFrame:
        terms = [(INTERCEPT, "", ""), *self._terms()]
        z = stats.norm.ppf(0.975)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            table = pd.DataFrame({
                "term": names, "factor": [t[1] for t in terms], "level": [t[2] for t in terms],
                "coef": params, "se": bse,
                "p_value": 2 * stats.norm.sf(np.abs(params / bse)),
                "relativity": np.exp(params), "ci_low": np.exp(params - z * bse),
                "ci_high": np.exp(params + z * bse)})
        return table

    def _predict_rate(self, frame: pd.DataFrame) -> np.ndarray:
        return np.exp(self.design(frame) @ self.params_)

    def relativities(self, frame: pd.DataFrame, n_grid: int = 20) -> pd.DataFrame:
        """Exponentiated coefficients as relativities against each factor's base: a
        level's ``exp(beta)``, and ``exp(beta * (x - base))`` for a numeric factor at
        its grid values (``method`` = "GLM coefficient")."""
        self._check_fitted()
        rows = []
        coef = self.coef_.set_index("term")
        for col in self.features_.names_:
            for value in self.grid(frame, col, n_grid):
                if col in self.features_.levels_:
                    rel = 1.0 if value == self.features_.base_[col] else \
                        float(coef.loc[f"{col}[{value}]", "relativity"])
                else:
                    rel = float(np.exp(coef.loc[col, "coef"] * (value - self.reference_[col])))
                rows.append({"factor": col, "value": value, "relativity": rel})
        out = pd.DataFrame(rows)
        out["method"] = "GLM coefficient"
        return out

    # ------------------------------------------------------------------ persistence
    def _artifact_config(self) -> dict[str, Any]:
        config = super()._artifact_config()
        config["factors"] = None if self.factors is None else list(self.factors)
        return config

    def _save_state(self, folder: Path) -> dict[str, Any]:
        glm = {"coefficients": self.coef_.to_dict(orient="list"),
               "params": self.params_.tolist(), "scale": self.scale_,
               "deviance": self.deviance_, "aic": self.aic_ if np.isfinite(self.aic_)
               else None}
        (folder / GLM_FILE).write_text(json.dumps(glm, indent=2), encoding="utf-8")
        return {"features": self.features_.state(), "reference": self.reference_,
                "n_synthetic": self.n_synthetic_, "balance_factor": self.balance_factor_,
                "glm_file": GLM_FILE}

    @classmethod
    def _load_state(cls, folder: Path, state: dict[str, Any], config: dict[str, Any],
                    **options: Any) -> GLMPricing:
        if config.get("factors") is not None:
            config = {**config, "factors": tuple(config["factors"])}
        model = cls(**config)
        model.features_ = RatingFactors.from_state(state["features"])
        model.reference_ = dict(state["reference"])
        model.n_synthetic_ = int(state["n_synthetic"])
        model.balance_factor_ = float(state["balance_factor"])
        glm = json.loads((folder / GLM_FILE).read_text(encoding="utf-8"))
        model.params_ = np.asarray(glm["params"], dtype=float)
        model.scale_ = float(glm["scale"])
        model.deviance_ = float(glm["deviance"])
        model.aic_ = float("nan") if glm["aic"] is None else float(glm["aic"])
        model.coef_ = pd.DataFrame(glm["coefficients"])
        if len(model.params_) != 1 + len(model._terms()):
            raise ValueError(f"{GLM_FILE} holds {len(model.params_)} coefficients for "
                             f"{1 + len(model._terms())} design columns")
        return model
