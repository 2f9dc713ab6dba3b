"""Jobs behind `genlift augment fit | sample | report`.

A fitted generator lives in a folder: ``generator/`` (the artifact) and ``fit.json``
(what was fitted on which data: kind, table, generator, seed, the held-out keys or
dates, data fingerprints, run id). The held-out part never reaches the generator; the
report scores the synthetic data against it.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from augment.base import Generator, resolve_source
from augment.baskets import BasketGenerator, to_store_frames
from augment.partitioned import sample_partitioned, sample_users_partitioned
from augment.paths import PathGenerator
from augment.quality import ks_statistic, tabular_scorecard, worst_numeric_pair
from augment.quality_baskets import basket_scorecard
from augment.quality_glossary import glossary_for
from augment.quality_paths import path_scorecard
from augment.registry import load_generator, make_generator
from augment.sales import SalesWindowGenerator, lag1_acf
from features.artifacts import write_json_atomic
from features.errors import DataValidationError
from features.io import write_parquet_atomic
from features.returns import log_returns
from features.schemas import SCHEMAS, schema_for
from features.store import Store
from serving.jobs.model_folders import check_model_folder
from serving.reports.generator import (
    Section,
    basket_plots,
    giveaway_sections,
    path_plots,
    sales_plots,
    tabular_plots,
    write_generator_report,
)

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)

DEFAULT_TABLE = {"tabular": "applicants", "baskets": "interactions", "paths": "prices",
                 "sales": "sales"}


@dataclass(frozen=True)
class FitConfig:
    """One `augment fit` run; saved as fit.json beside the artifact."""

    kind: str
    table: str
    generator: str
    seed: int = 0
    holdout: float = 0.2
    epochs: int | None = None
    train_end: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: a fitted generator folder (`augment fit --out`, or its generator/) to fine-tune from
    init: str | None = None


def init_folder(path: str | Path) -> Path:
    """The generator artifact of an ``--init`` folder: an `augment fit --out` folder's
    ``generator/``, or a generator folder itself."""
    path = Path(path)
    return path / "generator" if (path / "generator" / "params.json").is_file() else path


def _split_keys(keys: pd.Series, holdout: float, seed: int) -> tuple[set[str], set[str]]:
    uniq = np.sort(keys.astype(str).unique())
    rng = np.random.default_rng(seed)
    held = set(rng.choice(uniq, size=int(round(holdout * len(uniq))), replace=False))
    return set(uniq) - held, held


def real_parts(store: Store, info: dict[str, Any]) -> dict[str, Any]:
    """The training and held-out real data a fit.json describes."""
    kind, table = info["kind"], info["table"]
    if kind == "paths":
        r = log_returns(store.read(table))
        end = pd.Timestamp(info["train_end"])
        return {"train": r[r.index <= end], "holdout": r[r.index > end]}
    if kind == "sales":
        sales = store.read(table)
        end = pd.Timestamp(info["train_end"])
        return {"train": sales[sales["date"] <= end], "holdout": sales[sales["date"] > end]}
    if kind == "baskets":
        inter = store.read(table)
        users = store.read("users") if store.has("users") else None
        held = set(info["holdout_keys"])
        mask = inter["user_id"].isin(held)
        return {"train": inter[~mask], "holdout": inter[mask], "users": users}
    frame = store.read(table)
    key = schema_for(table).key[0] if table in _contract_tables() else None
    held = set(info["holdout_keys"])
    mask = frame[key].astype(str).isin(held) if key else \
        pd.Series(np.arange(len(frame)).astype(str)).isin(held)
    drop = [key] if key else []
    return {"train": frame[~mask.to_numpy()].drop(columns=drop),
            "holdout": frame[mask.to_numpy()].drop(columns=drop)}


def _contract_tables() -> set[str]:
    return set(SCHEMAS)


def fit(store: Store, cfg: FitConfig, out: str | Path, *, show_progress: bool | None = None
        ) -> dict[str, Any]:
    """Fit a generator on the training part of ``cfg.table`` and save it under ``out``."""
    if not 0.0 <= cfg.holdout < 0.9:
        raise ValueError(f"The 'holdout' parameter of augment fit must be a float in "
                         f"[0, 0.9). Got {cfg.holdout!r} instead.")
    out = Path(out)
    # None (the CLI's default) means "on a terminal": the generators take a plain bool
    progress = sys.stderr.isatty() if show_progress is None else bool(show_progress)
    params = {"random_state": cfg.seed, "epochs": cfg.epochs,
              "show_progress": progress, **cfg.params}
    gen = make_generator(cfg.kind, cfg.generator, **params)
    init = None if cfg.init is None else init_folder(cfg.init)
    if init is not None:  # refused before anything runs: no warm start, another class
        resolve_source(gen, init)
    info: dict[str, Any] = {**asdict(cfg), "db": store.path}
    table = cfg.table
    if cfg.kind == "paths":
        returns = log_returns(store.read(table))
        end = pd.Timestamp(cfg.train_end) if cfg.train_end else \
            returns.index[int(len(returns) * (1 - cfg.holdout)) - 1]
        info["train_end"] = str(end.date())
        train = returns[returns.index <= end]
        if len(train) < 2 or (returns.index > end).sum() == 0:
            raise DataValidationError(
                f"--train-end {end.date()} leaves {len(train)} training and "
                f"{int((returns.index > end).sum())} held-out days", table=table,
                fix=f"pick a date between {returns.index[1].date()} and "
                    f"{returns.index[-2].date()}")
        tables = [table]
    elif cfg.kind == "sales":
        sales = store.read(table)
        dates = np.sort(sales["date"].unique())
        end = pd.Timestamp(cfg.train_end) if cfg.train_end else \
            pd.Timestamp(dates[int(len(dates) * (1 - cfg.holdout)) - 1])
        info["train_end"] = str(end.date())
        train = sales[sales["date"] <= end]
        if train.empty or (sales["date"] > end).sum() == 0:
            raise DataValidationError(
                f"--train-end {end.date()} leaves no training or no held-out weeks",
                table=table, fix=f"pick a date between {pd.Timestamp(dates[0]).date()} and "
                                 f"{pd.Timestamp(dates[-1]).date()}")
        tables = [table]
    elif cfg.kind == "baskets":
        inter = store.read(table)
        _, held = _split_keys(inter["user_id"], cfg.holdout, cfg.seed)
        info["holdout_keys"] = sorted(held)
        train = inter[~inter["user_id"].isin(held)]
        users = store.read("users") if store.has("users") else None
        tables = [table] + (["users"] if users is not None else [])
    else:
        frame = store.read(table)
        key = schema_for(table).key[0] if table in _contract_tables() else None
        keys = frame[key].astype(str) if key else pd.Series(np.arange(len(frame)).astype(str))
        _, held = _split_keys(keys, cfg.holdout, cfg.seed)
        info["holdout_keys"] = sorted(held)
        train = frame[~keys.isin(held).to_numpy()].drop(columns=[key] if key else [])
        tables = [table]
    run_id = store.start_run("augment-fit", info | {"holdout_keys": len(info.get(
        "holdout_keys", []))}, seed=cfg.seed, tables=tables)
    # a bar for every generator (copula, bootstrap, ... have no epoch bar of their own)
    bar = tqdm(total=2, desc=f"augment fit {cfg.kind}/{cfg.generator}", unit="step",
               disable=not progress, postfix=f"fitting on {len(train):,} rows")
    try:
        if isinstance(gen, BasketGenerator):
            gen.fit(train, users, init=init)
        else:
            gen.fit(train, init=init)
        bar.update(1)
        bar.set_postfix_str("saving")
        gen.save(out / "generator")
        bar.update(1)
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    finally:
        bar.close()
    summary = {"run_id": run_id, "kind": cfg.kind, "generator": cfg.generator, "table": table,
               "train_rows": len(train), "fit_seconds": round(gen.fit_seconds_, 3),
               "epochs_run": len(gen.history_),
               "best_epoch": getattr(gen, "best_epoch_", None),
               "init": getattr(gen, "init_", None),
               "last_validation": {k: v for k, v in (gen.history_[-1] if gen.history_
                                                     else {}).items() if "val" in k},
               "out": str(out)}
    info |= {"run_id": run_id, "fingerprints": store.fingerprints(tables), "summary": summary}
    write_json_atomic(info, out / "fit.json")
    store.finish_run(run_id, metrics=summary)
    return summary


def read_fit(out: str | Path, command: str = "augment sample"
             ) -> tuple[Generator, dict[str, Any]]:
    """The generator of an `augment fit` folder and its fit.json; another kind of folder
    is refused, naming what ``command`` needs."""
    out = check_model_folder(out, "generator", command)
    return load_generator(out / "generator"), json.loads((out / "fit.json").read_text())


def sample(out: str | Path, n: int, *, conditions: dict[str, Any] | None = None,
           seed: int | None = None, length: int | None = None,
           client: Client | None = None) -> dict[str, pd.DataFrame]:
    """Sample from a fitted folder; the frames are keyed by their store table.

    With a Dask ``client`` the rows are drawn in partitions on its workers, by
    :func:`augment.partitioned.sample_partitioned`: the same for any number of workers
    (chunks of rows with their own seeds), not the rows of a run without a client.
    """
    conditions = dict(conditions or {})
    if client is not None:
        return _sample_on_cluster(out, n, conditions, seed, length, client)
    gen, info = read_fit(out)
    if isinstance(gen, BasketGenerator):
        users, inter = gen.sample_users(n, conditions=conditions, random_state=seed)
        return {"users": users, "interactions": inter}
    if isinstance(gen, PathGenerator | SalesWindowGenerator):
        if length is not None:
            conditions["length"] = length
        name = "paths" if isinstance(gen, PathGenerator) else "windows"
        return {name: gen.sample(n, conditions=conditions, random_state=seed)}
    return {info["table"]: gen.sample(n, conditions=conditions, random_state=seed)}


def _sample_on_cluster(out: str | Path, n: int, conditions: dict[str, Any], seed: int | None,
                       length: int | None, client: Client) -> dict[str, pd.DataFrame]:
    out = check_model_folder(out, "generator", "augment sample")
    info = json.loads((out / "fit.json").read_text())
    folder = out / "generator"
    kind = info["kind"]
    if kind == "baskets":
        users, inter = sample_users_partitioned(folder, n, seed, client=client,
                                                conditions=conditions)
        return {"users": users, "interactions": inter}
    if kind in ("paths", "sales") and length is not None:
        conditions["length"] = length
    frame = sample_partitioned(folder, n, seed, client=client, conditions=conditions)
    name = {"paths": "paths", "sales": "windows"}.get(kind, info["table"])
    return {name: frame}


def to_store(store: Store, out: str | Path, frames: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Append samples to ``synthetic_<table>`` with new ids, ``run_id`` and ``generator``."""
    _, info = read_fit(out)
    run_id = store.start_run("augment-sample", {"from": str(out), "fit_run": info["run_id"]})
    name = f"{info['kind']}-{info['generator']}"
    if info["kind"] in ("paths", "sales"):
        store.finish_run(run_id, status="failed")
        raise DataValidationError(
            f"{info['kind']} samples have no store table (synthetic windows and paths "
            "repeat real keys; they are extra training rows, not store rows)",
            fix="write them to parquet with --out FILE")
    if info["kind"] == "baskets":
        tables = to_store_frames(frames["users"], frames["interactions"], run_id, name)
    else:
        table = info["table"]
        frame = frames[table].drop(columns=["is_synthetic"], errors="ignore").copy()
        schema = schema_for(table)
        for key in schema.key:
            if key not in frame.columns and schema.column(key).kind == "id":
                frame.insert(0, key, [f"syn-{run_id[-8:]}-{i:07d}" for i in range(len(frame))])
        tables = {f"synthetic_{table}": frame.assign(run_id=run_id, generator=name)}
    infos = store.load(tables, source=f"augment sample {out}", mode="append")
    counts = {t: len(tables[t]) for t in infos}
    store.finish_run(run_id, metrics=counts)
    return counts


