"""Fuzzing every numeric option of every `genlift` command (hypothesis).

The commands and their options come from the argparse tree (``build_parser()``), so a
command added later is fuzzed without a change here. An option is numeric when its
``type`` turns "1", "0.5", "2", "1.5" or "1000" into a number (or a list of numbers): ``int``,
``float`` and the validators of :mod:`serving.cli.common` alike. Each gets 0, -1, a huge
whole number, a huge float, nan, inf and a word, the command's other required arguments
valid values pointing at a tiny store and tiny model folders built once here. Whatever
the value:

- the exit status is 0 or 2 (argparse's usage error included), never a traceback;
- after exit 2 the --out path does not exist, or, when it existed, is byte for byte what
  it was: a refused command leaves nothing that blocks the corrected retry;
- nan, inf and a word are refused (exit 2) by every option;
- the message of exit 2 speaks in the command's flags, never in Python's parameter names
  ("The 'top_k' parameter of ...", "pass exclude_seen=False").

A valid value starts the command's work; the work itself is tested elsewhere, so here it
stops where it starts: when the job records its run in the store (``Store.start_run``,
the first thing every long job does once its inputs are checked) or when ``serve`` hands
over to uvicorn. Short commands (scoring, sampling, showing) run to the end.

``test_every_numeric_option_alone`` tries each value on each option in turn (all of them,
every run); ``test_numeric_options_together`` lets hypothesis combine several bad and good
values on one command. Options every command shares (``--wait``) are tried on
``data show``. Set ``GENLIFT_FUZZ_EXAMPLES`` to search the combinations further.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.store import Store
from serving.cli import main as cli_main
from serving.cli.main import build_parser, main

EXAMPLES = int(os.environ.get("GENLIFT_FUZZ_EXAMPLES", "0"))
VALUES = ("0", "-1", "1000000000000", "1e300", "nan", "inf", "word")


class WorkStarted(Exception):
    """Raised where a command's long work would start: its options were all accepted."""


# -- the commands and their numeric options, from the parser ------------------------------
def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
            ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for action in subs:
        for name, sub in action.choices.items():
            yield from _leaves(sub, (*path, name))


def _is_number(value: Any) -> bool:
    if isinstance(value, tuple | list):
        return bool(value) and all(_is_number(v) for v in value)
    return isinstance(value, int | float | np.integer | np.floating) \
        and not isinstance(value, bool)


def _numeric(action: argparse.Action) -> bool:
    if action.type is None or not action.option_strings:
        return False
    for probe in ("1", "0.5", "2", "1.5", "1000"):
        try:
            return _is_number(action.type(probe))  # type: ignore[operator]
        except (argparse.ArgumentTypeError, ValueError, TypeError):
            continue
    return False


def _hidden(action: argparse.Action) -> bool:
    return action.help is argparse.SUPPRESS  # deprecated aliases: fuzzed as the new name


PARSER = build_parser()
GLOBAL = {a.dest for a in PARSER._actions}  # --db, --json, --wait: on every command
COMMANDS = {path: sub for path, sub in _leaves(PARSER)}
NUMERIC = {path: [a for a in sub._actions if _numeric(a) and not _hidden(a)
                  and a.dest not in GLOBAL]
           for path, sub in COMMANDS.items()}
NUMERIC = {path: actions for path, actions in NUMERIC.items() if actions}
SHARED = [a for a in COMMANDS[("data", "show")]._actions if _numeric(a) and a.dest in GLOBAL]


# -- a tiny world: a store and one folder of each kind the fuzzed commands read ----------
@dataclass(frozen=True)
class World:
    root: Path
    db: str
    recs: Path  # `train recs --out`
    models: Path  # `serve --models`: recs/
    generator: Path  # `augment fit --out`
    applicants: Path  # a CSV of applicants (`--in`)


