"""The lift protocol, identical for every task.

1. ``task.split`` cuts the real data once into train / validation / test.
2. ``task.tune`` picks the real-only model's settings on validation.
3. For every seed: the real-only arm, then every augmenter (cheap baselines and
   generators) fitted by ``task.fit_arm`` on **train only**, at each of its ratios.
   Every fit is scored on both validation and test units.
4. Each augmenter's ratio is chosen on validation (the primary metric, averaged over
   seeds); only then are its test numbers compared with real-only: per metric and
   segment, a paired bootstrap over test units of the seed-averaged delta, the minimum
   detectable effect and a verdict (helps / equivalent / inconclusive / hurts, the
   equivalence judged against the config's practical margin per metric).
5. With ``fractions``, steps 3-4 also run on nested subsamples of the training data
   (validation and test unchanged): the data-efficiency curves and the effective
   real-data multiplier of :mod:`engine.lift.efficiency`.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import partial
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from engine.lift.analysis import REAL, analyse
from engine.lift.crossfit import analysis_split, fold_key, join_outputs, parse_fold_key
from engine.lift.efficiency import FULL, nested_subsample, piece_arm
from engine.lift.parts import Arm, ArmState, LiftSplit
from engine.lift.stats import Metric, Units
from features.errors import DataValidationError, check_param

logger = logging.getLogger(__name__)

BUDGETS = ("small", "full")
MIN_SEEDS = 5  # the protocol's minimum; fewer seeds mark the results as provisional
#: Practical margins per metric name when a task does not state its own: a number is
#: absolute, "0.5%" a share of the real-only value.
DEFAULT_MARGINS: dict[str, float | str] = {
    "auc": 0.005, "pr_auc": 0.01, "recall_at_fpr": 0.02, "brier": 0.002,
    "ndcg": 0.005, "recall": 0.005, "wape": "0.5%", "pinball": "0.5%",
    "gini": 0.01, "deviance": "1%",
    "qs": "1%", "qs_return": "1%", "qs_vol": "1%", "qs_drawdown": "1%",
}


def _margin_ok(v: object) -> bool:
    if isinstance(v, str):
        try:
            return v.endswith("%") and np.isfinite(float(v[:-1])) and float(v[:-1]) > 0
        except ValueError:
            return False
    return isinstance(v, int | float) and not isinstance(v, bool) and bool(np.isfinite(v)) \
        and v > 0


@dataclass(frozen=True)
class LiftConfig:
    """One lift run, frozen and saved with its results.

    ``None`` fields take the task's defaults for the ``budget`` when the run starts
    (:meth:`resolve`); the saved config is the resolved one.
    """

    task: str
    budget: str = "small"
    #: Seeds of the generators and models; with ``folds`` > 1 each seed is also one
    #: repeat of the K-fold cross-fitting (its own partition). ``None``: the task's
    #: default for the budget (5 seeds, or 2 repeats when the task cross-fits).
    seeds: tuple[int, ...] | None = None
    generators: tuple[str, ...] | None = None
    baselines: tuple[str, ...] | None = None
    ratios: tuple[float, ...] | None = None
    models: tuple[str, ...] | None = None
    n_boot: int = 1000
    alpha: float = 0.05
    split_seed: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    #: Fractions of the real training data for the data-efficiency curves; 1 (the full
    #: size, where the verdicts are made) is always run.
    fractions: tuple[float, ...] = (1.0,)
    #: Practical margin per metric for the "equivalent" verdict (task defaults filled in
    #: by :meth:`resolve`): a number is absolute, ``"0.5%"`` relative to real-only.
    margins: Mapping[str, float | str] = field(default_factory=dict)
    #: K-fold cross-fitting: every real unit is tested once per repeat (seed). 1 is the
    #: one train / validation / test split; ``None`` the task's default for the budget.
    folds: int | None = None

    def __post_init__(self) -> None:
        owner = "LiftConfig"
        check_param(owner, "budget", self.budget, self.budget in BUDGETS,
                    f"one of {', '.join(BUDGETS)}")
        if self.seeds is not None:
            seeds = tuple(self.seeds)
            check_param(owner, "seeds", self.seeds, bool(seeds) and all(
                isinstance(s, int | np.integer) and not isinstance(s, bool) and s >= 0
                for s in seeds) and len(set(seeds)) == len(seeds),
                "a non-empty sequence of distinct ints >= 0")
            object.__setattr__(self, "seeds", tuple(int(s) for s in seeds))
        if self.folds is not None:
            check_param(owner, "folds", self.folds, isinstance(self.folds, int)
                        and not isinstance(self.folds, bool) and 1 <= self.folds <= 20,
                        "an int in [1, 20] (1: one split; K: K-fold cross-fitting)")
        for name in ("generators", "baselines", "models"):
            value = getattr(self, name)
            if value is not None:
                value = tuple(value)
                check_param(owner, name, value, all(isinstance(v, str) and v for v in value)
                            and len(set(value)) == len(value), "distinct non-empty names")
                object.__setattr__(self, name, value)
        if self.ratios is not None:
            ratios = tuple(self.ratios)
            check_param(owner, "ratios", self.ratios, bool(ratios) and all(
                isinstance(r, int | float) and not isinstance(r, bool) and np.isfinite(r)
                and r > 0 for r in ratios) and len(set(ratios)) == len(ratios),
                "a non-empty sequence of distinct numbers > 0 (synthetic rows per real row)")
            object.__setattr__(self, "ratios", tuple(sorted(float(r) for r in ratios)))
        check_param(owner, "n_boot", self.n_boot, isinstance(self.n_boot, int)
                    and not isinstance(self.n_boot, bool) and self.n_boot >= 100,
                    "an int >= 100")
        check_param(owner, "alpha", self.alpha, isinstance(self.alpha, float)
                    and 0 < self.alpha < 0.5, "a float in (0, 0.5); 0.05 gives 95% intervals")
        check_param(owner, "split_seed", self.split_seed, isinstance(self.split_seed, int)
                    and self.split_seed >= 0, "an int >= 0")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        fr = tuple(self.fractions)
        check_param(owner, "fractions", self.fractions, bool(fr) and all(
            isinstance(f, int | float) and not isinstance(f, bool) and bool(np.isfinite(f))
            and 0 < f <= 1 for f in fr) and len(set(fr)) == len(fr),
            "a non-empty sequence of distinct numbers in (0, 1] (shares of the real "
            "training data)")
        object.__setattr__(self, "fractions",
                           tuple(sorted({float(f) for f in fr} | {FULL})))
        margins = dict(self.margins)
        bad = [k for k, v in margins.items() if not (isinstance(k, str) and _margin_ok(v))]
        check_param(owner, "margins", self.margins, not bad,
                    "metric name -> a number > 0 (absolute) or a percentage like '0.5%' "
                    f"(relative to real-only); bad: {', '.join(map(str, bad))}")
        object.__setattr__(self, "margins", MappingProxyType(
            {k: v if isinstance(v, str) else float(v) for k, v in margins.items()}))

    def resolve(self, task: LiftTask) -> LiftConfig:
        """This config with the task's defaults for ``budget`` filled in."""
        defaults = task.defaults(self.budget)
        filled: dict[str, Any] = {}
        for name in ("generators", "baselines", "ratios", "models"):
            if getattr(self, name) is None:
                filled[name] = tuple(defaults[name])
        folds = self.folds if self.folds is not None else int(defaults.get("folds", 1))
        if folds > 1 and not task.supports_folds:
            raise DataValidationError(
                f"lift {task.name}: cross-fitting (--folds {folds}) is not available for "
                "this task", fix="run it with --folds 1 (time-ordered tasks use rolling "
                "origins instead)")
        filled["folds"] = folds
        if self.seeds is None:
            filled["seeds"] = tuple(defaults.get("seeds", (0, 1, 2, 3, 4) if folds == 1
                                                 else (0, 1)))
        filled["params"] = {**defaults.get("params", {}), **self.params}
        names = [m.name for m in task.metrics]
        unknown_m = [m for m in self.margins if m not in names]
        if unknown_m:
            raise DataValidationError(
                f"lift {task.name}: margin for unknown metric(s) {', '.join(unknown_m)}",
                fix=f"use some of {', '.join(names)}")
        filled["margins"] = {**{m: task.margins.get(m, DEFAULT_MARGINS.get(m))
                                for m in names if m in task.margins or m in DEFAULT_MARGINS},
                             **self.margins}
        if len(self.fractions) > 1 and not task.supports_fractions:
            raise DataValidationError(
                f"lift {task.name}: data-efficiency curves (--fractions) are not available "
                "for this task yet", fix="run it without --fractions, or use credit, "
                "pricing, demand or recs")
        cfg = replace(self, **filled)
        unknown = [p for p in cfg.params if p not in defaults.get("params", {})]
        if unknown:
            raise DataValidationError(
                f"lift {task.name}: unknown parameter(s) {', '.join(sorted(unknown))}",
                fix=f"use {', '.join(sorted(defaults.get('params', {}))) or 'none'}")
        for name, known in (("generators", task.known_generators),
                            ("baselines", task.known_baselines),
                            ("models", task.known_models)):
            bad = [v for v in getattr(cfg, name) if v not in known]
            if bad:
                raise DataValidationError(
                    f"lift {task.name}: unknown {name[:-1]} {bad[0]!r}",
                    fix=f"use some of {', '.join(known)}")
        if not cfg.models:
            raise DataValidationError(f"lift {task.name}: no model to train",
                                      fix=f"name one of {', '.join(task.known_models)}")
        task.validate(cfg)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["params"] = dict(self.params)
        out["margins"] = dict(self.margins)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @property
    def provisional(self) -> bool:
        """Fewer fits per arm than the protocol's minimum (seeds x folds < 5)."""
        return len(self.seeds or ()) * (self.folds or 1) < MIN_SEEDS


