"""Warm start (``fit(frame, init=source)``, augment/warmstart.py): the fine-tuned
generator starts from the source's weights and encoding, mismatches are refused naming
the columns or parameters, and the origin survives save/load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import augment.paths.neural as paths_neural
import augment.sales.generator as sales_generator
import augment.tabular.neural as tabular_neural
from augment.base import Generator
from augment.copula import GaussianCopula
from augment.paths import BlockBootstrap, PricePathGenerator
from augment.registry import load_generator
from augment.sales import SalesWindowGenerator
from augment.tabular import TabularDiffusion, TabularGAN, TabularVAE
from augment.tabular.neural import NeuralTabularGenerator
from augment.warmstart import weights_sha256
from features.errors import DataValidationError


def loans(n: int, seed: int, housing: tuple[str, ...] = ("own", "rent", "free")
          ) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.integers(20, 70, n),
                         "amount": rng.gamma(2.0, 1000.0, n).round(2),
                         "housing": rng.choice(list(housing), n),
                         "default": rng.integers(0, 2, n)})


def sales(stores: tuple[str, ...], weeks: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2020-01-02", periods=weeks, freq="7D")
    rows = []
    for s in stores:
        for i in ("a", "b"):
            price = rng.uniform(1.0, 2.0, weeks)
            promo = (rng.random(weeks) < 0.3).astype(float)
            units = np.round(np.exp(4 - 2 * np.log(price) + 0.5 * promo
                                    + rng.normal(0, 0.2, weeks)))
            rows.append(pd.DataFrame({"store_id": s, "item_id": i, "date": dates,
                                      "units": units, "price": price, "promo": promo}))
    return pd.concat(rows, ignore_index=True)


def returns(days: int, seed: int, assets: tuple[str, ...] = ("A", "B")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.standard_t(5, (days, len(assets))) * 0.01, columns=list(assets),
                        index=pd.bdate_range("2001-01-01", periods=days))


TABULAR: dict[str, Callable[..., Generator]] = {
    "vae": lambda **kw: TabularVAE(epochs=2, batch_size=64, hidden=(16,), latent_dim=4, **kw),
    "gan": lambda **kw: TabularGAN(epochs=2, batch_size=60, hidden=(16,), critic_hidden=(16,),
                                   latent_dim=4, pac=2, **kw),
    "diffusion": lambda **kw: TabularDiffusion(epochs=2, batch_size=64, hidden=(16,),
                                               latent_dim=8, timesteps=50, **kw),
}


def sales_gen(**kw: Any) -> SalesWindowGenerator:
    params: dict[str, Any] = dict(model="ar", window=6, hidden=8, epochs=2, batch_size=32,
                                  patience=0, random_state=0)
    return SalesWindowGenerator(**(params | kw))


def paths_gen(**kw: Any) -> PricePathGenerator:
    params: dict[str, Any] = dict(model="vae", window=8, warmup=2, hidden=8, latent=2,
                                  epochs=2, batch_size=16, n_val_paths=4, random_state=0)
    return PricePathGenerator(**(params | kw))


def spy_start(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[dict[str, Any]]:
    """Record every network's weights when the epoch loop starts (before any step)."""
    seen: list[dict[str, Any]] = []
    real = module.train_epochs

    def spy(modules: Any, **kw: Any) -> Any:
        seen.append({k: {n: t.detach().clone() for n, t in m.state_dict().items()}
                     for k, m in modules.items()})
        return real(modules, **kw)

    monkeypatch.setattr(module, "train_epochs", spy)
    return seen


