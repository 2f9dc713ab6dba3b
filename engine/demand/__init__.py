"""Demand forecasting: one global LightGBM model over store x item series.

- ``features.py`` - checked sales frames, origin features (calendar lags, rolling
  stats, scale) and known-future target features (:func:`origin_features`);
- ``model.py`` - :class:`DemandModel`, direct multi-horizon point and quantile forecasts
  with conformal calibration and sampled demand paths;
- ``evaluation.py`` - the rolling-origin forecast backtest (:func:`backtest`,
  :func:`score_backtest`) against naive baselines;
- ``metrics.py`` - WAPE, MASE, RMSSE, bias, pinball loss, coverage;
- ``distributed.py`` - :func:`fit_dask`, the same model trained with ``lightgbm.dask``
  (import it from there: it needs the ``scale`` extra).
"""

from engine.demand.evaluation import backtest, score_backtest
from engine.demand.features import origin_features
from engine.demand.model import DemandModel

__all__ = ["DemandModel", "backtest", "origin_features", "score_backtest"]