class LiftTask(ABC):
    """A task of the lift experiment; see the module docstring for the protocol."""

    name: ClassVar[str]
    dataset: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]
    unit: ClassVar[str]
    metrics: ClassVar[tuple[Metric, ...]]
    primary: ClassVar[str]
    known_generators: ClassVar[tuple[str, ...]]
    known_baselines: ClassVar[tuple[str, ...]]
    known_models: ClassVar[tuple[str, ...]]

    optional_tables: ClassVar[tuple[str, ...]] = ()
    #: Practical margins of this task's metrics (overriding :data:`DEFAULT_MARGINS`).
    margins: ClassVar[Mapping[str, float | str]] = MappingProxyType({})

    def strata(self, train: Any) -> np.ndarray | None:
        """Stratum of every training row for the data-efficiency subsample (the class,
        a target band); ``None``: the task has no curves (:meth:`subsample` not
        overridden either)."""
        return None

    def subsample(self, train: Any, fraction: float, seed: int, cfg: LiftConfig) -> Any:
        """``fraction`` of the training data for one seed: nested across fractions and
        stratified by :meth:`strata` (tasks whose training data is not a frame of rows
        override this: per user, per series)."""
        strata = self.strata(train)
        if strata is None:
            raise NotImplementedError(f"lift {self.name} has no data-efficiency subsample")
        keep = nested_subsample(strata, fraction, (cfg.split_seed, seed, 7717))
        return train.iloc[keep].reset_index(drop=True)

    def folds(self, tables: Mapping[str, Any], cfg: LiftConfig, seed: int
              ) -> list[LiftSplit]:
        """K-fold cross-fitting (``cfg.folds`` = K) for one repeat (``seed``): K splits
        whose test parts partition the real units (each unit tested exactly once), each
        with its own train / validation carved from the other folds. Tasks that do not
        cross-fit leave this alone."""
        raise NotImplementedError(f"lift {self.name} does not cross-fit")

    @property
    def supports_folds(self) -> bool:
        return type(self).folds is not LiftTask.folds

    @property
    def supports_fractions(self) -> bool:
        cls = type(self)
        return cls.strata is not LiftTask.strata or cls.subsample is not LiftTask.subsample

    @abstractmethod
    def defaults(self, budget: str) -> dict[str, Any]:
        """``generators``, ``baselines``, ``ratios``, ``models`` and ``params`` for a budget."""

    def validate(self, cfg: LiftConfig) -> None:
        """Check ``cfg.params`` (types and ranges) before any work; raise
        :class:`DataValidationError` or ``ValueError`` naming the bad value."""
        return None

    @abstractmethod
    def split(self, tables: Mapping[str, Any], cfg: LiftConfig) -> LiftSplit:
        """Cut the real data once."""

    def tune(self, split: LiftSplit, cfg: LiftConfig) -> dict[str, dict[str, Any]]:
        """Real-only model settings per model, chosen on validation (default: none)."""
        return {m: {} for m in cfg.models or ()}

    @abstractmethod
    def arms(self, cfg: LiftConfig) -> list[Arm]:
        """Baselines, then generators, as configured."""

    @abstractmethod
    def fit_arm(self, arm: Arm, train: Any, cfg: LiftConfig, seed: int) -> ArmState:
        """Fit an augmenter on the training part only (it never sees the split)."""

    @abstractmethod
    def evaluate(self, split: LiftSplit, model: str, params: Mapping[str, Any],
                 arm: Arm | None, state: ArmState | None, ratio: float | None, seed: int,
                 cfg: LiftConfig) -> dict[str, Units]:
        """Train ``model`` on real train (+ the arm's data at ``ratio``) and return the
        per-unit arrays of validation and test: ``{"validation": ..., "test": ...}``."""

    def metric(self, name: str) -> Metric:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)