def write_samples(frames: dict[str, pd.DataFrame], out: str | Path
                  ) -> dict[str, dict[str, Any]]:
    """Write samples as parquet: the first frame to ``out``, each further one beside it as
    ``<stem>.<table><suffix>`` (a basket sample's interactions next to its users)."""
    out = Path(out)
    written = {}
    for i, (name, frame) in enumerate(frames.items()):
        path = out if i == 0 else out.with_name(f"{out.stem}.{name}{out.suffix}")
        write_parquet_atomic(frame, path)
        written[name] = {"file": str(path), "rows": len(frame)}
    return written


# -- report ----------------------------------------------------------------------------
def report(store: Store, out: str | Path, html_path: str | Path, *, n: int | None = None,
           seed: int = 0) -> dict[str, Any]:
    """Score a fitted generator against its held-out real data; write an HTML report."""
    gen, info = read_fit(out, "augment report")
    parts = real_parts(store, info)
    title = f"genlift generator report: {info['kind']} / {info['generator']} on {info['table']}"
    if isinstance(gen, PathGenerator):
        card, plots = _score_paths(gen, parts, n or 200, seed)
    elif isinstance(gen, SalesWindowGenerator):
        card, plots = _score_sales(gen, parts, n or 2000, seed)
    elif isinstance(gen, BasketGenerator):
        card, plots = _score_baskets(gen, parts, n, seed)
    else:
        card, plots = _score_tabular(gen, parts, n, seed)
    scalar: dict[str, Any] = {k: v for k, v in card.items() if isinstance(v, int | float | str)}
    # the lists behind the report's "what gives it away" section, rounded for reading
    scalar |= {k: [{f: round(v, 4) if isinstance(v, float) else v for f, v in item.items()}
                   for item in card[k]]
               for k in ("detection_top_features", "worst_pairs") if k in card}
    write_generator_report(
        html_path, title=title, scorecard=scalar, plots=plots,
        history=getattr(gen, "history_", []),
        config={k: v for k, v in info.items() if k != "holdout_keys"},
        run_id=info.get("run_id"))
    return {"report": str(html_path), "scorecard": scalar, "glossary": glossary_for(scalar)}


