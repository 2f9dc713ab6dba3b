"""One numeric column's distribution as the tabular encoder stores it, and the maps
between its values and uniform levels.

A :class:`Marginal` is the column's empirical distribution function, stored as knots:
- *step*: few distinct values (at most ``max_steps``): every distinct value with the share
  of rows at or below it; the inverse returns observed values only.
- *quantile*: many distinct values: ``n_quantiles`` quantiles, interpolated; values that
  hold at least ``spike_share`` of the rows and ten rows (a spike, e.g. many exact zeros or a round
  amount) are stored with their band of levels ``[F(v-), F(v)]`` so that they come back
  exactly instead of being smoothed into their neighbours.

Ties map to a level drawn uniformly inside their band (a randomized probability-integral
transform), so the levels of real rows are uniform and a network or a copula sees a
continuous score, while the inverse of any level in the band is the tied value itself.

:func:`grid_step` finds the grid a column's values lie on (integers, amounts in hundreds,
rates in steps of 0.01), which the encoder rounds generated values to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Rows a value needs (besides its share) to be a spike.
MIN_SPIKE_ROWS = 10
#: Candidate grid steps, largest first: 5, 2.5, 2 and 1 times the powers of ten.
GRID_STEPS = tuple(m * 10.0 ** k for k in range(9, -7, -1) for m in (5.0, 2.5, 2.0, 1.0))


@dataclass
class Marginal:
    """The empirical distribution of one column (or of one group's rows of it)."""

    step: bool
    knots: np.ndarray  # values (step: distinct values; quantile: quantiles)
    levels: np.ndarray  # F at the knots
    spikes: np.ndarray  # (3, m): spike value, F(value-), F(value); quantile mode only

    @classmethod
    def fit(cls, x: np.ndarray, *, n_quantiles: int = 512, max_steps: int = 64,
            spike_share: float = 0.005) -> Marginal:
        """The distribution of the finite float values ``x`` (at least one)."""
        x = np.sort(np.asarray(x, dtype=np.float64))
        uniq, counts = np.unique(x, return_counts=True)
        cdf = np.cumsum(counts) / x.size
        if uniq.size <= max_steps:
            return cls(True, uniq, cdf, np.zeros((3, 0)))
        big = (counts / x.size >= spike_share) & (counts >= MIN_SPIKE_ROWS)
        spikes = np.vstack([uniq[big], (cdf - counts / x.size)[big], cdf[big]])
        levels = np.linspace(0.0, 1.0, n_quantiles)
        return cls(False, np.quantile(x, levels), levels, spikes)

    def to_uniform(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Levels in [0, 1] of the values ``x`` (ties: uniform inside their band)."""
        if self.step:
            k = np.clip(np.searchsorted(self.knots, x), 0, len(self.knots) - 1)
            upper = self.levels[k]
            lower = np.where(k > 0, self.levels[np.maximum(k - 1, 0)], 0.0)
            return lower + rng.random(x.size) * (upper - lower)
        u = np.interp(x, self.knots, self.levels)
        if self.spikes.shape[1]:
            k = np.searchsorted(self.spikes[0], x)
            kc = np.minimum(k, self.spikes.shape[1] - 1)
            hit = self.spikes[0][kc] == x
            lo, hi = self.spikes[1][kc], self.spikes[2][kc]
            u = np.where(hit, lo + rng.random(x.size) * (hi - lo), u)
        return u

    def from_uniform(self, u: np.ndarray) -> np.ndarray:
        """Values of the levels ``u`` (the inverse of :meth:`to_uniform`)."""
        if self.step:
            k = np.clip(np.searchsorted(self.levels, u, side="left"), 0, len(self.knots) - 1)
            return self.knots[k]
        x = np.interp(u, self.levels, self.knots)
        if self.spikes.shape[1]:
            # The bands are disjoint and sorted: the last band starting at or below u.
            k = np.clip(np.searchsorted(self.spikes[1], u, side="right") - 1, 0, None)
            inside = (u >= self.spikes[1][k]) & (u <= self.spikes[2][k])
            x = np.where(inside, self.spikes[0][k], x)
        return x

    # -- persistence -------------------------------------------------------------------
    def arrays(self, key: str) -> dict[str, np.ndarray]:
        out = {f"enc_q::{key}": self.knots, f"enc_l::{key}": self.levels}
        if self.spikes.shape[1]:
            out[f"enc_s::{key}"] = self.spikes
        return out

    @classmethod
    def from_arrays(cls, key: str, arrays: dict[str, np.ndarray], step: bool) -> Marginal:
        spikes = arrays.get(f"enc_s::{key}", np.zeros((3, 0)))
        return cls(step, arrays[f"enc_q::{key}"], arrays[f"enc_l::{key}"], spikes)


def grid_step(x: np.ndarray) -> float:
    """The largest of :data:`GRID_STEPS` that every value of ``x`` is a multiple of, no
    larger than the values' range; 0.0 when there is none (or fewer than two values)."""
    uniq = np.unique(np.asarray(x, dtype=np.float64))
    if uniq.size < 2 or not np.all(np.isfinite(uniq)):
        return 0.0
    span = uniq[-1] - uniq[0]
    top = np.abs(uniq).max()
    for g in GRID_STEPS:
        if g > span or top / g > 1e12:
            continue
        r = uniq / g
        if np.all(np.abs(r - np.round(r)) <= 1e-6):
            return g
    return 0.0


def snap(x: np.ndarray, grid: float) -> np.ndarray:
    """``x`` rounded to multiples of ``grid``, without float residue (0.07, not
    0.07000000000000001)."""
    decimals = max(0, int(np.ceil(-np.log10(grid)))) + 2
    return np.round(np.round(x / grid) * grid, decimals)


def correlation_ratio(x: np.ndarray, groups: np.ndarray, n_groups: int) -> float:
    """eta squared of the ranks of ``x`` by ``groups`` (codes 0..n_groups-1): the share of
    the ranks' variance that the group explains (1 = the group determines the order)."""
    r = np.argsort(np.argsort(x, kind="stable"), kind="stable").astype(np.float64)
    total = float(((r - r.mean()) ** 2).sum())
    if total == 0.0:
        return 0.0
    n = np.bincount(groups, minlength=n_groups).astype(np.float64)
    s = np.bincount(groups, weights=r, minlength=n_groups)
    seen = n > 0
    between = float((s[seen] ** 2 / n[seen]).sum() - r.sum() ** 2 / r.size)
    return between / total
