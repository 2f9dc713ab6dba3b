"""`genlift lift TASK|all`: the lift experiment with and without synthetic data."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.errors import DataValidationError
from serving.cli.common import (
    Groups,
    add_deprecated_alias,
    emit,
    open_store,
    real_number,
    table,
)

if TYPE_CHECKING:
    from engine.lift import LiftConfig

TASK_CHOICES = ("recs", "credit", "demand", "paths", "pricing", "segments", "all")


def _param(text: str) -> tuple[str, Any]:
    """``NAME=VALUE``; VALUE is read as JSON when it parses (numbers, lists), else text."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--param {text!r} is not NAME=VALUE "
                                         "(e.g. --param epochs=20)")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def _csv(kind: Callable[[str], Any]) -> Any:
    def parse(text: str) -> tuple[Any, ...]:
        try:
            return tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                             f"{kind.__name__} values") from exc
    return parse


def _fractions(text: str) -> tuple[float, ...]:
    """``--fractions 0.05,0.1,0.25,0.5,1``: distinct shares of the training data in (0, 1]."""
    out: list[float] = []
    for part in (p.strip() for p in text.split(",")):
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--fractions {text!r}: {part!r} is not a number (give shares of the real "
                "training data in (0, 1], e.g. 0.05,0.1,0.25,0.5,1)") from None
        if not 0 < value <= 1:  # also rejects nan
            raise argparse.ArgumentTypeError(
                f"--fractions {text!r}: {part} is not in (0, 1] (a share of the real training "
                "data: 0.1 is 10%, 1 all of it)")
        if value in out:
            raise argparse.ArgumentTypeError(f"--fractions {text!r}: {part} is given twice")
        out.append(value)
    return tuple(out)


def _margin(text: str) -> tuple[str, float | str]:
    """``--margin METRIC=VALUE``: an absolute margin (``auc=0.005``) or a share of the
    real-only value (``wape=0.5%``)."""
    name, sep, value = text.partition("=")
    value = value.strip()
    try:
        number = float(value[:-1] if value.endswith("%") else value)
    except ValueError:
        number = float("nan")
    if not sep or not name or not (number > 0 and number != float("inf")):
        raise argparse.ArgumentTypeError(
            f"--margin {text!r} is not METRIC=VALUE with VALUE > 0, a number (absolute) or "
            "a percentage of the real-only value (e.g. --margin auc=0.005, --margin "
            "wape=0.5%)")
    return name, value if value.endswith("%") else number


def config_from_args(args: argparse.Namespace, task: str) -> LiftConfig:
    from engine.lift import LiftConfig
    if args.seeds is not None and args.repeats is not None and args.seeds != args.repeats:
        raise DataValidationError(
            f"--seeds {args.seeds} and --repeats {args.repeats} disagree: with cross-fitting "
            "each seed is one repeat", fix="give one of them")
    count = args.seeds if args.seeds is not None else args.repeats
    if count is not None and count < 1:
        raise DataValidationError(f"--seeds/--repeats {count} must be >= 1",
                                  fix="pass --seeds 5 (the protocol's minimum for a verdict), "
                                      "or --folds 5 --repeats 2")
    if args.folds is not None and not 1 <= args.folds <= 20:
        raise DataValidationError(f"--folds {args.folds} must be in 1..20",
                                  fix="pass --folds 5 (cross-fitting) or --folds 1 (one split)")
    return LiftConfig(task=task, budget=args.budget,
                      seeds=None if count is None else tuple(range(args.seed,
                                                                   args.seed + count)),
                      folds=args.folds,
                      generators=args.generators, baselines=args.baselines,
                      ratios=args.ratios, models=args.models, n_boot=args.n_boot,
                      split_seed=args.split_seed, params=dict(args.param or []),
                      fractions=args.fractions or (1.0,), margins=dict(args.margin or []))


def _print_task(result: dict[str, Any]) -> str:
    from serving.reports.lift import (
        champion_note,
        format_ci,
        format_mde,
        format_ratio,
        summary_rows,
        verdict_summary,
    )
    from serving.reports.lift_efficiency import multiplier_sentence
    rows = [(s["model"], s["arm"], format_ratio(s["ratio"]), s["segment"], s["real"],
             s["with"], s["delta"] if s["delta"] is not None else float("nan"), format_ci(s),
             format_mde(s), s["verdict"], "yes" if s["holm"] else "no",
             f"{s['helps']}/{s['equivalent']}/{s['inconclusive']}/{s['hurts']}")
            for s in summary_rows(result)]
    cfg = result["config"]
    runs = f"{len(cfg['seeds'])} seeds" if (cfg.get("folds") or 1) == 1 else \
        f"{cfg['folds']}-fold cross-fitting x {len(cfg['seeds'])} repeats"
    head = (f"lift {result['task']} ({result['dataset']}, {runs}, budget "
            f"{cfg['budget']}, run {result['run_id']}, {result['seconds']:.0f} s): "
            f"{result['primary_metric']} on test, ratio chosen on validation")
    if result.get("provisional"):
        head += "\n  PROVISIONAL: fewer than 5 fits per arm (seeds x folds)"
    text = head + "\n" + table(rows, ["model", "arm", "ratio", "segment", "real-only",
                                      "with", "delta", "95% CI", "MDE (80%)", "verdict",
                                      "Holm", "all metrics helps/eq/inconcl/hurts"])
    text += "\n" + verdict_summary(result)
    champ = champion_note(result)
    if champ:
        text += "\n" + champ
    eff = result.get("efficiency")
    if eff:
        text += (f"\ndata efficiency ({eff['metric']}; effective real-data multiplier, "
                 "95% CI):")
        text += "".join(f"\n  {multiplier_sentence(m, result['unit'])}"
                        for m in eff["multipliers"])
    return text + f"\nreport: {result['html']}\n"