def _store(path: str, applicants: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    rows = [(f"u{u:02d}", f"i{(u % 3) * 10 + i:02d}", 1_600_000_000 + 10 * u + k)
            for u in range(30) for k, i in enumerate(rng.choice(10, 5, replace=False))]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]).assign(qty=1.0, value=1.0)
    with Store(path) as store:
        store.load({"users": pd.DataFrame({"user_id": [f"u{u:02d}" for u in range(32)]}),
                    "items": pd.DataFrame({"item_id": [f"i{i:02d}" for i in range(30)]}),
                    "interactions": inter, "applicants": applicants}, source="test")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory,
          credit_applicants: Callable[..., pd.DataFrame]) -> World:
    root = tmp_path_factory.mktemp("fuzz")
    applicants = credit_applicants(120)
    w = World(root, str(root / "s.duckdb"), root / "recs", root / "models",
              root / "gen", root / "applicants.csv")
    _store(w.db, applicants)
    applicants.drop(columns=["default"]).to_csv(w.applicants, index=False)
    for argv in (["train", "recs", "--model", "popularity", "--out", str(w.recs)],
                 ["train", "recs", "--model", "popularity", "--out", str(w.models / "recs")],
                 ["augment", "fit", "tabular", "--table", "applicants", "--generator",
                  "copula", "--out", str(w.generator)]):
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["--db", w.db, "--no-progress", *argv]) == 0, argv
    return w


#: folders by the command their help names as the writer (`the --out of `genlift X``)
def _folder(action: argparse.Action, w: World) -> str:
    text = str(action.help or "")
    if "augment fit" in text:
        return str(w.generator)
    if action.dest == "models":
        return str(w.models)
    return str(w.recs)  # a recommender; a command needing another kind refuses it (exit 2)


#: options the cases always give (when the command has them and does not fuzz them):
#: several commands need one of --out / --to-store, a --model or --n-samples without argparse
#: marking it required
ALWAYS = ("out", "model", "n_samples")


def _fill(action: argparse.Action, w: World, out: Path) -> str:
    """A valid value for an argument the case does not fuzz."""
    if action.dest == "out":
        return str(out)
    if action.choices:
        return str(next(iter(action.choices)))
    if action.dest in ("model", "models", "dir", "generator") and (
            action.dest != "generator" or "augment fit" in str(action.help or "")):
        return _folder(action, w)
    by_dest: dict[str, str] = {"input": str(w.applicants), "generator": "copula",
                               "line": "comauto", "n": "5", "n_samples": "5"}
    if action.dest not in by_dest:
        raise AssertionError(f"no valid value for {action.option_strings or action.dest} "
                             f"(dest {action.dest!r}): add one to _fill in {__file__}")
    return by_dest[action.dest]


def _argv(path: tuple[str, ...], values: dict[str, str], w: World, out: Path) -> list[str]:
    """The command line: the fuzzed options, then every other required argument."""
    sub = COMMANDS[path]
    options: list[str] = []
    positionals: list[str] = []
    for action in sub._actions:
        if _hidden(action):
            continue
        if action.dest in values:
            options += [action.option_strings[-1], values[action.dest]]
        elif (action.required or action.dest in ALWAYS and action.option_strings) \
                and action.dest not in GLOBAL:
            if action.option_strings:
                options += [action.option_strings[-1], _fill(action, w, out)]
            else:
                positionals.append(_fill(action, w, out))
    return ["--db", w.db, "--no-progress", *path, *positionals, *options]


# -- running one case ----------------------------------------------------------------------
def _snapshot(path: Path) -> dict[str, bytes] | None:
    if not path.exists():
        return None
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(path.rglob("*"))}


@contextlib.contextmanager
def _work_stops_where_it_starts() -> Iterator[None]:
    def started(*args: Any, **kwargs: Any) -> None:
        raise WorkStarted
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Store, "start_run", started)
        # one parser for every case (building one takes longer than most cases)
        mp.setattr(cli_main, "build_parser", lambda: PARSER)
        with contextlib.suppress(ImportError):
            import uvicorn
            mp.setattr(uvicorn, "run", started)
        yield


#: values no numeric option takes: each must be refused
NEVER_VALID = ("nan", "inf", "word")
#: a parameter error in Python's words (scikit-learn style), not the command's flags
PYTHON_SPEAK = re.compile(r"The '\w+' parameter of|pass \w+=")


