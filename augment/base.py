"""The one contract every generator follows, with persistence and training helpers.

``fit(frame) -> self``, ``sample(n, *, conditions=None, random_state=None) -> frame``
with the training schema plus ``is_synthetic``, ``save(path)`` / ``load(path)``.

An artifact is a folder: ``params.json`` (genlift version, class, constructor config,
data fingerprint, seed, learned metadata, sha256 of the other files), ``arrays.npz``
(read with ``allow_pickle=False``) and, for torch models, ``weights.pt`` (state dicts,
read with ``weights_only=True``). No pickled code: loading runs nothing from the file.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import logging
import shutil
import tempfile
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
from features.artifacts import ArtifactError, publish_dir, sha256_file, verify_files
from features.artifacts import read_params as _read_params
from features.errors import DataValidationError
from features.store import fingerprint_frame
from features.version import __version__

logger = logging.getLogger(__name__)

G = TypeVar("G", bound="Generator")
Callback = Callable[[int, float, dict[str, float]], None]
ARTIFACT_FORMAT = 1


REFIT = "fit the generator (`genlift augment fit`)"


class Generator(ABC):
    """Base class of genlift's generators.

    Subclasses store their keyword arguments unchanged in ``__init__`` and implement
    ``_fit``, ``_sample``, ``_state`` and ``_restore``; torch models also list their
    networks in ``_modules``.
    """

    kind: ClassVar[str] = "tabular"

    # -- parameters ------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {name: getattr(self, name) for name in sig.parameters if name != "self"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- public API --------------------------------------------------------------------
    def fit(self: G, frame: pd.DataFrame) -> G:
        """Learn the distribution of ``frame``; returns ``self``."""
        check_frame(frame, type(self).__name__)
        self.fingerprint_ = fingerprint_frame(frame)
        self.history_: list[dict[str, float]] = []
        start = time.perf_counter()
        with torch_threads():
            self._fit(frame)
        self.fit_seconds_ = time.perf_counter() - start
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
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
            raise ValueError(f"The 'n' parameter of {type(self).__name__}.sample must be an "
                             f"int >= 1. Got {n!r} instead.")
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

    def _modules(self) -> dict[str, nn.Module]:
        return {}

    def _check_fitted(self) -> None:
        if not hasattr(self, "fingerprint_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(frame) "
                               "or load(path) first")

    # -- persistence -------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the artifact folder atomically (a temporary folder renamed into place)."""
        self._check_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta, arrays = self._state()
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
        try:
            np.savez(tmp / "arrays.npz", **arrays)  # type: ignore[arg-type]
            files = ["arrays.npz"]
            modules = self._modules()
            if modules:
                torch.save({k: {n: t.detach().cpu() for n, t in m.state_dict().items()}
                            for k, m in modules.items()}, tmp / "weights.pt")
                files.append("weights.pt")
            params = {
                "format": ARTIFACT_FORMAT,
                "genlift_version": __version__,
                "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "kind": self.kind,
                "config": _jsonable(self.get_params()),
                "data_fingerprint": self.fingerprint_,
                "seed": _jsonable(getattr(self, "random_state", None)),
                "fit_seconds": getattr(self, "fit_seconds_", None),
                "history": self.history_,
                "meta": meta,
                "sha256": {f: sha256_file(tmp / f) for f in files},
            }
            (tmp / "params.json").write_text(json.dumps(params, indent=2, default=_json_default))
            publish_dir(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    @classmethod
    def load(cls: type[G], path: str | Path, *, device: str = "auto") -> G:
        """Read an artifact written by :meth:`save`, on any device."""
        path = Path(path)
        params = read_params(path)
        module_name, _, class_name = params["class"].rpartition(".")
        if not module_name.startswith("augment."):
            raise ArtifactError(f"{path}: class {params['class']!r} is not a genlift generator")
        klass = getattr(importlib.import_module(module_name), class_name, None)
        if not (isinstance(klass, type) and issubclass(klass, cls)):
            raise ArtifactError(f"{path}: holds a {params['class']}, not a {cls.__name__}")
        verify_files(path, params["sha256"], what="generator", refit=REFIT)
        config = dict(params["config"])
        if "device" in config:
            config["device"] = device
        obj = klass(**config)
        with np.load(path / "arrays.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        obj.fingerprint_ = params["data_fingerprint"]
        obj.history_ = params["history"]
        obj.fit_seconds_ = params["fit_seconds"]
        obj._restore(params["meta"], arrays)
        modules = obj._modules()
        if modules:
            states = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
            for key, module in modules.items():
                module.load_state_dict(states[key])
        return obj


def read_params(path: Path) -> dict[str, Any]:
    """The artifact's params.json, checked for format and genlift major version."""
    if not path.is_dir():
        raise ArtifactError(f"{path} is not a genlift generator folder (no params.json)",
                            table="generator", fix="pass the folder `genlift augment fit` "
                            "wrote")
    return _read_params(path, what="generator", refit=REFIT, format_key="format",
                        format_version=ARTIFACT_FORMAT)


def check_frame(frame: pd.DataFrame, owner: str) -> None:
    """Bad training input: not a frame, no rows, no columns, or an all-missing column."""
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


class EarlyStopping:
    """Keep the best model by a validation fidelity score (higher is better) and stop
    after ``patience`` checks without improvement."""

    def __init__(self, modules: Mapping[str, nn.Module], patience: int) -> None:
        self.modules = modules
        self.patience = patience
        self.best = -np.inf
        self.best_epoch = -1
        self.bad_checks = 0
        self._best_state: dict[str, dict[str, torch.Tensor]] | None = None

    def update(self, epoch: int, score: float) -> bool:
        """Record ``score``; True when training should stop."""
        if score > self.best + 1e-6:
            self.best, self.best_epoch, self.bad_checks = score, epoch, 0
            self._best_state = {k: copy.deepcopy(m.state_dict())
                                for k, m in self.modules.items()}
            return False
        self.bad_checks += 1
        return self.patience > 0 and self.bad_checks >= self.patience

    def restore_best(self) -> None:
        if self._best_state is not None:
            for k, m in self.modules.items():
                m.load_state_dict(self._best_state[k])


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.random.Generator):
        return None
    return str(obj)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_json_default))
