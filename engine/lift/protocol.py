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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from engine.lift.efficiency import FULL, efficiency, nested_subsample, piece_arm
from engine.lift.stats import (
    HELPS,
    INCONCLUSIVE,
    VERDICTS,
    Metric,
    Units,
    bootstrap_weights,
    holm,
    paired_bootstrap,
    seed_weights,
)
from features.errors import DataValidationError, check_param

logger = logging.getLogger(__name__)

BUDGETS = ("small", "full")
MIN_SEEDS = 5  # the protocol's minimum; fewer seeds mark the results as provisional
REAL = "real"
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
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
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

    def __post_init__(self) -> None:
        owner = "LiftConfig"
        check_param(owner, "budget", self.budget, self.budget in BUDGETS,
                    f"one of {', '.join(BUDGETS)}")
        seeds = tuple(self.seeds)
        check_param(owner, "seeds", self.seeds, bool(seeds) and all(
            isinstance(s, int | np.integer) and not isinstance(s, bool) and s >= 0
            for s in seeds) and len(set(seeds)) == len(seeds),
            "a non-empty sequence of distinct ints >= 0")
        object.__setattr__(self, "seeds", tuple(int(s) for s in seeds))
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
                "for this task yet", fix="run it without --fractions, or use credit or "
                "pricing")
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
        return len(self.seeds) < MIN_SEEDS


@dataclass(frozen=True)
class Arm:
    """One way of adding data: a cheap baseline or a generator, at each of ``ratios``
    (synthetic rows per real training row); an empty ``ratios`` means the arm has no
    ratio (class weights)."""

    name: str
    family: str  # "baseline" | "generator"
    ratios: tuple[float, ...] = ()
    label: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class LiftSplit:
    """The one split of a task's real data.

    ``train``, ``validation`` and ``test`` are whatever the task needs (frames, matrices).
    Units are the things the test metrics average over; ``segments_*`` map a segment name
    to a boolean mask over those units (``"all"`` is always there).
    """

    train: Any
    validation: Any
    test: Any
    units_validation: np.ndarray
    units_test: np.ndarray
    segments_validation: dict[str, np.ndarray]
    segments_test: dict[str, np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)
    # Units in time order whose neighbours depend on each other (backtest windows): the
    # bootstrap resamples runs of ``block`` neighbouring units.
    block: int = 1
    # Task-private real data that is neither train, validation nor test (e.g. an early-
    # stopping holdout carved from train); never passed to ``fit_arm``.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ArmState:
    """What ``fit_arm`` returns: the fitted augmenter and how good its data looks."""

    state: Any
    quality: float | None = None
    quality_name: str = ""
    fit_seconds: float = 0.0


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


def _better(metric: Metric, value: float) -> float:
    return value if metric.higher_is_better else -value


def _mean_point(metric: Metric, runs: Sequence[Units], mask: np.ndarray | None = None
                ) -> float:
    vals = np.array([metric.point({k: np.asarray(v)[mask] if mask is not None
                                   else np.asarray(v) for k, v in u.items()}) for u in runs])
    return float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")


def _check_units(task: LiftTask, units: Units, n: int, part: str, arm: str) -> None:
    for key, value in units.items():
        if len(value) != n:
            raise RuntimeError(f"lift {task.name}: {arm} returned {len(value)} {part} values "
                               f"for {key!r}, expected one per unit ({n})")


@dataclass
class Piece:
    """A finished piece of a run: one seed's real-only evaluations (``arm`` = ``"real"``)
    or one seed's arm (fitted once, evaluated at every ratio with every model).

    A run killed part-way resumes from its pieces: :func:`run_lift` takes the finished
    ones in ``done`` and reports each new one to ``on_piece`` as soon as it is complete.
    """

    seed: int
    arm: str
    records: list[tuple[str, float | None, dict[str, Units]]]  # (model, ratio, output)
    fit_seconds: float | None = None
    quality: float | None = None
    quality_name: str = ""


