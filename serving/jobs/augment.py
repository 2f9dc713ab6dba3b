"""Jobs behind `genlift augment fit | sample | report`.

A fitted generator lives in a folder: ``generator/`` (the artifact) and ``fit.json``
(what was fitted on which data: kind, table, generator, seed, the held-out keys or
dates, data fingerprints, run id). The held-out part never reaches the generator; the
report scores the synthetic data against it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from augment.base import Generator
from augment.baskets import BasketGenerator, to_store_frames
from augment.partitioned import sample_partitioned, sample_users_partitioned
from augment.paths import PathGenerator
from augment.quality import ks_statistic, tabular_scorecard
from augment.quality_baskets import basket_scorecard
from augment.quality_paths import path_scorecard
from augment.registry import load_generator, make_generator
from augment.sales import SalesWindowGenerator, lag1_acf
from features.artifacts import write_json_atomic
from features.errors import DataValidationError
from features.returns import log_returns
from features.schemas import schema_for
from features.store import Store
from serving import html

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
    from features.schemas import SCHEMAS

    return set(SCHEMAS)


def fit(store: Store, cfg: FitConfig, out: str | Path, *, show_progress: bool | None = None
        ) -> dict[str, Any]:
    """Fit a generator on the training part of ``cfg.table`` and save it under ``out``."""
    if not 0.0 <= cfg.holdout < 0.9:
        raise ValueError(f"The 'holdout' parameter of augment fit must be a float in "
                         f"[0, 0.9). Got {cfg.holdout!r} instead.")
    out = Path(out)
    params = {"random_state": cfg.seed, "epochs": cfg.epochs,
              "show_progress": bool(show_progress), **cfg.params}
    gen = make_generator(cfg.kind, cfg.generator, **params)
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
    try:
        if isinstance(gen, BasketGenerator):
            gen.fit(train, users)
        else:
            gen.fit(train)
        gen.save(out / "generator")
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    summary = {"run_id": run_id, "kind": cfg.kind, "generator": cfg.generator, "table": table,
               "train_rows": len(train), "fit_seconds": round(gen.fit_seconds_, 3),
               "epochs_run": len(gen.history_),
               "best_epoch": getattr(gen, "best_epoch_", None),
               "last_validation": {k: v for k, v in (gen.history_[-1] if gen.history_
                                                     else {}).items() if "val" in k},
               "out": str(out)}
    info |= {"run_id": run_id, "fingerprints": store.fingerprints(tables), "summary": summary}
    write_json_atomic(info, out / "fit.json")
    store.finish_run(run_id, metrics=summary)
    return summary


def read_fit(out: str | Path) -> tuple[Generator, dict[str, Any]]:
    out = Path(out)
    if not (out / "fit.json").is_file():
        raise DataValidationError(f"{out} is not a `genlift augment fit` folder (no fit.json)",
                                  fix="pass the --out folder of `genlift augment fit`")
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
    out = Path(out)
    if not (out / "fit.json").is_file():
        raise DataValidationError(f"{out} is not a `genlift augment fit` folder (no fit.json)",
                                  fix="pass the --out folder of `genlift augment fit`")
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


# -- report ----------------------------------------------------------------------------
def report(store: Store, out: str | Path, html_path: str | Path, *, n: int | None = None,
           seed: int = 0) -> dict[str, Any]:
    """Score a fitted generator against its held-out real data; write an HTML report."""
    gen, info = read_fit(out)
    parts = real_parts(store, info)
    title = f"genlift generator report: {info['kind']} / {info['generator']} on {info['table']}"
    sections: list[tuple[str, str]] = []
    if isinstance(gen, PathGenerator):
        card, plots = _report_paths(gen, parts, n or 200, seed)
    elif isinstance(gen, SalesWindowGenerator):
        card, plots = _report_sales(gen, parts, n or 2000, seed)
    elif isinstance(gen, BasketGenerator):
        card, plots = _report_baskets(gen, parts, n, seed)
    else:
        card, plots = _report_tabular(gen, parts, n, seed)
    scalar = {k: v for k, v in card.items() if isinstance(v, int | float | str)}
    sections.append(("Scorecard (synthetic vs held-out real data)", html.kv_table(scalar)))
    sections += plots
    history = getattr(gen, "history_", [])
    if history:
        sections.append(("Training history", _history_plot(history)))
    sections.append(("Configuration", "<pre>" + json.dumps(
        {k: v for k, v in info.items() if k != "holdout_keys"}, indent=2, default=str)
        + "</pre>"))
    html.write_html(html.page(title, sections, subtitle=f"fit run {info.get('run_id')}"),
                    html_path)
    return {"report": str(html_path), "scorecard": scalar}


def _history_plot(history: list[dict[str, float]]) -> str:
    frame = pd.DataFrame(history).set_index("epoch")
    fig, axes = html.figure(10, 3.2, ncols=2)
    losses = [c for c in frame.columns if "val" not in c]
    frame[losses].plot(ax=axes[0], title="training losses")
    vals = [c for c in frame.columns if "val" in c]
    if vals:
        frame[vals].dropna().plot(ax=axes[1], marker="o", title="validation fidelity")
    return html.img(fig)


def _report_tabular(gen: Generator, parts: dict[str, Any], n: int | None, seed: int
                    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    train, hold = parts["train"], parts["holdout"]
    synth = gen.sample(n or max(len(train), 1000), random_state=seed)
    card = tabular_scorecard(train, hold if len(hold) else None, synth)
    cols = list(train.columns)[:16]
    ncols = 4
    nrows = -(-len(cols) // ncols)
    fig, axes = html.figure(12, 2.6 * nrows, nrows=nrows, ncols=ncols, squeeze=False)
    ref = hold if len(hold) else train
    for ax, col in zip(axes.ravel(), cols, strict=False):
        r, s = ref[col], synth[col]
        if pd.api.types.is_numeric_dtype(r.dtype) and r.nunique() > 10:
            bins = np.histogram_bin_edges(r.dropna().astype(float), bins=30)
            ax.hist(r.dropna().astype(float), bins=bins, density=True, alpha=0.5, label="real")
            ax.hist(pd.to_numeric(s, errors="coerce").dropna(), bins=bins, density=True,
                    alpha=0.5, label="synthetic")
        else:
            freq = pd.DataFrame({"real": r.astype(str).value_counts(normalize=True),
                                 "synthetic": s.astype(str).value_counts(normalize=True)}
                                ).fillna(0).sort_values("real", ascending=False).head(8)
            freq.index = [str(i)[:14] for i in freq.index]
            freq.plot.bar(ax=ax, legend=False, rot=60, fontsize=7)
        ax.set_title(f"{col[:30]} ({card['per_column'].get(col, float('nan')):.2f})",
                     fontsize=8)
    for ax in axes.ravel()[len(cols):]:
        ax.axis("off")
    axes.ravel()[0].legend(["real", "synthetic"], fontsize=7)
    plots = [("Marginals: real (held out) vs synthetic, with column-shape scores", html.img(fig))]
    num = [c for c in ref.columns if pd.api.types.is_numeric_dtype(ref[c].dtype)]
    if len(num) >= 2:
        fig, axes = html.figure(11, 4.6, ncols=2)
        for ax, (label, frame) in zip(axes, (("real", ref), ("synthetic", synth)), strict=True):
            corr = frame[num].apply(pd.to_numeric, errors="coerce").corr().to_numpy()
            im = ax.imshow(corr, vmin=-1, vmax=1, cmap="RdBu_r")
            ax.set_title(f"{label}: correlation of numeric columns")
            ax.set_xticks(range(len(num)), [c[:12] for c in num], rotation=90, fontsize=7)
            ax.set_yticks(range(len(num)), [c[:12] for c in num], fontsize=7)
        fig.colorbar(im, ax=axes, shrink=0.8)
        plots.append(("Correlation heatmaps", html.img(fig)))
    return card, plots


def _report_baskets(gen: BasketGenerator, parts: dict[str, Any], n: int | None, seed: int
                    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    hold = parts["holdout"] if len(parts["holdout"]) else parts["train"]
    n_users = n or int(hold["user_id"].nunique())
    _, inter = gen.sample_users(n_users, random_state=seed)
    n_items = int(pd.concat([parts["train"]["item_id"], hold["item_id"]]).nunique())
    card = basket_scorecard(hold[["user_id", "item_id"]], inter[["user_id", "item_id"]],
                            n_items=n_items)
    fig, axes = html.figure(11, 3.6, ncols=2)
    for label, frame in (("real (held out)", hold), ("synthetic", inter)):
        pop = frame["item_id"].value_counts(normalize=True).to_numpy()
        axes[0].loglog(np.arange(1, len(pop) + 1), pop, label=label)
        sizes = frame.groupby("user_id").size()
        axes[1].hist(sizes, bins=30, alpha=0.5, density=True, label=label)
    axes[0].set_title("item popularity by rank")
    axes[1].set_title("basket sizes")
    axes[0].legend()
    return card, [("Popularity and basket sizes", html.img(fig))]


def _report_paths(gen: PathGenerator, parts: dict[str, Any], n: int, seed: int
                  ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    train, hold = parts["train"], parts["holdout"]
    real = hold.dropna(axis=0).to_numpy(dtype=float)
    paths = gen.sample_paths(n, len(real), random_state=seed)
    card = path_scorecard(real, paths, real_train=train.dropna().to_numpy(dtype=float))
    fig, axes = html.figure(12, 3.8, ncols=2)
    port = np.cumsum(paths.mean(axis=2), axis=1)  # equal-weight log-return portfolio
    qs = np.quantile(port, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    x = np.arange(len(real))
    axes[0].fill_between(x, qs[0], qs[4], alpha=0.2, label="synthetic 5-95%")
    axes[0].fill_between(x, qs[1], qs[3], alpha=0.35, label="synthetic 25-75%")
    axes[0].plot(x, qs[2], lw=1, label="synthetic median")
    axes[0].plot(x, np.cumsum(real.mean(axis=1)), color="k", lw=1.5, label="real (held out)")
    axes[0].set_title("equal-weight portfolio, cumulative log return")
    axes[0].legend(fontsize=7)
    lags = np.arange(1, 21)

    def acf_abs(x2: np.ndarray) -> np.ndarray:
        a = np.abs(x2) - np.abs(x2).mean(axis=0)
        den = (a * a).sum(axis=0)
        return np.array([((a[k:] * a[:-k]).sum(axis=0) / den).mean() for k in lags])

    axes[1].plot(lags, acf_abs(real), "k-o", ms=3, label="real (held out)")
    synth_acf = np.mean([acf_abs(p) for p in paths[: min(50, len(paths))]], axis=0)
    axes[1].plot(lags, synth_acf, "-o", ms=3, label="synthetic (mean)")
    axes[1].set_title("ACF of |r| (volatility clustering)")
    axes[1].legend(fontsize=7)
    return card, [("Fan chart and volatility clustering", html.img(fig))]


def _report_sales(gen: SalesWindowGenerator, parts: dict[str, Any], n: int, seed: int
                  ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
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
    fig, axes = html.figure(11, 3.6, ncols=2)
    bins = np.histogram_bin_edges(real_log, bins=40)
    axes[0].hist(real_log, bins=bins, density=True, alpha=0.5, label="real (held out)")
    axes[0].hist(syn_log, bins=bins, density=True, alpha=0.5, label="synthetic")
    axes[0].set_title("log(1 + units) per store-item-week")
    axes[0].legend(fontsize=7)
    for promo in (0, 1):
        r = hold[hold["promo"] == promo]
        s = synth[synth["promo"] == promo]
        if len(r) and len(s):
            axes[1].scatter(np.log(r["price"]), np.log1p(r["units"]), s=2, alpha=0.2,
                            label=f"real, promo={promo}")
            axes[1].scatter(np.log(s["price"]), np.log1p(s["units"]), s=2, alpha=0.2,
                            label=f"synthetic, promo={promo}")
    axes[1].set_title("price response: log units vs log price")
    axes[1].legend(fontsize=7, markerscale=4)
    return card, [("Distribution and price response", html.img(fig))]


def _windows_matrix(synth: pd.DataFrame) -> np.ndarray:
    """Synthetic windows as a (windows, steps) matrix of log(1 + units)."""
    ordered = synth.sort_values(["window_id", "date"])
    length = int(ordered.groupby("window_id").size().max())
    values = np.log1p(ordered["units"].to_numpy(dtype=float))
    return values.reshape(-1, length)