def run_case(argv: list[str], out: Path, never_valid: bool = False) -> str | None:
    """Run one command line; None when it kept the contract, else what went wrong.
    ``never_valid``: it holds a value no option accepts, so it must exit 2."""
    before = _snapshot(out)
    stdout, stderr = io.StringIO(), io.StringIO()
    with _work_stops_where_it_starts(), contextlib.redirect_stdout(stdout), \
            contextlib.redirect_stderr(stderr):
        try:
            code: Any = main(argv)
        except WorkStarted:
            return "accepted a value no option takes" if never_valid else None
        except SystemExit as exc:  # argparse: usage errors (2)
            code = exc.code
        except BaseException:  # noqa: BLE001 - the finding itself
            return f"raised {traceback.format_exc(limit=-3)}"
    err = stderr.getvalue()
    if code not in (0, 2):
        return f"exit {code}: {err[-600:]}"
    if "Traceback" in err:
        return f"traceback on stderr: {err[-600:]}"
    if code == 2 and "error" not in err:
        return f"exit 2 without a message: {err!r}"
    if code == 2 and PYTHON_SPEAK.search(err):
        return f"a message in Python's words, not the command's flags: {err[-400:]}"
    if code == 0 and never_valid:
        return "accepted a value no option takes"
    if code == 2 and _snapshot(out) != before:
        return f"exit 2 but {out} {'was left behind' if before is None else 'changed'}: {err}"
    return None


def _case_out(root: Path, n: int, exists: bool) -> Path:
    out = root / f"case-{n:05d}" / "out"
    out.parent.mkdir(parents=True)
    if exists:  # an earlier run's output: a refused command must not touch it
        out.mkdir()
        (out / "earlier.txt").write_text("kept")
    return out


def test_the_tree_has_numeric_options() -> None:
    # the scorer, the trainers and the server among them: the walk finds the tree
    assert {("score", "recommend"), ("train", "demand"), ("serve",)} <= set(NUMERIC)
    flags = {f for actions in NUMERIC.values() for a in actions for f in a.option_strings}
    assert {"--top-k", "--block-users", "--seed", "--service-level", "--port"} <= flags
    assert [a.dest for a in SHARED] == ["wait"]


def test_every_numeric_option_alone(world: World, tmp_path: Path) -> None:
    cases = [(path, a.dest, v) for path, actions in NUMERIC.items() for a in actions
             for v in VALUES]
    cases += [(("data", "show"), a.dest, v) for a in SHARED for v in VALUES]
    failures = []
    for n, (path, dest, value) in enumerate(cases):
        out = _case_out(tmp_path, n, exists=n % 2 == 1)
        argv = _argv(path, {dest: value}, world, out)
        problem = run_case(argv, out, never_valid=value in NEVER_VALID)
        if problem:
            failures.append(f"genlift {' '.join(argv[3:])}\n    {problem}")
    assert not failures, f"{len(failures)} of {len(cases)} cases broke the contract:\n" \
        + "\n".join(failures)


@st.composite
def _combination(draw: st.DrawFn) -> tuple[tuple[str, ...], dict[str, str], bool]:
    path = draw(st.sampled_from(sorted(NUMERIC)))
    actions = NUMERIC[path]
    chosen = draw(st.lists(st.sampled_from(actions), min_size=1, max_size=min(3, len(actions)),
                           unique_by=lambda a: a.dest))
    values = {a.dest: draw(st.sampled_from((*VALUES, "1", "2", "0.5"))) for a in chosen}
    return path, values, draw(st.booleans())


@settings(max_examples=EXAMPLES or 60, deadline=None, database=None, derandomize=not EXAMPLES,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=_combination())
def test_numeric_options_together(world: World, tmp_path: Path,
                                  case: tuple[tuple[str, ...], dict[str, str], bool]) -> None:
    path, values, exists = case
    out = _case_out(tmp_path, len(list(tmp_path.iterdir())), exists)
    argv = _argv(path, values, world, out)
    problem = run_case(argv, out, never_valid=bool(set(values.values()) & set(NEVER_VALID)))
    assert problem is None, f"genlift {' '.join(argv[3:])}\n    {problem}"
