"""`genlift backtest`: the strategy grid on the real price history and on synthetic paths
from a generator fitted to it, overfitting statistics, an HTML report and a parquet of
every metric."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augment.paths import PathGenerator
from augment.registry import make_generator
from engine.portfolio import (
    Strategy,
    default_grid,
    parse_strategy,
    required_history,
    run_backtest,
    summarize,
)
from engine.portfolio.drawdowns import drawdown_comparison
from engine.portfolio.overfitting import deflated_sharpe, probability_of_backtest_overfitting
from features.errors import DataValidationError, GenliftWarning
from features.returns import log_returns
from features.store import Store
from serving.reports.backtest import write_report

PATH_GENERATORS = ("bootstrap", "garch", "vae", "gan")


@dataclass(frozen=True)
class BacktestConfig:
    """One `genlift backtest` run."""

    strategies: tuple[str, ...] = ()
    generator: str = "bootstrap"
    paths: int = 1000
    horizon: int = 2520
    train_end: str | None = None
    epochs: int | None = None
    cost_bps: float = 5.0
    slippage_bps: float = 5.0
    cash_rate: float = 0.0
    seed: int = 0
    keep_paths: int = 200
    pbo_blocks: int = 16
    assets: tuple[str, ...] = field(default_factory=tuple)

    def grid(self) -> list[Strategy]:
        return [parse_strategy(s) for s in self.strategies] if self.strategies \
            else default_grid()


def _returns(store: Store, cfg: BacktestConfig) -> pd.DataFrame:
    if not store.has("prices"):
        raise DataValidationError("backtest needs the prices table, not in the store",
                                  table="prices",
                                  fix=f"genlift --db {store.path} data fetch sp500-20 "
                                      "(or import your own date, asset, close)")
    wide = log_returns(store.read("prices"))
    if cfg.assets:
        missing = [a for a in cfg.assets if a not in wide.columns]
        if missing:
            raise DataValidationError(f"unknown asset(s) {', '.join(missing)}", table="prices",
                                      column="asset",
                                      fix=f"choose among {', '.join(wide.columns[:30])}")
        wide = wide[list(cfg.assets)]
    gaps = wide.isna().any(axis=1)
    if gaps.any():
        first = wide.index[gaps.to_numpy().argmax()]
        raise DataValidationError(
            f"prices has {int(gaps.sum())} days where some asset has no price (first "
            f"{first:%Y-%m-%d})", table="prices",
            fix="backtest assets that trade on the same days (--assets), or fill the gaps")
    return wide


def run(store: Store, cfg: BacktestConfig, out: Path, *, parquet: Path | None = None,
        show_progress: bool | None = None) -> dict[str, Any]:
    """Backtest the grid on the real history and on ``cfg.paths`` synthetic paths."""
    if cfg.generator not in PATH_GENERATORS:
        raise DataValidationError(f"unknown path generator {cfg.generator!r}",
                                  fix=f"use one of {', '.join(PATH_GENERATORS)}")
    if cfg.paths < 1 or cfg.horizon < 21:
        raise DataValidationError(f"--paths {cfg.paths} / --horizon {cfg.horizon}",
                                  fix="use at least 1 path and 21 trading days")
    strategies = cfg.grid()
    wide = _returns(store, cfg)
    history = required_history(strategies)
    if len(wide) <= history + 21:
        raise DataValidationError(
            f"{len(wide)} days of returns for a grid needing {history} days of history",
            table="prices", fix="load a longer price history or shorten the windows")
    run_id = store.start_run("backtest", {"backtest": cfg.__dict__ | {"strategies": [
        s.name for s in strategies]}}, seed=cfg.seed, tables=["prices"])
    progress = bool(show_progress)
    try:
        started = time.perf_counter()
        real = run_backtest(np.expm1(wide.to_numpy()), strategies, cost_bps=cfg.cost_bps,
                            slippage_bps=cfg.slippage_bps, cash_rate=cfg.cash_rate,
                            keep_returns=1)
        real_seconds = time.perf_counter() - started
        assert real.returns is not None
        # Excess over cash, (days, strategies): the grid's trials on the real history.
        daily = real.returns[0].T - ((1 + cfg.cash_rate) ** (1 / 252) - 1)
        with warnings.catch_warnings():  # the remainder rows CSCV drops are reported below
            warnings.simplefilter("ignore", GenliftWarning)
            pbo = probability_of_backtest_overfitting(daily, n_blocks=cfg.pbo_blocks)
        dsr = deflated_sharpe(daily, names=real.names)
        train = wide if cfg.train_end is None else wide.loc[:cfg.train_end]
        if len(train) < 250:
            raise DataValidationError(
                f"{len(train)} training days before {cfg.train_end} for the generator",
                fix="pick a later --train-end (at least a year of prices)")
        started = time.perf_counter()
        gen = make_generator("paths", cfg.generator, epochs=cfg.epochs,
                             random_state=cfg.seed, show_progress=progress).fit(train)
        fit_seconds = time.perf_counter() - started
        length = history + cfg.horizon
        started = time.perf_counter()
        assert isinstance(gen, PathGenerator)
        paths = gen.sample_paths(cfg.paths, length, random_state=cfg.seed)
        sample_seconds = time.perf_counter() - started
        started = time.perf_counter()
        syn = run_backtest(np.expm1(paths), strategies, start=history, cost_bps=cfg.cost_bps,
                           slippage_bps=cfg.slippage_bps, cash_rate=cfg.cash_rate,
                           keep_returns=min(cfg.keep_paths, cfg.paths),
                           show_progress=progress)
        syn_seconds = time.perf_counter() - started
        table = pd.concat([real.frame(["real"]).assign(source="real"),
                           syn.frame(np.arange(cfg.paths)).assign(
                               source=cfg.generator, path=lambda f: f["path"].astype(str))],
                          ignore_index=True)
        summary = summarize(syn)
        # the real history in windows as long as the paths: drawdowns like for like
        drawdowns = drawdown_comparison(real.returns[0], syn.metrics["max_drawdown"],
                                        syn.n_days, real.names)
        result = {
            "run_id": run_id, "assets": list(wide.columns), "strategies": real.names,
            "real": {"start": str(wide.index[real.start].date()),
                     "end": str(wide.index[-1].date()), "days": real.n_days,
                     "metrics": table[table.source == "real"].drop(
                         columns=["path", "source"]).to_dict(orient="records")},
            "synthetic": {"generator": cfg.generator, "paths": cfg.paths,
                          "days": syn.n_days, "history_days": history,
                          "train_end": str(train.index[-1].date()),
                          "summary": summary.to_dict(orient="records")},
            "drawdowns": drawdowns,
            "overfitting": {"deflated_sharpe": {**dsr.summary(), "per_strategy": dsr.frame(
                ).to_dict(orient="records")}, "pbo": pbo.summary()},
            "seconds": {"real": round(real_seconds, 3), "generator_fit": round(fit_seconds, 3),
                        "sample": round(sample_seconds, 3),
                        "synthetic_backtest": round(syn_seconds, 3)},
            "path_days_strategies_per_s": round(cfg.paths * syn.n_days * len(strategies)
                                                / max(syn_seconds, 1e-9)),
        }
        report = write_report(result, real, syn, wide.index[real.start:], pbo, out)
        parquet = parquet or out.with_suffix(".parquet")
        tmp = parquet.with_name(f".{parquet.name}.tmp")
        table.to_parquet(tmp, index=False)
        tmp.replace(parquet)
        result.update({"report": str(report), "parquet": str(parquet)})
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    store.finish_run(run_id, metrics={k: result[k] for k in ("real", "overfitting",
                                                              "drawdowns", "seconds",
                                                              "report", "parquet")})
    return result


__all__ = ["PATH_GENERATORS", "BacktestConfig", "run"]