def _score_tabular(gen: Generator, parts: dict[str, Any], n: int | None, seed: int
                   ) -> tuple[dict[str, Any], list[Section]]:
    train, hold = parts["train"], parts["holdout"]
    synth = gen.sample(n or max(len(train), 1000), random_state=seed)
    card = tabular_scorecard(train, hold if len(hold) else None, synth)
    ref = hold if len(hold) else train
    pair = worst_numeric_pair(ref, card["per_pair"])
    return card, (tabular_plots(ref, synth, list(train.columns)[:16], card["per_column"])
                  + giveaway_sections(card, ref, synth, pair))


def _score_baskets(gen: BasketGenerator, parts: dict[str, Any], n: int | None, seed: int
                   ) -> tuple[dict[str, Any], list[Section]]:
    hold = parts["holdout"] if len(parts["holdout"]) else parts["train"]
    n_users = n or int(hold["user_id"].nunique())
    _, inter = gen.sample_users(n_users, random_state=seed)
    n_items = int(pd.concat([parts["train"]["item_id"], hold["item_id"]]).nunique())
    card = basket_scorecard(hold[["user_id", "item_id"]], inter[["user_id", "item_id"]],
                            n_items=n_items)
    return card, basket_plots(hold, inter)


def _score_paths(gen: PathGenerator, parts: dict[str, Any], n: int, seed: int
                 ) -> tuple[dict[str, Any], list[Section]]:
    train, hold = parts["train"], parts["holdout"]
    real = hold.dropna(axis=0).to_numpy(dtype=float)
    paths = gen.sample_paths(n, len(real), random_state=seed)
    card = path_scorecard(real, paths, real_train=train.dropna().to_numpy(dtype=float))
    return card, path_plots(real, paths)


