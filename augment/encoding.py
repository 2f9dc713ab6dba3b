"""Vectorised per-column encodings of tables for the generators' networks.

:class:`TabularEncoder` (the tabular VAE/GAN/diffusion and the copula): continuous columns
go through their empirical distribution (augment/marginals.py) to a standard normal score
(a randomized probability-integral transform where values repeat, so integer columns with
few values are not lumped and spikes such as many exact zeros keep their mass). The inverse
maps normal scores back through the same distribution: sampled values stay inside the
training range, spikes and the few values of a discrete column come back exactly, and
values are rounded to the grid the column lies on (integers, amounts in hundreds, rates in
steps of 0.01). A continuous column that a categorical one largely determines (a rate set
by a grade) is encoded *within* its category and decoded through the generated category's
own distribution, so the pair stays possible. Categorical columns become integer codes (a
model embeds them, so a high-cardinality column never becomes a wide one-hot matrix); past
``max_categories`` the rarest values share one bucket that the inverse resamples by
frequency. Missing values are a category of their own (categoricals) or a separate 0/1
indicator column (continuous). Constant columns are stored, not modelled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from augment.marginals import Marginal, correlation_ratio, grid_step, snap
from features.errors import DataValidationError

#: The generators' share of explained rank variance from which a categorical column
#: conditions a continuous one (TabularEncoder's ``dependence``).
DEPENDENCE = 0.3
NAN_TOKEN = "__nan__"
OTHER_TOKEN = "__other__"
EPS = 1e-6


@dataclass
class ColumnInfo:
    """What the encoder learned about one column."""

    name: str
    kind: str  # "continuous", "categorical" or "constant"
    value_kind: str  # "int", "float", "bool", "str", "datetime", "category"
    has_nan: bool = False
    nan_rate: float = 0.0
    step: bool = False  # few distinct values: inverse returns observed values only
    lo: float = 0.0
    hi: float = 0.0
    categories: list[str] = field(default_factory=list)
    constant: Any = None
    grid: float = 0.0  # every value is a multiple of grid: generated values are rounded to it
    parent: str | None = None  # categorical column whose groups have their own marginals
    group_codes: list[int] = field(default_factory=list)  # the parent's codes with one
    group_steps: list[bool] = field(default_factory=list)  # ... and whether it is a step


class TabularEncoder:
    """Encode a mixed-type frame as (continuous float matrix, categorical code matrix).

    Parameters
    ----------
    discrete_columns : list of str, optional
        Columns to treat as categorical; by default text, boolean and category columns,
        and numeric columns with at most two distinct values (0/1 flags).
    n_quantiles : int
        Points of each continuous column's quantile function that are stored.
    max_categories : int
        Categories kept per column; rarer ones share one resampled bucket.
    dependence : float or None
        A continuous column whose ranks a categorical column explains to at least this
        share (eta squared) gets one marginal per category of that column (categories
        with ``min_group_rows`` rows or more): its values are encoded as ranks *within*
        the category and decoded through the generated category's own distribution, so
        that a rate set by a grade stays possible. None: never (the 0.1 encoding).
    min_group_rows : int
        Rows a category needs for a marginal of its own.
    spike_share : float
        Share of rows at which a single value is a spike, returned exactly.
    """

    def __init__(self, *, discrete_columns: list[str] | None = None, n_quantiles: int = 512,
                 max_categories: int = 1000, dependence: float | None = None,
                 min_group_rows: int = 30, spike_share: float = 0.005) -> None:
        self.discrete_columns = discrete_columns
        self.n_quantiles = n_quantiles
        self.max_categories = max_categories
        self.dependence = dependence
        self.min_group_rows = min_group_rows
        self.spike_share = spike_share

    # -- fit ---------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame) -> TabularEncoder:
        discrete = set(self.discrete_columns or [])
        unknown = discrete - set(frame.columns)
        if unknown:
            raise DataValidationError(
                f"discrete_columns names column(s) {sorted(unknown)} the frame does not have",
                column=sorted(unknown)[0], fix="name columns of the training frame")
        self.columns_: list[ColumnInfo] = []
        self.marginals_: dict[str, Marginal] = {}
        self.rare_values_: dict[str, np.ndarray] = {}
        self.rare_probs_: dict[str, np.ndarray] = {}
        for name in frame.columns:
            self.columns_.append(self._fit_column(str(name), frame[name], name in discrete))
        if all(c.kind == "constant" for c in self.columns_):
            raise DataValidationError(
                f"every column is constant ({', '.join(c.name for c in self.columns_)}): "
                "there is nothing to learn", n_rows=len(frame),
                fix="fit on a table with at least one column whose values vary")
        self.bin_edges_: dict[str, np.ndarray] = {}
        if self.dependence is not None:
            self._fit_dependencies(frame)
        return self

    def _fit_dependencies(self, frame: pd.DataFrame) -> None:
        """Give a continuous column one marginal per group of the column that explains its
        ranks best (eta squared >= ``dependence``): a categorical column's categories, or a
        continuous column's quantile bins. Strongest pairs first; a continuous parent has
        no continuous parent itself, so one pass decodes the parents before the children."""
        groups: dict[str, tuple[np.ndarray, int]] = {
            c.name: (self.codes(c, frame[c.name]), len(c.categories) + 1)
            for c in self.categorical if 3 <= len(c.categories) + 1 <= 1000}
        n_bins = min(20, len(frame) // (2 * self.min_group_rows))
        numeric: set[str] = set()
        for c in self.continuous if n_bins >= 2 else []:
            x = _as_float(frame[c.name].dropna(), c.value_kind)
            edges = np.unique(np.quantile(x, np.arange(1, n_bins) / n_bins))
            if edges.size:
                self.bin_edges_[c.name] = edges
                groups[c.name] = (self._bins(c.name, frame[c.name]), edges.size + 2)
                numeric.add(c.name)
        pairs = []
        for col in self.continuous:
            nan = frame[col.name].isna().to_numpy()
            x = _as_float(frame[col.name][~nan], col.value_kind)
            for name, (g, k) in groups.items():
                if name != col.name:
                    pairs.append((correlation_ratio(x, g[~nan], k), col.name, name))
        parent_of: dict[str, str] = {}
        for eta, child, parent in sorted(pairs, key=lambda t: -t[0]):
            if eta < float(self.dependence or 0.0):
                break
            if child in parent_of or (parent in numeric and (
                    parent_of.get(parent) in numeric or child in parent_of.values())):
                continue
            parent_of[child] = parent
        for col in self.continuous:
            if col.name not in parent_of:
                continue
            col.parent = parent_of[col.name]
            nan = frame[col.name].isna().to_numpy()
            x = _as_float(frame[col.name][~nan], col.value_kind)
            g = groups[col.parent][0][~nan]
            for code in np.flatnonzero(np.bincount(g) >= self.min_group_rows):
                m = self._marginal(x[g == code], step=col.step)
                self.marginals_[f"{col.name}::{code}"] = m
                col.group_codes.append(int(code))
                col.group_steps.append(m.step)
        self.bin_edges_ = {k: v for k, v in self.bin_edges_.items()
                           if k in {c.parent for c in self.continuous}}

    def _bins(self, name: str, s: pd.Series) -> np.ndarray:
        """Quantile-bin codes of a continuous parent's values (missing: the last code)."""
        edges = self.bin_edges_[name]
        col = next(c for c in self.continuous if c.name == name)
        nan = s.isna().to_numpy()
        out = np.full(len(s), edges.size + 1, dtype=np.int64)
        out[~nan] = np.searchsorted(edges, _as_float(s[~nan], col.value_kind), side="right")
        return out

    def _fit_column(self, name: str, s: pd.Series, force_discrete: bool) -> ColumnInfo:
        vk = _value_kind(s)
        nan = s.isna().to_numpy()
        values = s[~nan]
        if values.nunique() <= 1 and not nan.any():
            const = values.iloc[0]
            return ColumnInfo(name, "constant", vk,
                              constant=const.item() if hasattr(const, "item") else const)
        numeric = vk in ("int", "float", "datetime")
        if force_discrete or not numeric or values.nunique() <= 2:
            text = _as_text(s, vk)
            counts = text.value_counts()
            cats = counts.index.tolist()
            if len(cats) > self.max_categories:
                keep = cats[: self.max_categories - 1]
                rare = counts.iloc[self.max_categories - 1:]
                self.rare_values_[name] = np.asarray(rare.index, dtype=str)
                self.rare_probs_[name] = (rare / rare.sum()).to_numpy(dtype=np.float64)
                cats = [*keep, OTHER_TOKEN]
            return ColumnInfo(name, "categorical", vk, has_nan=bool(nan.any()),
                              nan_rate=float(nan.mean()), categories=[str(c) for c in cats])
        x = _as_float(values, vk)
        m = self._marginal(x)
        self.marginals_[name] = m
        return ColumnInfo(name, "continuous", vk, has_nan=bool(nan.any()),
                          nan_rate=float(nan.mean()), step=m.step, lo=float(x.min()),
                          hi=float(x.max()), grid=grid_step(x) if vk != "datetime" else 0.0)

    def _marginal(self, x: np.ndarray, step: bool | None = None) -> Marginal:
        """A column's (``step`` None) or one group's distribution: a group's is a step
        function only where its column's is, so a small group of a continuous column is
        interpolated, never replayed value by value."""
        return Marginal.fit(x, n_quantiles=self.n_quantiles, spike_share=self.spike_share,
                            max_steps=64 if step in (None, True) else 0)

    # -- layout ------------------------------------------------------------------------
    @property
    def continuous(self) -> list[ColumnInfo]:
        return [c for c in self.columns_ if c.kind == "continuous"]

    @property
    def categorical(self) -> list[ColumnInfo]:
        return [c for c in self.columns_ if c.kind == "categorical"]

    @property
    def cat_names(self) -> list[str]:
        """Code-matrix columns: categoricals, then NaN flags of continuous columns."""
        return [c.name for c in self.categorical] + \
            [f"{c.name}{NAN_TOKEN}" for c in self.continuous if c.has_nan]

    @property
    def cardinalities(self) -> list[int]:
        cards = [len(c.categories) + int(c.has_nan) for c in self.categorical]
        return cards + [2 for c in self.continuous if c.has_nan]

    @property
    def n_continuous(self) -> int:
        return len(self.continuous)

    # -- transform ---------------------------------------------------------------------
    def transform(self, frame: pd.DataFrame, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
        """``(cont, codes)``: float32 normal scores and int64 category codes."""
        n = len(frame)
        cont = np.zeros((n, self.n_continuous), dtype=np.float32)
        codes = np.zeros((n, len(self.cat_names)), dtype=np.int64)
        nan_flags = []
        for j, col in enumerate(self.continuous):
            s = frame[col.name]
            nan = s.isna().to_numpy()
            x = np.zeros(n)
            x[~nan] = _as_float(s[~nan], col.value_kind)
            parent = self._parent_codes(col, frame)
            cont[:, j] = np.where(nan, 0.0, self._to_normal(col, x, rng, parent))
            if col.has_nan:
                nan_flags.append(nan.astype(np.int64))
        for j, col in enumerate(self.categorical):
            codes[:, j] = self.codes(col, frame[col.name])
        for k, flag in enumerate(nan_flags):
            codes[:, len(self.categorical) + k] = flag
        return cont, codes

    def codes(self, col: ColumnInfo, s: pd.Series) -> np.ndarray:
        text = _as_text(s, col.value_kind)
        known = text.where(text.isin(col.categories))  # unseen values: -1, handled below
        out = pd.Categorical(known, categories=col.categories).codes.astype(np.int64)
        nan = text.isna().to_numpy()
        if OTHER_TOKEN in col.categories:  # values outside the kept categories
            out[(out < 0) & ~nan] = col.categories.index(OTHER_TOKEN)
        out[nan] = len(col.categories)
        return out

    def _parent_codes(self, col: ColumnInfo, frame: pd.DataFrame) -> np.ndarray | None:
        if col.parent is None:
            return None
        if col.parent in self.bin_edges_:
            return self._bins(col.parent, frame[col.parent])
        info = next(c for c in self.categorical if c.name == col.parent)
        return self.codes(info, frame[col.parent])

    def _groups(self, col: ColumnInfo, parent: np.ndarray | None
                ) -> list[tuple[Marginal, np.ndarray | None]]:
        """(marginal, rows or None for all) pairs that cover every row once."""
        if parent is None or not col.group_codes:
            return [(self.marginals_[col.name], None)]
        own = np.isin(parent, col.group_codes)
        out: list[tuple[Marginal, np.ndarray | None]] = [(self.marginals_[col.name], ~own)]
        out += [(self.marginals_[f"{col.name}::{code}"], parent == code)
                for code in col.group_codes]
        return out

    def _to_normal(self, col: ColumnInfo, x: np.ndarray, rng: np.random.Generator,
                   parent: np.ndarray | None = None) -> np.ndarray:
        u = np.zeros(x.size)
        for marginal, rows in self._groups(col, parent):
            if rows is None:
                u = marginal.to_uniform(x, rng)
            elif rows.any():
                u[rows] = marginal.to_uniform(x[rows], rng)
        return ndtri(np.clip(u, EPS, 1 - EPS))

    # -- inverse -----------------------------------------------------------------------
    def inverse(self, cont: np.ndarray, codes: np.ndarray, rng: np.random.Generator
                ) -> pd.DataFrame:
        """Rows back in the training schema (column order and dtypes)."""
        n = cont.shape[0]
        cat_names = [c.name for c in self.categorical]
        nan_of = {c.name: codes[:, len(cat_names) + i] == 1
                  for i, c in enumerate(c for c in self.continuous if c.has_nan)}
        conts = self.continuous
        values: dict[str, np.ndarray] = {}
        # Columns whose parent is continuous come last: their groups are bins of the
        # parent's decoded values.
        for j in sorted(range(len(conts)), key=lambda j: conts[j].parent in self.bin_edges_):
            col = conts[j]
            parent = None
            if col.parent in self.bin_edges_:
                edges = self.bin_edges_[col.parent]
                parent = np.searchsorted(edges, values[col.parent], side="right")
                parent[nan_of.get(col.parent, np.zeros(n, dtype=bool))] = edges.size + 1
            elif col.parent is not None:
                parent = codes[:, cat_names.index(col.parent)]
            values[col.name] = self._from_normal(col, cont[:, j].astype(np.float64), parent)
        out: dict[str, Any] = {}
        for col in self.columns_:
            if col.kind == "constant":
                out[col.name] = _restore(np.full(n, col.constant, dtype=object),
                                         col.value_kind, np.zeros(n, dtype=bool))
            elif col.kind == "categorical":
                j = cat_names.index(col.name)
                out[col.name] = self._inverse_categorical(col, codes[:, j], rng)
            else:
                out[col.name] = _restore(values[col.name], col.value_kind,
                                         nan_of.get(col.name, np.zeros(n, dtype=bool)))
        return pd.DataFrame(out)

    def _from_normal(self, col: ColumnInfo, z: np.ndarray,
                     parent: np.ndarray | None = None) -> np.ndarray:
        u = ndtr(z)
        x = np.zeros(u.size)
        for marginal, rows in self._groups(col, parent):
            if rows is None:
                x = marginal.from_uniform(u)
            elif rows.any():
                x[rows] = marginal.from_uniform(u[rows])
        if col.grid > 0:
            x = snap(x, col.grid)
        elif col.value_kind == "int":
            x = np.round(x)
        return np.clip(x, col.lo, col.hi)

    def _inverse_categorical(self, col: ColumnInfo, code: np.ndarray,
                             rng: np.random.Generator) -> pd.Series:
        code = np.clip(code, 0, len(col.categories))
        nan = code == len(col.categories)
        if col.value_kind in ("int", "float", "bool") and OTHER_TOKEN not in col.categories:
            # Numbers and flags: index a small array of the category values, no text.
            if col.value_kind == "bool":
                values = np.array([c == "True" for c in col.categories] + [False])
            else:
                values = np.array([float(c) for c in col.categories] + [np.nan])
            return _restore(values[code], col.value_kind, nan)
        cats = np.asarray([*col.categories, NAN_TOKEN], dtype=object)
        text = cats[code]
        rare = text == OTHER_TOKEN
        if rare.any():
            pool, probs = self.rare_values_[col.name], self.rare_probs_[col.name]
            text[rare] = pool[rng.choice(pool.size, size=int(rare.sum()), p=probs)]
        return _restore(text, col.value_kind, nan, categories=col.categories)

    # -- persistence -------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"params": {"discrete_columns": self.discrete_columns,
                           "n_quantiles": self.n_quantiles,
                           "max_categories": self.max_categories,
                           "dependence": self.dependence,
                           "min_group_rows": self.min_group_rows,
                           "spike_share": self.spike_share},
                "columns": [_info_json(c) for c in self.columns_]}
        arrays: dict[str, np.ndarray] = {}
        for key, marginal in self.marginals_.items():
            arrays.update(marginal.arrays(key))
        for name, edges in self.bin_edges_.items():
            arrays[f"enc_b::{name}"] = edges
        for name, arr in self.rare_values_.items():
            arrays[f"enc_rv::{name}"] = arr.astype(str)
            arrays[f"enc_rp::{name}"] = self.rare_probs_[name]
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> TabularEncoder:
        enc = cls(**meta["params"])
        enc.columns_ = [ColumnInfo(**c) for c in meta["columns"]]
        enc.marginals_ = {}
        enc.bin_edges_ = {k.split("::", 1)[1]: v for k, v in arrays.items()
                          if k.startswith("enc_b::")}
        for col in enc.continuous:
            enc.marginals_[col.name] = Marginal.from_arrays(col.name, arrays, col.step)
            for code, step in zip(col.group_codes, col.group_steps, strict=True):
                key = f"{col.name}::{code}"
                enc.marginals_[key] = Marginal.from_arrays(key, arrays, step)
        enc.rare_values_ = {k.split("::", 1)[1]: v for k, v in arrays.items()
                            if k.startswith("enc_rv::")}
        enc.rare_probs_ = {k.split("::", 1)[1]: v for k, v in arrays.items()
                           if k.startswith("enc_rp::")}
        return enc

    # -- conditions ----------------------------------------------------------------------
    def condition_codes(self, conditions: dict[str, Any]) -> dict[int, int]:
        """``{column: value}`` -> ``{code-matrix column: code}``, with clear errors."""
        out: dict[int, int] = {}
        names = [c.name for c in self.categorical]
        for key, value in conditions.items():
            col = next((c for c in self.columns_ if c.name == key), None)
            if col is None:
                raise DataValidationError(
                    f"condition on unknown column {key!r}", column=str(key),
                    fix=f"condition on one of {', '.join(names) or '(no categorical columns)'}")
            if col.kind != "categorical":
                raise DataValidationError(
                    f"condition on {key!r}, a {col.kind} column", column=key,
                    fix=f"conditions fix categorical columns: {', '.join(names)}")
            text = _as_text(pd.Series([value]), col.value_kind).iloc[0]
            if pd.isna(text):
                if not col.has_nan:
                    raise DataValidationError(f"condition {key}=missing, but {key} was never "
                                              "missing in training", column=key,
                                              fix="condition on a value seen in training")
                code = len(col.categories)
            elif text in col.categories and text != OTHER_TOKEN:
                code = col.categories.index(text)
            else:
                shown = ", ".join(map(repr, col.categories[:10]))
                raise DataValidationError(
                    f"condition {key}={value!r}: value unseen in training", column=key,
                    fix=f"use one of {shown}{' ...' if len(col.categories) > 10 else ''}")
            out[names.index(key)] = code
        return out


