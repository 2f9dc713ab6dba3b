"""The base class of the price-path generators: fitting on a wide frame of daily log
returns (checked and cleaned here) and one sampling interface (see the package docstring).
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from augment.base import Generator
from augment.runtime import RandomState, make_rngs, torch_threads
from features.errors import DataValidationError, GenliftWarning, check_int, check_random_state

RESERVED = ("path", "step", "is_synthetic")
MAX_VALUES = 500_000_000  # n_paths x length x assets: about 4 GB of float64


class PathGenerator(Generator):
    """Base class of the price-path generators (``kind = "paths"``).

    Subclasses implement ``_fit_returns(X)`` on a clean ``(days, assets)`` float array,
    ``_sample_paths(n, length, rng)``, ``_path_state`` and ``_restore_path``.
    """

    kind: ClassVar[str] = "paths"
    #: Longest path one call may request (steps).
    max_length: ClassVar[int] = 100_000
    #: Fewest training days (after trimming leading missing values) a fit accepts.
    min_days: ClassVar[int] = 2

    # -- fitting -------------------------------------------------------------------------
    def _fit(self, frame: pd.DataFrame) -> None:
        check_random_state(type(self).__name__, getattr(self, "random_state", None))
        returns = self._clean_returns(frame)
        self.assets_ = [str(c) for c in frame.columns]
        self.n_train_days_ = int(returns.shape[0])
        self._fit_returns(returns)

    def _clean_returns(self, frame: pd.DataFrame) -> np.ndarray:
        """The frame as a float array; leading NaNs are trimmed (with a warning), any
        other missing or infinite value is a :class:`DataValidationError`."""
        name = type(self).__name__
        cols = [str(c) for c in frame.columns]
        if len(set(cols)) != len(cols) or set(cols) & set(RESERVED):
            raise DataValidationError(
                f"{name}.fit: asset columns must be unique and not named "
                f"{', '.join(RESERVED)}; got {cols[:10]}", table="returns",
                fix="rename the asset columns")
        bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
               or pd.api.types.is_bool_dtype(frame[c])]
        if bad:
            raise DataValidationError(
                f"returns.{bad[0]} is not numeric ({frame[bad[0]].dtype}): {name} needs "
                "daily log returns", table="returns", column=str(bad[0]),
                n_rows=len(frame), fix="pass features.returns.log_returns(prices)")
        if isinstance(frame.index, pd.DatetimeIndex) and not frame.index.is_monotonic_increasing:
            raise DataValidationError(f"{name}.fit: the date index is not sorted",
                                      table="returns", fix="call frame.sort_index() first")
        x = frame.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(x).any():
            col = int(np.flatnonzero(np.isinf(x).any(axis=0))[0])
            rows = np.flatnonzero(np.isinf(x[:, col]))
            raise DataValidationError(
                f"returns.{cols[col]} has {len(rows)} infinite values (rows "
                f"{', '.join(str(r + 1) for r in rows[:5])}): a zero or negative price?",
                table="returns", column=cols[col], n_rows=len(rows), rows=(rows[:5] + 1).tolist(),
                fix="clean the prices before computing log returns")
        valid = ~np.isnan(x)
        first = valid.argmax(axis=0)  # every column has a value: check_frame ran before
        for j in range(x.shape[1]):
            holes = np.flatnonzero(~valid[first[j]:, j]) + first[j]
            if len(holes):
                raise DataValidationError(
                    f"returns.{cols[j]} has {len(holes)} missing values after its first "
                    f"observation (rows {', '.join(str(r + 1) for r in holes[:5])}); only "
                    "leading missing values (an asset listed later) are allowed",
                    table="returns", column=cols[j], n_rows=len(holes),
                    rows=(holes[:5] + 1).tolist(),
                    fix="fill (e.g. with 0) or drop those dates")
        start = int(first.max())
        if start:
            warnings.warn(f"{name}.fit: dropped the first {start} days, before asset "
                          f"{cols[int(first.argmax())]} starts, so that every asset has "
                          "a return on every day", GenliftWarning, stacklevel=4)
        x = x[start:]
        if x.shape[0] < self.min_days:
            raise DataValidationError(
                f"{name}.fit got {x.shape[0]} complete days of returns; it needs at least "
                f"{self.min_days}", table="returns", n_rows=x.shape[0],
                fix="pass a longer history (or a smaller window)")
        return x

    # -- sampling ------------------------------------------------------------------------
    @property
    def default_length_(self) -> int:
        """Path length of :meth:`sample` when no ``length`` condition is given."""
        return 252

    def sample_paths(self, n_paths: int, length: int | None = None, *,
                     random_state: RandomState = None) -> np.ndarray:
        """``n_paths`` paths of ``length`` daily log returns for every training asset.

        Parameters
        ----------
        n_paths : int
            Number of paths, >= 1.
        length : int, optional
            Steps per path, 1..:attr:`max_length`; defaults to :attr:`default_length_`.
        random_state : int, numpy Generator or None
            Seed of this draw; None uses the constructor's ``random_state`` (so an int
            there makes repeated calls identical, as in scikit-learn).

        Returns
        -------
        ndarray of shape (n_paths, length, n_assets), float64 log returns.
        """
        self._check_fitted()
        name = f"{type(self).__name__}.sample_paths"
        length = self.default_length_ if length is None else length
        check_int(name, "n_paths", n_paths, 1)
        check_int(name, "length", length, 1, self.max_length)
        if int(n_paths) * int(length) * len(self.assets_) > MAX_VALUES:
            raise ValueError(f"{name}: {n_paths} paths x {length} steps x "
                             f"{len(self.assets_)} assets exceeds {MAX_VALUES} values; "
                             "sample in several calls")
        default: RandomState = getattr(self, "random_state", None)
        rng, _ = make_rngs(default if random_state is None else random_state)
        with torch_threads():
            return self._sample_paths(int(n_paths), int(length), rng)

    def _sample(self, n: int, conditions: dict[str, Any],
                random_state: RandomState) -> pd.DataFrame:
        unknown = sorted(set(conditions) - {"length"})
        if unknown:
            raise ValueError(f"Unknown condition key(s) {unknown} for "
                             f"{type(self).__name__}.sample: the only key is 'length'")
        paths = self.sample_paths(n, conditions.get("length"), random_state=random_state)
        n, length, d = paths.shape
        out = pd.DataFrame(paths.reshape(n * length, d), columns=self.assets_)
        out.insert(0, "step", np.tile(np.arange(length), n))
        out.insert(0, "path", np.repeat(np.arange(n), length))
        return out

    # -- persistence -----------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = self._path_state()
        return {"assets": self.assets_, "n_train_days": self.n_train_days_, **meta}, arrays

    def _restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.assets_ = list(meta["assets"])
        self.n_train_days_ = int(meta["n_train_days"])
        self._restore_path(meta, arrays)

    # -- subclass hooks ----------------------------------------------------------------------
    def _fit_returns(self, returns: np.ndarray) -> None:
        raise NotImplementedError

    def _sample_paths(self, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _path_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise NotImplementedError

    def _restore_path(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError
