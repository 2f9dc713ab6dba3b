"""Insurance: pricing (expected claim cost per policy) and, beside it, claims reserving.

Pricing (docs/architecture.md, "Insurance"):

- :class:`GBMPricing` (``pricing.py``) - LightGBM Gamma/Tweedie cost model, monotone
  where the rating factor demands it, relativities from partial dependence;
- :class:`GLMPricing` (``pricing_glm.py``) - the statsmodels Gamma/Tweedie GLM baseline,
  relativities from its exponentiated coefficients;
- ``pricing_metrics.py`` - ordered Lorenz curve and Gini, deviance, double lift,
  calibration by decile; ``pricing_evaluation.py`` - repeated CV and the holdout test;
  ``pricing_portfolio.py`` - a simulated book priced against the real one.
"""

from engine.insurance.pricing import DEFAULT_MONOTONE, GBMPricing, PricingModel, check_loading
from engine.insurance.pricing_glm import GLMPricing
from engine.insurance.pricing_metrics import (
    calibration_table,
    double_lift,
    gini,
    lorenz_curve,
    mean_deviance,
    normalized_gini,
    pricing_metrics,
    unit_deviance,
)

__all__ = [
    "DEFAULT_MONOTONE",
    "GBMPricing",
    "GLMPricing",
    "PricingModel",
    "calibration_table",
    "check_loading",
    "double_lift",
    "gini",
    "lorenz_curve",
    "mean_deviance",
    "normalized_gini",
    "pricing_metrics",
    "unit_deviance",
]

# Claims reserving: reserving.py (paid triangles, the chainladder library's methods),
# scenarios.py (synthetic development scenarios fitted across a line's companies),
# reserve_backtest.py (percentiles of the actual outcomes, uniformity tests).
from engine.insurance.reserve_backtest import ELIGIBILITY, backtest_line, uniformity  # noqa: E402
from engine.insurance.reserving import PaidTriangle, ReserveDistribution, paid_triangle  # noqa: E402
from engine.insurance.scenarios import DevelopmentScenarios  # noqa: E402

__all__ += ["ELIGIBILITY", "DevelopmentScenarios", "PaidTriangle", "ReserveDistribution",
            "backtest_line", "paid_triangle", "uniformity"]
