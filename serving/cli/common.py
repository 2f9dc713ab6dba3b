"""Shared pieces of the `genlift` command line: exit codes, the one place a command
opens the store, the ``--cluster`` flag, output helpers, and the shared option helpers
that keep one vocabulary across commands (``--top-k``, ``--model``, ``--n-samples``,
comma-separated lists; see :func:`add_top_k`)."""

from __future__ import annotations

import argparse
import json
import math
import numbers
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from features.store import Store

EXIT_BAD_INPUT = 2
EXIT_FETCH = 3
METRIC_COLUMNS = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")


@dataclass(frozen=True)
class Groups:
    """The parsers a command module adds its subcommands to."""

    sub: Any  # the top-level subparsers action
    common: argparse.ArgumentParser  # --db / --json / --no-progress, on every command
    train: Any
    evaluate: Any
    score: Any


# -- errors: one line of text, or one JSON object with --json ----------------------------
#: Whether this command line asked for --json: errors then go to stderr as JSON too.
JSON_ERRORS: ContextVar[bool] = ContextVar("genlift_json_errors", default=False)
#: The exit status of a command whose stdout was closed early (``genlift ... | head``):
#: 128 + SIGPIPE, what a shell reports for a program that SIGPIPE ended.
EXIT_CLOSED_PIPE = 141


def report_error(message: str, fix: str | None, code: int, *, label: str = "error") -> None:
    """Print a failure on stderr: ``genlift: error: MESSAGE. Fix: FIX``, or with --json
    one JSON object ``{"error": MESSAGE, "fix": FIX or null, "exit": CODE}``."""
    if JSON_ERRORS.get():
        print(json.dumps({"error": message, "fix": fix or None, "exit": code}),
              file=sys.stderr)
    else:
        print(f"genlift: {label}: {message}" + (f". Fix: {fix}" if fix else ""),
              file=sys.stderr)


def split_fix(exc: BaseException) -> tuple[str, str | None]:
    """An exception's message and its fix (a :class:`DataValidationError` carries one)."""
    text = str(exc)
    fix = getattr(exc, "fix", "") or None
    if fix and text.endswith(f". Fix: {fix}"):
        text = text[:-len(f". Fix: {fix}")]
    return text, fix


class GenliftParser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors (exit 2) follow --json: one JSON object on
    stderr instead of the usage text. Subcommand parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        if JSON_ERRORS.get():
            report_error(f"{self.prog}: {message}", f"see `{self.prog} --help`",
                         EXIT_BAD_INPUT)
            self.exit(EXIT_BAD_INPUT)
        super().error(message)