def run_lift(task: LiftTask, tables: Mapping[str, Any], cfg: LiftConfig, *,
             progress: Callable[[str], None] | None = None,
             done: Mapping[tuple[int, str], Piece] | None = None,
             on_piece: Callable[[Piece], None] | None = None) -> dict[str, Any]:
    """Run the protocol for one task and return every number (JSON-ready).

    ``done`` holds pieces a previous, interrupted run of the same config on the same data
    finished (keyed by ``(seed, arm)``); they are used as they are, so the result equals
    an uninterrupted run's. Each newly finished piece goes to ``on_piece``.
    """
    started = time.perf_counter()
    cfg = cfg.resolve(task)
    split = task.split(tables, cfg)
    params = task.tune(split, cfg)
    arms = task.arms(cfg)
    models = list(cfg.models or ())
    done = done or {}
    n_val, n_test = len(split.units_validation), len(split.units_test)
    runs: dict[tuple[str, str, float | None], list[dict[str, Units]]] = {}
    quality: dict[str, list[float]] = {}
    quality_name: dict[str, str] = {}
    fit_seconds: dict[str, list[float]] = {}

    def use(piece: Piece) -> None:
        for model, ratio, out in piece.records:
            _check_units(task, out["validation"], n_val, "validation", piece.arm)
            _check_units(task, out["test"], n_test, "test", piece.arm)
            runs.setdefault((model, piece.arm, ratio), []).append(out)
        if piece.fit_seconds is not None:
            fit_seconds.setdefault(piece.arm, []).append(piece.fit_seconds)
        if piece.quality is not None:
            quality.setdefault(piece.arm, []).append(float(piece.quality))
            quality_name[piece.arm] = piece.quality_name

    def finished(piece: Piece) -> None:
        if on_piece is not None:
            on_piece(piece)
        use(piece)

    train_rows: dict[float, list[int]] = {}
    for seed in cfg.seeds:
        for fraction in cfg.fractions:
            # Generators are refitted on the fraction only; validation and test stay whole.
            part = split if fraction >= FULL else replace(
                split, train=task.subsample(split.train, fraction, seed, cfg))
            if hasattr(part.train, "__len__"):
                train_rows.setdefault(fraction, []).append(len(part.train))
            tag = "" if fraction >= FULL else f" @{fraction:g}"
            real_key = piece_arm(REAL, fraction)
            if (seed, real_key) in done:
                use(done[(seed, real_key)])
                for model in models:
                    _tick(progress, f"seed {seed} {model} real{tag} (resumed)")
            else:
                records: list[tuple[str, float | None, dict[str, Units]]] = []
                for model in models:
                    records.append((model, None, task.evaluate(
                        part, model, params[model], None, None, None, seed, cfg)))
                    _tick(progress, f"seed {seed} {model} real{tag}")
                finished(Piece(seed, real_key, records))
            for arm in arms:
                key = piece_arm(arm.name, fraction)
                if (seed, key) in done:
                    use(done[(seed, key)])
                    for ratio in arm.ratios or (None,):
                        for model in models:
                            _tick(progress, f"seed {seed} {model} {key} x{ratio} (resumed)")
                    continue
                state = task.fit_arm(arm, part.train, cfg, seed)
                records = []
                for ratio in arm.ratios or (None,):
                    for model in models:
                        records.append((model, ratio, task.evaluate(
                            part, model, params[model], arm, state, ratio, seed, cfg)))
                        _tick(progress, f"seed {seed} {model} {key} x{ratio}")
                # Read after evaluating: a task may score its sample against validation.
                finished(Piece(seed, key, records, fit_seconds=state.fit_seconds,
                               quality=None if state.quality is None
                               else float(state.quality),
                               quality_name=state.quality_name))
    result = analyse(task, cfg, split, arms, runs,
                     train_rows={f: float(np.mean(v)) for f, v in train_rows.items()})
    result.update({
        "params": params,
        "quality": {a: {"name": quality_name[a], "mean": float(np.mean(v)),
                        "per_seed": v} for a, v in quality.items()},
        "fit_seconds": {a: float(np.mean(v)) for a, v in fit_seconds.items()},
        "seconds": round(time.perf_counter() - started, 2),
        "resumed_pieces": len(done),
    })
    return result


def _tick(progress: Callable[[str], None] | None, what: str) -> None:
    logger.info("lift: %s done", what)
    if progress is not None:
        progress(what)


def work_units(task: LiftTask, cfg: LiftConfig) -> int:
    """Model fits a run will make (for a progress bar)."""
    cfg = cfg.resolve(task)
    per_seed = 1 + sum(len(a.ratios) or 1 for a in task.arms(cfg))
    return len(cfg.seeds) * len(cfg.models or ()) * per_seed * len(cfg.fractions)


