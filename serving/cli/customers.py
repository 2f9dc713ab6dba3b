"""Customer commands. `genlift clv`: BG/NBD + Gamma-Gamma lifetime value of every
customer of a purchase log, with the holdout check when the calibration ends before the
data (:mod:`serving.jobs.clv`)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from serving.cli.common import Groups, emit, open_store, table


def _number(low: float, high: float, *, low_open: bool) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value) and (value > low if low_open else value >= low) \
            and value <= high
        if not ok:
            left = "(" if low_open else "["
            raise argparse.ArgumentTypeError(
                f"must be a number in {left}{low:g}, {high:g}], got {text!r}")
        return value
    return parse


# -- clv -------------------------------------------------------------------------------
def cmd_clv(args: argparse.Namespace) -> dict[str, Any]:
    from serving.jobs.clv import ClvJobConfig, run_clv
    cfg = ClvJobConfig(table=args.table, calibration_end=args.calibration_end,
                       horizon_weeks=args.horizon_weeks, discount_rate=args.discount_rate,
                       margin=args.margin)
    with open_store(args, read_only=False) as store:
        result = run_clv(store, cfg, args.out, show_progress=args.progress)
    params = result["params"]
    lines = [f"{result['customers']:,} customers of {cfg.table}, values as of "
             f"{result['as_of']} over {cfg.horizon_weeks:g} weeks: total CLV "
             f"{result['total_clv']:,.2f}, {result['expected_purchases']:,.1f} purchases "
             "expected"]
    rows = [(name, ", ".join(f"{k}={v:.4f}" for k, v in p.items()))
            for name, p in (("BG/NBD", params["bgnbd"]), ("Gamma-Gamma", params["gamma_gamma"]),
                            ("BG/NBD calibration", params.get("bgnbd_calibration")))
            if p is not None]
    lines.append(table(rows, ["model", "parameters"]))
    hold = result["holdout"]
    if hold is not None:
        lines.append(
            f"holdout {hold['calibration_end']} to {hold['holdout_end']} "
            f"({hold['holdout_length']:g} weeks): repeat purchases actual "
            f"{hold['actual_total']:,.0f}, predicted {hold['predicted_total']:,.1f} "
            f"({hold['error_pct']:+.2f}%); per-customer MAE {hold['mae_model']:.4f} vs "
            f"naive (calibration rate) {hold['mae_naive']:.4f}")
        lines.append(table([(r["calibration_repeat_purchases"], r["customers"],
                             round(r["actual"], 3), round(r["predicted"], 3),
                             round(r["naive"], 3)) for r in hold["by_frequency"]],
                           ["calibration x", "customers", "actual", "predicted", "naive"]))
    lines.append(f"report {result['files']['report']}; table {result.get('table')}")
    emit(args, result, "\n".join(lines))
    return result


def register(g: Groups) -> None:
    p = g.sub.add_parser(
        "clv", parents=[g.common], help="customer lifetime value (BG/NBD + Gamma-Gamma)",
        description="Customer lifetime value from a purchase log (the transactions table: "
        "`genlift data fetch cdnow`): BG/NBD for how often each customer buys and whether "
        "she is still active, Gamma-Gamma for how much she spends, both fitted by maximum "
        "likelihood. With --calibration-end before the data's last day, the models are "
        "also fitted on the purchases up to it and checked on the rest (predicted vs "
        "actual repeat purchases, against a naive same-rate forecast). Writes "
        "customers.parquet, holdout.parquet, clv.json and report.html under --out and the "
        "store table customer_value (as of the data's last day).")
    p.add_argument("--table", default="transactions",
                   help="purchase log with user_id, ts, quantity, amount")
    p.add_argument("--calibration-end", default=None, metavar="DATE",
                   help="last day of the calibration period (YYYY-MM-DD); default the "
                        "data's last day (no holdout check)")
    p.add_argument("--horizon-weeks", type=_number(0, 520, low_open=True), default=52.0,
                   metavar="N", help="weeks of future purchases to value")
    p.add_argument("--discount-rate", type=_number(0, 1, low_open=False), default=0.10,
                   metavar="RATE", help="annual discount rate")
    p.add_argument("--margin", type=_number(0, 1, low_open=True), default=1.0,
                   help="share of revenue that is profit (1: value = revenue)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.set_defaults(func=cmd_clv)


__all__ = ["register"]