def closed_pipe() -> int:
    """End quietly after stdout was closed by its reader: whatever is still buffered
    goes to /dev/null instead of raising again when Python flushes at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file (captured in tests)
        pass
    return EXIT_CLOSED_PIPE


@contextmanager
def no_output_left_on_failure(out: Any) -> Iterator[None]:
    """Remove ``out`` (a command's --out file or folder) when the command fails on bad
    input and the path did not exist before it ran: a refused command leaves nothing a
    retry would trip over. A crash of another kind keeps it (a scoring run resumes)."""
    path = None if out is None else Path(str(out))
    existed = path is None or path.exists() or path.is_symlink()
    try:
        yield
    except BaseException as exc:
        bad_input = isinstance(exc, ValueError | FileNotFoundError) or (
            isinstance(exc, SystemExit) and exc.code == EXIT_BAD_INPUT)
        if bad_input and not existed and path is not None:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise


# -- numeric options: checked when the command line is read --------------------------
#: The largest whole number an option takes: LightGBM, torch and numpy index with int32.
INT_MAX = 2**31 - 1
#: Seeds go to numpy, torch and LightGBM: 0 .. 2**32 - 1.
SEED_MAX = 2**32 - 1


def whole_number(low: int, high: int = INT_MAX) -> Callable[[str], int]:
    """An argparse ``type``: a whole number in ``[low, high]``; anything else is a usage
    error (exit 2) that names the flag, before the command creates anything."""
    span = (f">= {low}" if high == INT_MAX else f"from {low:,} to {high:,}")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number {span}, got "
                                             f"{text!r}") from None
        if not low <= value <= high:
            too_big = value > high and high == INT_MAX
            raise argparse.ArgumentTypeError(
                f"must be a whole number {span}" + (f" and at most {INT_MAX:,}" if too_big
                                                    else "") + f", got {text!r}")
        return value
    parse.__name__ = "whole number"
    return parse


def real_number(low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
                high_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number between ``low`` and ``high`` (each end
    included unless ``*_open``); nan, inf and words are usage errors (exit 2)."""
    if math.isinf(low) and math.isinf(high):
        span = "a finite number"
    elif math.isinf(high):
        span = f"a finite number {'>' if low_open else '>='} {low:g}"
    elif math.isinf(low):
        span = f"a number {'<' if high_open else '<='} {high:g}"
    else:
        span = (f"a number in {'(' if low_open else '['}{low:g}, {high:g}"
                f"{')' if high_open else ']'}")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = (math.isfinite(value) and (value > low if low_open else value >= low)
              and (value < high if high_open else value <= high))
        if not ok:
            raise argparse.ArgumentTypeError(f"must be {span}, got {text!r}")
        return value
    parse.__name__ = "number"
    return parse


_COUNT = whole_number(1)
_SHARE = real_number(0, 1, low_open=True, high_open=True)
#: The range of every numeric option, by its name (``dest``): one meaning per name across
#: the CLI. :func:`check_numbers` puts these on every bare ``type=int``/``type=float``
#: option of the parser tree; a name not listed gets only "finite, and an int32 when
#: whole". Options with their own ``type`` function or ``choices`` keep them.
NUMBER_OPTIONS: dict[str, Callable[[str], Any]] = {
    "seed": whole_number(0, SEED_MAX), "split_seed": whole_number(0, SEED_MAX),
    "limit": whole_number(0), "lead_time": _COUNT,
    **{name: _COUNT for name in (
        "top_k", "k", "n", "n_samples", "block_users", "block_items", "epochs", "length",
        "horizon", "n_estimators", "cv_repeats", "repeats", "cutoffs", "paths", "seeds",
        "sims", "boot", "top", "workers", "review_period", "ma_window", "valuation_year")},
    "cv_folds": whole_number(2), "folds": whole_number(2), "books": whole_number(100),
    "n_boot": whole_number(100), "port": whole_number(1, 65535),
    "holdout": _SHARE, "test_fraction": _SHARE, "service_level": _SHARE, "targets": _SHARE,
    "synthetic_weight": real_number(0, 1e6), "loading": real_number(1, 1e6),
    "tweedie_power": real_number(1, 2, low_open=True, high_open=True),
    "cost_bps": real_number(0, 10_000), "slippage_bps": real_number(0, 10_000),
    "cash_rate": real_number(-1, 1, low_open=True),
}


#: Where one command's option of a shared name means something else: (command, name).
COMMAND_NUMBER_OPTIONS: dict[tuple[str, str], Callable[[str], Any]] = {
    ("genlift lift", "folds"): whole_number(1, 20),  # 1: one split, no cross-fitting
    ("genlift reserve", "n_boot"): whole_number(10),
    ("genlift reserve", "n_sims"): whole_number(10),
}


def check_numbers(parser: argparse.ArgumentParser) -> None:
    """Give every bare ``int``/``float`` option of ``parser`` and its subcommands its
    range from :data:`COMMAND_NUMBER_OPTIONS` or :data:`NUMBER_OPTIONS`, so 0, -1, nan,
    inf, a huge value or a word is refused (exit 2, naming the flag) before any command
    starts its work."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in {id(p): p for p in action.choices.values()}.values():
                check_numbers(sub)
        elif action.type in (int, float) and action.choices is None:
            action.type = (COMMAND_NUMBER_OPTIONS.get((parser.prog, action.dest))
                           or NUMBER_OPTIONS.get(action.dest)
                           or (whole_number(-INT_MAX) if action.type is int
                               else real_number()))


def open_store(args: argparse.Namespace, *, read_only: bool) -> Store:
    """The store of ``--db``; every command opens it here (read-only when it only
    reads), waiting up to ``--wait`` seconds while another process holds it."""
    return Store(args.db, read_only=read_only, wait=args.wait)


def wait_seconds(text: str) -> float:
    """``--wait``: seconds, a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def add_cluster_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """The ``--cluster`` flag of a command; ``what`` says what runs on the cluster (the
    value is checked by :func:`serving.jobs.cluster.parse_cluster`)."""
    parser.add_argument("--cluster", default=None, metavar="SPEC",
                        help=f"{what} on Dask: local (one worker per core), local:N or "
                             "tcp://HOST:PORT (needs genlift[scale])")


def add_train_arguments(parser: argparse.ArgumentParser, *, seed: int,
                        weight_help: str | None = None) -> None:
    """The flags every ``train`` command ends with: the synthetic rows' weight, the seed and
    the model folder."""
    parser.add_argument("--synthetic-weight", type=float, default=1.0,
                        help=weight_help or "training weight of a synthetic row relative to "
                                            "a real one (default 1)")
    parser.add_argument("--seed", type=int, default=seed, help=f"random seed (default {seed})")
    parser.add_argument("--out", required=True, type=Path, help="model folder")


def emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    """One JSON document with --json, else the human text."""
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(text)


def emit_summary(args: argparse.Namespace, summary: dict[str, Any]) -> dict[str, Any]:
    """:func:`emit` a job's summary (JSON, or ``key: value`` lines) and return it."""
    emit(args, summary, summary_text(summary))
    return summary


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain-text table; numeric columns right-aligned."""
    cells = [list(map(str, header))] + [[fmt(v) for v in r] for r in rows]
    numeric = [bool(rows) and all(isinstance(r[i], numbers.Real)
                                  and not isinstance(r[i], bool) for r in rows)
               for i in range(len(header))]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if num else c.ljust(w)
                       for c, w, num in zip(r, widths, numeric, strict=True)).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(v: Any) -> str:
    """One value as people read it: 1,234 and 0.1235 (never 1.2e+03 or np.float64(...)),
    lists and mappings as ``a, b`` / ``key value, ...`` (never brackets), None as ``-``."""
    if v is None:
        return "-"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, numbers.Integral):
        return f"{int(v):,}"
    if isinstance(v, numbers.Real):
        x = float(v)
        if not math.isfinite(x):
            return "-" if math.isnan(x) else ("inf" if x > 0 else "-inf")
        return f"{x:,.0f}" if abs(x) >= 1e4 else f"{x:,.4g}"
    if isinstance(v, Mapping):
        return ", ".join(f"{k} {fmt(x)}" for k, x in v.items()) or "-"
    if isinstance(v, list | tuple | set | frozenset | np.ndarray):
        return ", ".join(fmt(x) for x in v) or "-"
    return str(v)


def summary_text(summary: dict[str, Any]) -> str:
    """A job's summary as ``key: value`` lines (values through :func:`fmt`)."""
    return "\n".join(f"{k}: {fmt(v)}" for k, v in summary.items())


# -- one vocabulary -------------------------------------------------------------------
# Every command spells the same idea the same way (README, "Command-line conventions"):
# the number of results is --top-k, a model folder is --model (--models only for a folder
# holding several models), a sample size is --n-samples, and lists are comma-separated.
# Old spellings stay for one release as hidden aliases that warn on stderr.
def deprecation_warning(old: str, new: str) -> None:
    """The one-line warning an old spelling prints on stderr."""
    print(f"genlift: warning: {old} is deprecated and will be removed in the next "
          f"release; use {new}", file=sys.stderr)


class _DeprecatedStore(argparse.Action):
    """Stores like the new option (same dest and type) after a one-line warning."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, new: str,
                 **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        deprecation_warning(option_string or self.dest, self.new)
        setattr(namespace, self.dest, values)


def add_deprecated_alias(parser: argparse.ArgumentParser, old: str, new: str, *,
                         dest: str, type: Any = None, metavar: str | None = None,
                         choices: Sequence[str] | None = None) -> None:
    """A hidden old spelling ``old`` of the option ``new`` (same ``dest``): accepted for
    one release, with a warning; not listed in ``--help``."""
    parser.add_argument(old, dest=dest, type=type, metavar=metavar, action=_DeprecatedStore,
                        new=new, default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                        choices=choices)


def add_algorithm(parser: argparse.ArgumentParser, choices: Sequence[str], default: str,
                  help_text: str) -> None:
    """``--algorithm NAME``: which model a ``train``/``evaluate`` command fits (``dest=
    "model"``, the job's keyword); ``--model`` names a model *folder* everywhere, so its
    old use here is a deprecated alias."""
    parser.add_argument("--algorithm", dest="model", choices=list(choices), default=default,
                        help=help_text)
    add_deprecated_alias(parser, "--model", "--algorithm", dest="model",
                         choices=list(choices))


def add_top_k(parser: argparse.ArgumentParser, *, default: int = 10, what: str = "items",
              deprecated: Sequence[str] = ()) -> None:
    """``--top-k K``: how many results per query (``dest="top_k"``)."""
    parser.add_argument("--top-k", type=int, default=default, metavar="K",
                        help=f"{what} per list (default {default})")
    for old in deprecated:
        add_deprecated_alias(parser, old, "--top-k", dest="top_k", type=int, metavar="K")


def add_model(parser: argparse.ArgumentParser, command: str, *, required: bool = True
              ) -> None:
    """``--model DIR``: the folder a ``genlift train``/``augment fit`` command wrote."""
    parser.add_argument("--model", required=required, type=Path, default=None,
                        metavar="DIR", help=f"model folder: the --out of `genlift {command}`")


def add_n_samples(parser: argparse.ArgumentParser, help_text: str, *,
                  required: bool = False, default: int | None = None) -> None:
    """``--n-samples N``: how many rows / users / paths to draw (``dest="n_samples"``); the
    old ``-n`` / ``--n`` are deprecated aliases."""
    parser.add_argument("--n-samples", type=int, required=required, default=default,
                        metavar="N", help=help_text)
    for old in ("-n", "--n"):
        add_deprecated_alias(parser, old, "--n-samples", dest="n_samples", type=int,
                             metavar="N")


def comma_list(kind: Callable[[str], Any] = str, *, choices: Sequence[str] | None = None
               ) -> Callable[[str], tuple[Any, ...]]:
    """An argparse ``type``: ``"a,b,c"`` -> ``(a, b, c)`` converted by ``kind``; blanks
    between commas are ignored."""
    name = getattr(kind, "__name__", "value")

    def parse(text: str) -> tuple[Any, ...]:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"{text!r} is an empty list; give "
                                             "comma-separated values, e.g. a,b")
        if choices is not None:
            bad = [p for p in parts if p not in choices]
            if bad:
                raise argparse.ArgumentTypeError(
                    f"{', '.join(map(repr, bad))} not among {', '.join(choices)}")
        try:
            return tuple(kind(p) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                             f"{name} values") from None
    parse.__name__ = f"comma-separated {name} list"
    return parse


class CommaList(argparse.Action):
    """A comma-separated list (``type=comma_list(...)``, ``nargs="+"`` or ``"*"``); the
    old space-separated form is flattened into it with a deprecation warning."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        parts = list(values) if isinstance(values, list) else [values]
        flat = tuple(v for part in parts for v in (part if isinstance(part, tuple)
                                                   else (part,)))
        if len(parts) > 1:
            name = option_string or self.dest
            deprecation_warning(f"separating {name} values with spaces",
                                f"commas: {option_string or ''} {','.join(map(str, flat))}"
                                .replace("  ", " "))
        setattr(namespace, self.dest, flat)


# -- help that states every default -----------------------------------------------------
class HelpFormatter(argparse.HelpFormatter):
    """Adds ``(default: X)`` to an option's help when it has a default the text does not
    state already (flags and unset defaults are left alone)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if shows_default(action) and "default" not in text:
            text += " (default: %(default)s)"
        return text


def shows_default(action: argparse.Action) -> bool:
    """Whether ``action``'s help must state its default."""
    flag = isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction
                      | argparse._CountAction | argparse._VersionAction
                      | argparse._HelpAction | argparse._StoreConstAction)
    return (not flag and action.default is not None and action.default is not argparse.SUPPRESS
            and action.help is not argparse.SUPPRESS)


def use_help_formatter(parser: argparse.ArgumentParser) -> None:
    """:class:`HelpFormatter` on ``parser`` and every subcommand parser below it."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                use_help_formatter(sub)
