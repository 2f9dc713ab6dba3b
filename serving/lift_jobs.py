"""`genlift lift`: run the lift experiment of one task (or all) on the store's real data,
record it in ``runs``, and write ``<out>/<task>.json``, ``<out>/<task>.html`` and the
index ``<out>/index.html``."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from engine.lift import TASKS, LiftConfig, get_task, run_lift, work_units
from features.artifacts import write_json_atomic
from features.errors import DataValidationError
from features.store import Store

logger = logging.getLogger(__name__)

DATASET_OF = {"recs": "movielens-100k", "credit": "german-credit", "demand": "dominicks-oj",
              "paths": "sp500-20"}


def _tables(store: Store, task_name: str, names: Sequence[str],
            optional: Sequence[str] = ()) -> dict[str, Any]:
    missing = [t for t in names if not store.has(t) and t not in optional]
    if missing:
        raise DataValidationError(
            f"lift {task_name} needs table(s) {', '.join(missing)}, not in the store",
            table=missing[0],
            fix=f"genlift --db {store.path} data fetch {DATASET_OF.get(task_name, 'all')} "
                "(or import your own)")
    return {t: store.read(t) for t in names if store.has(t)}


def _check_out(out_dir: Path) -> None:
    """Fail before any work when the report folder cannot be written."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DataValidationError(f"--out {out_dir} is a file, not a folder",
                                  fix="pass a folder for the lift reports")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".genlift-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise DataValidationError(f"cannot write lift reports to {out_dir}: {exc.strerror}",
                                  fix="pass a writable folder with --out") from exc


def run_task(store: Store, cfg: LiftConfig, out_dir: Path, *,
             show_progress: bool | None = None) -> dict[str, Any]:
    """One task end to end; returns the result with ``run_id``, ``json`` and ``html``."""
    from serving.lift_report import write_index, write_task_report

    task = get_task(cfg.task)
    resolved = cfg.resolve(task)  # bad config fails before any work or write
    tables = _tables(store, task.name, task.tables, task.optional_tables)
    _check_out(out_dir)
    used = [t for t in task.tables if t in tables]
    run_id = store.start_run("lift", {"lift": resolved.to_dict()}, seed=resolved.seeds[0],
                             tables=used)
    disable = None if show_progress is None else not show_progress
    try:
        with tqdm(total=work_units(task, resolved), desc=f"lift {task.name}", unit="fit",
                  disable=disable) as bar:
            result = run_lift(task, tables, resolved, progress=lambda _: bar.update(1))
        result = jsonable(result)
        result["run_id"] = run_id
        result["fingerprints"] = store.fingerprints(used)
        # The page first, then the JSON: a JSON in the folder always has its page.
        html_path = write_task_report(result, out_dir / f"{task.name}.html")
        json_path = write_json_atomic(result, out_dir / f"{task.name}.json")
        write_index(out_dir)
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    store.finish_run(run_id, metrics={"summary": summary_rows(result),
                                      "recommended": result["recommended"],
                                      "json": str(json_path), "html": str(html_path)})
    result["json"], result["html"] = str(json_path), str(html_path)
    return result


def run_all(store: Store, cfg: LiftConfig, out_dir: Path, *,
            tasks: Sequence[str] | None = None, show_progress: bool | None = None
            ) -> dict[str, Any]:
    """Every task with the same budget, seeds and bootstrap settings (each task's own
    generators, baselines and ratios unless the config names them)."""
    names = list(tasks or TASKS)
    known = {n: set(get_task(n).defaults(cfg.budget)["params"]) for n in names}
    unknown = [p for p in cfg.params if not any(p in k for k in known.values())]
    if unknown:
        raise DataValidationError(
            f"lift all: no task takes parameter(s) {', '.join(sorted(unknown))}",
            fix="see each task's parameters in its report's Config section")
    cfgs = {name: replace(cfg, task=name,
                          params={k: v for k, v in cfg.params.items() if k in known[name]})
            for name in names}
    for name in names:  # every task's settings and tables are checked before any runs
        task = get_task(name)
        cfgs[name].resolve(task)
        _tables(store, name, task.tables, task.optional_tables)
    _check_out(out_dir)
    results = {}
    for name in names:
        results[name] = run_task(store, cfgs[name], out_dir, show_progress=show_progress)
    return {"tasks": results, "index": str(out_dir / "index.html")}


def jsonable(obj: Any) -> Any:
    """Plain JSON types; NaN and infinities become null (strict JSON readers reject them)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, bool | str) or obj is None:
        return obj
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    return str(obj)


def summary_rows(result: Mapping[str, Any], *, metric: str | None = None
                 ) -> list[dict[str, Any]]:
    """Per model, arm and segment: the (primary) metric's delta, CI and verdict, plus the
    verdict counts over every metric."""
    metric = metric or result["primary_metric"]
    rows = [r for r in result["rows"] if r["arm"] != "real"]
    out = []
    for r in rows:
        if r["metric"] != metric:
            continue
        same = [x["verdict"] for x in rows if (x["model"], x["arm"], x["segment"]) ==
                (r["model"], r["arm"], r["segment"])]
        ref = next(x for x in result["rows"] if x["arm"] == "real" and x["model"] ==
                   r["model"] and x["segment"] == r["segment"] and x["metric"] == metric)
        out.append({"task": result["task"], "model": r["model"], "arm": r["arm"],
                    "family": r["family"], "ratio": r["ratio"], "segment": r["segment"],
                    "metric": metric, "real": ref["value"], "with": r["value"],
                    "delta": r["delta"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                    "verdict": r["verdict"], "holm": r.get("holm_significant"),
                    "helps": same.count("helps"),
                    "no_effect": same.count("no effect"), "hurts": same.count("hurts")})
    return out


def load_results(out_dir: Path) -> list[dict[str, Any]]:
    """Every ``<task>.json`` in ``out_dir``, in task order."""
    found = []
    for name in TASKS:
        path = out_dir / f"{name}.json"
        if not path.exists():
            continue
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            logger.warning("lift index: skipping unreadable %s (%s)", path, exc)
            continue
        if isinstance(doc, dict) and doc.get("task") == name and "rows" in doc:
            found.append(doc)
        else:
            logger.warning("lift index: skipping %s, not a genlift lift result", path)
    return found


__all__ = ["jsonable", "load_results", "run_all", "run_task", "summary_rows"]