def analyse(task: LiftTask, cfg: LiftConfig, split: LiftSplit, arms: Sequence[Arm],
            runs: Mapping[tuple[str, str, float | None], list[dict[str, Units]]], *,
            train_rows: Mapping[float, float] | None = None) -> dict[str, Any]:
    """Choose each arm's ratio on validation, then compare with real-only on test (and
    with ``cfg.fractions``, the data-efficiency curves of the primary metric)."""
    primary = task.metric(task.primary)
    def pick(model: str, key: str, options: list[float | None]) -> float | None:
        scores = {r: _better(primary, _mean_point(
            primary, [x["validation"] for x in runs[(model, key, r)]])) for r in options}
        finite = {r: v for r, v in scores.items() if np.isfinite(v)}
        # Ties go to the smaller ratio (less synthetic data for the same score).
        return max(finite, key=lambda r: (finite[r], -(r or 0))) if finite else options[0]

    weights = {seg: bootstrap_weights(int(mask.sum()), cfg.n_boot, cfg.split_seed * 7919 + i,
                                      block=split.block)
               for i, (seg, mask) in enumerate(split.segments_test.items()) if mask.sum()}
    seeds_w = seed_weights(len(cfg.seeds), cfg.n_boot, cfg.split_seed * 7919 + 7907)
    rows: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    chosen: dict[str, dict[str, float | None]] = {}
    for model in cfg.models or ():
        base = runs[(model, REAL, None)]
        base_val = [r["validation"] for r in base]
        base_test = [r["test"] for r in base]
        for seg, mask in split.segments_test.items():
            if seg not in weights:
                continue
            for metric in task.metrics:
                vals = [metric.point({k: np.asarray(v)[mask] for k, v in u.items()})
                        for u in base_test]
                mean = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
                rows.append({"model": model, "arm": REAL, "family": REAL, "ratio": None,
                             "segment": seg, "metric": metric.name, "value": mean,
                             "base": mean, "delta": 0.0,
                             "relative": 0.0, "ci_low": 0.0, "ci_high": 0.0,
                             "seed_sd": float(np.nanstd(vals, ddof=1)) if len(vals) > 1
                             else float("nan"), "n_units": int(mask.sum()),
                             "n_seeds": len(vals), "higher_is_better":
                             metric.higher_is_better, "verdict": "reference",
                             "margin": None, "mde": None, "n_factor": None})
        chosen[model] = {}
        for arm in arms:
            options: list[float | None] = list(arm.ratios) or [None]
            for ratio in options:
                arm_runs = runs[(model, arm.name, ratio)]
                for metric in task.metrics:
                    for part, ref in (("validation", base_val), ("test", base_test)):
                        value = _mean_point(metric, [r[part] for r in arm_runs])
                        reference = _mean_point(metric, ref)
                        curves.append({"model": model, "arm": arm.name, "ratio": ratio,
                                       "part": part, "metric": metric.name, "value": value,
                                       "delta": value - reference})
            best = pick(model, arm.name, options)
            chosen[model][arm.name] = best
            arm_test = [r["test"] for r in runs[(model, arm.name, best)]]
            for seg, mask in split.segments_test.items():
                if seg not in weights:
                    continue
                for metric in task.metrics:
                    res = paired_bootstrap(metric, arm_test, base_test, weights=weights[seg],
                                           mask=mask, alpha=cfg.alpha, seeds=seeds_w,
                                           margin=cfg.margins.get(metric.name))
                    rows.append({"model": model, "arm": arm.name, "family": arm.family,
                                 "ratio": best, "segment": seg, "metric": metric.name,
                                 **res})
    # Many arms x segments are compared: say which primary-metric verdicts survive Holm's
    # correction for the whole family (the per-row verdict is the uncorrected 95% CI rule).
    family = [r for r in rows if r["metric"] == primary.name and r["arm"] != REAL]
    for r, rejected in zip(family, holm([r["p_value"] for r in family], cfg.alpha),
                           strict=True):
        r["holm_significant"] = bool(rejected)
    compared = [r for r in rows if r["arm"] != REAL]
    open_rows = [r for r in compared if r["verdict"] == INCONCLUSIVE]
    verdicts = {v: sum(r["verdict"] == v for r in compared) for v in VERDICTS}
    factors = [r["n_factor"] for r in open_rows if r.get("n_factor") is not None
               and np.isfinite(r["n_factor"])]
    eff = None
    if len(cfg.fractions) > 1 and "all" in weights:
        eff = efficiency(primary, list(cfg.models or ()), arms, cfg.fractions, REAL, runs,
                         pick, weights=weights["all"], seeds=seeds_w, alpha=cfg.alpha,
                         margin=cfg.margins.get(primary.name), train_rows=train_rows or {})
    helps = [{k: r.get(k) for k in ("model", "arm", "ratio", "segment", "metric", "delta",
                                    "ci_low", "ci_high", "holm_significant")}
             for r in rows if r["verdict"] == HELPS]
    return {
        "task": task.name, "dataset": task.dataset, "unit": task.unit,
        "primary_metric": task.primary, "config": cfg.to_dict(),
        "provisional": cfg.provisional, "split": split.info,
        "arms": [{"name": a.name, "family": a.family, "ratios": list(a.ratios),
                  "label": a.label or a.name} for a in arms],
        "metrics": [{"name": m.name, "label": m.label, "higher_is_better": m.higher_is_better}
                    for m in task.metrics],
        "segments": {s: int(m.sum()) for s, m in split.segments_test.items()},
        "chosen_ratio": chosen, "rows": rows, "curves": curves, "recommended": helps,
        "family_size": len(family), "margins": dict(cfg.margins),
        "verdicts": {**verdicts, "compared": len(compared),
                     "inconclusive_median_n_factor": float(np.median(factors))
                     if factors else None,
                     "n_seeds": len(cfg.seeds), "n_test_units": len(split.units_test)},
        "efficiency": eff,
    }


__all__ = ["BUDGETS", "DEFAULT_MARGINS", "MIN_SEEDS", "REAL", "Arm", "ArmState", "LiftConfig",
           "LiftSplit", "LiftTask", "analyse", "run_lift", "work_units"]
