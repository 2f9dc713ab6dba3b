"""Tabular generators (copula, VAE, GAN), their encoder and scorecard: known answers on
tiny seeded data, conditions, early stopping and bad input (the contract every generator
follows, reproducibility and persistence included, is tests/augment/test_contract.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from augment.base import ArtifactError, Generator
from augment.copula import GaussianCopula
from augment.encoding import TabularEncoder
from augment.quality import column_shapes, detection_auc, drop_copies, tabular_scorecard
from augment.tabular import TabularGAN, TabularVAE
from features.errors import DataValidationError

FAST = {"epochs": 3, "batch_size": 100, "eval_every": 1}


def make_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mode = rng.integers(0, 2, n)
    x = np.where(mode == 1, 5.0, -5.0) + rng.normal(0, 0.5, n)
    return pd.DataFrame({
        "x": x,
        "y": 2.0 * x + rng.normal(0, 0.5, n),           # strongly correlated with x
        "count": rng.integers(1, 6, n),                   # small integer column
        "kind": np.where(mode == 1, "hi", "lo"),          # determined by the mode
        "flag": rng.integers(0, 2, n),                    # 0/1 -> categorical
        "const": "same",
        "city": [f"c{i}" for i in rng.integers(0, 120, n)],  # higher cardinality
    })


def all_generators() -> list[Generator]:
    return [GaussianCopula(random_state=0, max_categories=50),
            TabularVAE(random_state=0, max_categories=50, **FAST),
            TabularGAN(random_state=0, max_categories=50, pac=5, **FAST)]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(scope="module")
def fitted(frame: pd.DataFrame) -> list[Generator]:
    return [g.fit(frame) for g in all_generators()]


def test_encoder_round_trip_and_types(frame: pd.DataFrame) -> None:
    data = frame.copy()
    data.loc[::7, "x"] = np.nan
    data.loc[::11, "kind"] = None
    enc = TabularEncoder(max_categories=50).fit(data)
    rng = np.random.default_rng(0)
    cont, codes = enc.transform(data, rng)
    assert cont.dtype == np.float32 and codes.shape[1] == len(enc.cardinalities)
    assert codes.shape[1] == 4  # kind, flag, city + NaN flag of x (const is not modelled)
    back = enc.inverse(cont, codes, rng)
    for col in ["count", "kind", "flag", "const"]:
        assert back[col].isna().tolist() == data[col].isna().tolist()
        kept = data[col].notna()
        assert back.loc[kept, col].astype(str).tolist() == data.loc[kept, col].astype(str).tolist()
    np.testing.assert_allclose(back["x"], data["x"], rtol=1e-3, atol=1e-3)
    assert back["x"].isna().sum() == data["x"].isna().sum()
    # 120 cities, 50 kept: the rest share a bucket that is resampled from the real ones
    assert set(back["city"]) <= set(data["city"])


def test_encoder_state_round_trip(frame: pd.DataFrame) -> None:
    enc = TabularEncoder(max_categories=50).fit(frame)
    meta, arrays = enc.state()
    again = TabularEncoder.from_state(meta, arrays)
    rng1, rng2 = np.random.default_rng(1), np.random.default_rng(1)
    a = enc.transform(frame, rng1)
    b = again.transform(frame, rng2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("index", [0, 1, 2], ids=["copula", "vae", "gan"])
def test_schema_types_and_ranges(fitted: list[Generator], frame: pd.DataFrame,
                                 index: int) -> None:
    s = fitted[index].sample(300, random_state=1)
    assert list(s.columns) == [*frame.columns, "is_synthetic"] and len(s) == 300
    assert s["is_synthetic"].all()
    assert s["count"].dtype == np.int64
    assert s["count"].between(1, 5).all()                    # integer + range constraints
    assert s["x"].between(frame["x"].min(), frame["x"].max()).all()
    assert set(s["kind"]) <= {"hi", "lo"} and set(s["flag"]) <= {0, 1}
    assert (s["const"] == "same").all()
    assert set(s["city"]) <= set(frame["city"])


@pytest.mark.parametrize("index", [0, 1, 2], ids=["copula", "vae", "gan"])
def test_conditional_sample_is_exact(fitted: list[Generator], index: int) -> None:
    s = fitted[index].sample(257, conditions={"kind": "hi", "flag": 1}, random_state=2)
    assert len(s) == 257
    assert (s["kind"] == "hi").all() and (s["flag"] == 1).all()


def test_copula_two_modes_and_correlation_sign(fitted: list[Generator]) -> None:
    s = fitted[0].sample(4000, random_state=3)
    near_lo = (s["x"] < -3).mean()
    near_hi = (s["x"] > 3).mean()
    assert near_lo > 0.35 and near_hi > 0.35  # both modes, little mass in between
    assert s[["x", "y"]].corr().iloc[0, 1] > 0.8
    hi = fitted[0].sample(2000, conditions={"kind": "hi"}, random_state=4)
    assert hi["x"].mean() > 2.5  # the condition shifts the correlated column


def test_vae_learns_modes_and_correlation(frame: pd.DataFrame) -> None:
    vae = TabularVAE(epochs=60, batch_size=100, random_state=0, validation_fraction=0.0,
                     max_categories=50).fit(frame)
    s = vae.sample(3000, random_state=5)
    assert (s["x"] < -3).mean() > 0.25 and (s["x"] > 3).mean() > 0.25
    assert s[["x", "y"]].corr().iloc[0, 1] > 0.5  # the strong pair keeps its sign
    lo = vae.sample(1000, conditions={"kind": "lo"}, random_state=6)
    assert lo["x"].mean() < 0  # conditioned on the mode's label, it leans to that mode


def test_history_progress_and_callback(frame: pd.DataFrame) -> None:
    seen: list[tuple[int, float, dict[str, float]]] = []
    vae = TabularVAE(epochs=4, batch_size=100, eval_every=2, random_state=0,
                     callback=lambda e, t, m: seen.append((e, t, m))).fit(frame)
    assert [int(h["epoch"]) for h in vae.history_] == [1, 2, 3, 4]
    assert "val_fidelity" in vae.history_[1] and "val_fidelity" not in vae.history_[0]
    assert [e for e, _, _ in seen] == [1, 2, 3, 4] and seen[-1][1] >= seen[0][1]


def test_early_stopping_keeps_the_best_epoch(frame: pd.DataFrame) -> None:
    gan = TabularGAN(epochs=30, batch_size=100, pac=5, eval_every=1, patience=2,
                     random_state=0).fit(frame)
    scores = [h["val_fidelity"] for h in gan.history_]
    assert len(gan.history_) < 30 or gan.best_epoch_ == int(np.argmax(scores)) + 1
    assert gan.best_epoch_ == int(np.argmax(scores)) + 1


@pytest.mark.parametrize(("bad", "match"), [
    (pd.DataFrame(), "empty frame"),
    (pd.DataFrame({"a": [1.0, 2.0], "b": [np.nan, np.nan]}), "b hold only missing values"),
    (pd.DataFrame({"a": [1.0], "c": ["x"]}), r"got 1 row\(s\): too few .* at least 10 rows"),
    (pd.DataFrame({"a": [3.0] * 20, "c": ["x"] * 20}),
     r"every column is constant \(a, c\): there is nothing to learn"),
])
@pytest.mark.parametrize("gen", all_generators(), ids=["copula", "vae", "gan"])
def test_bad_training_frames(gen: Generator, bad: pd.DataFrame, match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        gen.fit(bad)


@pytest.mark.parametrize(("conditions", "match"), [
    ({"kind": "middle"}, r"condition kind='middle': value unseen in training\. Fix: use one"),
    ({"nope": 1}, r"condition on unknown column 'nope'"),
    ({"x": 1.0}, r"condition on 'x', a continuous column"),
])
def test_bad_conditions(fitted: list[Generator], conditions: dict, match: str) -> None:
    for gen in fitted:
        with pytest.raises(DataValidationError, match=match):
            gen.sample(10, conditions=conditions)


def test_bad_params_and_unfitted(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"'epochs' parameter of TabularVAE must be an int in "
                                         r"the range \[1, inf\)\. Got 0 instead"):
        TabularVAE(epochs=0).fit(frame)
    with pytest.raises(ValueError, match=r"'batch_size' parameter of TabularGAN must be a "
                                         r"multiple of pac=10"):
        TabularGAN(batch_size=55).fit(frame)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        TabularVAE().sample(5)


def test_corrupted_and_foreign_artifacts(fitted: list[Generator], tmp_path: Path) -> None:
    path = fitted[1].save(tmp_path / "vae")
    weights = path / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match=r"weights.pt sha256 is .* \(truncated or changed"):
        TabularVAE.load(path)
    with pytest.raises(ArtifactError, match="not a genlift generator folder"):
        TabularVAE.load(tmp_path / "nothing")
    good = fitted[0].save(tmp_path / "copula")
    with pytest.raises(ArtifactError, match="holds a GaussianCopula, not a "
                                            "TabularVAE"):
        TabularVAE.load(good)
    params = (good / "params.json").read_text().replace('"genlift_version": "0.',
                                                        '"genlift_version": "9.')
    (good / "params.json").write_text(params)
    with pytest.raises(ArtifactError, match="written by genlift 9"):
        GaussianCopula.load(good)


def test_scorecard_known_answers(frame: pd.DataFrame) -> None:
    other = make_frame(seed=1)
    shapes = column_shapes(frame, other)
    del shapes["city"]  # 120 categories in 400 rows: sampling noise dominates
    assert min(shapes.values()) > 0.8  # same process, another seed
    shifted = other.assign(x=other["x"] + 100)
    assert column_shapes(frame, shifted)["x"] == 0.0
    assert detection_auc(frame, shifted) > 0.95
    synth = pd.concat([frame.iloc[:10], other.iloc[:90]], ignore_index=True)
    kept, copies = drop_copies(frame, synth)
    assert copies == 10 and len(kept) == 90
    card = tabular_scorecard(frame.iloc[:300], frame.iloc[300:], synth)
    assert card["copies_dropped"] == 10 and card["n_synthetic"] == 100
    for key in ("column_shapes", "pair_trends", "detection_auc", "quality", "dcr_ratio",
                "membership_auc", "share_closer_than_p5"):
        assert np.isfinite(card[key]), key
