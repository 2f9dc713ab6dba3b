"""`genlift lift`: run the lift experiment of one task (or all) on the store's real data,
record it in ``runs``, and write ``<out>/<task>.json``, ``<out>/<task>.html`` and the
index ``<out>/index.html``.

A run is resumable: every finished piece (one seed's real-only models, or one seed's arm)
is written to ``<out>/.lift-checkpoints/<task>-<key>/`` as it completes, ``key`` being a
hash of the resolved config, the data fingerprints and the genlift version. A re-run of the
same config on the same data after a crash (or kill -9) reuses those pieces, so its result
equals an uninterrupted run's; the killed run is marked ``interrupted`` in ``runs``. The
checkpoints of a task are removed when its run finishes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from engine.lift import ALL_TASKS, TASKS, LiftConfig, Piece, get_task, run_lift, work_units
from features.artifacts import write_json_atomic
from features.errors import DataValidationError
from features.store import Store
from features.version import __version__
from serving.jobs.cluster import connect, parse_cluster
from serving.reports.lift import summary_rows, write_index, write_task_report

logger = logging.getLogger(__name__)

DATASET_OF = {"recs": "movielens-100k", "credit": "german-credit", "demand": "dominicks-oj",
              "paths": "sp500-20", "pricing": "medical-insurance", "segments": "telco-churn"}


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


CHECKPOINTS = ".lift-checkpoints"


class Checkpoints:
    """The finished pieces of one task's run, one ``.npz`` each (arrays exact, no pickles;
    the piece's description is a JSON string inside it), written atomically."""

    def __init__(self, out_dir: Path, task: str, config: Mapping[str, Any],
                 fingerprints: Mapping[str, Any]) -> None:
        blob = json.dumps({"config": config, "fingerprints": fingerprints,
                           "genlift": __version__}, sort_keys=True, default=str)
        self.task = task
        self.root = out_dir / CHECKPOINTS
        self.dir = self.root / f"{task}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"

    def _file(self, seed: int, arm: str) -> Path:
        return self.dir / f"seed{seed}-{hashlib.sha256(arm.encode()).hexdigest()[:12]}.npz"

    def save(self, piece: Piece) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        records = []
        for model, ratio, out in piece.records:
            names: dict[str, dict[str, str]] = {}
            for part, units in out.items():
                names[part] = {}
                for key, value in units.items():
                    name = f"a{len(arrays)}"
                    arrays[name] = np.asarray(value)
                    names[part][key] = name
            records.append({"model": model, "ratio": ratio, "arrays": names})
        meta = {"seed": piece.seed, "arm": piece.arm, "fit_seconds": piece.fit_seconds,
                "quality": piece.quality, "quality_name": piece.quality_name,
                "params": piece.params, "records": records}
        final = self._file(piece.seed, piece.arm)
        tmp = final.with_name(f".{final.name}.tmp")
        with open(tmp, "wb") as fh:
            arrays["__meta__"] = np.array(json.dumps(meta))
            np.savez(fh, **arrays)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)

    def load(self) -> dict[tuple[int, str], Piece]:
        """Every readable piece; an unreadable one is skipped (and recomputed)."""
        done: dict[tuple[int, str], Piece] = {}
        for file in sorted(self.dir.glob("seed*.npz")) if self.dir.is_dir() else []:
            try:
                with np.load(file, allow_pickle=False) as npz:
                    meta = json.loads(str(npz["__meta__"]))
                    records: list[Any] = [(r["model"], r["ratio"],
                                           {part: {key: npz[name]
                                                   for key, name in names.items()}
                                            for part, names in r["arrays"].items()})
                                          for r in meta["records"]]
                piece = Piece(int(meta["seed"]), str(meta["arm"]), records,
                              meta["fit_seconds"], meta["quality"], meta["quality_name"],
                              meta.get("params"))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                logger.warning("lift %s: ignoring unreadable checkpoint %s (%s)", self.task,
                               file, exc)
                continue
            done[(piece.seed, piece.arm)] = piece
        return done

    def previous_run(self) -> str | None:
        file = self.dir / "run.json"
        try:
            return str(json.loads(file.read_text())["run_id"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def claim(self, run_id: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic({"run_id": run_id}, self.dir / "run.json")

    def clear(self) -> None:
        """Remove every checkpoint of this task (any config)."""
        for folder in self.root.glob(f"{self.task}-*"):
            shutil.rmtree(folder, ignore_errors=True)
        if self.root.is_dir() and not any(self.root.iterdir()):
            self.root.rmdir()


def _mapper(client: Any) -> Any:
    """``run_lift``'s mapper on a Dask client: one task per group (seed x fold), results
    as they finish (checkpointed by the caller as they arrive)."""
    def mapper(fn: Any, groups: Sequence[Any]) -> Iterator[Any]:
        from distributed import as_completed
        futures = client.map(fn, list(groups), pure=False)
        for fut in as_completed(futures, loop=client.loop):
            yield fut.result()  # a worker's exception is raised here
    return mapper


def run_task(store: Store, cfg: LiftConfig, out_dir: Path, *,
             show_progress: bool | None = None, cluster: str | None = None
             ) -> dict[str, Any]:
    """One task end to end; returns the result with ``run_id``, ``json`` and ``html``.

    Resumes from the checkpoints of an interrupted run of the same config and data. With
    ``cluster`` (a ``--cluster`` spec) the independent groups of pieces (seed x fold) run
    on Dask; the numbers are the same as in one process."""
    task = get_task(cfg.task)
    resolved = cfg.resolve(task)  # bad config fails before any work or write
    spec = parse_cluster(cluster) if cluster is not None else None
    tables = _tables(store, task.name, task.tables, task.optional_tables)
    _check_out(out_dir)
    used = [t for t in task.tables if t in tables]
    fingerprints = store.fingerprints(used)
    checkpoints = Checkpoints(out_dir, task.name, resolved.to_dict(), fingerprints)
    done = checkpoints.load()
    previous = checkpoints.previous_run()
    config: dict[str, Any] = {"lift": resolved.to_dict()}
    if previous and done:
        config["resumed_from"] = previous
    run_id = store.start_run("lift", config, seed=(resolved.seeds or (0,))[0], tables=used)
    if previous:
        status = store.query("SELECT status FROM runs WHERE run_id = ?", [previous])
        if len(status) and status.iloc[0, 0] == "running":  # killed: it never finished itself
            store.finish_run(previous, status="interrupted", metrics={"resumed_by": run_id})
    if done:
        logger.info("lift %s: resuming run %s, %d finished piece(s) reused", task.name,
                    previous, len(done))
    checkpoints.claim(run_id)
    disable = None if show_progress is None else not show_progress
    try:
        with contextlib.ExitStack() as stack:
            bar = stack.enter_context(tqdm(total=work_units(task, resolved),
                                           desc=f"lift {task.name}", unit="fit",
                                           disable=disable))
            mapper = None if spec is None else _mapper(stack.enter_context(connect(spec)))
            result = run_lift(task, tables, resolved, progress=lambda _: bar.update(1),
                              done=done, on_piece=checkpoints.save, mapper=mapper)
        result = jsonable(result)
        result["run_id"] = run_id
        result["fingerprints"] = fingerprints
        # The page first, then the JSON: a JSON in the folder always has its page.
        html_path = write_task_report(result, out_dir / f"{task.name}.html")
        json_path = write_json_atomic(result, out_dir / f"{task.name}.json")
        write_index(load_results(out_dir), out_dir)
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    store.finish_run(run_id, metrics={"summary": summary_rows(result),
                                      "recommended": result["recommended"],
                                      "json": str(json_path), "html": str(html_path),
                                      "resumed_pieces": len(done)})
    checkpoints.clear()
    result["json"], result["html"] = str(json_path), str(html_path)
    return result


def run_all(store: Store, cfg: LiftConfig, out_dir: Path, *,
            tasks: Sequence[str] | None = None, show_progress: bool | None = None,
            cluster: str | None = None) -> dict[str, Any]:
    """Every task with the same budget, seeds and bootstrap settings (each task's own
    generators, baselines and ratios unless the config names them)."""
    names = list(tasks or ALL_TASKS)
    known = {n: set(get_task(n).defaults(cfg.budget)["params"]) for n in names}
    unknown = [p for p in cfg.params if not any(p in k for k in known.values())]
    if unknown:
        raise DataValidationError(
            f"lift all: no task takes parameter(s) {', '.join(sorted(unknown))}",
            fix="see each task's parameters in its report's Config section")
    metrics = {n: {m.name for m in get_task(n).metrics} for n in names}
    stray = [m for m in cfg.margins if not any(m in k for k in metrics.values())]
    if stray:
        raise DataValidationError(
            f"lift all: no task has metric(s) {', '.join(sorted(stray))} for --margin",
            fix="see each task's metrics in its report")
    # Data-efficiency curves where the task has them; the others run at full size only.
    cfgs = {name: replace(cfg, task=name,
                          params={k: v for k, v in cfg.params.items() if k in known[name]},
                          margins={k: v for k, v in cfg.margins.items()
                                   if k in metrics[name]},
                          fractions=cfg.fractions if get_task(name).supports_fractions
                          else (1.0,),
                          folds=cfg.folds if get_task(name).supports_folds else None)
            for name in names}
    for name in names:  # every task's settings and tables are checked before any runs
        task = get_task(name)
        cfgs[name].resolve(task)
        _tables(store, name, task.tables, task.optional_tables)
    _check_out(out_dir)
    results = {}
    for name in names:
        results[name] = run_task(store, cfgs[name], out_dir, show_progress=show_progress,
                                 cluster=cluster)
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


__all__ = ["CHECKPOINTS", "Checkpoints", "jsonable", "load_results", "run_all", "run_task"]
