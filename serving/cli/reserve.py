"""`genlift reserve`: paid claims reserves of one company x line, and `genlift reserve
--backtest`: the retrospective test of the reserve distributions over a line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from serving.cli.common import Groups, add_deprecated_alias, emit, open_store, table

#: engine.insurance.reserving.METHODS, spelled here so that building the command line does
#: not import the insurance engine (LightGBM, statsmodels): every `genlift` call paid ~2 s
#: for it. tests/serving/test_cli_reserve.py checks that the two agree.
METHODS = ("chainladder", "mack", "bootstrap", "synthetic")


def cmd_reserve(args: argparse.Namespace) -> Any:
    from serving.jobs.reserve import ReserveConfig, run_reserve, run_reserve_backtest
    methods: tuple[str, ...] = METHODS if args.method == "all" else (args.method,)
    if args.backtest and args.method == "all":
        methods = tuple(m for m in methods if m != "chainladder")  # a point, no spread
    cfg = ReserveConfig(line=args.line, company=args.company, methods=methods,
                        valuation_year=args.valuation_year, n_sims=args.sims,
                        n_boot=args.boot, seed=args.seed, backtest=args.backtest,
                        top=args.top)
    if args.backtest:
        out = args.out or Path(f"reports/reserve_backtest_{args.line}.html")
        with open_store(args, read_only=True) as store:
            result = run_reserve_backtest(store, cfg, out, show_progress=args.progress)
        rows = [(line, m, t["n"], round(t["mean_percentile"], 1), t["ks_p"], t["ad_p"],
                 "pass" if t["passes_ks"] else "FAIL")
                for line, tests in result["tests"].items() for m, t in tests.items()]
        text = (f"valuation {result['valuation_year']}; eligible: {result['eligibility']}\n"
                + table(rows, ["line", "method", "companies", "mean pct", "KS p", "AD p",
                               "uniform"])
                + f"\nreport {result['report']}, percentiles {result['parquet']}")
        emit(args, result, text)
        return result
    out = args.out or Path(f"reports/reserve_{args.company}_{args.line}.html")
    with open_store(args, read_only=True) as store:
        result = run_reserve(store, cfg, out, show_progress=args.progress)
    cols = ["method", "mean_reserve", "sd", "reserve_p5", "reserve_p50", "reserve_p95"]
    if result["actual_ultimate"] is not None:
        cols += ["actual_reserve", "actual_percentile"]
    rows2 = [[m[c] for c in cols] for m in result["methods"]]
    text = (f"{result['company']} {result['company_name']} / {result['line']}: accident "
            f"years {result['accident_years'][0]}-{result['accident_years'][1]} at the end "
            f"of {result['valuation_year']}, paid to date {result['paid_to_date']:,.0f}\n"
            + table(rows2, cols) + f"\nreport {result['report']}")
    emit(args, result, text)
    return result


def register(g: Groups) -> None:
    p = g.sub.add_parser(
        "reserve", parents=[g.common], help="claims reserves of a company x line",
        description="Paid claims reserves from the claims_triangles table (`genlift data "
        "fetch clrd`): the chainladder library's chain ladder, Mack and ODP bootstrap, and "
        "genlift's synthetic development scenarios fitted across the line's companies. "
        "--backtest tests the distributions against the paid outcomes of every eligible "
        "company of the line.")
    p.add_argument("--line", required=True,
                   help="line of business (comauto, ppauto, wkcomp, othliab, medmal, "
                        "prodliab; with --backtest also all)")
    p.add_argument("--company", default=None, help="company (group) code, e.g. 353")
    p.add_argument("--method", choices=[*METHODS, "all"], default="all",
                   help="reserving method (default all)")
    p.add_argument("--backtest", action="store_true",
                   help="percentiles of the actual outcomes over the line's companies")
    p.add_argument("--valuation-year", type=int, default=None, metavar="YEAR",
                   help="the triangle known at the end of YEAR (default: the latest the "
                        "store holds; for --backtest the latest with full squares)")
    # dests "sims" / "boot": the ranges of serving.cli.common.NUMBER_OPTIONS (lift's
    # n_boot must be >= 100; a reserve bootstrap may be smaller)
    p.add_argument("--n-sims", dest="sims", type=int, default=2000,
                   help="synthetic scenarios (default 2000)")
    p.add_argument("--n-boot", dest="boot", type=int, default=300,
                   help="ODP bootstrap resamples (default 300)")
    add_deprecated_alias(p, "--sims", "--n-sims", dest="sims", type=int)
    add_deprecated_alias(p, "--boot", "--n-boot", dest="boot", type=int)
    p.add_argument("--top", type=int, default=50,
                   help="--backtest: at most this many companies per line (by premium)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", type=Path, default=None, help="HTML report path")
    p.set_defaults(func=cmd_reserve)