def same_weights(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(
        a[k].keys() == b[k].keys() and all(torch.equal(a[k][n], b[k][n]) for n in a[k])
        for k in a)


def weights(gen: Generator) -> dict[str, Any]:
    return {k: {n: t.detach().clone() for n, t in m.state_dict().items()}
            for k, m in gen._modules().items()}


# -- tabular ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(TABULAR))
def test_tabular_fine_tune_starts_from_the_source_weights(
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    source = TABULAR[name](random_state=0).fit(loans(300, 0))
    seen = spy_start(monkeypatch, tabular_neural)
    # a smaller table with a subset of the categories and its columns in another order
    target = loans(60, 1, housing=("own", "rent"))[["default", "housing", "amount", "age"]]
    tuned = TABULAR[name](random_state=1).fit(target, init=source)
    assert same_weights(seen[0], weights(source))  # every network, before any step
    assert weights_sha256(tuned) != weights_sha256(source)  # and then it trained
    assert isinstance(tuned, NeuralTabularGenerator)
    assert isinstance(source, NeuralTabularGenerator)
    assert tuned.columns_ == source.columns_  # the source's encoding and column order
    assert tuned.encoder_.columns_ == source.encoder_.columns_
    assert tuned.init_ is not None
    assert tuned.init_["weights_sha256"] == weights_sha256(source)
    assert tuned.init_["data_fingerprint"] == source.fingerprint_
    assert tuned.init_["path"] is None
    out = tuned.sample(50, random_state=0)
    assert list(out.columns[:-1]) == source.columns_


def test_tabular_mismatches_are_refused_naming_the_columns() -> None:
    source = TABULAR["vae"](random_state=0).fit(loans(300, 0))
    other = loans(60, 1).rename(columns={"age": "years"})
    with pytest.raises(DataValidationError, match=r"2 column\(s\) differ: years: not in the "
                       r"source table; age: missing \(the source table has it\)"):
        TABULAR["vae"]().fit(other, init=source)
    new_cat = loans(60, 1, housing=("own", "castle"))
    with pytest.raises(DataValidationError,
                       match=r"housing: categories the source never saw \('castle'\)"):
        TABULAR["vae"]().fit(new_cat, init=source)
    texty = loans(60, 1).assign(age=lambda f: f["age"].astype(str))
    with pytest.raises(DataValidationError, match="age: str values, int in the source"):
        TABULAR["vae"]().fit(texty, init=source)
    gaps = loans(60, 1).astype({"amount": float})
    gaps.loc[3, "amount"] = np.nan
    with pytest.raises(DataValidationError, match="amount: 1 missing value"):
        TABULAR["vae"]().fit(gaps, init=source)
    with pytest.raises(DataValidationError, match=r"hidden=\(32,\) \(source \(16,\)\)"):
        TabularVAE(epochs=1, hidden=(32,), latent_dim=4).fit(loans(60, 1), init=source)
    with pytest.raises(DataValidationError, match="cannot start from a TabularVAE"):
        TABULAR["gan"]().fit(loans(60, 1), init=source)


@pytest.mark.parametrize("make", [lambda: GaussianCopula(random_state=0),
                                  lambda: BlockBootstrap(random_state=0)])
def test_generators_without_weights_refuse_init(make: Callable[[], Generator]) -> None:
    source = TABULAR["vae"](random_state=0).fit(loans(300, 0))
    gen = make()
    with pytest.raises(DataValidationError, match="has no network weights to start from"):
        gen.fit(loans(60, 1), init=source)
    assert not hasattr(gen, "fingerprint_")  # refused before fitting anything


def test_init_from_a_folder_is_recorded_and_survives_save_load(tmp_path: Path) -> None:
    source = TABULAR["vae"](random_state=0).fit(loans(300, 0))
    folder = source.save(tmp_path / "source")
    tuned = TABULAR["vae"](random_state=1).fit(loans(60, 1), init=folder)
    record = tuned.init_
    assert record is not None and record["path"] == str(folder.resolve())
    assert len(record["params_sha256"]) == 64
    assert record["weights_sha256"] == weights_sha256(source)
    back = load_generator(tuned.save(tmp_path / "tuned"))
    assert back.init_ == record
    pd.testing.assert_frame_equal(back.sample(40, random_state=3),
                                  tuned.sample(40, random_state=3))
    assert load_generator(folder).init_ is None  # a cold fit records no origin
    with pytest.raises(DataValidationError, match="is not a genlift generator folder"):
        TABULAR["vae"]().fit(loans(60, 1), init=tmp_path / "nowhere")


# -- sales -----------------------------------------------------------------------------------
def test_sales_fine_tune_to_a_new_store(monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    source = sales_gen().fit(sales(("s1", "s2", "s3")))
    seen = spy_start(monkeypatch, sales_generator)
    tuned = sales_gen(random_state=1).fit(sales(("s9",), weeks=24, seed=1), init=source)
    start, theirs = seen[0]["net"], weights(source)["net"]
    assert tuned.stores_ == ["s1", "s2", "s3", "s9"] and tuned.emb_dims_ == source.emb_dims_
    for name, tensor in theirs.items():
        if name == "store_emb.weight":  # the new store starts at the mean store
            assert torch.equal(start[name][:3], tensor)
            assert torch.allclose(start[name][3], tensor.mean(dim=0))
        else:
            assert torch.equal(start[name], tensor), name
    assert tuned.dev_sd_ == source.dev_sd_  # the source's standardisation
    assert tuned.init_ is not None and tuned.init_["weights_sha256"] == weights_sha256(source)
    out = tuned.sample(5, random_state=0)
    assert set(out["store_id"]) == {"s9"} and (out["units"] >= 0).all()
    back = load_generator(tuned.save(tmp_path / "tuned"))
    assert isinstance(back, SalesWindowGenerator) and back.emb_dims_ == tuned.emb_dims_
    pd.testing.assert_frame_equal(back.sample(5, random_state=2),
                                  tuned.sample(5, random_state=2))


def test_sales_mismatches_are_refused() -> None:
    source = sales_gen().fit(sales(("s1", "s2")))
    with pytest.raises(DataValidationError, match="feat: not in the source table"):
        sales_gen().fit(sales(("s9",)).assign(feat=0.0), init=source)
    with pytest.raises(DataValidationError, match="model='vae' \\(source 'ar'\\)"):
        sales_gen(model="vae").fit(sales(("s9",)), init=source)


# -- paths -----------------------------------------------------------------------------------
def test_paths_fine_tune_starts_from_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    source = paths_gen().fit(returns(300, 0))
    seen = spy_start(monkeypatch, paths_neural)
    tuned = paths_gen(random_state=1, model="gan").fit(returns(200, 1)[["B", "A"]],
                                                       init=source)
    assert same_weights(seen[0], weights(source))
    assert tuned.assets_ == ["A", "B"] and np.array_equal(tuned.scale_, source.scale_)
    with pytest.raises(DataValidationError, match="C: not in the source table"):
        paths_gen().fit(returns(200, 1, assets=("A", "C")), init=source)