_SAME_KIND = ({"int", "float"}, {"str", "category"})


def encoding_problems(encoder: TabularEncoder, frame: pd.DataFrame) -> dict[str, str]:
    """What stops ``frame`` from being encoded by ``encoder`` (a warm start's source's,
    augment/warmstart.py), by column:
    missing or extra columns, another kind of values, categories the source never saw,
    missing values where the source had none, a varying column the source held constant."""
    known = {c.name: c for c in encoder.columns_}
    got = [str(c) for c in frame.columns]
    out = {c: "not in the source table" for c in got if c not in known}
    out |= {c: "missing (the source table has it)" for c in known if c not in got}
    for name in [c for c in known if c in got]:
        col, s = known[name], frame[name]
        vk = _value_kind(s)
        nan = s.isna().to_numpy()
        if vk != col.value_kind and not any({vk, col.value_kind} <= k for k in _SAME_KIND):
            out[name] = f"{vk} values, {col.value_kind} in the source"
        elif col.kind == "constant":
            values = s[~nan].unique()
            if nan.any() or len(values) > 1 or (len(values) and str(values[0])
                                                != str(col.constant)):
                out[name] = f"varies; the source held it at {col.constant!r}"
        elif nan.any() and not col.has_nan:
            out[name] = f"{int(nan.sum())} missing value(s); the source had none"
        elif col.kind == "categorical" and OTHER_TOKEN not in col.categories:
            text = _as_text(s[~nan], col.value_kind)
            unseen = sorted(set(text) - set(col.categories))
            if unseen:
                shown = ", ".join(map(repr, unseen[:5])) + (" ..." if len(unseen) > 5 else "")
                out[name] = f"categories the source never saw ({shown})"
    return out


