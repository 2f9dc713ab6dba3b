"""BasketGenerator and the basket scorecard on tiny data with known answers.

The catalogue has two disjoint blocks: users with gender F buy only items 0-9, users with
gender M only items 10-19, so a profile-conditioned decoder must learn where to draw from.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from augment.baskets import BasketGenerator, to_store_frames
from augment.quality_baskets import basket_scorecard, fidelity_score
from features.errors import DataValidationError, GenliftWarning
from features.store import Store

N_USERS = 80
SIZES = (3, 4, 5, 6)
FAST: dict[str, Any] = dict(latent_dim=8, hidden=32, batch_size=16, random_state=0)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    # Tiny networks run far faster on one thread (and do not fight over 2 shared cores).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def block_data(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    gender = np.where(np.arange(N_USERS) % 2 == 0, "F", "M")
    users = pd.DataFrame({
        "user_id": [f"u{u:03d}" for u in range(N_USERS)],
        "age": rng.integers(18, 70, N_USERS),
        "gender": gender,
        "zip_code": [f"{z:05d}" for z in rng.choice(99_999, N_USERS, replace=False)],
    })
    sizes = rng.choice(SIZES, N_USERS)
    user_col, item_col = [], []
    for u in range(N_USERS):
        base = 0 if gender[u] == "F" else 10
        items = base + rng.choice(10, sizes[u], replace=False)
        user_col += [users.user_id[u]] * sizes[u]
        item_col += [f"i{i:02d}" for i in items]
    n = len(user_col)
    inter = pd.DataFrame({
        "user_id": user_col, "item_id": item_col,
        "ts": 1_600_000_000 + rng.integers(0, 10**6, n),
        "qty": 1.0, "value": rng.integers(1, 6, n).astype(float),
    })
    return inter, users


def block_of(items: pd.Series) -> np.ndarray:
    return items.str[1:].astype(int).to_numpy() >= 10  # True: the M block


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return block_data()


@pytest.fixture(scope="module")
def fitted(data: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, BasketGenerator]:
    inter, users = data
    return {
        "vae": BasketGenerator(model="vae", epochs=40, lr=1e-2, patience=0,
                               profile_columns=["age", "gender"], **FAST).fit(inter, users),
        # the GAN learns the conditioning slower and needs more held-out users to see it
        "gan": BasketGenerator(model="gan", epochs=60, lr=3e-3, patience=0,
                               validation_fraction=0.25, profile_columns=["age", "gender"],
                               **FAST).fit(inter, users),
    }


# -- known answers ------------------------------------------------------------------------
@pytest.mark.parametrize("model, floor", [("vae", 0.9), ("gan", 0.75)])
def test_conditioned_baskets_come_from_the_profiles_block(
        fitted: dict[str, BasketGenerator], model: str, floor: float) -> None:
    gen = fitted[model]
    users_f, inter_f = gen.sample_users(200, conditions={"gender": "F"}, random_state=1)
    users_m, inter_m = gen.sample_users(200, conditions={"gender": "M"}, random_state=1)
    assert (users_f["gender"] == "F").all() and (users_m["gender"] == "M").all()
    assert len(users_f) == 200 and len(users_m) == 200
    assert (~block_of(inter_f["item_id"])).mean() > floor
    assert block_of(inter_m["item_id"]).mean() > floor


def test_baskets_are_distinct_catalogue_items(fitted: dict[str, BasketGenerator],
                                              data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    users, inter = fitted["vae"].sample_users(300, random_state=2)
    assert list(inter.columns) == ["user_id", "item_id", "ts", "qty", "value"]
    assert set(inter["item_id"]) <= set(data[0]["item_id"])
    assert not inter.duplicated(["user_id", "item_id"]).any()
    per_user = inter.groupby("user_id").size()
    assert per_user.reindex(users["user_id"]).tolist() == users["basket_size"].tolist()
    assert users["user_id"].iloc[0] == "syn-000001" and users["is_synthetic"].all()
    assert (inter["qty"] == 1.0).all() and inter["value"].between(1, 5).all()
    ts = data[0]["ts"]
    assert inter["ts"].dtype == np.int64 and inter["ts"].between(ts.min(), ts.max()).all()


def test_basket_sizes_follow_the_learned_distribution(
        fitted: dict[str, BasketGenerator], data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    real = data[0].groupby("user_id").size()
    sizes = fitted["gan"].sample(3000, random_state=3)["basket_size"]
    assert set(sizes) <= set(real)
    assert abs(sizes.mean() - real.mean()) < 0.1


def test_numeric_condition_and_profile_jitter(fitted: dict[str, BasketGenerator],
                                              data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    gen = fitted["vae"]
    assert (gen.sample(50, conditions={"age": 30}, random_state=0)["age"] == 30).all()
    ages = gen.sample(500, random_state=0)["age"]
    assert ages.dtype == np.int64
    assert ages.between(data[1]["age"].min(), data[1]["age"].max()).all()


def test_same_seed_same_samples(fitted: dict[str, BasketGenerator],
                                data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    gen = fitted["vae"]
    a_users, a_inter = gen.sample_users(50, random_state=7)
    b_users, b_inter = gen.sample_users(50, random_state=7)
    pd.testing.assert_frame_equal(a_users, b_users)
    pd.testing.assert_frame_equal(a_inter, b_inter)
    pd.testing.assert_frame_equal(gen.sample(50, random_state=7), a_users)
    assert not a_inter.equals(gen.sample_users(50, random_state=8)[1])
    # a second fit with the same seed gives the same model, without touching global RNG
    inter, users = data
    state = torch.random.get_rng_state()
    again = [BasketGenerator(model="gan", epochs=2, profile_columns=["gender"], **FAST)
             .fit(inter, users).sample_users(30, random_state=1)[1] for _ in range(2)]
    assert torch.equal(state, torch.random.get_rng_state())
    pd.testing.assert_frame_equal(again[0], again[1])


@pytest.mark.parametrize("model", ["vae", "gan"])
def test_save_load_gives_identical_samples(fitted: dict[str, BasketGenerator], model: str,
                                           tmp_path: Path) -> None:
    gen = fitted[model]
    gen.save(tmp_path / "gen")
    loaded = BasketGenerator.load(tmp_path / "gen")
    assert loaded.get_params() | {"callback": None} == gen.get_params() | {"callback": None}
    for a, b in zip(gen.sample_users(40, conditions={"gender": "M"}, random_state=5),
                    loaded.sample_users(40, conditions={"gender": "M"}, random_state=5),
                    strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert loaded.history_ == gen.history_ and loaded.best_epoch_ == gen.best_epoch_


def test_to_store_frames_load_into_the_store(fitted: dict[str, BasketGenerator]) -> None:
    frames = to_store_frames(*fitted["vae"].sample_users(20, random_state=0), "run-1", "vae")
    assert set(frames) == {"synthetic_users", "synthetic_interactions"}
    with Store(":memory:") as store:
        infos = store.load(frames, source="test")
        assert infos["synthetic_interactions"].n_rows == len(frames["synthetic_interactions"])
        back = store.read("synthetic_users")
    assert {"run_id", "generator", "gender", "age"} <= set(back.columns)
    assert "basket_size" not in back.columns and "is_synthetic" not in back.columns


def test_history_callback_and_early_stopping(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    calls: list[tuple[int, float, dict[str, float]]] = []
    gen = BasketGenerator(epochs=30, patience=2, callback=lambda *a: calls.append(a),
                          profile_columns=["gender"], **FAST).fit(*data)
    assert len(gen.history_) == len(calls) < 30  # stopped early
    assert {"loss", "nll", "kl", "fidelity", "pmi_pearson",
            "profile_item_pearson"} <= set(gen.history_[0])
    assert gen.best_epoch_ == int(np.argmax([h["fidelity"] for h in gen.history_]))
    assert gen.fit_seconds_ > 0 and len(gen.fingerprint_) > 16


def test_unconditional_fit_and_default_profile_columns(
        data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    inter, users = data
    gen = BasketGenerator(epochs=1, **FAST).fit(inter)
    assert gen.profile_columns_ == []
    assert list(gen.sample(5).columns) == ["user_id", "basket_size", "is_synthetic"]
    with pytest.warns(GenliftWarning, match="zip_code is left out of the profile"):
        gen = BasketGenerator(epochs=1, **FAST).fit(inter, users)
    assert gen.profile_columns_ == ["age", "gender"]


# -- bad input ----------------------------------------------------------------------------
def test_bad_input_errors(fitted: dict[str, BasketGenerator],
                          data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    inter, users = data
    gen = fitted["vae"]
    with pytest.raises(DataValidationError, match="empty frame"):
        BasketGenerator().fit(inter.iloc[:0])
    with pytest.raises(DataValidationError, match="missing column.*ts"):
        BasketGenerator(**FAST).fit(inter.drop(columns="ts"))
    with pytest.raises(DataValidationError, match="users missing from users"):
        BasketGenerator(**FAST).fit(inter, users.iloc[2:])
    with pytest.raises(DataValidationError, match="profile column 'income'"):
        BasketGenerator(profile_columns=["income"], **FAST).fit(inter, users)
    with pytest.raises(ValueError, match=r"The 'latent_dim' parameter of BasketGenerator must "
                       r"be an int in the range \[1, inf\)\. Got 0 instead\."):
        BasketGenerator(latent_dim=0).fit(inter, users)
    with pytest.raises(ValueError, match="The 'model' parameter"):
        BasketGenerator(model="flow").fit(inter, users)
    for n in (0, -3, 2.5):
        with pytest.raises(ValueError, match="The 'n' parameter"):
            gen.sample_users(n)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="The 'n' parameter"):
        gen.sample(0)
    with pytest.raises(ValueError, match="unknown condition column 'country'"):
        gen.sample_users(3, conditions={"country": "FR"})
    with pytest.raises(ValueError, match="gender='X' was never seen"):
        gen.sample(3, conditions={"gender": "X"})
    with pytest.raises(ValueError, match="age=500 must be a number in the training range"):
        gen.sample(3, conditions={"age": 500})
    with pytest.raises(RuntimeError, match="not fitted"):
        BasketGenerator().sample_users(3)


# -- scorecard ----------------------------------------------------------------------------
def test_scorecard_identical_data_is_perfect(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    inter = data[0]
    card = basket_scorecard(inter, inter.assign(user_id="s" + inter["user_id"]), top_pairs=50)
    assert card["popularity_pearson"] == pytest.approx(1.0)
    assert card["popularity_spearman"] == pytest.approx(1.0)
    assert card["pmi_pearson"] == pytest.approx(1.0)
    assert card["pair_coverage"] == 1.0
    assert card["size_wasserstein"] == 0.0 and card["size_ks"] == 0.0
    assert card["coverage_real"] == card["coverage_synthetic"] == 1.0
    assert card["tail_share_real"] == card["tail_share_synthetic"]
    assert fidelity_score(card) == pytest.approx(1.0)
    padded = basket_scorecard(inter, inter, n_items=40)
    assert padded["coverage_synthetic"] == 0.5


def test_scorecard_sees_shuffled_popularity_and_tail() -> None:
    rng = np.random.default_rng(0)
    n_items, n_users = 200, 400
    pop = 1.0 / np.arange(1, n_items + 1)  # Zipf popularity
    rows = [(u, i) for u in range(n_users)
            for i in rng.choice(n_items, 15, replace=False, p=pop / pop.sum())]
    real = pd.DataFrame(rows, columns=["user_id", "item_id"])
    same = real.assign(user_id=real["user_id"] + n_users)
    relabel = dict(enumerate(rng.permutation(n_items)))
    shuffled = same.assign(item_id=same["item_id"].map(relabel))
    good = basket_scorecard(real, same, n_items=n_items)
    bad = basket_scorecard(real, shuffled, n_items=n_items)
    assert good["popularity_spearman"] == pytest.approx(1.0)
    assert bad["popularity_spearman"] < 0.3 and bad["popularity_pearson"] < 0.3
    assert bad["tail_share_synthetic"] > good["tail_share_synthetic"] + 0.3
    assert bad["size_wasserstein"] == 0.0  # the sizes did not change
    bigger = same.groupby("user_id").head(10)
    assert basket_scorecard(real, bigger)["size_wasserstein"] == pytest.approx(5.0)


def test_scorecard_bad_input() -> None:
    ok = pd.DataFrame({"user_id": [1, 1], "item_id": ["a", "b"]})
    with pytest.raises(DataValidationError, match="synthetic is missing column"):
        basket_scorecard(ok, ok.rename(columns={"item_id": "item"}))
    with pytest.raises(DataValidationError, match="real has no rows"):
        basket_scorecard(ok.iloc[:0], ok)
    with pytest.raises(ValueError, match="The 'n_items' parameter"):
        basket_scorecard(ok, ok, n_items=1)
    with pytest.raises(ValueError, match="The 'tail_share' parameter"):
        basket_scorecard(ok, ok, tail_share=1.5)


def test_fit_without_users_samples_any_number_of_users(
        data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """Regression: without a users table the profile block has width 0 and was built with
    the training user count, so any other ``n`` failed with an IndexError."""
    inter, _ = data
    gen = BasketGenerator(model="vae", epochs=2, **FAST).fit(inter)
    n_train = inter["user_id"].nunique()
    for n in (1, n_train + 7):
        users, baskets = gen.sample_users(n, random_state=0)
        assert len(users) == n and set(baskets["user_id"]) <= set(users["user_id"])
        assert (baskets.groupby("user_id").size() == users.set_index("user_id")
                ["basket_size"].reindex(baskets["user_id"].unique())).all()
