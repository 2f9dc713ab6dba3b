"""`genlift backtest [strategies]`: robo-advisor strategies on the real history and
synthetic paths; `genlift backtest inventory`: the inventory plan replayed on the real
sales."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from serving.cli.common import (
    CommaList,
    Groups,
    comma_list,
    emit,
    fmt,
    open_store,
    real_number,
    table,
)

#: Options of the strategy backtest only (dest names); their defaults are
#: :class:`serving.jobs.backtest.BacktestConfig`'s.
STRATEGY_OPTIONS = {"strategies": "--strategies", "generator": "--generator",
                    "horizon": "--horizon", "train_end": "--train-end", "epochs": "--epochs",
                    "assets": "--assets", "cost_bps": "--cost-bps",
                    "slippage_bps": "--slippage-bps", "cash_rate": "--cash-rate",
                    "parquet": "--parquet"}
#: Options of the inventory backtest only.
INVENTORY_OPTIONS = {"model": "--model", "lead_time": "--lead-time",
                     "service_level": "--service-level", "start": "--from", "end": "--to",
                     "review_period": "--review-period", "unmet": "--unmet",
                     "ma_window": "--ma-window", "targets": "--targets"}
INVENTORY_REQUIRED = ("model", "lead_time", "service_level", "start")


def _lead_time(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0 or str(value) != text.strip().lstrip("+"):
        raise argparse.ArgumentTypeError(
            f"must be a whole number of weeks >= 0 (0 = delivered in the week of the order, "
            f"before its demand), got {text!r}")
    return value


def _check_target(args: argparse.Namespace, parser: argparse.ArgumentParser | None) -> None:
    """Options of the other backtest, or missing inventory options: a usage error."""
    inventory = args.target == "inventory"
    other = STRATEGY_OPTIONS if inventory else INVENTORY_OPTIONS
    given = [flag for dest, flag in other.items() if getattr(args, dest, None) is not None]
    message = ""
    if given:
        message = (f"{', '.join(given)} belong(s) to "
                   + ("the strategy backtest (`genlift backtest --strategies ...`), not to "
                      "`genlift backtest inventory`" if inventory else
                      "`genlift backtest inventory ...`; add `inventory` after `backtest`"))
    elif inventory:
        missing = [INVENTORY_OPTIONS[d] for d in INVENTORY_REQUIRED
                   if getattr(args, d, None) is None]
        if missing:
            message = f"backtest inventory needs {', '.join(missing)}"
    if message:
        if parser is None:
            raise ValueError(message)
        parser.error(message)


def cmd_backtest(args: argparse.Namespace,
                 parser: argparse.ArgumentParser | None = None) -> Any:
    _check_target(args, parser)
    if args.target == "inventory":
        return cmd_backtest_inventory(args)
    from serving.jobs.backtest import BacktestConfig, run
    given = {dest: getattr(args, dest) for dest in STRATEGY_OPTIONS if dest != "parquet"
             and getattr(args, dest) is not None}
    for dest in ("strategies", "assets"):
        if dest in given:
            given[dest] = tuple(given[dest])
    shared = {k: getattr(args, k) for k in ("paths", "seed") if getattr(args, k) is not None}
    cfg = BacktestConfig(**given, **shared)
    out = args.out or Path("reports/backtest.html")
    with open_store(args, read_only=False) as store:
        result = run(store, cfg, out, parquet=args.parquet, show_progress=args.progress)
    real = result["real"]
    rows = [(m["strategy"], m["cagr"], m["volatility"], m["sharpe"], m["max_drawdown"],
             m["turnover"]) for m in real["metrics"]]
    syn = {r["strategy"]: r for r in result["synthetic"]["summary"]}
    rows2 = [(name, s["sharpe_p5"], s["sharpe_p50"], s["sharpe_p95"], s["max_drawdown_p5"],
              s["p_loss"], s["p_drawdown_0.2"]) for name, s in syn.items()]
    pbo = result["overfitting"]["pbo"]
    text = (f"real history {real['start']}..{real['end']} ({real['days']:,} days):\n"
            + table(rows, ["strategy", "CAGR", "vol", "Sharpe", "max DD", "turnover"])
            + f"\n\n{result['synthetic']['paths']:,} {result['synthetic']['generator']} paths x "
            f"{result['synthetic']['days']:,} days:\n"
            + table(rows2, ["strategy", "Sharpe p5", "Sharpe p50", "Sharpe p95", "max DD p5",
                            "P(loss)", "P(DD>20%)"])
            + f"\n\nPBO {pbo.get('pbo', float('nan')):.3f} over "
            f"{len(result['strategies'])} strategies; report {result['report']}, "
            f"metrics {result['parquet']}")
    emit(args, result, text)
    return result


def inventory_text(summary: dict[str, Any]) -> str:
    level = summary["service_level"]
    main = [r for r in summary["totals"]
            if r["policy"] == "point" or r["target"] == level]
    rows = [(r["policy"], "-" if r["policy"] == "point" else r["target"],
             r["cycle_service_level"], r["fill_rate"], r["avg_on_hand"],
             int(r["stockout_weeks"]), r["units_short"]) for r in main]
    def cell(v: float) -> float | str:
        return "-" if v != v else v  # NaN: outside the other policy's curve

    model = {c["target"]: c for c in summary["comparison"] if c["anchor"] == "model"}
    ma = {c["target"]: c for c in summary["comparison"] if c["anchor"] == "moving_average"}
    calib = [(q, model[q]["anchor_csl"], model[q]["anchor_on_hand"], ma[q]["anchor_csl"],
              ma[q]["anchor_on_hand"], cell(ma[q]["other_on_hand_same_csl"]),
              cell(ma[q]["model_saving_same_csl"])) for q in sorted(model)]
    skipped = (f" ({summary['series_skipped']:,} skipped: no sales row in some replayed "
               "week)" if summary["series_skipped"] else "")
    lines = [f"inventory backtest {summary['from']}..{summary['to']} ({summary['periods']} "
             f"weeks), {summary['series']:,} series{skipped}; lead time "
             f"{summary['lead_time']}, review period {summary['review_period']}, "
             f"{summary['unmet']} sales, {summary['paths']:,} paths"]
    if summary.get("refit"):
        lines.append(summary["refit"])
    lines += ["", table(rows, ["policy", "target", "achieved CSL", "fill rate", "avg on hand",
                               "stockout weeks", "units short"]),
              "", "calibration (CSL = share of replenishment cycles without a stockout) and "
              "the model's inventory at the moving average's achieved CSL (interpolated on "
              "its trade-off curve; - = outside it):",
              table(calib, ["target", "model CSL", "model on hand", "MA CSL", "MA on hand",
                            "model on hand at MA CSL", "model saving"]),
              "", f"report {summary['report']} (per series: {summary['parquet']}); "
              f"{fmt(summary['seconds'])} s"]
    return "\n".join(lines)


def cmd_backtest_inventory(args: argparse.Namespace) -> Any:
    from serving.jobs.demand import load_model, read_history
    from serving.jobs.inventory_backtest import InventoryBacktestConfig, run_inventory_backtest
    optional = {k: getattr(args, k) for k in ("end", "review_period", "unmet", "paths",
                                              "seed", "ma_window", "targets")
                if getattr(args, k) is not None}
    if "targets" in optional:
        optional["targets"] = tuple(optional["targets"])
    cfg = InventoryBacktestConfig(lead_time=args.lead_time, service_level=args.service_level,
                                  start=args.start, **optional)
    cfg.check()  # bad parameters fail before the model is loaded
    model = load_model(args.model, "backtest inventory")
    with open_store(args, read_only=True) as store:
        sales, stores = read_history(store)
    summary = run_inventory_backtest(model, sales, stores,
                                     args.out or Path("reports/inventory_backtest.html"), cfg,
                                     show_progress=bool(args.progress))
    emit(args, summary, inventory_text(summary))
    return summary


def register(g: Groups) -> None:
    p = g.sub.add_parser(
        "backtest", parents=[g.common],
        help="strategy backtests; `backtest inventory`: replay the inventory plan",
        description="Without a target (or `strategies`): run a grid of strategies (buy and "
        "hold, fixed mix with calendar or tolerance-band rebalancing, equal weight, inverse "
        "volatility, risk parity, minimum and mean variance, momentum, volatility target) on "
        "the real price history and on synthetic paths from a generator fitted to it; "
        "deflated Sharpe ratios and the probability of backtest overfitting over the grid; "
        "an HTML report and a parquet of every metric. `inventory`: replay the demand "
        "model's order-up-to policy week by week on the real sales (forecasts made at each "
        "week's origin, the model refit before --from when it saw later data) beside a "
        "moving-average and a point-forecast policy; achieved vs target service, inventory, "
        "stockouts; an HTML report and a parquet per series.")
    p.add_argument("target", nargs="?", choices=["strategies", "inventory"],
                   default="strategies", help="what to backtest (default strategies)")
    p.add_argument("--paths", type=int, default=None,
                   help="synthetic price paths / sampled demand paths per series "
                        "(default 1000)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--out", type=Path, default=None,
                   help="HTML report, parquet beside it (default reports/backtest.html, "
                        "inventory: reports/inventory_backtest.html)")
    s = p.add_argument_group("strategy backtest (genlift backtest [strategies])")
    s.add_argument("--strategies", nargs="+", type=comma_list(), action=CommaList,
                   metavar="SPEC,...",
                   help="comma-separated kind[:key=value...], e.g. "
                        "fixed_mix:weights=0.6/0.4:threshold=0.05,"
                        "inverse_vol:window=63:rebalance=weekly (default: a grid of 10)")
    s.add_argument("--generator", default=None,
                   choices=["bootstrap", "garch", "vae", "gan"],
                   help="path generator (default bootstrap)")
    s.add_argument("--horizon", type=int, default=None,
                   help="traded days per synthetic path (default 2520, ten years)")
    s.add_argument("--train-end", default=None, help="fit the generator on prices up to "
                   "this date (default: all)")
    s.add_argument("--epochs", type=int, default=None, help="generator epochs (vae/gan)")
    s.add_argument("--assets", nargs="+", type=comma_list(), action=CommaList, default=None,
                   metavar="ASSET,...",
                   help="comma-separated subset of the assets (default: all)")
    s.add_argument("--cost-bps", type=float, default=None,
                   help="cost per unit traded (bps, default 5)")
    s.add_argument("--slippage-bps", type=float, default=None, help="slippage (bps, default 5)")
    s.add_argument("--cash-rate", type=float, default=None,
                   help="annual rate on cash (default 0)")
    s.add_argument("--parquet", type=Path, default=None,
                   help="metrics table (default: the report's name with .parquet)")
    i = p.add_argument_group("inventory backtest (genlift backtest inventory)")
    i.add_argument("--model", type=Path, default=None,
                   help="folder of `train demand` (required)")
    i.add_argument("--lead-time", type=_lead_time, default=None, metavar="W",
                   help="weeks from order to delivery, >= 0 (required)")
    i.add_argument("--service-level", type=float, default=None, metavar="S",
                   help="target cycle service level in (0, 1) (required)")
    i.add_argument("--from", dest="start", default=None, metavar="DATE",
                   help="first replayed week (the first data week on or after DATE; required)")
    i.add_argument("--to", dest="end", default=None, metavar="DATE",
                   help="last replayed week (default: the last data week)")
    i.add_argument("--review-period", type=int, default=None, metavar="R",
                   help="weeks between orders (default 1)")
    i.add_argument("--unmet", choices=["lost", "backorder"], default=None,
                   help="demand not served from stock is lost or backordered (default lost)")
    i.add_argument("--ma-window", type=int, default=None, metavar="K",
                   help="weeks averaged by the moving-average policy (default 8)")
    i.add_argument("--targets", type=comma_list(real_number(0, 1, low_open=True,
                                                            high_open=True)),
                   nargs="+", action=CommaList,
                   default=None, metavar="S,...",
                   help="comma-separated service levels of the calibration and trade-off "
                        "curves (default 0.5,0.7,0.8,0.85,0.9,0.95,0.98,0.99,0.995,0.999)")
    p.set_defaults(func=lambda args: cmd_backtest(args, p))
