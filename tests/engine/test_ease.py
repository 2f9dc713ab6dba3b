"""EASE beyond the shared Recommender contract (that part runs in test_recommenders.py):
the closed form against an explicit numpy inverse, fold-in, synthetic row weights, the
memory guard and parameter errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from engine.recommenders import EASERecommender, Recommender
from engine.recommenders import ease as ease_module
from engine.recommenders.ease import ease_memory_bytes, ease_weights, gram_matrix
from engine.recommenders.evaluation import GRIDS, MODELS, make_model
from features.errors import DataValidationError
from features.matrix import InteractionMatrix, build_user_items

LAMBDA = 3.0


def reference(x: np.ndarray, lam: float) -> np.ndarray:
    """Steck (2019) eq. 8, literally: B = I - P diag(1 / diag(P)), P = (X^T X + lam I)^-1."""
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    return np.eye(x.shape[1]) - p @ np.diag(1.0 / np.diag(p))


def small_matrix(seed: int = 0, users: int = 30, items: int = 12) -> InteractionMatrix:
    """Random counts 0..3 (rating-valued cells, not only 0/1); every user and item used."""
    rng = np.random.default_rng(seed)
    dense = rng.integers(0, 4, size=(users, items)) * (rng.random((users, items)) < 0.4)
    dense[np.arange(users), np.arange(users) % items] += 1
    rows, cols = np.nonzero(dense)
    frame = pd.DataFrame({"user_id": [f"u{r:02d}" for r in rows],
                          "item_id": [f"i{c:02d}" for c in cols]}).loc[
        np.repeat(np.arange(rows.size), dense[rows, cols])]
    return build_user_items(frame)


def fit(m: InteractionMatrix, **kwargs: object) -> EASERecommender:
    params = {"regularization": LAMBDA, "device": "cpu"}
    fit_kwargs = {k: kwargs.pop(k) for k in ("synthetic", "synthetic_weight") if k in kwargs}
    return EASERecommender(**{**params, **kwargs}).fit(m, **fit_kwargs)  # type: ignore[arg-type]


def test_weights_equal_the_explicit_inverse_formula() -> None:
    m = small_matrix()
    x = m.matrix.toarray().astype(np.float64)
    assert x.max() > 1  # the cells are counts, not just 0/1
    model = fit(m)
    assert model.weights_.dtype == np.float32 and model.weights_.shape == (12, 12)
    np.testing.assert_allclose(model.weights_, reference(x, LAMBDA), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.diag(model.weights_), 0.0)
    # The scores are X B.
    np.testing.assert_allclose(model.score_block(np.arange(x.shape[0])),
                               x @ reference(x, LAMBDA), rtol=1e-4, atol=1e-5)


def test_gram_in_column_blocks() -> None:
    x = small_matrix().matrix
    np.testing.assert_array_equal(gram_matrix(x, np.float64, block=5),
                                  (x.T @ x).toarray().astype(np.float64))


def test_inverse_runs_in_place() -> None:
    """Beyond the Gram matrix, the fit allocates about the float32 weights only."""
    import tracemalloc

    n = 600
    x = (np.random.default_rng(0).random((200, n)) < 0.05).astype(np.float64)
    gram = x.T @ x
    expected = reference(x, LAMBDA)
    tracemalloc.start()
    try:
        weights = ease_weights(gram, LAMBDA)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * n * n  # the float32 B is 4 bytes a cell; a float64 copy would be 8
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-6)


def test_float32_inverse_above_the_float64_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    m = small_matrix(1)
    monkeypatch.setattr(ease_module, "FLOAT64_ITEMS", 5)
    model = fit(m)
    np.testing.assert_allclose(model.weights_, reference(m.matrix.toarray(), LAMBDA),
                               rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(np.diag(model.weights_), 0.0)
    assert ease_memory_bytes(10) == 10 * 10 * 8  # float32 Gram + float32 B, patched


def test_fold_in_is_x_times_b() -> None:
    m = small_matrix()
    model = fit(m)
    new = pd.DataFrame({"user_id": ["new"] * 4, "item_id": ["i00", "i03", "i03", "i07"]})
    items, scores = model.recommend(["new"], n=12, exclude_seen=False, interactions=new)
    x = np.zeros(12)
    x[[0, 3, 7]] = [1.0, 2.0, 1.0]  # counts: i03 twice
    expected = x @ model.weights_.astype(np.float64)
    cols = model.item_ids_.searchsorted(items[0].astype(str))
    np.testing.assert_allclose(scores[0], expected[cols], rtol=1e-5, atol=1e-6)
    assert np.all(np.diff(scores[0]) <= 0)
    # With seen items excluded the same scores remain, minus the history.
    items, scores = model.recommend(["new"], n=9, interactions=new)
    assert not {"i00", "i03", "i07"} & set(items[0])
    cols = model.item_ids_.searchsorted(items[0].astype(str))
    np.testing.assert_allclose(scores[0], expected[cols], rtol=1e-5, atol=1e-6)


def test_known_user_equals_the_same_history_folded_in() -> None:
    m = small_matrix()
    model = fit(m)
    user = str(m.user_ids[4])
    frame = m.to_frame()
    frame = frame[frame["user_id"] == user]
    history = frame.loc[frame.index.repeat(frame["weight"].astype(int)), ["item_id"]]
    a = model.recommend([user], n=6)
    b = model.recommend(["clone"], n=6, interactions=history.assign(user_id="clone"))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6)


def synthetic_rows() -> InteractionMatrix:
    rng = np.random.default_rng(5)
    rows = [(f"s{s}", f"i{i:02d}") for s in range(6) for i in rng.choice(12, 5, replace=False)]
    rows.append(("s0", "not-in-real-data"))
    return build_user_items(pd.DataFrame(rows, columns=["user_id", "item_id"]))


@pytest.mark.parametrize("weight", [0.5, 1.0, 2.0])
def test_synthetic_rows_add_weight_times_their_gram(weight: float) -> None:
    m = small_matrix()
    syn = synthetic_rows()
    model = fit(m, synthetic=syn, synthetic_weight=weight)
    x = m.matrix.toarray().astype(np.float64)
    s = syn.matrix.toarray()[:, np.isin(syn.item_ids, m.item_ids)].astype(np.float64)
    # G = X^T X + w S^T S: the reference on the stacked rows [X; sqrt(w) S].
    expected = reference(np.vstack([x, np.sqrt(weight) * s]), LAMBDA)
    np.testing.assert_allclose(model.weights_, expected, rtol=1e-5, atol=1e-6)
    assert model.n_synthetic_users_ == 6
    assert not np.allclose(model.weights_, fit(m).weights_)


def test_synthetic_weight_two_equals_the_rows_twice() -> None:
    m = small_matrix()
    syn = synthetic_rows()
    twice = InteractionMatrix(sp.vstack([syn.matrix, syn.matrix], format="csr"),
                              np.concatenate([syn.user_ids, [f"{u}b" for u in syn.user_ids]]),
                              syn.item_ids)
    np.testing.assert_allclose(fit(m, synthetic=syn, synthetic_weight=2.0).weights_,
                               fit(m, synthetic=twice).weights_, rtol=1e-5, atol=1e-6)


def test_similar_items_are_the_rows_of_b() -> None:
    m = small_matrix()
    model = fit(m)
    items, scores = model.similar_items(["i02"], n=11)
    row = model.weights_[2]
    cols = model.item_ids_.searchsorted(items[0].astype(str))
    assert 2 not in cols
    np.testing.assert_allclose(scores[0], row[cols])
    np.testing.assert_array_equal(np.sort(scores[0])[::-1], scores[0])
    # ... which is what a user holding that one item is recommended.
    one = pd.DataFrame({"user_id": ["one"], "item_id": ["i02"]})
    rec_items, rec_scores = model.recommend(["one"], n=11, interactions=one)
    np.testing.assert_allclose(rec_scores, scores, rtol=1e-6)


def test_save_load_keeps_the_weights(tmp_path) -> None:
    model = fit(small_matrix())
    loaded = Recommender.load(model.save(tmp_path / "ease"))
    assert isinstance(loaded, EASERecommender)
    np.testing.assert_array_equal(loaded.weights_, model.weights_)
    assert loaded.get_params() == model.get_params()
    users = model.user_ids_[:5]
    for a, b in zip(model.recommend(users, n=4), loaded.recommend(users, n=4), strict=True):
        np.testing.assert_array_equal(a, b)


def test_memory_guard_names_items_memory_and_als() -> None:
    m = small_matrix()
    with pytest.raises(DataValidationError, match=r"catalogue of 12 items, above "
                       r"max_items=10: .* 12 x 12 item matrices, about 0.0 MB.*"
                       r"ALSRecommender \(`--model als`\)"):
        fit(m, max_items=10)
    model = EASERecommender(max_items=50_000)
    with pytest.raises(DataValidationError, match=r"60,000 items, above max_items=50,000: "
                       r".*about 28.8 GB"):
        model._check_size(60_000)
    fit(m, max_items=12)  # the limit itself is allowed
    assert ease_memory_bytes(50_000) / 1e9 == pytest.approx(20.0)  # float32 inverse
    assert ease_memory_bytes(1682) / 1e6 == pytest.approx(33.9, abs=0.1)  # float64


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"regularization": 0.0}, "The 'regularization' parameter of EASERecommender must be a "
                              "float in the range (0, inf). Got 0.0 instead."),
    ({"regularization": -5}, "'regularization' parameter of EASERecommender must be a float"),
    ({"regularization": float("nan")}, "'regularization' parameter"),
    ({"regularization": "500"}, "'regularization' parameter"),
    ({"max_items": 0}, "The 'max_items' parameter of EASERecommender must be an int in the "
                       "range [1, inf). Got 0 instead."),
    ({"max_items": 1.5}, "'max_items' parameter"),
    ({"device": "tpu"}, "The 'device' parameter of EASERecommender must be 'auto', 'cpu' or "
                        "'cuda[:N]'. Got 'tpu' instead."),
])
def test_bad_parameters(kwargs: dict, message: str) -> None:
    model = EASERecommender(**kwargs)
    assert model.get_params()[next(iter(kwargs))] is next(iter(kwargs.values()))
    with pytest.raises(ValueError) as info:
        model.fit(small_matrix())
    assert message in str(info.value)


def test_cuda_request_without_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        EASERecommender(device="cuda").fit(small_matrix())
    assert EASERecommender(device="auto").fit(small_matrix()).device_ == "cpu"


@pytest.mark.gpu
def test_cuda_inverse_matches_cpu() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    m = small_matrix()
    gpu = EASERecommender(regularization=LAMBDA, device="cuda").fit(m)
    assert gpu.device_ == "cuda"
    np.testing.assert_allclose(gpu.weights_, fit(m).weights_, rtol=1e-5, atol=1e-6)


def test_registered_for_evaluation_and_tuning() -> None:
    assert MODELS["ease"] is EASERecommender
    grid = GRIDS["ease"]["regularization"]
    assert min(grid) <= 50 and max(grid) >= 2000 and len(grid) >= 10
    assert isinstance(make_model("ease", 0, regularization=100.0), EASERecommender)
