"""``AutoTabular``: fit several tabular generators within a time budget and keep the one
whose synthetic rows a classifier finds hardest to tell from held-out real rows.

The training frame is split once: the candidates learn from one part and are judged on the
other (``validation_fraction``), which none of them sees. The judge is the detection AUC
of augment/quality.py (gradient-boosted trees told to separate real from synthetic rows;
0.5 = indistinguishable), ties broken by the column-shape score. Candidates are fitted in
the order given (cheapest first by default); the first always runs, and a later one that
would start after ``time_budget`` seconds is skipped, and says so in ``scores_``. The
winner is then refitted on the whole frame (``refit``), so no real row is wasted on the
choice.

The fitted object samples, saves and loads as its winner does; ``chosen_`` names it and
``scores_`` keeps every candidate's validation scores and fit time.
"""

from __future__ import annotations

import inspect
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from augment.base import Callback, Generator
from augment.copula import GaussianCopula
from augment.quality import column_shape_score, detection_auc
from augment.runtime import RandomState, make_rngs
from augment.tabular.diffusion import TabularDiffusion
from augment.tabular.gan import TabularGAN
from augment.tabular.vae import TabularVAE
from features.errors import check_param, check_random_state, check_real

logger = logging.getLogger(__name__)

#: Synthetic draws each candidate is judged on.
JUDGE_DRAWS = 3

CANDIDATES: dict[str, type[Generator]] = {
    "copula": GaussianCopula, "vae": TabularVAE, "diffusion": TabularDiffusion,
    "gan": TabularGAN}


