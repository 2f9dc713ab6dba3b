"""`genlift augment fit | sample | report`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from features.errors import DataValidationError
from serving.cli.common import (
    Groups,
    add_cluster_argument,
    add_model,
    add_n_samples,
    deprecation_warning,
    emit,
    emit_summary,
    open_store,
)


# -- augment -------------------------------------------------------------------------------
def _conditions(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DataValidationError(f"--condition {item!r} is not of the form column=value",
                                      fix="write e.g. --condition default=1")
        out[key] = value
    return out


def cmd_augment_fit(args: argparse.Namespace) -> Any:
    from serving.jobs.augment import DEFAULT_TABLE, FitConfig, fit
    cfg = FitConfig(kind=args.kind, table=args.table or DEFAULT_TABLE[args.kind],
                    generator=args.generator, seed=args.seed, holdout=args.holdout,
                    epochs=args.epochs, train_end=args.train_end,
                    init=None if args.init is None else str(args.init))
    with open_store(args, read_only=False) as store:
        summary = fit(store, cfg, args.out, show_progress=args.progress)
    return emit_summary(args, summary)


def _generator_folder(args: argparse.Namespace) -> Path:
    """``--model DIR``, or the old positional DIR (deprecated)."""
    if args.dir is not None:
        if args.model is not None:
            raise DataValidationError(f"the generator folder is given twice ({args.dir} and "
                                      f"--model {args.model})", fix="give only --model DIR")
        deprecation_warning(f"the positional folder ({args.dir})", f"--model {args.dir}")
        return Path(args.dir)
    if args.model is None:
        raise DataValidationError("no generator folder given",
                                  fix="pass --model DIR, the --out folder of `augment fit`")
    return Path(args.model)


def _add_generator_folder(p: argparse.ArgumentParser) -> None:
    add_model(p, "augment fit", required=False)
    p.add_argument("dir", nargs="?", type=Path, default=None, help=argparse.SUPPRESS)


def cmd_augment_sample(args: argparse.Namespace) -> Any:
    from serving.jobs.augment import sample, to_store, write_samples
    from serving.jobs.cluster import maybe_connect
    if args.to_store == bool(args.out):
        raise DataValidationError("give exactly one of --out FILE and --to-store",
                                  fix="add --out synthetic.parquet or --to-store")
    folder = _generator_folder(args)
    if args.n_samples is None:
        raise DataValidationError("augment sample needs --n-samples N",
                                  fix="pass e.g. --n-samples 1000 (rows / users / paths)")
    conditions = _conditions(args.condition)
    with maybe_connect(args.cluster) as client:
        frames = sample(folder, args.n_samples, conditions=conditions, seed=args.seed,
                        length=args.length, client=client)
    if args.to_store:
        with open_store(args, read_only=False) as store:
            counts = to_store(store, folder, frames)
        payload: dict[str, Any] = {"tables": counts}
        emit(args, payload, "\n".join(f"{t}: +{c:,} rows" for t, c in counts.items()))
        return payload
    written = write_samples(frames, args.out)
    emit(args, written, "\n".join(f"{k}: {v['rows']:,} rows -> {v['file']}"
                                    for k, v in written.items()))
    return written


def cmd_augment_report(args: argparse.Namespace) -> Any:
    from serving.jobs.augment import report
    with open_store(args, read_only=True) as store:
        result = report(store, _generator_folder(args), args.out, n=args.n_samples,
                        seed=args.seed)
    words = result["glossary"]  # each score's meaning and good/bad direction
    emit(args, result, f"report: {result['report']}\n" + "\n".join(
        f"  {k}: {_shown(v)}  ({words[k]['direction']}) {words[k]['meaning']}"
        for k, v in result["scorecard"].items()))
    return result


def _shown(value: Any) -> str:
    """A scorecard value for people: numbers to 4 digits, the giveaway columns and worst
    pairs as "name 0.14, name 0.09" (never a Python list)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(" ".join(_shown(v) for v in item.values()) if isinstance(item, dict)
                         else _shown(item) for item in value)
    return str(value)


def register(g: Groups) -> None:
    aug = g.sub.add_parser("augment", parents=[g.common],
                         help="fit generators, sample synthetic data, report its quality")
    asub = aug.add_subparsers(dest="augment_command", metavar="ACTION", required=True)
    p = asub.add_parser("fit", parents=[g.common], help="fit a generator on a store table",
                        description="Fit a generator on the training part of a table (a "
                        "held-out part is kept aside for the report) and save it in --out.")
    p.add_argument("kind", choices=["tabular", "baskets", "paths", "sales"],
                   help="what the generator makes: tabular rows, baskets (users' "
                        "interactions), price paths or sales windows")
    p.add_argument("--table", default=None,
                   help="store table (default applicants | interactions | prices | sales)")
    p.add_argument("--generator", required=True,
                   help="tabular: copula|vae|gan|diffusion|auto; baskets: vae|gan; "
                        "paths: gan|vae|bootstrap|garch; sales: ar|vae")
    p.add_argument("--out", required=True, type=Path, help="folder for the fitted generator")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (neural models)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--holdout", type=float, default=0.2,
                   help="share of rows / users / days held out for the report (default 0.2)")
    p.add_argument("--train-end", default=None,
                   help="paths, sales: last training date (default: 80%% of the history)")
    p.add_argument("--init", type=Path, default=None, metavar="DIR",
                   help="fine-tune from a generator fitted on another table with the same "
                        "columns (an `augment fit --out` folder); neural generators only "
                        "(tabular vae|gan|diffusion, paths gan|vae, sales ar|vae)")
    p.set_defaults(func=cmd_augment_fit)

    p = asub.add_parser("sample", parents=[g.common], help="sample from a fitted generator")
    _add_generator_folder(p)
    add_n_samples(p, "rows / users / paths to sample (required)")
    p.add_argument("--condition", action="append", metavar="COLUMN=VALUE",
                   help="fix a categorical column (repeatable), e.g. default=1")
    p.add_argument("--length", type=int, default=None,
                   help="paths, sales: steps per path or window (default: the generator's "
                        "own, 252 days for paths)")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--out", default=None, help="write parquet here")
    p.add_argument("--to-store", action="store_true",
                   help="append to the store's synthetic_<table> tables")
    add_cluster_argument(p, "sample in partitions (rows drawn in chunks with their own "
                            "seeds: the same sample for any number of workers)")
    p.set_defaults(func=cmd_augment_sample)

    p = asub.add_parser("report", parents=[g.common],
                        help="HTML quality and privacy report of a fitted generator")
    _add_generator_folder(p)
    p.add_argument("--out", required=True, type=Path, help="the HTML file to write")
    add_n_samples(p, "synthetic rows / users / paths to score (default: tabular the "
                     "training rows, at least 1,000; baskets the held-out users; paths 200; "
                     "sales 2,000 windows)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_augment_report)