def _score_sales(gen: SalesWindowGenerator, parts: dict[str, Any], n: int, seed: int
                 ) -> tuple[dict[str, Any], list[Section]]:
    hold = parts["holdout"]
    synth = gen.sample(n, random_state=seed)
    real_log = np.log1p(hold["units"].to_numpy(dtype=float))
    syn_log = np.log1p(synth["units"].to_numpy(dtype=float))
    real_series = hold.sort_values("date").groupby(["store_id", "item_id"])["units"]
    real_acf = np.nanmean([lag1_acf(np.log1p(g.to_numpy(dtype=float))[None, :])[0]
                           for _, g in real_series if len(g) > 3])
    syn_acf = np.nanmean(lag1_acf(_windows_matrix(synth)))
    card = {"n_windows": n, "log_units_ks": ks_statistic(real_log, syn_log),
            "real_log_units_mean": float(real_log.mean()),
            "synthetic_log_units_mean": float(syn_log.mean()),
            "real_lag1_acf": float(real_acf), "synthetic_lag1_acf": float(syn_acf)}
    return card, sales_plots(hold, synth)


def _windows_matrix(synth: pd.DataFrame) -> np.ndarray:
    """Synthetic windows as a (windows, steps) matrix of log(1 + units)."""
    ordered = synth.sort_values(["window_id", "date"])
    length = int(ordered.groupby("window_id").size().max())
    values = np.log1p(ordered["units"].to_numpy(dtype=float))
    return values.reshape(-1, length)