class AutoTabular(Generator):
    """The best of several tabular generators by held-out detection AUC.

    Parameters
    ----------
    candidates : tuple of str
        Generators to try, in order: any of "copula", "vae", "diffusion", "gan".
    time_budget : float
        Seconds after which no further candidate is started (a started fit finishes).
    epochs : int, optional
        Training epochs of the neural candidates (default: each one's own).
    validation_fraction : float
        Share of the frame held out to judge the candidates.
    refit : bool
        Refit the winner on the whole frame.
    discrete_columns, device, random_state, show_progress
        Passed to every candidate that takes them.
    callback : callable(epoch, elapsed_s, metrics), optional
        Called during the winner's refit (whose epochs ``history_`` holds).

    Examples
    --------
    >>> auto = AutoTabular(time_budget=120, random_state=0).fit(frame)  # doctest: +SKIP
    >>> auto.chosen_, auto.scores_["copula"]["detection_auc"]  # doctest: +SKIP
    """

    kind = "tabular"

    def __init__(self, *, candidates: tuple[str, ...] = ("copula", "vae", "diffusion"),
                 time_budget: float = 600.0, epochs: int | None = None,
                 validation_fraction: float = 0.2, refit: bool = True,
                 discrete_columns: list[str] | None = None, device: str = "auto",
                 random_state: int | None = None, show_progress: bool = False,
                 callback: Callback | None = None) -> None:
        self.candidates = candidates
        self.time_budget = time_budget
        self.epochs = epochs
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.discrete_columns = discrete_columns
        self.device = device
        self.random_state = random_state
        self.show_progress = show_progress
        self.callback = callback

    def _check_params(self) -> None:
        name = "AutoTabular"
        cands = self.candidates
        check_param(name, "candidates", cands,
                    isinstance(cands, tuple | list) and len(cands) > 0 and
                    all(c in CANDIDATES for c in cands) and len(set(cands)) == len(cands),
                    f"a non-empty list of distinct names from {', '.join(CANDIDATES)}")
        check_real(name, "time_budget", self.time_budget, 0, low_open=True)
        check_real(name, "validation_fraction", self.validation_fraction, 0, 0.5,
                   low_open=True, high_open=True)
        check_random_state(name, self.random_state)

    def _make(self, name: str, final: bool = False) -> Generator:
        """A candidate; the final fit (the winner's refit) also gets the callback."""
        klass = CANDIDATES[name]
        given = {"discrete_columns": self.discrete_columns, "epochs": self.epochs,
                 "device": self.device, "random_state": self.random_state,
                 "show_progress": self.show_progress,
                 "callback": self.callback if final else None}
        accepted = set(inspect.signature(klass.__init__).parameters)
        return klass(**{k: v for k, v in given.items() if k in accepted and v is not None})

    # -- fit ---------------------------------------------------------------------------
    def _fit(self, frame: pd.DataFrame) -> None:
        self._check_params()
        rng, _ = make_rngs(self.random_state)
        seed = int(rng.integers(0, 2**31 - 1))
        order = rng.permutation(len(frame))
        n_val = max(1, int(round(self.validation_fraction * len(frame))))
        val = frame.iloc[order[:n_val]].reset_index(drop=True)
        part = frame.iloc[order[n_val:]].reset_index(drop=True)
        start = time.perf_counter()
        self.scores_: dict[str, dict[str, Any]] = {}
        fitted: dict[str, Generator] = {}
        for name in self.candidates:
            if fitted and time.perf_counter() - start > self.time_budget:
                self.scores_[name] = {"skipped": "time budget spent"}
                continue
            t0 = time.perf_counter()
            gen = self._make(name).fit(part)
            # Three synthetic draws, each judged against the same held-out rows: a small
            # validation part makes one draw's AUC noisy.
            det, shapes = [], []
            for k in range(JUDGE_DRAWS):
                synth = gen.sample(max(len(val), 200), random_state=seed + k)
                synth = synth.drop(columns="is_synthetic")
                det.append(detection_auc(val, synth, folds=3, random_state=seed + k))
                shapes.append(column_shape_score(val, synth))
            self.scores_[name] = {"detection_auc": float(np.mean(det)),
                                  "column_shapes": float(np.mean(shapes)),
                                  "fit_s": time.perf_counter() - t0}
            fitted[name] = gen
            logger.info("auto: %s detection %.3f shapes %.3f in %.1fs", name,
                        self.scores_[name]["detection_auc"],
                        self.scores_[name]["column_shapes"], self.scores_[name]["fit_s"])
        self.chosen_ = min(fitted, key=lambda k: (round(self.scores_[k]["detection_auc"], 3),
                                                  -self.scores_[k]["column_shapes"]))
        self.model_ = self._make(self.chosen_, final=True).fit(frame) if self.refit \
            else fitted[self.chosen_]
        self.history_ = list(getattr(self.model_, "history_", []))

    # -- sampling ----------------------------------------------------------------------
    def _sample(self, n: int, conditions: dict[str, Any], random_state: RandomState
                ) -> pd.DataFrame:
        return self.model_._sample(n, conditions, random_state)

    # -- persistence: the winner's files, and what was chosen ---------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return self.model_._state()

    def _modules(self) -> dict[str, nn.Module]:
        return self.model_._modules() if hasattr(self, "model_") else {}

    def _restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.model_._restore(meta, arrays)

    def _save_state(self, folder: Path) -> dict[str, Any]:
        inner = self.model_._save_state(folder)
        return {**inner, "chosen": self.chosen_, "scores": self.scores_,
                "inner_config": self.model_._artifact_config(),
                "fit_seconds": getattr(self, "fit_seconds_", None)}

    @classmethod
    def _load_state(cls, folder: Path, state: dict[str, Any], config: dict[str, Any],
                    **options: Any) -> AutoTabular:
        config = {**config, "device": options.get("device", "auto")}
        obj = cls(**config)
        obj.chosen_ = state["chosen"]
        obj.scores_ = state["scores"]
        obj.model_ = CANDIDATES[obj.chosen_]._load_state(folder, state,
                                                          state["inner_config"], **options)
        obj.history_ = obj.model_.history_
        obj.fit_seconds_ = state["fit_seconds"]
        return obj