def _check_units(task: LiftTask, units: Units, n: int, part: str, arm: str) -> None:
    for key, value in units.items():
        if len(value) != n:
            raise RuntimeError(f"lift {task.name}: {arm} returned {len(value)} {part} values "
                               f"for {key!r}, expected one per unit ({n})")


@dataclass
class Piece:
    """A finished piece of a run: one seed's (and with cross-fitting one fold's)
    real-only evaluations (``arm`` = ``"real"``) or one seed's arm (fitted once, evaluated
    at every ratio with every model). ``params`` (real-only pieces) are the tuned model
    settings the piece used.

    A run killed part-way resumes from its pieces: :func:`run_lift` takes the finished
    ones in ``done`` and reports each new one to ``on_piece`` as soon as it is complete.
    """

    seed: int
    arm: str
    records: list[tuple[str, float | None, dict[str, Units]]]  # (model, ratio, output)
    fit_seconds: float | None = None
    quality: float | None = None
    quality_name: str = ""
    params: dict[str, Any] | None = None


@dataclass
class Group:
    """The work of one repeat (seed) on one fold: tuning (unless ``params`` is given),
    then the real-only models and every arm at every fraction. Independent of every
    other group: the unit a cluster runs (see ``run_lift``'s ``mapper``)."""

    seed: int
    fold: int
    split: LiftSplit
    params: dict[str, dict[str, Any]] | None
    skip: frozenset[str]  # piece keys already finished


