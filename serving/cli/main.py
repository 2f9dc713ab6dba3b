"""The `genlift` command line.

Every command takes the global ``--db`` (the DuckDB store) and ``--json`` (one JSON
document on stdout for scripts). Bad input exits with status 2 and one message on
stderr, never a traceback; progress bars go to stderr. The commands live in one module
per group (:mod:`serving.cli.data`, :mod:`serving.cli.augment`, :mod:`serving.cli.recs`,
...); this one wires them up.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from features.datasets import FetchError
from features.store import DEFAULT_DB, DEFAULT_WAIT
from features.version import __version__
from serving.cli import augment, backtest, credit, data, demand, lift, pricing, recs, reserve, serve
from serving.cli import customers as customers_cli
from serving.cli import segments as segments_cli
from serving.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FETCH,
    JSON_ERRORS,
    GenliftParser,
    Groups,
    check_numbers,
    closed_pipe,
    no_output_left_on_failure,
    report_error,
    split_fix,
    use_help_formatter,
    wait_seconds,
)


def build_parser() -> argparse.ArgumentParser:
    common = GenliftParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS,
                        help=f"the DuckDB store (default ./{DEFAULT_DB})")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print one JSON document instead of tables")
    common.add_argument("--no-progress", dest="progress", action="store_false",
                        default=argparse.SUPPRESS, help="hide progress bars")
    common.add_argument("--wait", type=wait_seconds, default=argparse.SUPPRESS,
                        metavar="SECONDS",
                        help="how long to wait while another genlift command holds the "
                             f"store (default {DEFAULT_WAIT:g})")

    parser = GenliftParser(
        prog="genlift", parents=[common],
        description="Recommender and forecasting engine with generative augmentation.",
    )
    parser.add_argument("--version", action="version", version=f"genlift {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def group(name: str, help_text: str, metavar: str) -> argparse._SubParsersAction:
        p = sub.add_parser(name, parents=[common], help=help_text)
        return p.add_subparsers(dest=f"{name}_command", metavar=metavar, required=True)

    # The order of the help listing: data, features, augment, train, evaluate, score, demo.
    groups = Groups(sub=sub, common=common, train=None, evaluate=None, score=None)
    data.register_data(groups)
    augment.register(groups)
    groups = Groups(sub=sub, common=common,
                    train=group("train", "train models on the store", "MODEL"),
                    evaluate=group("evaluate", "evaluate models", "MODEL"),
                    score=group("score", "batch scoring jobs", "JOB"))
    recs.register(groups)
    credit.register(groups)
    pricing.register(groups)
    demand.register(groups)
    lift.register(groups)
    backtest.register(groups)
    reserve.register(groups)
    segments_cli.register(groups)
    customers_cli.register(groups)
    serve.register(groups)
    data.register_demo(groups)
    use_help_formatter(parser)  # every option's help states its default
    check_numbers(parser)  # 0, -1, nan, inf or a word: exit 2 before anything starts
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    token = JSON_ERRORS.set("--json" in argv)  # usage errors too are JSON then
    try:
        return _run(argv)
    except BrokenPipeError:  # `genlift data show | head -1`: the reader has gone
        return closed_pipe()
    finally:
        JSON_ERRORS.reset(token)


def _run(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (("db", DEFAULT_DB), ("json", False), ("progress", None),
                          ("wait", DEFAULT_WAIT)):
        if not hasattr(args, name):
            setattr(args, name, default)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        with no_output_left_on_failure(getattr(args, "out", None)):
            args.func(args)
    except FetchError as exc:
        report_error(*split_fix(exc), EXIT_FETCH, label="fetch failed")
        return EXIT_FETCH
    # DataValidationError (a ValueError) carries a fix; other ValueErrors and a missing
    # file are bad parameters or artifacts
    except (FileNotFoundError, ValueError) as exc:
        report_error(*split_fix(exc), EXIT_BAD_INPUT)
        return EXIT_BAD_INPUT
    sys.stdout.flush()  # a closed pipe fails here, inside main, not at exit
    return 0


if __name__ == "__main__":
    sys.exit(main())
