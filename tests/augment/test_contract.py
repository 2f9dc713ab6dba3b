"""The Generator contract, run for every generator of ``augment.registry.GENERATORS`` (as
the recommenders' RecommenderContract): tiny data, a few epochs, seconds in all.

A generator's "units" are what ``sample(n)`` counts: rows (tabular), users (baskets),
paths (one row per step) or sales windows (one row per period).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from augment.base import Generator
from augment.registry import GENERATORS, load_generator, make_generator

# -- tiny data ---------------------------------------------------------------------------


@cache
def tabular_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 120
    kind = rng.choice(["a", "b"], n)
    return pd.DataFrame({"x": np.where(kind == "a", -2.0, 2.0) + rng.normal(0, 0.3, n),
                         "count": rng.integers(1, 5, n), "kind": kind,
                         "flag": rng.integers(0, 2, n)})


@cache
def basket_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)
    users = pd.DataFrame({"user_id": [f"u{u}" for u in range(30)],
                          "age": rng.integers(20, 60, 30),
                          "gender": np.where(np.arange(30) % 2 == 0, "F", "M")})
    rows = [(u, f"i{i}") for u in users["user_id"]
            for i in rng.choice(10, int(rng.integers(2, 5)), replace=False)]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id"])
    inter["ts"] = 1_600_000_000 + rng.integers(0, 10**6, len(inter))
    return inter, users


@cache
def returns_frame() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    days = 240
    common = rng.standard_t(5, (days, 1))
    x = 0.01 * (common + rng.standard_t(5, (days, 2))) / 2
    return pd.DataFrame(x, index=pd.bdate_range("2020-01-01", periods=days),
                        columns=["AAA", "BBB"])


@cache
def sales_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    dates = pd.date_range("2021-01-07", periods=30, freq="7D")
    parts = []
    for s in ("s0", "s1"):
        for i in ("i0", "i1"):
            promo = (rng.random(30) < 0.3).astype(float)
            parts.append(pd.DataFrame({
                "store_id": s, "item_id": i, "date": dates,
                "units": np.round(np.exp(3 + 0.5 * promo + rng.normal(0, 0.2, 30))),
                "price": 2.0 * np.exp(rng.normal(0, 0.1, 30)), "promo": promo,
                "feat": (rng.random(30) < 0.2).astype(float)}))
    return pd.concat(parts, ignore_index=True)


# -- what each family looks like -----------------------------------------------------------


@dataclass(frozen=True)
class Family:
    data: Callable[[], tuple[pd.DataFrame, ...]]
    params: dict[str, dict[str, Any]]  # fast settings, by generator name
    columns: Callable[[], list[str]]  # sample columns before is_synthetic
    units: Callable[[pd.DataFrame], int]
    conditions: dict[str, Any] | None
    holds: Callable[[pd.DataFrame], bool] = field(default=lambda out: True)


TAB_NN = dict(epochs=3, batch_size=50, eval_every=1, hidden=(16,), latent_dim=4)
PATH_NN = dict(window=8, warmup=2, hidden=8, latent=2, epochs=2, batch_size=16,
               n_val_paths=4)
SALES_NN = dict(window=6, hidden=8, latent=2, epochs=2, batch_size=16, n_val_windows=8)

FAMILIES: dict[str, Family] = {
    "tabular": Family(
        data=lambda: (tabular_frame(),),
        params={"copula": {}, "vae": TAB_NN,
                "gan": {**TAB_NN, "pac": 5, "critic_hidden": (16,)},
                "diffusion": TAB_NN,
                "auto": {"candidates": ("copula", "vae"), "epochs": 2}},
        columns=lambda: list(tabular_frame().columns),
        units=len, conditions={"kind": "b", "flag": 1},
        holds=lambda out: bool((out["kind"] == "b").all() and (out["flag"] == 1).all())),
    "baskets": Family(
        data=basket_tables,
        params={"vae": dict(epochs=2, latent_dim=4, hidden=16, batch_size=16),
                "gan": dict(epochs=2, latent_dim=4, hidden=16, batch_size=16)},
        columns=lambda: ["user_id", "age", "gender", "basket_size"],
        units=len, conditions={"gender": "F"},
        holds=lambda out: bool((out["gender"] == "F").all())),
    "paths": Family(
        data=lambda: (returns_frame(),),
        params={"gan": PATH_NN, "vae": PATH_NN, "bootstrap": {"mean_block": 5},
                "garch": {}},
        columns=lambda: ["path", "step", "AAA", "BBB"],
        units=lambda out: out["path"].nunique(), conditions={"length": 5},
        holds=lambda out: bool((out.groupby("path").size() == 5).all())),
    "sales": Family(
        data=lambda: (sales_frame(),),
        params={"ar": SALES_NN, "vae": SALES_NN},
        columns=lambda: ["store_id", "item_id", "date", "units", "price", "promo", "feat",
                         "rel_price", "window_id"],
        units=lambda out: out["window_id"].nunique(),
        conditions={"store_id": "s1", "item_id": "i0", "length": 4},
        holds=lambda out: bool((out["store_id"] == "s1").all()
                               and (out["item_id"] == "i0").all()
                               and (out.groupby("window_id").size() == 4).all())),
}

NAMES = [f"{kind}/{name}" for kind, members in GENERATORS.items() for name in members]


def test_every_registered_generator_has_a_contract_case() -> None:
    assert set(FAMILIES) == set(GENERATORS)
    for kind, members in GENERATORS.items():
        assert set(FAMILIES[kind].params) == set(members), kind


def make(key: str, **extra: Any) -> Generator:
    kind, name = key.split("/")
    return make_generator(kind, name, **{"random_state": 0, **FAMILIES[kind].params[name],
                                         **extra})


def family(key: str) -> Family:
    return FAMILIES[key.split("/")[0]]


def trains(gen: Generator) -> bool:
    return "epochs" in gen.get_params()


@cache
def fitted(key: str) -> Generator:
    return make(key).fit(*family(key).data())


@pytest.fixture(params=NAMES)
def key(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- the contract ----------------------------------------------------------------------------


def test_fit_returns_self_is_reproducible_and_leaves_global_rng_alone(key: str) -> None:
    state = torch.random.get_rng_state()
    gen = make(key)
    assert gen.fit(*family(key).data()) is gen
    first = gen.sample(5, random_state=3)
    assert torch.equal(state, torch.random.get_rng_state())
    again = make(key).fit(*family(key).data())  # same seed, same data -> same model
    pd.testing.assert_frame_equal(first, again.sample(5, random_state=3))
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in gen.history_]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"}
                     for row in again.history_]


def test_sample_has_n_units_with_the_training_columns(key: str) -> None:
    out = fitted(key).sample(7, random_state=0)
    assert list(out.columns) == [*family(key).columns(), "is_synthetic"]
    assert family(key).units(out) == 7
    assert out["is_synthetic"].all()
    assert isinstance(out.index, pd.RangeIndex) and out.index.start == 0


def test_same_random_state_same_sample(key: str) -> None:
    gen = fitted(key)
    a = gen.sample(6, random_state=1)
    pd.testing.assert_frame_equal(a, gen.sample(6, random_state=1))
    assert not a.equals(gen.sample(6, random_state=2))


def test_save_load_gives_the_same_sample(key: str, tmp_path: Path) -> None:
    gen = fitted(key)
    path = gen.save(tmp_path / "gen")
    files = {p.name for p in path.iterdir()}
    assert {"params.json", "arrays.npz"} <= files
    assert ("weights.pt" in files) == bool(gen._modules())
    loaded = load_generator(path, device="cpu")
    assert type(loaded) is type(gen)
    # params.json is JSON: a tuple parameter (hidden=(16,)) comes back as a list
    expected = {k: list(v) if isinstance(v, tuple) else v for k, v in gen.get_params().items()}
    if "device" in expected:
        expected["device"] = "cpu"
    assert loaded.get_params() == expected
    assert loaded.history_ == gen.history_
    pd.testing.assert_frame_equal(gen.sample(6, random_state=4),
                                  loaded.sample(6, random_state=4))


def test_sample_before_fit_raises(key: str) -> None:
    with pytest.raises(RuntimeError, match="not fitted yet"):
        make(key).sample(3)


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_bad_n_raises_naming_n(key: str, n: object) -> None:
    with pytest.raises(ValueError, match=r"The 'n' parameter of \w+\.sample must be an int "
                                         r">= 1\. Got .* instead\."):
        fitted(key).sample(n)  # type: ignore[arg-type]


def test_bad_random_state_raises_at_fit(key: str) -> None:
    with pytest.raises(ValueError, match=r"The 'random_state' parameter of \w+ must be"):
        make(key, random_state=-1).fit(*family(key).data())


def test_conditions_hold_on_every_row(key: str) -> None:
    fam = family(key)
    assert fam.conditions is not None  # every family supports conditions
    out = fitted(key).sample(9, conditions=fam.conditions, random_state=0)
    assert fam.units(out) == 9
    assert fam.holds(out)


def test_get_params_and_repr_round_trip(key: str) -> None:
    gen = fitted(key)
    params = gen.get_params()
    names = [p for p in inspect.signature(type(gen).__init__).parameters if p != "self"]
    assert list(params) == names
    clone = type(gen)(**params)
    assert clone.get_params() == params
    text = repr(gen)
    assert text.startswith(f"{type(gen).__name__}(")
    rebuilt = eval(text, {type(gen).__name__: type(gen)})  # noqa: S307 - our own repr
    assert rebuilt.get_params() == params


def test_history_and_callback(key: str) -> None:
    if not trains(fitted(key)):
        assert fitted(key).history_ == []
        return
    calls: list[tuple[int, float, dict[str, float]]] = []
    gen = make(key, callback=lambda e, t, m: calls.append((e, t, m)))
    gen.fit(*family(key).data())
    assert len(calls) == len(gen.history_) >= 1
    for (epoch, elapsed, metrics), row in zip(calls, gen.history_, strict=True):
        assert row["epoch"] == epoch and elapsed >= 0
        assert metrics.items() <= row.items()
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