def cmd_lift(args: argparse.Namespace) -> Any:
    from serving.jobs.lift import run_all, run_task
    with open_store(args, read_only=False) as store:
        if args.task == "all":
            cfgs = {t: config_from_args(args, t) for t in TASK_CHOICES[:-1]}
            out = run_all(store, cfgs["recs"], args.out, show_progress=args.progress,
                          cluster=args.cluster)
            text = "\n".join(_print_task(r) for r in out["tasks"].values())
            emit(args, out, text + f"\nindex: {out['index']}")
            return out
        result = run_task(store, config_from_args(args, args.task), args.out,
                          show_progress=args.progress, cluster=args.cluster)
    emit(args, result, _print_task(result) + f"index: {args.out / 'index.html'}")
    return result


def register(g: Groups) -> None:
    p = g.sub.add_parser(
        "lift", parents=[g.common], help="with vs without synthetic data, with CIs",
        description="Split the real data once, fit generators on train only, train each "
        "model with and without synthetic data over several seeds, pick each arm's ratio "
        "on validation and compare on test: delta, 95% paired-bootstrap CI, minimum "
        "detectable effect and a verdict (helps / equivalent / inconclusive / hurts; "
        "equivalent: the 90% interval inside the metric's practical margin, TOST). With "
        "--fractions, every arm also runs on shares of the real training data: data-"
        "efficiency curves and the effective real-data multiplier. Writes OUT/TASK.json, "
        "OUT/TASK.html and OUT/index.html, and records the run in the store.")
    p.add_argument("task", choices=TASK_CHOICES, metavar="TASK",
                   help=" | ".join(TASK_CHOICES))
    p.add_argument("--budget", choices=["small", "full"], default="small",
                   help="small: the demo's few-minute run; full: more generators, ratios, "
                        "epochs and models")
    p.add_argument("--seeds", type=int, default=None,
                   help="seeds per arm; with --folds each seed is one repeat (default: the "
                        "task's, 5 seeds, or 2 repeats where it cross-fits)")
    p.add_argument("--repeats", type=int, default=None,
                   help="repeats of the K-fold cross-fitting (the same as --seeds; default 2 "
                        "for credit and pricing)")
    p.add_argument("--folds", type=int, default=None,
                   help="K-fold cross-fitting: every real unit tested once per repeat "
                        "(default: 5 for credit and pricing, 1 = one split elsewhere)")
    p.add_argument("--cluster", default=None, metavar="SPEC",
                   help="run the independent pieces (seed x fold) on Dask: local, local:N or "
                        "tcp://HOST:PORT (default: this process); same numbers")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--generators", type=_csv(str), default=None,
                   help="comma-separated generator names (default: the task's for the budget)")
    p.add_argument("--baselines", type=_csv(str), default=None,
                   help="comma-separated baseline names (default: all of the task's)")
    p.add_argument("--ratios", type=_csv(real_number(0, 1000, low_open=True)), default=None,
                   help="synthetic rows per real training row, e.g. 0.25,0.5,1,2")
    p.add_argument("--algorithms", dest="models", type=_csv(str), default=None,
                   help="comma-separated models to train in every arm (default: the task's "
                        "for the budget)")
    add_deprecated_alias(p, "--models", "--algorithms", dest="models", type=_csv(str))
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (>= 100)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the one data split")
    p.add_argument("--param", type=_param, action="append", metavar="NAME=VALUE",
                   help="a task setting, e.g. --param epochs=20 (repeatable)")
    p.add_argument("--fractions", type=_fractions, default=None, metavar="F,F,...",
                   help="data-efficiency curves: shares of the real training data to run "
                        "every arm at, e.g. 0.05,0.1,0.25,0.5,1 (1 is always run; default: "
                        "1 only). credit and pricing")
    p.add_argument("--margin", type=_margin, action="append", metavar="METRIC=VALUE",
                   help="practical margin of the 'equivalent' verdict, absolute (auc=0.005) "
                        "or relative to real-only (wape=0.5%%); repeatable; defaults per "
                        "metric are in the report's Config")
    p.add_argument("--out", type=Path, default=Path("reports"),
                   help="report folder (default reports: reports/index.html)")
    p.set_defaults(func=cmd_lift)
