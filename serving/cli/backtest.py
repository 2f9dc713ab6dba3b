"""`genlift backtest`: robo-advisor strategies on the real history and synthetic paths."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from serving.cli.common import Groups, emit, open_store, table


def cmd_backtest(args: argparse.Namespace) -> Any:
    from serving.jobs.backtest import BacktestConfig, run
    cfg = BacktestConfig(strategies=tuple(args.strategies or ()), generator=args.generator,
                         paths=args.paths, horizon=args.horizon, train_end=args.train_end,
                         epochs=args.epochs, cost_bps=args.cost_bps,
                         slippage_bps=args.slippage_bps, cash_rate=args.cash_rate,
                         seed=args.seed, assets=tuple(args.assets or ()))
    with open_store(args, read_only=False) as store:
        result = run(store, cfg, args.out, parquet=args.parquet, show_progress=args.progress)
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


def register(g: Groups) -> None:
    p = g.sub.add_parser(
        "backtest", parents=[g.common], help="robo-advisor strategy backtests",
        description="Run a grid of strategies (buy and hold, fixed mix with calendar or "
        "tolerance-band rebalancing, equal weight, inverse volatility, risk parity, minimum "
        "and mean variance, momentum, volatility target) on the real price history and on "
        "synthetic paths from a generator fitted to it; deflated Sharpe ratios and the "
        "probability of backtest overfitting over the grid; an HTML report and a parquet "
        "of every metric.")
    p.add_argument("--strategies", nargs="+", metavar="SPEC",
                   help="kind[:key=value...], e.g. fixed_mix:weights=0.6/0.4:threshold=0.05 "
                        "inverse_vol:window=63:rebalance=weekly (default: a grid of 10)")
    p.add_argument("--generator", default="bootstrap",
                   choices=["bootstrap", "garch", "vae", "gan"], help="path generator")
    p.add_argument("--paths", type=int, default=1000, help="synthetic paths (default 1000)")
    p.add_argument("--horizon", type=int, default=2520,
                   help="traded days per synthetic path (default 2520, ten years)")
    p.add_argument("--train-end", default=None, help="fit the generator on prices up to "
                   "this date (default: all)")
    p.add_argument("--epochs", type=int, default=None, help="generator epochs (vae/gan)")
    p.add_argument("--assets", nargs="+", default=None, help="a subset of the assets")
    p.add_argument("--cost-bps", type=float, default=5.0, help="cost per unit traded (bps)")
    p.add_argument("--slippage-bps", type=float, default=5.0, help="slippage (bps)")
    p.add_argument("--cash-rate", type=float, default=0.0, help="annual rate on cash")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("reports/backtest.html"),
                   help="HTML report (default reports/backtest.html)")
    p.add_argument("--parquet", type=Path, default=None,
                   help="metrics table (default: the report's name with .parquet)")
    p.set_defaults(func=cmd_backtest)
