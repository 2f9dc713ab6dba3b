"""The one contract every generator follows, and its persistence (the training loop is
augment/training.py).

``fit(frame) -> self``, ``sample(n, *, conditions=None, random_state=None) -> frame``
with the training schema plus ``is_synthetic``, ``save(path)`` / ``load(path)``;
``fit(frame, init=source)`` fine-tunes the torch generators from another fitted one
(augment/warmstart.py).

Persistence is the artifact base's (features/artifacts.py): a folder with ``params.json``
(the learned metadata, training history and generator family under ``state``),
``arrays.npz`` (read with ``allow_pickle=False``) and, for torch models, ``weights.pt``
(state dicts, read with ``weights_only=True``). No pickled code: loading runs nothing from
the file.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from augment.runtime import torch_threads
from augment.warmstart import weights_sha256
from features.artifacts import Artifact, ArtifactError, sha256_file, upgrade_params
from features.artifacts import read_params as _read_params
from features.errors import DataValidationError
from features.store import fingerprint_frame

logger = logging.getLogger(__name__)

G = TypeVar("G", bound="Generator")
Callback = Callable[[int, float, dict[str, float]], None]


REFIT = "fit the generator (`genlift augment fit`)"
#: Fewest training rows a generator accepts.
MIN_ROWS = 10


class Generator(Artifact, ABC):
    """Base class of genlift's generators.

    Subclasses store their keyword arguments unchanged in ``__init__`` and implement
    ``_fit``, ``_sample``, ``_state`` and ``_restore``; torch models also list their
    networks in ``_modules``.
    """

    kind: ClassVar[str] = "tabular"
    #: Whether ``fit(frame, init=...)`` can start from another fitted generator's weights
    #: (augment/warmstart.py); subclasses that can implement ``_fit_from``.
    warm_start: ClassVar[bool] = False
    artifact_kind: ClassVar[str] = "generator"
    artifact_refit: ClassVar[str] = REFIT

    # -- parameters ------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {name: getattr(self, name) for name in sig.parameters if name != "self"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- public API --------------------------------------------------------------------
    def fit(self: G, frame: pd.DataFrame, *,
            init: Generator | str | os.PathLike[str] | None = None) -> G:
        """Learn the distribution of ``frame``; returns ``self``.

        ``init``: a fitted generator of the same class (or the folder it was saved to)
        trained on another table with the same columns; this one starts from its network
        weights and encoding and fine-tunes them on ``frame`` for ``epochs`` epochs (see
        augment/warmstart.py). Generators without weights refuse it.
        """
        check_frame(frame, type(self).__name__)
        source, record = (None, None) if init is None else resolve_source(self, init)
        self.fingerprint_ = fingerprint_frame(frame)
        self.history_: list[dict[str, float]] = []
        start = time.perf_counter()
        with torch_threads():
            if source is None:
                self._fit(frame)
            else:
                self._fit_from(frame, source)
        self.fit_seconds_ = time.perf_counter() - start
        self.init_: dict[str, Any] | None = record
        return self

    def sample(
        self,
        n: int,
        *,
        conditions: Mapping[str, Any] | None = None,
        random_state: int | np.random.Generator | None = None,
    ) -> pd.DataFrame:
        """``n`` synthetic rows with the training columns plus ``is_synthetic``.

        ``conditions`` fixes column values (``{"default": 1}``); every returned row has
        them, and exactly ``n`` rows come back (no rejection sampling).
        """
        self._check_fitted()
        check_n(n, f"{type(self).__name__}.sample")
        with torch_threads():
            out = self._sample(int(n), dict(conditions or {}), random_state)
        out["is_synthetic"] = True
        return out.reset_index(drop=True)

    # -- subclass hooks ----------------------------------------------------------------
    @abstractmethod
    def _fit(self, frame: pd.DataFrame) -> None: ...

    @abstractmethod
    def _sample(self, n: int, conditions: dict[str, Any],
                random_state: int | np.random.Generator | None) -> pd.DataFrame: ...

    @abstractmethod
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Learned metadata (JSON-able) and arrays, enough to rebuild the model."""

    @abstractmethod
    def _restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Rebuild learned state (and networks, before their weights are loaded)."""

    def _fit_from(self, frame: pd.DataFrame, source: Generator) -> None:
        """Fit on ``frame`` starting from ``source``'s weights (warm-start classes)."""
        raise NotImplementedError

    def _modules(self) -> dict[str, nn.Module]:
        return {}

    def _check_fitted(self) -> None:
        if not hasattr(self, "fingerprint_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(frame) "
                               "or load(path) first")

    # -- persistence (the artifact base: features/artifacts.py) ------------------------
    def _save_state(self, folder: Path) -> dict[str, Any]:
        meta, arrays = self._state()
        np.savez(folder / "arrays.npz", **arrays)  # type: ignore[arg-type]
        modules = self._modules()
        if modules:
            torch.save({k: {n: t.detach().cpu() for n, t in m.state_dict().items()}
                        for k, m in modules.items()}, folder / "weights.pt")
        return {"generator_kind": self.kind, "meta": meta, "history": self.history_,
                "fit_seconds": getattr(self, "fit_seconds_", None),
                "init": getattr(self, "init_", None)}

    @classmethod
    def _load_state(cls: type[G], folder: Path, state: dict[str, Any],
                    config: dict[str, Any], **options: Any) -> G:
        config = dict(config)
        if "device" in config:
            config["device"] = options.get("device", "auto")
        obj = cls(**config)
        with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        obj.history_ = state["history"]
        obj.fit_seconds_ = state["fit_seconds"]
        obj.init_ = state.get("init")
        obj._restore(state["meta"], arrays)
        modules = obj._modules()
        if modules:
            states = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
            for key, module in modules.items():
                module.load_state_dict(states[key])
        return obj

    @classmethod
    def load(cls: type[G], path: str | os.PathLike[str], *, device: str = "auto",
             **options: Any) -> G:
        """Read an artifact written by :meth:`save`, on any device."""
        _check_folder(Path(path))  # a missing folder is an ArtifactError for generators
        return super().load(path, device=device, **options)