def run_group(task: LiftTask, cfg: LiftConfig, group: Group, *,
              progress: Callable[[str], None] | None = None,
              on_piece: Callable[[Piece], None] | None = None) -> list[Piece]:
    """Compute one :class:`Group`'s unfinished pieces (a top-level function, so that a
    Dask worker can run it)."""
    arms, models, k_folds = task.arms(cfg), list(cfg.models or ()), cfg.folds or 1
    seed, fold = group.seed, group.fold
    params = group.params if group.params is not None else task.tune(group.split, cfg)
    pieces: list[Piece] = []

    def finished(piece: Piece) -> None:
        pieces.append(piece)
        if on_piece is not None:
            on_piece(piece)

    where = f"seed {seed}" + (f" fold {fold}" if k_folds > 1 else "")
    for fraction in cfg.fractions:
        # Generators are refitted on the fraction only; validation and test stay whole.
        part = group.split if fraction >= FULL else replace(
            group.split, train=task.subsample(group.split.train, fraction, seed, cfg))
        tag = "" if fraction >= FULL else f" @{fraction:g}"
        real_key = fold_key(piece_arm(REAL, fraction), fold, k_folds)
        if real_key not in group.skip:
            records: list[tuple[str, float | None, dict[str, Units]]] = []
            for model in models:
                records.append((model, None, task.evaluate(
                    part, model, params[model], None, None, None, seed, cfg)))
                _tick(progress, f"{where} {model} real{tag}")
            finished(Piece(seed, real_key, records, params=params))
        for arm in arms:
            key = fold_key(piece_arm(arm.name, fraction), fold, k_folds)
            if key in group.skip:
                continue
            state = task.fit_arm(arm, part.train, cfg, seed)
            records = []
            for ratio in arm.ratios or (None,):
                for model in models:
                    records.append((model, ratio, task.evaluate(
                        part, model, params[model], arm, state, ratio, seed, cfg)))
                    _tick(progress, f"{where} {model} {key} x{ratio}")
            # Read after evaluating: a task may score its sample against validation.
            finished(Piece(seed, key, records, fit_seconds=state.fit_seconds,
                           quality=None if state.quality is None else float(state.quality),
                           quality_name=state.quality_name))
    return pieces


