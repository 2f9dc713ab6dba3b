"""TabularDiffusion (augment/tabular/diffusion.py) and its schedule and reverse steps
(augment/tabular/diffusion_net.py): known answers of the steps, tiny seeded data, a few
epochs (the contract every generator follows is tests/augment/test_contract.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from augment.quality import column_shape_score
from augment.registry import load_generator, make_generator
from augment.tabular import TabularDiffusion
from augment.tabular.diffusion_net import (
    alpha_bars,
    gaussian_step,
    log_q_t,
    multinomial_step,
    respaced,
)

FAST = {"epochs": 5, "batch_size": 64, "hidden": (32, 32), "latent_dim": 16,
        "timesteps": 100, "sample_steps": 10}


def make_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mode = rng.integers(0, 2, n)
    return pd.DataFrame({
        "x": np.where(mode == 1, 3.0, -3.0) + rng.normal(0, 0.4, n),  # bimodal
        "count": rng.integers(1, 6, n),
        "kind": np.where(mode == 1, "hi", "lo"),  # says which mode x is in
        "color": rng.choice(["red", "green", "blue"], n, p=[0.6, 0.3, 0.1]),
        "flag": rng.integers(0, 2, n),
    })


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(scope="module")
def fitted(frame: pd.DataFrame) -> TabularDiffusion:
    return TabularDiffusion(random_state=0, **FAST).fit(frame)


# -- the schedule and the reverse steps ------------------------------------------------


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_alpha_bars_fall_from_one_to_about_zero(schedule: str) -> None:
    ab = alpha_bars(1000, schedule)
    assert ab.shape == (1001,) and ab[0] == 1.0
    assert np.all(np.diff(ab) < 0) and ab[-1] < 1e-3


def test_respaced_strides_down_to_zero() -> None:
    assert respaced(10, 5) == [(10, 8), (8, 6), (6, 4), (4, 2), (2, 0)]
    assert respaced(3, 50) == [(3, 2), (2, 1), (1, 0)]  # never more than the timesteps
    assert respaced(1000, 1) == [(1000, 0)]


def test_reverse_steps_recover_the_data_with_the_exact_posterior() -> None:
    """With the true x_0 posterior as the 'network', the reverse chain draws the data's
    distribution, in any number of strides (the steps' maths, not a model)."""
    ab = alpha_bars(1000, "cosine")
    gen = torch.Generator().manual_seed(0)
    n, k = 40000, 4
    pi = torch.tensor([0.6, 0.3, 0.08, 0.02])
    inv_k = torch.full((k,), 1.0 / k)
    mus = torch.tensor([-2.0, 2.0])
    for steps in (4, 40):
        codes = torch.randint(0, k, (n, 1), generator=gen)
        x = torch.randn(n, generator=gen)
        for t, s in respaced(1000, steps):
            a = float(ab[t])
            # categorical: the network's logits f with exp(f) q(x_t | x_0) = p(x_0 | x_t)
            # are the log prior; their step must not need the likelihood again
            f = torch.log(pi).expand(n, 1, k)
            assert torch.allclose(torch.softmax(f.reshape(n, k) + log_q_t(
                F.one_hot(codes[:, 0], k).float(), inv_k, torch.full((n, 1), a)), dim=1),
                torch.softmax(torch.log(pi * (a * F.one_hot(codes[:, 0], k) + (1 - a) / k)),
                              dim=1), atol=1e-5)
            codes = multinomial_step(codes, f, a, float(ab[s]),
                                     torch.rand(n, 1, 1, generator=gen))
            # continuous: the exact noise of a two-point mixture at -2 and 2
            w = torch.softmax(-(x[:, None] - a ** 0.5 * mus) ** 2 / (2 * (1 - a)), dim=1)
            eps = (x - a ** 0.5 * (w * mus).sum(1)) / (1 - a) ** 0.5
            noise = torch.randn(n, generator=gen) if s > 0 else None
            x = gaussian_step(x, eps, a, float(ab[s]), noise)
        share = np.bincount(codes[:, 0].numpy(), minlength=k) / n
        np.testing.assert_allclose(share, pi.numpy(), atol=0.01)
        assert abs(float((x > 0).float().mean()) - 0.5) < 0.02
        assert float(((x.abs() - 2).abs() < 0.1).float().mean()) > 0.97  # on the points


# -- the generator -----------------------------------------------------------------------


def test_registered_and_made_by_name() -> None:
    gen = make_generator("tabular", "diffusion", epochs=3, batch_size=50, latent_dim=8)
    assert isinstance(gen, TabularDiffusion)
    assert (gen.epochs, gen.batch_size, gen.latent_dim) == (3, 50, 8)


def test_sample_shapes_types_and_ranges(fitted: TabularDiffusion, frame: pd.DataFrame) -> None:
    s = fitted.sample(500, random_state=1)
    assert list(s.columns) == [*frame.columns, "is_synthetic"] and len(s) == 500
    assert s["is_synthetic"].all()
    assert s["x"].dtype == np.float64 and s["count"].dtype == np.int64
    assert s["count"].between(1, 5).all()
    assert s["x"].between(frame["x"].min(), frame["x"].max()).all()
    assert set(s["kind"]) <= {"hi", "lo"} and set(s["color"]) <= {"red", "green", "blue"}
    assert set(s["flag"]) <= {0, 1}
    assert len(fitted.history_) == 5 and {"loss", "mse", "cross_entropy"} <= set(
        fitted.history_[-1])


def test_conditional_sample_has_the_condition(fitted: TabularDiffusion) -> None:
    s = fitted.sample(300, conditions={"kind": "hi", "color": "blue"}, random_state=2)
    assert len(s) == 300
    assert (s["kind"] == "hi").all() and (s["color"] == "blue").all()


def test_same_seed_same_model_and_samples(frame: pd.DataFrame,
                                          fitted: TabularDiffusion) -> None:
    again = TabularDiffusion(random_state=0, **FAST).fit(frame)
    pd.testing.assert_frame_equal(fitted.sample(50, random_state=3),
                                  again.sample(50, random_state=3))
    assert not fitted.sample(50, random_state=3).equals(fitted.sample(50, random_state=4))


def test_save_load_gives_the_same_samples(fitted: TabularDiffusion, tmp_path: Path) -> None:
    path = fitted.save(tmp_path / "diffusion")
    assert {"params.json", "arrays.npz", "weights.pt"} <= {p.name for p in path.iterdir()}
    loaded = load_generator(path, device="cpu")
    assert isinstance(loaded, TabularDiffusion)
    assert (loaded.timesteps, loaded.sample_steps, loaded.schedule) == (100, 10, "cosine")
    for cond in ({}, {"kind": "lo"}):
        pd.testing.assert_frame_equal(fitted.sample(40, conditions=cond, random_state=5),
                                      loaded.sample(40, conditions=cond, random_state=5))


def test_validation_and_early_stopping_work(frame: pd.DataFrame) -> None:
    gen = TabularDiffusion(random_state=0, validation_fraction=0.2, eval_every=1,
                           patience=2, **{**FAST, "epochs": 8}).fit(frame)
    scores = [h["val_fidelity"] for h in gen.history_]
    assert gen.best_epoch_ == int(np.argmax(scores)) + 1


def test_learns_the_columns_and_the_mode_label() -> None:
    """600 rows, 60 epochs, 1-2 s. Measured (random_state 0, 1, 2): column-shape score
    0.983, 0.986, 0.989, label and mode agree on every row, and every row conditioned on
    "hi" is in its mode; the bars leave room for other platforms."""
    frame = make_frame(600, seed=1)
    gen = TabularDiffusion(epochs=60, random_state=0).fit(frame)
    s = gen.sample(2000, random_state=6)
    assert column_shape_score(frame, s.drop(columns="is_synthetic")) > 0.9
    assert (s["x"] < -1.5).mean() > 0.3 and (s["x"] > 1.5).mean() > 0.3  # both modes
    agree = ((s["kind"] == "hi") == (s["x"] > 0)).mean()
    assert agree > 0.95  # the label goes with its mode (independent columns: 0.5)
    hi = gen.sample(500, conditions={"kind": "hi"}, random_state=7)
    assert (hi["x"] > 0).mean() > 0.95  # the condition moves the other columns


@pytest.mark.parametrize(("params", "match"), [
    ({"timesteps": 1}, r"'timesteps' parameter of TabularDiffusion must be an int in the "
                       r"range \[2, inf\)\. Got 1 instead"),
    ({"timesteps": 10, "sample_steps": 11},
     r"'sample_steps' parameter of TabularDiffusion must be an int in the range \[1, 10\]"),
    ({"sample_steps": 0}, r"'sample_steps' parameter of TabularDiffusion must be an int"),
    ({"schedule": "sqrt"}, r"'schedule' parameter of TabularDiffusion must be one of "
                           r"'cosine', 'linear'\. Got 'sqrt' instead"),
    ({"epochs": 0}, r"'epochs' parameter of TabularDiffusion must be an int in the range "
                    r"\[1, inf\)"),
    ({"lr": 0.0}, r"'lr' parameter of TabularDiffusion must be a float in the range "
                  r"\(0, inf\)"),
    ({"hidden": ()}, r"'hidden' parameter of TabularDiffusion must be a non-empty tuple"),
])
def test_bad_params_give_clear_errors(frame: pd.DataFrame, params: dict,
                                      match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TabularDiffusion(**params).fit(frame)


def test_sample_before_fit_raises() -> None:
    with pytest.raises(RuntimeError, match="TabularDiffusion is not fitted yet"):
        TabularDiffusion().sample(3)