def resolve_source(target: Generator, init: Generator | str | os.PathLike[str]
                   ) -> tuple[Generator, dict[str, Any]]:
    """The fitted source generator of a warm start and the record of where it came from;
    refuses a generator that cannot warm-start, another class or an unfitted source."""
    name = type(target).__name__
    if not type(target).warm_start:
        raise DataValidationError(
            f"{name} has no network weights to start from: it cannot be initialised from "
            "another fitted generator (--init)",
            fix="fit it without --init, or use a neural generator (tabular vae|gan, paths "
                "gan|vae, sales ar|vae)")
    record: dict[str, Any] = {"path": None, "params_sha256": None}
    if isinstance(init, str | os.PathLike):
        path = Path(init)
        source = Generator.load(path, device=getattr(target, "device", "auto"))
        record = {"path": str(path.resolve()),
                  "params_sha256": sha256_file(path / "params.json")}
    elif isinstance(init, Generator):
        source = init
        source._check_fitted()
    else:
        raise DataValidationError(f"{name}.fit: init must be a fitted generator or its "
                                  f"folder, got {type(init).__name__}",
                                  fix="pass a generator or the folder it was saved to")
    if type(source) is not type(target):
        raise DataValidationError(
            f"{name}.fit cannot start from a {type(source).__name__} (the --init folder "
            "holds another generator)", fix=f"pass a folder of a fitted {name} of the same "
                                            "kind and model")
    record |= {"class": type(source).__name__,
               "data_fingerprint": getattr(source, "fingerprint_", None),
               "weights_sha256": weights_sha256(source)}
    return source, record


def read_params(path: Path) -> dict[str, Any]:
    """A generator folder's params.json in the current layout, checked for format and
    genlift major version (its files are checked when it is loaded)."""
    _check_folder(path)
    return upgrade_params(_read_params(path, what="generator", refit=REFIT))


def _check_folder(path: Path) -> None:
    if not path.is_dir():
        raise ArtifactError(f"{path} is not a genlift generator folder (no params.json)",
                            table="generator", fix="pass the folder `genlift augment fit` "
                            "wrote")


def generator_kind(params: Mapping[str, Any]) -> str | None:
    """The generator family ("tabular", "baskets", "paths", "sales") of a params.json
    (genlift 0.1 wrote it as the top-level "kind")."""
    kind = params.get("state", {}).get("generator_kind")
    return kind if kind is not None else params.get("kind")


def check_n(n: object, owner: str) -> None:
    """The number of synthetic rows (users, paths, windows) one call asks for: an int >= 1."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
        raise ValueError(f"The 'n' parameter of {owner} must be an int >= 1. Got {n!r} "
                         "instead.")


def check_frame(frame: pd.DataFrame, owner: str) -> None:
    """Bad training input: not a frame, fewer than :data:`MIN_ROWS` rows, no columns, or
    an all-missing column."""
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError(f"{owner}.fit needs a pandas DataFrame, got "
                                  f"{type(frame).__name__}", fix="pass a DataFrame")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataValidationError(f"{owner}.fit got an empty frame ({frame.shape[0]} rows, "
                                  f"{frame.shape[1]} columns)",
                                  fix="fit on a frame with rows and columns")
    empty = [str(c) for c in frame.columns if frame[c].isna().all()]
    if empty:
        raise DataValidationError(
            f"{owner}.fit: column(s) {', '.join(empty)} hold only missing values",
            column=empty[0], n_rows=len(frame), fix="drop those columns before fitting",
        )
    if frame.shape[0] < MIN_ROWS:
        raise DataValidationError(
            f"{owner}.fit got {frame.shape[0]} row(s): too few to learn a distribution from "
            "(a generator would only replay them)", n_rows=frame.shape[0],
            fix=f"fit on at least {MIN_ROWS} rows")