#: ``mapper(fn, groups)`` runs ``fn`` on every group and yields the results in any order.
Mapper = Callable[[Callable[[Group], list[Piece]], Sequence[Group]], Iterable[list[Piece]]]


def run_lift(task: LiftTask, tables: Mapping[str, Any], cfg: LiftConfig, *,
             progress: Callable[[str], None] | None = None,
             done: Mapping[tuple[int, str], Piece] | None = None,
             on_piece: Callable[[Piece], None] | None = None,
             mapper: Mapper | None = None) -> dict[str, Any]:
    """Run the protocol for one task and return every number (JSON-ready).

    ``done`` holds pieces a previous, interrupted run of the same config on the same data
    finished (keyed by ``(seed, arm key)``); they are used as they are, so the result
    equals an uninterrupted run's. Each newly finished piece goes to ``on_piece``.
    ``mapper`` runs the independent groups (one per seed and fold) elsewhere, e.g. on a
    Dask cluster; every number is the same as in one process.
    """
    started = time.perf_counter()
    cfg = cfg.resolve(task)
    seeds, k_folds = tuple(cfg.seeds or ()), cfg.folds or 1
    arms, models = task.arms(cfg), list(cfg.models or ())
    done = dict(done or {})
    if k_folds == 1:
        one = task.split(tables, cfg)
        plans = {seed: [one] for seed in seeds}
        shared: dict[str, dict[str, Any]] | None = task.tune(one, cfg)
    else:
        plans = {seed: task.folds(tables, cfg, seed) for seed in seeds}
        shared = None  # tuned per fold, on that fold's training part, inside its group
    split, orders = analysis_split(plans, k_folds)
    groups = [Group(seed, fold, fsplit, shared, frozenset(
        key for (s, key) in done if s == seed and parse_fold_key(key)[1] == fold))
        for seed in seeds for fold, fsplit in enumerate(plans[seed])]
    pieces: dict[tuple[int, str], Piece] = dict(done)
    todo = [g for g in groups if len(g.skip) < len(cfg.fractions) * (1 + len(arms))]
    for g in groups:
        if g not in todo:
            _tick(progress, f"seed {g.seed} fold {g.fold} (resumed)")
    if mapper is None:
        for g in todo:
            for piece in run_group(task, cfg, g, progress=progress, on_piece=on_piece):
                pieces[(piece.seed, piece.arm)] = piece
    else:
        fits = work_units(task, cfg) // max(len(groups), 1)
        for finished in mapper(partial(run_group, task, cfg), todo):
            for piece in finished:
                if on_piece is not None:
                    on_piece(piece)
                pieces[(piece.seed, piece.arm)] = piece
            for _ in range(fits):
                _tick(progress, "a group of seed and fold")
    runs, extras = _collect(task, cfg, plans, orders, pieces, arms, models)
    train_rows = {f: float(np.mean([len(task.subsample(fs.train, f, seed, cfg))
                                    if f < FULL else len(fs.train)
                                    for seed in seeds for fs in plans[seed]]))
                  for f in cfg.fractions} if all(hasattr(fs.train, "__len__")
                                                 for fs in plans[seeds[0]]) else {}
    result = analyse(task, cfg, split, arms, runs, train_rows=train_rows)
    result.update({
        **extras,
        "seconds": round(time.perf_counter() - started, 2),
        "resumed_pieces": len(done),
    })
    return result


