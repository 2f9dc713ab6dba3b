"""Customer lifetime value from a purchase log: the calibration summary, the BG/NBD +
Gamma-Gamma fit (:mod:`engine.customers.btyd`), each customer's expected purchases,
P(alive), expected spend and discounted value over a horizon, and the holdout check.

Purchases are counted per customer and day, as in the papers: several purchases on one
day are one purchase occasion, its value their sum. The first occasion opens the
customer's history; ``frequency`` counts the repeat occasions up to the calibration end.

Examples
--------
>>> result = fit_clv(transactions, ClvConfig(calibration_end="1997-09-30"))  # doctest: +SKIP
>>> result.holdout.totals  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine.customers.btyd import BetaGeoModel, GammaGammaModel
from features.errors import DataValidationError, check_real
from features.schemas import validate_frame

#: the calibration summary's columns, one row per customer
SUMMARY_COLUMNS = ("user_id", "first_purchase", "frequency", "recency", "T", "monetary")
HOLDOUT_COLUMNS = ("frequency_holdout", "spend_holdout")
VALUE_COLUMNS = ("expected_purchases", "p_alive", "expected_spend", "clv")
MAX_GROUP = 7  # the holdout table's last row is "7+" calibration repeat purchases
DAYS_PER_YEAR = 365.25


def _day(value: object, what: str) -> pd.Timestamp:
    try:
        day = pd.Timestamp(value)
    except (ValueError, TypeError):
        day = pd.NaT
    if pd.isna(day):
        raise DataValidationError(f"{what} {value!r} is not a date",
                                  fix=f"write the {what} as YYYY-MM-DD")
    return day.normalize()


def occasions(transactions: pd.DataFrame) -> pd.DataFrame:
    """Purchase occasions: one row per customer and day, ``amount`` summed, from rows that
    pass the ``transactions`` contract (missing columns, negative amounts and the like
    are refused by name)."""
    typed = validate_frame("transactions", transactions)
    day = typed["ts"].dt.normalize()
    out = (typed.assign(day=day).groupby(["user_id", "day"], sort=True, observed=True)
           .agg(amount=("amount", "sum"), quantity=("quantity", "sum")).reset_index())
    out["user_id"] = out["user_id"].astype(str)
    return out


def rfm_summary(transactions: pd.DataFrame, *, calibration_end: object,
                holdout_end: object | None = None, unit_days: float = 7.0) -> pd.DataFrame:
    """One row per customer whose first purchase is on or before ``calibration_end``.

    Returns
    -------
    DataFrame
        ``user_id, first_purchase, frequency, recency, T, monetary`` (times in units of
        ``unit_days``; ``monetary`` the mean value of the repeat occasions, 0 without
        any), plus ``frequency_holdout, spend_holdout`` (repeat occasions and money in
        ``(calibration_end, holdout_end]``) and the holdout's length in ``attrs``.
    """
    check_real("rfm_summary", "unit_days", unit_days, 0.0, low_open=True)
    occ = occasions(transactions)
    first_day, last_day = occ["day"].min(), occ["day"].max()
    cal = _day(calibration_end, "calibration end")
    if not first_day < cal <= last_day:
        raise DataValidationError(
            f"calibration end {cal.date()} is outside the data, whose purchases run from "
            f"{first_day.date()} to {last_day.date()}", table="transactions", column="ts",
            fix=f"give a calibration end after {first_day.date()} and no later than "
            f"{last_day.date()} (the last day leaves no holdout period)")
    end = last_day if holdout_end is None else _day(holdout_end, "holdout end")
    if end < cal:
        raise DataValidationError(
            f"holdout end {end.date()} is before the calibration end {cal.date()}",
            fix="give a holdout end after the calibration end, or leave it out (the "
            "data's last day)")
    first = occ.groupby("user_id", sort=True)["day"].min()
    occ = occ.join(first.rename("first"), on="user_id")
    occ = occ[occ["first"] <= cal]
    in_cal = occ[occ["day"] <= cal]
    repeat = in_cal[in_cal["day"] > in_cal["first"]]
    grouped = repeat.groupby("user_id")
    summary = pd.DataFrame({"first_purchase": first[first <= cal]})
    summary["frequency"] = grouped.size().reindex(summary.index, fill_value=0).astype("int64")
    last = in_cal.groupby("user_id")["day"].max()
    summary["recency"] = (last - summary["first_purchase"]).dt.days / unit_days
    summary["T"] = (cal - summary["first_purchase"]).dt.days / unit_days
    summary["monetary"] = grouped["amount"].mean().reindex(summary.index, fill_value=0.0)
    hold = occ[(occ["day"] > cal) & (occ["day"] <= end)].groupby("user_id")
    summary["frequency_holdout"] = hold.size().reindex(summary.index, fill_value=0).astype(
        "int64")
    summary["spend_holdout"] = hold["amount"].sum().reindex(summary.index, fill_value=0.0)
    summary = summary.rename_axis("user_id").reset_index()
    summary.attrs.update({"calibration_end": str(cal.date()), "holdout_end": str(end.date()),
                          "holdout_length": (end - cal).days / unit_days,
                          "unit_days": unit_days,
                          "customers_after_calibration": int((first > cal).sum())})
    return summary


@dataclass(frozen=True)
class ClvConfig:
    """One `genlift clv` run: the calibration end (default the data's last day: no
    holdout), the value horizon, the annual discount rate and the margin on revenue."""

    calibration_end: str | None = None
    horizon_weeks: float = 52.0
    discount_rate: float = 0.10
    margin: float = 1.0
    unit_days: float = 7.0

    def validate(self) -> None:
        check_real("ClvConfig", "horizon_weeks", self.horizon_weeks, 0.0, 520.0,
                   low_open=True)
        check_real("ClvConfig", "discount_rate", self.discount_rate, 0.0, 1.0)
        check_real("ClvConfig", "margin", self.margin, 0.0, 1.0, low_open=True)
        check_real("ClvConfig", "unit_days", self.unit_days, 0.0, low_open=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def customer_values(summary: pd.DataFrame, bgnbd: BetaGeoModel, spend: GammaGammaModel, *,
                    horizon: float, discount_rate: float = 0.10, margin: float = 1.0,
                    unit_days: float = 7.0) -> pd.DataFrame:
    """Per customer: repeat purchases expected in the next ``horizon`` units, P(alive),
    expected spend per purchase and the value of those purchases, each unit's expected
    purchases discounted at the annual ``discount_rate`` and times ``margin``."""
    check_real("customer_values", "horizon", horizon, 0.0, low_open=True)
    args = (summary["frequency"], summary["recency"], summary["T"])
    steps = np.append(np.arange(1.0, np.ceil(horizon)), horizon)
    cum = np.vstack([np.zeros(len(summary))]
                    + [bgnbd.conditional_expected_purchases(float(t), *args) for t in steps])
    per_unit = np.diff(cum, axis=0)
    discount = (1 + discount_rate) ** (-steps * unit_days / DAYS_PER_YEAR)
    expected_spend = spend.expected_spend(summary["frequency"], summary["monetary"])
    return pd.DataFrame({
        "user_id": summary["user_id"].astype(str),
        "expected_purchases": cum[-1],
        "p_alive": bgnbd.p_alive(*args),
        "expected_spend": expected_spend,
        "clv": margin * expected_spend * (discount @ per_unit),
    })


@dataclass
class HoldoutCheck:
    """Predicted vs actual repeat purchases in the holdout period."""

    by_frequency: pd.DataFrame
    totals: dict[str, float]
    tracking: pd.DataFrame
    per_customer: pd.DataFrame


def holdout_check(summary: pd.DataFrame, bgnbd: BetaGeoModel,
                  repeat_days: pd.Series | None = None) -> HoldoutCheck:
    """The model's conditional expectations for the holdout period against what each
    customer did, grouped by calibration repeat purchases (0, 1, ..., 7+), the totals and
    the per-customer mean absolute error against a naive forecast that keeps each
    customer's calibration rate (x / T per unit).

    ``repeat_days`` (the days of the summary's customers' repeat occasions) adds the
    weekly tracking of cumulative repeat purchases."""
    length = float(summary.attrs["holdout_length"])
    if length <= 0:
        raise DataValidationError("there is no holdout period: the calibration ends on the "
                                  "data's last day", fix="give an earlier calibration end")
    x, t_x, big_t = summary["frequency"], summary["recency"], summary["T"]
    predicted = bgnbd.conditional_expected_purchases(length, x, t_x, big_t)
    rate = np.divide(x, big_t, out=np.zeros(len(x)), where=big_t.to_numpy() > 0)
    naive = rate * length
    actual = summary["frequency_holdout"].to_numpy(dtype=float)
    group = np.minimum(x.to_numpy(), MAX_GROUP)
    frame = pd.DataFrame({"group": group, "actual": actual, "predicted": predicted,
                          "naive": naive})
    table = frame.groupby("group").agg(customers=("actual", "size"),
                                       actual=("actual", "mean"),
                                       predicted=("predicted", "mean"),
                                       naive=("naive", "mean")).reset_index()
    table.insert(0, "calibration_repeat_purchases",
                 [f"{g}+" if g == MAX_GROUP else str(g) for g in table.pop("group")])
    total_actual, total_pred = float(actual.sum()), float(predicted.sum())
    totals = {
        "customers": float(len(summary)),
        "holdout_length": length,
        "actual_total": total_actual,
        "predicted_total": total_pred,
        "naive_total": float(naive.sum()),
        "error_pct": 100 * (total_pred - total_actual) / total_actual if total_actual else
        float("nan"),
        "mae_model": float(np.abs(predicted - actual).mean()),
        "mae_naive": float(np.abs(naive - actual).mean()),
    }
    tracking = (_tracking(summary, bgnbd, repeat_days)
                if repeat_days is not None else pd.DataFrame())
    per_customer = pd.DataFrame({
        "user_id": summary["user_id"].astype(str), "frequency": x, "recency": t_x, "T": big_t,
        "frequency_holdout": actual, "predicted_holdout": predicted, "naive_holdout": naive})
    return HoldoutCheck(table, totals, tracking, per_customer)


def _tracking(summary: pd.DataFrame, bgnbd: BetaGeoModel, days: pd.Series) -> pd.DataFrame:
    """Cumulative repeat purchases per unit of time since the first customer's first
    purchase, actual (``days``: the days of the repeat occasions) vs the model's
    E[X(t - first purchase)] summed over the customers."""
    unit = float(summary.attrs["unit_days"])
    start = summary["first_purchase"].min()
    end = pd.Timestamp(summary.attrs["holdout_end"])
    edges = start + pd.to_timedelta(np.arange(1, int(np.ceil(((end - start).days + 1)
                                                             / unit)) + 1) * unit, unit="D")
    counts = np.searchsorted(np.sort(days.to_numpy()), edges.to_numpy(), side="left")
    by_first = summary["first_purchase"].value_counts()
    model = [float((by_first.to_numpy() * bgnbd.expected_purchases(
        np.maximum((e - by_first.index).days.to_numpy() / unit, 0.0))).sum()) for e in edges]
    return pd.DataFrame({"unit": np.arange(1, len(edges) + 1), "end": edges,
                         "actual_cumulative": counts.astype(float),
                         "model_cumulative": model})


@dataclass
class ClvResult:
    """What :func:`fit_clv` returns: the calibration fit and its holdout check (when the
    calibration ends before the data), and the values from the fit on every purchase."""

    config: ClvConfig
    summary: pd.DataFrame  # as of the calibration end
    current: pd.DataFrame  # as of the data's last day: the one the values come from
    bgnbd: BetaGeoModel
    spend: GammaGammaModel
    values: pd.DataFrame
    as_of: str
    holdout: HoldoutCheck | None = None
    calibration_bgnbd: BetaGeoModel | None = None
    notes: list[str] = field(default_factory=list)

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bgnbd": self.bgnbd.params_, "gamma_gamma": self.spend.params_,
                               "as_of": self.as_of}
        if self.calibration_bgnbd is not None:
            out["bgnbd_calibration"] = self.calibration_bgnbd.params_
        return out


def _repeat_days(occ: pd.DataFrame, summary: pd.DataFrame) -> pd.Series:
    first = summary.set_index("user_id")["first_purchase"]
    occ = occ[occ["user_id"].isin(first.index)]
    repeat = occ["day"].to_numpy() > first.reindex(occ["user_id"]).to_numpy()
    return occ["day"][repeat].reset_index(drop=True)


def fit_clv(transactions: pd.DataFrame, config: ClvConfig | None = None) -> ClvResult:
    """Fit BG/NBD + Gamma-Gamma on ``transactions`` and value every customer.

    With a calibration end before the data's last day, the models are first fitted on
    the purchases up to it and checked on the rest (:class:`HoldoutCheck`); the values
    (``customer_value``) always come from a fit on every purchase, as of the last day.
    """
    config = config or ClvConfig()
    config.validate()
    occ = occasions(transactions)
    last = occ["day"].max()
    cal = last if config.calibration_end is None else config.calibration_end
    unit = config.unit_days
    summary = rfm_summary(transactions, calibration_end=cal, unit_days=unit)
    holdout = None
    cal_model = None
    notes: list[str] = []
    if summary.attrs["holdout_length"] > 0:
        cal_model = BetaGeoModel().fit(summary["frequency"], summary["recency"],
                                       summary["T"])
        holdout = holdout_check(summary, cal_model, _repeat_days(occ, summary))
        full = rfm_summary(transactions, calibration_end=last, unit_days=unit)
        bgnbd = BetaGeoModel().fit(full["frequency"], full["recency"], full["T"])
    else:
        full = summary
        bgnbd = BetaGeoModel().fit(full["frequency"], full["recency"], full["T"])
    spend = GammaGammaModel().fit(full["frequency"], full["monetary"])
    used = (full["frequency"] > 0) & (full["monetary"] > 0)
    corr = float(np.corrcoef(full.loc[used, "frequency"], full.loc[used, "monetary"])[0, 1])
    notes.append(f"Gamma-Gamma assumes spend independent of frequency: their correlation "
                 f"over the {int(used.sum()):,} repeat customers is {corr:.3f}")
    values = customer_values(full, bgnbd, spend, horizon=config.horizon_weeks * 7 / unit,
                             discount_rate=config.discount_rate, margin=config.margin,
                             unit_days=unit)
    return ClvResult(config=config, summary=summary, current=full, bgnbd=bgnbd, spend=spend,
                     values=values, as_of=str(last.date()), holdout=holdout,
                     calibration_bgnbd=cal_model, notes=notes)


__all__ = ["HOLDOUT_COLUMNS", "SUMMARY_COLUMNS", "VALUE_COLUMNS", "ClvConfig", "ClvResult",
           "HoldoutCheck", "customer_values", "fit_clv", "holdout_check", "occasions",
           "rfm_summary"]
