"""Jobs behind `genlift train | evaluate demand`, `genlift forecast` and `genlift plan
inventory`: the global LightGBM demand model, its rolling-origin backtest, forecasts
and the inventory plan (with its HTML report) from sampled demand paths.

A model is loaded (and the periods asked for checked against its horizon) before the
store is read: :func:`load_model`, :func:`check_periods`, :func:`read_history`, then
:func:`forecast` or :func:`plan_inventory`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.demand import DemandModel, backtest
from engine.demand.distributed import fit_dask
from engine.inventory import plan
from features.artifacts import write_json_atomic
from features.errors import DataValidationError, check_choice
from features.io import read_table_file, write_parquet_atomic
from features.store import Store
from serving.jobs.cluster import maybe_connect
from serving.jobs.ids import sort_ids
from serving.jobs.model_folders import check_model_folder
from serving.reports.inventory import write_plan_report


def default_future(sales: pd.DataFrame, horizon: int, freq_days: int) -> pd.DataFrame:
    """The known future when none is given: every series seen in the last period keeps its
    last price, with no promotion and no feature ad, for ``horizon`` periods."""
    last = sales["date"].max()
    current = sales[sales["date"] == last]
    rows = []
    for h in range(1, horizon + 1):
        step = current[["store_id", "item_id", "price"]].copy()
        step["date"] = last + pd.Timedelta(days=h * freq_days)
        step["promo"] = 0.0
        rows.append(step)
    future = pd.concat(rows, ignore_index=True)
    for col in ("feat",):
        if col in sales.columns:
            future[col] = 0.0
    return future


def known_future(sales: pd.DataFrame, model: DemandModel,
                 future: str | Path | None = None) -> pd.DataFrame:
    """The ``future`` file (store_id, item_id, date, price, promo[, feat]) when given,
    else :func:`default_future` over the model's horizon."""
    if future:
        return read_table_file(future, "sales")
    return default_future(sales, model.horizon, model.freq_days)


def read_history(store: Store) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The store's sales, and its stores table when it has one."""
    sales = store.read("sales")
    stores = store.read("stores") if store.has("stores") else None
    return sales, stores


def read_synthetic(path: str | Path | None) -> pd.DataFrame | None:
    """Synthetic sales windows (``augment sample`` of a sales generator) from parquet."""
    return pd.read_parquet(path) if path else None


def train_demand(store: Store, out: str | Path, *, horizon: int = 4,
                 params: Mapping[str, Any] | None = None, synthetic: pd.DataFrame | None = None,
                 synthetic_path: str = "", synthetic_weight: float = 1.0, seed: int = 0,
                 cluster: str | None = None, show_progress: bool | None = None
                 ) -> dict[str, Any]:
    """Fit a DemandModel on the store's sales (on a Dask cluster with ``cluster``), save
    it in ``out/model`` with ``out/train.json``, and record the run. ``params`` are further
    DemandModel settings (n_estimators, quantiles, ...). ``show_progress``: a bar over the
    horizons on stderr (None: only on a terminal; none on a cluster)."""
    out = Path(out)
    sales, stores = read_history(store)
    config = {"horizon": horizon, **dict(params or {}), "synthetic": synthetic_path,
              "synthetic_weight": synthetic_weight, "seed": seed, "cluster": cluster}
    tables = ["sales"] + (["stores"] if stores is not None else [])
    run_id = store.start_run("train-demand", config, seed=seed, tables=tables)
    try:
        model = DemandModel(horizon=horizon, random_state=seed, **dict(params or {}))
        with maybe_connect(cluster) as client:
            if client is None:
                model.fit(sales, stores, synthetic=synthetic, synthetic_weight=synthetic_weight,
                          show_progress=show_progress)
            else:
                fit_dask(model, sales, stores, client=client, synthetic=synthetic,
                         synthetic_weight=synthetic_weight)
        model.save(out / "model")
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    summary = {"run_id": run_id, "rows": len(sales),
               "series": int(sales.groupby(["store_id", "item_id"]).ngroups),
               "synthetic_rows": 0 if synthetic is None else len(synthetic),
               "horizon": horizon, "out": str(out)}
    meta = {**config, **summary, "fingerprints": store.fingerprints(tables)}
    write_json_atomic(meta, out / "train.json")
    store.finish_run(run_id, metrics=summary)
    return summary


def evaluate_demand(store: Store, *, cutoffs: int = 4, horizon: int = 4) -> dict[str, Any]:
    """Rolling-origin backtest of LightGBM against naive baselines on the store's sales,
    recorded as a run: ``run_id``, ``cutoffs`` (as text) and ``metrics`` (a frame)."""
    sales, stores = read_history(store)
    run_id = store.start_run("evaluate-demand", {"cutoffs": cutoffs, "horizon": horizon},
                             tables=["sales"])
    result = backtest(sales, stores, cutoffs=cutoffs, horizon=horizon)
    metrics = result["metrics"]
    store.finish_run(run_id, metrics=json.loads(metrics.to_json(orient="records")))
    return {"run_id": run_id, "cutoffs": [str(c) for c in result["cutoffs"]],
            "metrics": metrics}