def _collect(task: LiftTask, cfg: LiftConfig, plans: Mapping[int, Sequence[LiftSplit]],
             orders: Mapping[int, np.ndarray | None], pieces: Mapping[tuple[int, str], Piece],
             arms: Sequence[Arm], models: Sequence[str]
             ) -> tuple[dict[tuple[str, str, float | None], list[dict[str, Units]]],
                        dict[str, Any]]:
    """Every (model, arm key, ratio)'s per-seed outputs, the folds of a repeat joined in
    canonical unit order, plus the tuned params, quality scores and fit times."""
    k_folds = cfg.folds or 1
    by_fold: dict[tuple[str, str, float | None], dict[int, dict[int, dict[str, Units]]]] = {}
    quality: dict[str, list[float]] = {}
    quality_name: dict[str, str] = {}
    fit_seconds: dict[str, list[float]] = {}
    params: dict[str, list[dict[str, Any]]] = {}
    for (seed, key), piece in sorted(pieces.items()):
        if seed not in plans:
            continue
        base, fold = parse_fold_key(key)
        fsplit = plans[seed][fold]
        for model, ratio, out in piece.records:
            _check_units(task, out["validation"], len(fsplit.units_validation), "validation",
                         key)
            _check_units(task, out["test"], len(fsplit.units_test), "test", key)
            by_fold.setdefault((model, base, ratio), {}).setdefault(seed, {})[fold] = out
        if piece.fit_seconds is not None:
            fit_seconds.setdefault(base, []).append(piece.fit_seconds)
        if piece.quality is not None:
            quality.setdefault(base, []).append(float(piece.quality))
            quality_name[base] = piece.quality_name
        if piece.params is not None and base == REAL:
            for model, p in piece.params.items():
                params.setdefault(model, []).append(p)
    runs: dict[tuple[str, str, float | None], list[dict[str, Units]]] = {}
    for run_key, per_seed in by_fold.items():
        for seed in cfg.seeds or ():
            folds = per_seed.get(seed, {})
            if len(folds) != k_folds:
                raise RuntimeError(f"lift {task.name}: {run_key[1]} of seed {seed} has "
                                   f"{len(folds)} of {k_folds} folds")
            outs = [folds[k] for k in range(k_folds)]
            runs.setdefault(run_key, []).append(
                outs[0] if k_folds == 1 else
                {part: join_outputs([o[part] for o in outs],
                                    orders[seed] if part == "test" else None)
                 for part in ("validation", "test")})
    tuned: dict[str, Any] = {m: (v[0] if k_folds == 1 else {"per_fold": v})
                             for m, v in params.items()}
    for m in models:
        tuned.setdefault(m, {})
    return runs, {
        "params": tuned,
        "quality": {a: {"name": quality_name[a], "mean": float(np.mean(v)), "per_seed": v}
                    for a, v in quality.items()},
        "fit_seconds": {a: float(np.mean(v)) for a, v in fit_seconds.items()},
    }


def _tick(progress: Callable[[str], None] | None, what: str) -> None:
    logger.info("lift: %s done", what)
    if progress is not None:
        progress(what)


def work_units(task: LiftTask, cfg: LiftConfig) -> int:
    """Model fits a run will make (for a progress bar)."""
    cfg = cfg.resolve(task)
    per_seed = 1 + sum(len(a.ratios) or 1 for a in task.arms(cfg))
    return len(cfg.seeds or ()) * (cfg.folds or 1) * len(cfg.models or ()) * per_seed \
        * len(cfg.fractions)


__all__ = ["BUDGETS", "DEFAULT_MARGINS", "MIN_SEEDS", "REAL", "Arm", "ArmState", "LiftConfig",
           "LiftSplit", "LiftTask", "analyse", "run_lift", "work_units"]
