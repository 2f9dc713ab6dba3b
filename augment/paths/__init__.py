"""Generators of multivariate daily log-return paths of any length.

All of them fit on a **wide** frame of daily log returns (date index x asset columns, as
:func:`features.returns.log_returns` returns it) and share one sampling interface:

- :meth:`PathGenerator.sample_paths` ``(n_paths, length) -> ndarray (n_paths, length, n_assets)``
  of log returns, the natural input of backtests and of
  :func:`augment.quality_paths.path_scorecard`;
- :meth:`PathGenerator.sample` ``(n, conditions={"length": L})`` -> a **long** frame with
  columns ``path`` (0..n-1), ``step`` (0..L-1), one column per asset (log returns) and
  ``is_synthetic``; ``length`` defaults to :attr:`PathGenerator.default_length_`. It is the
  only condition key; synthetic paths carry no calendar dates.

Members: :class:`BlockBootstrap` (stationary bootstrap of whole cross-sections),
:class:`GarchT` (per-asset GARCH(1,1)-t with Gaussian-copula correlated innovations) and
:class:`PricePathGenerator` (a recurrent VAE, or the same network fine-tuned as a GAN).

Modules: ``base`` (the :class:`PathGenerator` base class and the input checks),
``baselines`` (the bootstrap and GARCH baselines), ``neural`` (fitting the neural
generator in the shared epoch loop, and sampling) and ``networks`` (its torch modules).
"""

from augment.paths.base import PathGenerator
from augment.paths.baselines import BlockBootstrap, GarchT
from augment.paths.neural import PricePathGenerator

__all__ = ["BlockBootstrap", "GarchT", "PathGenerator", "PricePathGenerator"]