def evaluate_demand_protocol(store: Store, protocol: str, *, rounds: int = 10,
                             show_progress: bool | None = None) -> dict[str, Any]:
    """A published protocol (``msf-oj``) on the store's sales, recorded as a run: the
    protocol's result without the predictions, plus ``run_id``."""
    from tqdm.auto import tqdm

    from engine.demand.protocols import msf_oj
    from serving.jobs.data import tqdm_disable

    check_choice("evaluate demand", "protocol", protocol, ("msf-oj",))
    sales, stores = read_history(store)
    run_id = store.start_run("evaluate-demand", {"protocol": protocol, "rounds": rounds},
                             tables=["sales"])
    with tqdm(total=rounds, desc="msf-oj", unit="round",
              disable=tqdm_disable(show_progress)) as bar:
        result = msf_oj(sales, stores, rounds=rounds,
                        progress=lambda done, total: bar.update(1))
    result.pop("predictions")
    result["params"] = {k: list(v) if isinstance(v, tuple) else v
                        for k, v in result["params"].items()}
    store.finish_run(run_id, metrics={"mape": result["mape"], "seconds": result["seconds"],
                                      "n": result["n"]})
    return {"run_id": run_id, **result}


def load_model(model_dir: str | Path, command: str = "forecast") -> DemandModel:
    """The model of a `genlift train demand` folder (another kind of folder is refused,
    naming what ``command`` needs)."""
    return DemandModel.load(check_model_folder(model_dir, "demand", command) / "model")


def check_periods(model: DemandModel, value: int, *, parameter: str, owner: str) -> None:
    """``value`` periods must lie within the model's horizon."""
    if not 1 <= value <= model.horizon:
        flag = "--" + parameter.replace("_", "-")
        raise DataValidationError(
            f"{owner} {flag} {value} is outside 1..{model.horizon}: the model forecasts "
            f"{model.horizon} periods ahead", fix=f"pass {flag} {model.horizon} or less, or "
            f"`genlift train demand --horizon {value}` a model that forecasts further")


def forecast(model: DemandModel, sales: pd.DataFrame, stores: pd.DataFrame | None,
             out: str | Path, *, horizon: int, future: str | Path | None = None
             ) -> dict[str, Any]:
    """Point and quantile forecasts of every series for horizons 1..``horizon``, written
    as parquet to ``out``."""
    check_periods(model, horizon, parameter="horizon", owner="forecast")
    pred = model.predict(sales, known_future(sales, model, future), stores)
    pred = sort_ids(pred[pred["horizon"] <= horizon], ["store_id", "item_id", "horizon"])
    write_parquet_atomic(pred, out)
    return {"out": str(out), "rows": len(pred), "series": int(
        pred.groupby(["store_id", "item_id"]).ngroups), "horizon": horizon}


def _stock(on_hand: str | Path, keys: pd.DataFrame
           ) -> tuple[np.ndarray, np.ndarray | None]:
    stock = read_table_file(on_hand, "stores")  # any table name: keys are checked here
    missing = [c for c in ("store_id", "item_id", "on_hand") if c not in stock.columns]
    if missing:
        raise DataValidationError(f"--on-hand file lacks column(s) {', '.join(missing)}",
                                  fix="give store_id, item_id, on_hand[, on_order]")
    stock = stock.astype({"store_id": str, "item_id": str})
    merged = keys.merge(stock, on=["store_id", "item_id"], how="left")
    on_hand_units = pd.to_numeric(merged["on_hand"], errors="coerce").fillna(0).to_numpy()
    on_order = None
    if "on_order" in merged:
        on_order = pd.to_numeric(merged["on_order"], errors="coerce").fillna(0).to_numpy()
    return on_hand_units, on_order


def plan_inventory(model: DemandModel, sales: pd.DataFrame, stores: pd.DataFrame | None,
                   out: str | Path, *, lead_time: int = 2, service_level: float = 0.95,
                   on_hand: str | Path | None = None, future: str | Path | None = None,
                   paths: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Lead-time demand from ``paths`` sampled demand paths per series -> safety stock,
    reorder point, order-up-to and suggested orders (given the ``on_hand`` stock file:
    store_id, item_id, on_hand[, on_order]); the plan as an HTML report at ``out`` with
    the parquet beside it."""
    check_periods(model, lead_time, parameter="lead_time", owner="plan inventory")
    known = known_future(sales, model, future)
    pred = model.predict(sales, known, stores)
    keys = pred[pred["horizon"] == 1][["store_id", "item_id"]].reset_index(drop=True)
    sampled = model.sample_paths(sales, known, paths, random_state=seed, stores=stores)
    # the plan's rows (and their paths) in id order: store 2 before store 10
    order = sort_ids(keys.assign(_row=np.arange(len(keys))), ["store_id", "item_id"])
    keys, sampled = order[["store_id", "item_id"]], sampled[order["_row"].to_numpy()]
    on_hand_units = on_order = None
    if on_hand:
        on_hand_units, on_order = _stock(on_hand, keys)
    result = plan(keys, sampled, lead_time=lead_time, service_level=service_level,
                  on_hand=on_hand_units, on_order=on_order)
    dates = np.sort(known["date"].unique())
    return write_plan_report(result, sampled, sales, dates, out,
                             title=f"Inventory plan: lead time {lead_time}, "
                                   f"service level {service_level}")


__all__ = ["check_periods", "default_future", "evaluate_demand", "forecast", "known_future",
           "load_model", "plan_inventory", "read_history", "read_synthetic", "train_demand"]