def _value_kind(s: pd.Series) -> str:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(s.dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return "datetime"
    if pd.api.types.is_integer_dtype(s.dtype):
        return "int"
    if pd.api.types.is_float_dtype(s.dtype):
        vals = s.dropna().to_numpy(dtype=float)
        return "int" if vals.size and np.all(vals == np.round(vals)) and s.isna().any() \
            else "float"
    return "str"


def _as_float(s: pd.Series, vk: str) -> np.ndarray:
    if vk == "datetime":
        return pd.to_datetime(s).astype("int64").to_numpy(dtype=np.float64)
    return s.to_numpy(dtype=np.float64)


def _as_text(s: pd.Series, vk: str) -> pd.Series:
    """Canonical text of each value (1 and 1.0 are both '1' in an int column)."""
    if vk == "int":
        num = pd.to_numeric(s, errors="coerce")
        return num.astype("Int64").astype("string").astype(object).where(num.notna(), None)
    if vk == "bool":
        return s.map(lambda v: None if pd.isna(v) else str(bool(v)))
    return s.astype("string").astype(object).where(s.notna(), None)


def _restore(values: np.ndarray, vk: str, nan: np.ndarray,
             categories: list[str] | None = None) -> pd.Series:
    if vk in ("str", "category"):
        s = pd.Series(values, dtype=object)
        s[nan] = None
        if vk == "category":
            cats = [c for c in (categories or []) if c not in (OTHER_TOKEN,)]
            extra = sorted(set(s.dropna()) - set(cats))
            return pd.Series(pd.Categorical(s, categories=cats + extra))
        return s.astype("string")
    if vk == "bool":
        flags = values.astype(bool) if values.dtype != object else values == "True"
        s = pd.Series(flags)
        return s.astype("boolean").mask(nan) if nan.any() else s
    if values.dtype == object:  # a constant column
        values = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    if vk in ("int", "datetime"):
        x = np.round(x)
        if vk == "datetime":
            return pd.Series(pd.to_datetime(np.where(nan, np.nan, x).astype("int64"))
                             ).mask(nan) if nan.any() else pd.Series(
                                 pd.to_datetime(x.astype("int64")))
        if nan.any():
            return pd.Series(pd.arrays.IntegerArray(x.astype(np.int64), nan.copy()))
        return pd.Series(x.astype(np.int64))
    return pd.Series(np.where(nan, np.nan, x) if nan.any() else x)


def _info_json(c: ColumnInfo) -> dict[str, Any]:
    d = asdict(c)
    if hasattr(d["constant"], "item"):
        d["constant"] = d["constant"].item()
    elif isinstance(d["constant"], pd.Timestamp):
        d["constant"] = str(d["constant"])
    return d
