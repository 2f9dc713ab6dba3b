"""Price-path generators and the stylized-facts scorecard: known answers, reproducibility,
persistence and bad input. Tiny data, a few seconds in all."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from augment.paths import BlockBootstrap, GarchT, PathGenerator, PricePathGenerator
from augment.quality_paths import STYLIZED_FACTS, markdown_table, path_scorecard, scorecard_frame
from features.errors import DataValidationError, GenliftWarning

ASSETS = ["AAA", "BBB", "CCC"]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    # tiny recurrent steps are dominated by thread hand-offs on a shared 2-core machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def garch_paths(n_paths: int, days: int, seed: int, *, d: int = 3, alpha: float = 0.12,
                beta: float = 0.85, df: float = 5.0) -> np.ndarray:
    """GARCH(1,1)-t paths with a common factor (correlation ~0.5): (n_paths, days, d)."""
    rng = np.random.default_rng(seed)
    omega = 1e-4 * (1 - alpha - beta)
    var = np.full((n_paths, d), 1e-4)
    out = np.empty((n_paths, days, d))
    scale = np.sqrt((df - 2) / df)
    for t in range(days):
        common = rng.standard_t(df, (n_paths, 1)) * scale
        z = np.sqrt(0.5) * common + np.sqrt(0.5) * rng.standard_t(df, (n_paths, d)) * scale
        eps = np.sqrt(var) * z
        out[:, t] = 2e-4 + eps
        var = omega + alpha * eps**2 + beta * var
    return out


def returns_frame(days: int = 400, seed: int = 0) -> pd.DataFrame:
    index = pd.bdate_range("2001-01-01", periods=days)
    return pd.DataFrame(garch_paths(1, days, seed)[0], index=index, columns=ASSETS)


def tiny_nn(model: str, **kw: object) -> PricePathGenerator:
    params = dict(model=model, window=8, warmup=2, hidden=8, latent=2, epochs=2,
                  batch_size=16, n_val_paths=4, random_state=0)
    params.update(kw)
    return PricePathGenerator(**params)  # type: ignore[arg-type]


FACTORIES: dict[str, Callable[[], PathGenerator]] = {
    "bootstrap": lambda: BlockBootstrap(mean_block=5, random_state=0),
    "garch": lambda: GarchT(random_state=0),
    "gan": lambda: tiny_nn("gan"),
    "vae": lambda: tiny_nn("vae"),
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return returns_frame()


@pytest.fixture(scope="module", params=list(FACTORIES))
def fitted(request: pytest.FixtureRequest, frame: pd.DataFrame) -> PathGenerator:
    return FACTORIES[request.param]().fit(frame)


# -- the shared contract ---------------------------------------------------------------------
def test_paths_have_requested_shape_and_are_finite(fitted: PathGenerator) -> None:
    for length in (5, 50):  # 50 > the neural models' training window of 8
        paths = fitted.sample_paths(3, length, random_state=1)
        assert paths.shape == (3, length, len(ASSETS))
        assert np.isfinite(paths).all()


def test_sample_is_a_long_frame(fitted: PathGenerator) -> None:
    out = fitted.sample(2, conditions={"length": 7}, random_state=3)
    assert list(out.columns) == ["path", "step", *ASSETS, "is_synthetic"]
    assert len(out) == 14
    assert out["path"].tolist() == [0] * 7 + [1] * 7
    assert out["step"].tolist() == list(range(7)) * 2
    np.testing.assert_allclose(out[ASSETS].to_numpy(),
                               fitted.sample_paths(2, 7, random_state=3).reshape(14, 3))
    assert len(fitted.sample(1)) == fitted.default_length_


def test_same_seed_same_samples(fitted: PathGenerator, frame: pd.DataFrame) -> None:
    a = fitted.sample_paths(4, 30, random_state=7)
    np.testing.assert_array_equal(a, fitted.sample_paths(4, 30, random_state=7))
    assert not np.array_equal(a, fitted.sample_paths(4, 30, random_state=8))
    refit = type(fitted)(**fitted.get_params()).fit(frame)  # same seed -> same model
    np.testing.assert_array_equal(a, refit.sample_paths(4, 30, random_state=7))


def test_save_load_identical_samples(fitted: PathGenerator, tmp_path) -> None:
    path = fitted.save(tmp_path / "gen")
    loaded = PathGenerator.load(path, device="cpu")
    assert type(loaded) is type(fitted) and loaded.assets_ == ASSETS
    np.testing.assert_array_equal(fitted.sample_paths(3, 40, random_state=5),
                                  loaded.sample_paths(3, 40, random_state=5))


def test_bad_sampling_requests(fitted: PathGenerator) -> None:
    with pytest.raises(ValueError, match="'n' parameter"):
        fitted.sample(0)
    with pytest.raises(ValueError, match="'n_paths' parameter .* range \\[1, inf\\)"):
        fitted.sample_paths(0, 10)
    with pytest.raises(ValueError, match="'length' parameter .* \\[1, 100000\\]"):
        fitted.sample_paths(1, 100_001)
    with pytest.raises(ValueError, match="'length' parameter"):
        fitted.sample(1, conditions={"length": 0})
    with pytest.raises(ValueError, match="Unknown condition key\\(s\\) \\['regime'\\]"):
        fitted.sample(1, conditions={"regime": "crisis"})


# -- known answers ---------------------------------------------------------------------------
def test_bootstrap_keeps_cross_correlation_sign() -> None:
    rng = np.random.default_rng(0)
    f = rng.standard_normal((500, 1))
    data = np.hstack([f + 0.3 * rng.standard_normal((500, 1)),
                      f + 0.3 * rng.standard_normal((500, 1)),
                      -f + 0.3 * rng.standard_normal((500, 1))]) * 0.01
    gen = BlockBootstrap(mean_block=10, random_state=0).fit(pd.DataFrame(data, columns=ASSETS))
    pooled = gen.sample_paths(20, 100).reshape(-1, 3)
    corr = np.corrcoef(pooled, rowvar=False)
    assert corr[0, 1] > 0.8 and corr[0, 2] < -0.8
    # whole cross-sections: every generated day is a training day
    assert np.isin(pooled[:, 0], data[:, 0]).all()


def test_garch_t_recovers_heavy_tails_and_correlation() -> None:
    rng = np.random.default_rng(1)
    common = rng.standard_t(4, (1500, 1))
    data = 0.01 * (common + rng.standard_t(4, (1500, 2))) / 2
    gen = GarchT(random_state=0).fit(pd.DataFrame(data, columns=ASSETS[:2]))
    assert (gen.params_[:, 4] < 10).all()  # fitted nu: heavy tails detected
    paths = gen.sample_paths(50, 200)
    assert stats.kurtosis(paths.reshape(-1, 2), fisher=False).min() > 3.5
    assert np.corrcoef(paths.reshape(-1, 2), rowvar=False)[0, 1] > 0.3
    last = GarchT(start="last", random_state=0).fit(pd.DataFrame(data, columns=ASSETS[:2]))
    assert np.isfinite(last.sample_paths(2, 10)).all()


def test_neural_history_callback_and_progress(frame: pd.DataFrame) -> None:
    seen: list[tuple[int, float, dict[str, float]]] = []
    gen = tiny_nn("gan", epochs=3, patience=1, callback=lambda e, s, m: seen.append((e, s, m)))
    gen.fit(frame)
    assert len(gen.history_) == len(seen) >= 2
    first = gen.history_[0]
    assert {"loss", "nll", "kl", "val_score", "critic_loss", "adv_loss"} <= set(first)
    assert all(np.isfinite(h["loss"]) for h in gen.history_)
    assert 0 <= gen.best_epoch_ < len(gen.history_)
    assert gen.best_score_ == max(h["val_score"] for h in gen.history_)


def test_neural_normal_noise_and_fixed_df(frame: pd.DataFrame) -> None:
    for kw in ({"noise": "normal"}, {"df": 4.0}):
        gen = tiny_nn("vae", epochs=1, **kw).fit(frame)
        assert np.isfinite(gen.sample_paths(2, 20)).all()
    assert float(gen.net_.df()[0]) == pytest.approx(4.0, rel=1e-5)


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("factory", [BlockBootstrap, GarchT, PricePathGenerator])
def test_bad_frames(factory: Callable[[], PathGenerator], frame: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="empty frame"):
        factory().fit(pd.DataFrame())
    bad = frame.copy()
    bad["BBB"] = np.nan
    with pytest.raises(DataValidationError, match="BBB hold only missing values"):
        factory().fit(bad)
    holes = frame.copy()
    holes.iloc[[10, 20], 1] = np.nan
    with pytest.raises(DataValidationError, match="returns.BBB has 2 missing values after"):
        factory().fit(holes)
    text = frame.astype(str)
    with pytest.raises(DataValidationError, match="returns.AAA is not numeric"):
        factory().fit(text)
    with pytest.raises(DataValidationError, match="asset columns must be unique and not named"):
        factory().fit(frame.rename(columns={"AAA": "step"}))


def test_leading_missing_values_are_trimmed_with_a_warning(frame: pd.DataFrame) -> None:
    late = frame.copy()
    late.iloc[:30, 2] = np.nan
    with pytest.warns(GenliftWarning, match="dropped the first 30 days"):
        gen = BlockBootstrap(random_state=0).fit(late)
    assert gen.n_train_days_ == len(frame) - 30


def test_bad_parameters(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"The 'window' parameter of PricePathGenerator must "
                       r"be an int in the range \[2, inf\). Got 0 instead."):
        PricePathGenerator(window=0).fit(frame)
    with pytest.raises(ValueError, match="'model' parameter of PricePathGenerator"):
        PricePathGenerator(model="diffusion").fit(frame)
    with pytest.raises(ValueError, match="'mean_block' parameter of BlockBootstrap"):
        BlockBootstrap(mean_block=0.5).fit(frame)
    with pytest.raises(ValueError, match="'start' parameter of GarchT"):
        GarchT(start="middle").fit(frame)
    with pytest.raises(DataValidationError, match="needs at least 100"):
        GarchT().fit(frame.iloc[:50])
    with pytest.raises(DataValidationError, match="window \\+ warmup = 400"):
        PricePathGenerator(window=380, warmup=20).fit(frame)
    with pytest.raises(RuntimeError, match="not fitted"):
        BlockBootstrap().sample_paths(1, 5)


# -- scorecard -------------------------------------------------------------------------------
def test_scorecard_is_zero_on_identical_data() -> None:
    real = garch_paths(1, 600, 3)[0]
    card = path_scorecard(real, real[None], real_train=real)
    for key in ("wasserstein_1d", "wasserstein_5d", "wasserstein_20d", *STYLIZED_FACTS):
        assert card[key] == pytest.approx(0.0, abs=1e-12), key
    assert card["novelty"] == 1.0 and card["novel_share"] == 0.0  # every window is a copy


def test_scorecard_same_process_small_and_iid_misses_volatility_clustering() -> None:
    sims = garch_paths(21, 2500, 4, alpha=0.2, beta=0.7)
    real, same = sims[0], sims[1:]
    rng = np.random.default_rng(0)
    shuffled = np.stack([real[rng.permutation(len(real))] for _ in range(20)])
    train = garch_paths(1, 2500, 99, alpha=0.2, beta=0.7)[0]
    card_same = path_scorecard(real, same, real_train=train)
    card_iid = path_scorecard(real, shuffled, real_train=train)
    assert card_iid["acf_error_abs"] > 2 * card_same["acf_error_abs"]
    assert card_iid["acf_error_sq"] > card_same["acf_error_sq"]
    assert card_same["wasserstein_1d"] < 0.2 * real.std()
    assert card_same["novelty"] == 0.0 and card_same["nn_distance_median"] > 0.5
    frame = scorecard_frame({"same": card_same, "iid": card_iid})
    assert list(frame.index) == ["same", "iid"]
    assert markdown_table(frame).startswith("| generator | wasserstein_1d |")


def test_scorecard_bad_input() -> None:
    real = garch_paths(1, 200, 0)[0]
    with pytest.raises(ValueError, match="3-d array"):
        path_scorecard(real, real)
    with pytest.raises(ValueError, match="synthetic has 2 assets but real_test has 3"):
        path_scorecard(real, real[None, :, :2])
    with pytest.raises(ValueError, match="synthetic has 30 days; these statistics need"):
        path_scorecard(real, real[None, :30])
    with pytest.raises(ValueError, match="NaN or infinite"):
        path_scorecard(np.where(real > 0, np.nan, real), real[None])
    with pytest.raises(ValueError, match="'max_lag' parameter of path_scorecard"):
        path_scorecard(real, real[None], max_lag=0)
