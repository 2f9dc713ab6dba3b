"""The Recommender contract, run for every model, plus model-specific checks.

The shared data is block-diagonal: 3 blocks of 6 users x 5 items; user ``u`` of a block
has every item of its block but ``i{u % 5}``. A personalised model must rank that
withheld item first, and nothing from another block can compete with it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from engine.recommenders import (
    ALSRecommender,
    BPRRecommender,
    EASERecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    Recommender,
)
from features.errors import DataValidationError
from features.matrix import InteractionMatrix, build_user_items

N_BLOCKS, USERS, ITEMS = 3, 6, 5


def block_frame(extra: Sequence[tuple[str, str]] = ()) -> pd.DataFrame:
    rows = [(f"b{b}u{u}", f"b{b}i{i}") for b in range(N_BLOCKS) for u in range(USERS)
            for i in range(ITEMS) if i != u % ITEMS]
    return pd.DataFrame(rows + list(extra), columns=["user_id", "item_id"])


@cache
def blocks() -> InteractionMatrix:
    return build_user_items(block_frame())


def withheld(user_id: str) -> str:
    block, user = user_id.split("u")
    return f"{block}i{int(user) % ITEMS}"


def seen_items(m: InteractionMatrix, user_id: str) -> set[str]:
    row = m.matrix[int(m.user_index([user_id])[0])]
    return set(m.item_ids[row.indices])


@cache
def synthetic() -> InteractionMatrix:
    # Synthetic users who bridge blocks 0 and 1, plus an item the real data lacks.
    rows = [(f"s{s}", f"b0i{i}") for s in range(8) for i in range(ITEMS)]
    rows += [(f"s{s}", f"b1i{i}") for s in range(8) for i in range(ITEMS)]
    rows += [("s0", "unknown-item")]
    return build_user_items(pd.DataFrame(rows, columns=["user_id", "item_id"]))


def assert_same_ranking(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                        tol: float = 1e-5) -> None:
    """Same scores, and the same item wherever its score is not tied with a neighbour's.

    Batched and single-user BLAS calls round differently, so near-equal scores may swap.
    """
    np.testing.assert_allclose(a[1], b[1], rtol=tol, atol=tol)
    scores = np.atleast_2d(a[1]).astype(np.float64)
    gaps = np.abs(np.diff(scores, axis=1)) > tol
    alone = np.ones_like(scores, dtype=bool)
    alone[:, 1:] &= gaps
    alone[:, :-1] &= gaps
    np.testing.assert_array_equal(np.atleast_2d(a[0])[alone], np.atleast_2d(b[0])[alone])


NEW_USER = pd.DataFrame({"user_id": ["new"] * 4, "item_id": ["b1i0", "b1i1", "b1i2", "b1i3"]})


class RecommenderContract:
    """Checks every Recommender passes (implicit's RecommenderBaseTestMixin, for genlift)."""

    personalised = True

    def make(self) -> Recommender:
        raise NotImplementedError

    def fitted(self, **kwargs: Any) -> Any:
        with threadpool_limits(1, "blas"):
            return self.make().fit(blocks(), **kwargs)

    # ------------------------------------------------------------ known answers
    def test_withheld_item_ranks_first(self) -> None:
        if not self.personalised:
            pytest.skip("popularity is not personalised; see its ordering test")
        m = blocks()
        items, _ = self.fitted().recommend(m.user_ids, n=3)
        expected = np.array([withheld(u) for u in m.user_ids], dtype=object)
        np.testing.assert_array_equal(items[:, 0], expected)

    def test_fold_in_new_user(self) -> None:
        model = self.fitted()
        items, scores = model.recommend(["new"], n=4, interactions=NEW_USER)
        assert items.shape == (1, 4) and scores.dtype == np.float32
        assert not set(items[0]) & set(NEW_USER["item_id"])
        if self.personalised:
            assert items[0, 0] == "b1i4"
        assert not model.is_fallback(["new"])[0]
        assert not model.last_fallback_[0]

    def test_interactions_only_on_unknown_items_fall_back(self) -> None:
        model = self.fitted()
        rows = pd.DataFrame({"user_id": ["new"], "item_id": ["not-in-catalogue"]})
        model.recommend(["new"], n=3, interactions=rows)
        assert model.is_fallback(["new"]).tolist() == [True]

    def test_unknown_user_gets_popularity_fallback(self) -> None:
        model = self.fitted()
        items, scores = model.recommend(["b0u1", "ghost"], n=4)
        top = model.item_ids_[np.argsort(-model.popularity_, kind="stable")[:4]]
        np.testing.assert_array_equal(items[1], top)
        np.testing.assert_allclose(scores[1], np.sort(model.popularity_)[::-1][:4])
        assert model.last_fallback_.tolist() == [False, True]
        assert model.is_fallback(["b0u1", "ghost", "new"]).tolist() == [False, True, True]

    # ------------------------------------------------------------- exactly n
    def test_exactly_n_under_heavy_filters(self) -> None:
        m = blocks()
        model = self.fitted()
        # 8 of 15 items filtered: a block-0 user (4 seen) has exactly 3 items left.
        filtered = [f"b2i{i}" for i in range(ITEMS)] + ["b1i0", "b1i1", "b1i2"]
        items, scores = model.recommend(m.user_ids, n=3, filter_items=filtered)
        assert items.shape == scores.shape == (m.shape[0], 3)
        for user, row in zip(m.user_ids, items, strict=True):
            assert len(set(row)) == 3
            assert not set(row) & set(filtered)
            assert not set(row) & seen_items(m, user)
        expected_b0u0 = set(m.item_ids) - set(filtered) - seen_items(m, "b0u0")
        assert set(items[0]) == expected_b0u0

    def test_too_few_items_raises(self) -> None:
        model = self.fitted()
        filtered = [f"b2i{i}" for i in range(ITEMS)] + [f"b1i{i}" for i in range(4)]
        with pytest.raises(ValueError, match="only 2 of the 15 catalogue items are available"):
            model.recommend(["b0u0"], n=3, filter_items=filtered)
        with pytest.raises(ValueError, match="n=16"):
            model.recommend(["ghost"], n=16)

    def test_never_returns_seen_items(self) -> None:
        m = blocks()
        model = self.fitted()
        n = m.shape[1] - (ITEMS - 1)
        items, scores = model.recommend(m.user_ids, n=n)
        for user, row in zip(m.user_ids, items, strict=True):
            assert len(set(row)) == n
            assert not set(row) & seen_items(m, user)
        assert np.all(np.diff(scores, axis=1) <= 1e-5), "scores must be best first"
        everything, _ = model.recommend(m.user_ids, n=m.shape[1], exclude_seen=False)
        assert all(set(row) == set(m.item_ids) for row in everything)

    def test_batch_equals_one_by_one(self) -> None:
        m = blocks()
        model = self.fitted()
        users = np.concatenate([m.user_ids, ["new", "ghost"]])
        batch_items, batch_scores = model.recommend(users, n=5, interactions=NEW_USER)
        for i, user in enumerate(users):
            items, scores = model.recommend([user], n=5, interactions=NEW_USER)
            assert_same_ranking((items, scores), (batch_items[i:i + 1], batch_scores[i:i + 1]))

    def test_scores_match_score_block(self) -> None:
        m = blocks()
        model = self.fitted()
        items, scores = model.recommend(m.user_ids, n=5)
        dense = model.score_block(np.arange(m.shape[0]))
        assert dense.shape == m.shape and dense.dtype == np.float32
        cols = np.vectorize(lambda x: int(m.item_index([x])[0]))(items)
        np.testing.assert_allclose(np.take_along_axis(dense, cols, axis=1), scores,
                                   rtol=1e-4, atol=1e-5)

    def test_same_seed_same_output(self) -> None:
        m = blocks()
        a = self.fitted().recommend(m.user_ids, n=5)
        b = self.fitted().recommend(m.user_ids, n=5)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])

    # ---------------------------------------------------------------- synthetic
    def test_synthetic_rows_are_never_users(self) -> None:
        model = self.fitted(synthetic=synthetic(), synthetic_weight=0.5)
        np.testing.assert_array_equal(model.user_ids_, blocks().user_ids)
        assert model.n_synthetic_users_ == 8
        assert model.user_items_.shape == blocks().shape
        model.recommend(["s0", "s1"], n=3)
        assert model.last_fallback_.tolist() == [True, True]

    def test_synthetic_rows_change_the_model(self) -> None:
        users = np.arange(blocks().shape[0])
        plain = self.fitted().score_block(users)
        shaped = self.fitted(synthetic=synthetic(), synthetic_weight=2.0).score_block(users)
        assert not np.allclose(plain, shaped)

    def test_synthetic_weight_zero_equals_no_synthetic(self) -> None:
        m = blocks()
        plain = self.fitted()
        zero = self.fitted(synthetic=synthetic(), synthetic_weight=0.0)
        assert zero.n_synthetic_users_ == 0
        for a, b in zip(plain.recommend(m.user_ids, n=5), zero.recommend(m.user_ids, n=5),
                        strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(plain.popularity_, zero.popularity_)

    # -------------------------------------------------------------- similar items
    def test_similar_items_exclude_the_item(self) -> None:
        m = blocks()
        model = self.fitted()
        n = m.shape[1] - 1
        items, scores = model.similar_items(m.item_ids, n=n)
        assert items.shape == scores.shape == (m.shape[1], n)
        for item, row in zip(m.item_ids, items, strict=True):
            assert item not in row and len(set(row)) == n
        with pytest.raises(ValueError, match="at most 14 others"):
            model.similar_items(["b0i0"], n=15)
        with pytest.raises(DataValidationError, match="'nope'"):
            model.similar_items(["nope"])

    # -------------------------------------------------------------- persistence
    def test_save_load_same_recommendations(self, tmp_path) -> None:
        m = blocks()
        model = self.fitted(synthetic=synthetic(), synthetic_weight=0.5)
        path = model.save(tmp_path / "model")
        params = json.loads((path / "params.json").read_text())
        assert params["class"] == type(model).__name__
        assert params["kind"] == "recommender"
        assert params["data_fingerprint"] == model.fingerprint_
        assert len(params["sha256"]["arrays.npz"]) == 64
        assert params["state"]["synthetic_fingerprint"] == model.synthetic_fingerprint_ is not None
        assert params["seed"] == getattr(model, "random_state", None)
        for loaded in (Recommender.load(path), type(model).load(path)):
            assert type(loaded) is type(model)
            users = np.concatenate([m.user_ids, ["new", "ghost"]])
            for a, b in zip(model.recommend(users, n=5, interactions=NEW_USER),
                            loaded.recommend(users, n=5, interactions=NEW_USER), strict=True):
                np.testing.assert_array_equal(a, b)
            for a, b in zip(model.similar_items(m.item_ids[:4], n=3),
                            loaded.similar_items(m.item_ids[:4], n=3), strict=True):
                np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(model.score_block(np.arange(3)),
                                          loaded.score_block(np.arange(3)))
        # Saving again replaces the folder in place and leaves no temporary folders behind.
        model.save(path)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]

    def test_corrupted_artifacts_raise(self, tmp_path) -> None:
        path = self.fitted().save(tmp_path / "model")
        arrays = path / "arrays.npz"
        raw = bytearray(arrays.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        arrays.write_bytes(bytes(raw))
        with pytest.raises(DataValidationError, match="sha256"):
            Recommender.load(path)
        (path / "params.json").write_text("{not json")
        with pytest.raises(DataValidationError, match="params.json is unreadable"):
            Recommender.load(path)
        (path / "params.json").unlink()
        with pytest.raises(DataValidationError, match="no params.json"):
            Recommender.load(path)
        with pytest.raises(FileNotFoundError):
            Recommender.load(tmp_path / "absent")

    def test_save_refuses_to_overwrite_other_folders(self, tmp_path) -> None:
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "keep.txt").write_text("x")
        with pytest.raises(FileExistsError):
            self.fitted().save(tmp_path / "data")
        assert (tmp_path / "data" / "keep.txt").exists()

    # ----------------------------------------------------------------- bad input
    def test_not_fitted(self) -> None:
        model = self.make()
        with pytest.raises(RuntimeError, match="not fitted"):
            model.recommend(["b0u0"])
        for call in (lambda: model.similar_items(["b0i0"]),
                     lambda: model.score_block(np.arange(2)), lambda: model.is_fallback(["x"])):
            with pytest.raises(RuntimeError, match="not fitted"):
                call()

    def test_empty_matrix(self) -> None:
        empty = InteractionMatrix(blocks().matrix[:0], blocks().user_ids[:0], blocks().item_ids)
        with pytest.raises(DataValidationError, match="user_items is empty: 0 users"):
            self.make().fit(empty)
        no_cells = blocks().matrix.copy()
        no_cells.data[:] = 0
        no_cells.eliminate_zeros()
        with pytest.raises(DataValidationError, match="0 stored interactions"):
            self.make().fit(InteractionMatrix(no_cells, blocks().user_ids, blocks().item_ids))

    def test_negative_weights(self) -> None:
        m = blocks()
        bad = m.matrix.copy()
        bad.data[[0, 5]] = -1.0
        with pytest.raises(DataValidationError, match="2 negative or non-finite weights"):
            self.make().fit(InteractionMatrix(bad, m.user_ids, m.item_ids))
        syn = synthetic()
        bad_syn = syn.matrix.copy()
        bad_syn.data[0] = -3.0
        with pytest.raises(DataValidationError, match="synthetic has 1 negative"):
            self.make().fit(m, synthetic=InteractionMatrix(bad_syn, syn.user_ids, syn.item_ids))
        with pytest.raises(ValueError, match="'synthetic_weight' parameter .* Got -1"):
            self.make().fit(m, synthetic=syn, synthetic_weight=-1)

    def test_bad_recommend_arguments(self) -> None:
        model = self.fitted()
        with pytest.raises(DataValidationError, match="1 item ids .*'zzz'"):
            model.recommend(["b0u0"], filter_items=["b0i0", "zzz"])
        for n in (0, -2):
            with pytest.raises(ValueError, match=f"'n' parameter of {type(model).__name__}"
                               rf".recommend must be an int in the range \[1, inf\). Got {n}"):
                model.recommend(["b0u0"], n=n)
        with pytest.raises(DataValidationError, match="lacks the column"):
            model.recommend(["new"], interactions=pd.DataFrame({"user_id": ["new"]}))
        with pytest.raises(TypeError, match="InteractionMatrix"):
            self.make().fit(blocks().matrix)
        with pytest.raises(IndexError):
            model.score_block(np.array([0, 99]))

    def test_empty_request(self) -> None:
        items, scores = self.fitted().recommend([], n=3)
        assert items.shape == scores.shape == (0, 3)


class TestALS(RecommenderContract):
    def make(self) -> Recommender:
        # As many factors as blocks: enough for the structure, too few to memorise the holes.
        return ALSRecommender(factors=3, regularization=0.1, iterations=15, random_state=0,
                              use_gpu=False)

    def test_factors(self) -> None:
        model = self.fitted(synthetic=synthetic())
        assert model.user_factors_.shape == (18, 3) and model.user_factors_.dtype == np.float32
        assert model.item_factors_.shape == (15, 3) and model.item_factors_.dtype == np.float32

    def test_fold_in_close_to_refit(self) -> None:
        """A folded-in user gets (nearly) what a model retrained with them gives."""
        with_user = build_user_items(pd.concat([block_frame(), NEW_USER]))
        with threadpool_limits(1, "blas"):
            refit: Any = self.make().fit(with_user)
        folded = self.fitted()
        a, _ = refit.recommend(["new"], n=5)
        b, _ = folded.recommend(["new"], n=5, interactions=NEW_USER)
        assert a[0, 0] == b[0, 0] == "b1i4"
        # The two models' factor spaces differ, so compare the user's scores over all items.
        row = int(with_user.user_index(["new"])[0])
        refit_scores = refit.score_block(np.array([row]))[0]
        items, scores = folded.recommend(["new"], n=15, exclude_seen=False,
                                         interactions=NEW_USER)
        folded_scores = np.empty(15, dtype=np.float32)
        folded_scores[folded.item_ids_.searchsorted(items[0].astype(str))] = scores[0]
        cosine = refit_scores @ folded_scores / (np.linalg.norm(refit_scores)
                                                 * np.linalg.norm(folded_scores))
        assert cosine > 0.95
        # Within the refit model, the fold-in solve reproduces the trained user factor.
        with threadpool_limits(1, "blas"):
            again = refit.model_.recalculate_user(0, with_user.matrix[row])
        trained = refit.user_factors_[row]
        cosine = again @ trained / (np.linalg.norm(again) * np.linalg.norm(trained))
        assert cosine > 0.9

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"factors": 0}, "The 'factors' parameter of ALSRecommender must be an int in the "
                         "range [1, inf). Got 0 instead."),
        ({"factors": 2.5}, "The 'factors' parameter of ALSRecommender must be an int"),
        ({"regularization": -0.1}, "'regularization' parameter of ALSRecommender must be a "
                                   "float in the range [0, inf). Got -0.1"),
        ({"alpha": 0}, "'alpha' parameter of ALSRecommender must be a float in the range (0,"),
        ({"iterations": True}, "'iterations' parameter"),
        ({"random_state": -1}, "'random_state' parameter"),
        ({"use_gpu": "yes"}, "'use_gpu' parameter of ALSRecommender must be 'auto', True or"),
    ])
    def test_bad_parameters(self, kwargs: dict, message: str) -> None:
        model = ALSRecommender(**kwargs)
        assert model.get_params()[next(iter(kwargs))] == next(iter(kwargs.values()))
        with pytest.raises(ValueError) as info:
            model.fit(blocks())
        assert message in str(info.value)

    def test_use_gpu_true_needs_cuda(self) -> None:
        import implicit.gpu

        if implicit.gpu.HAS_CUDA:
            pytest.skip("this machine has CUDA")
        with pytest.raises(ValueError, match="HAS_CUDA is False"):
            ALSRecommender(use_gpu=True).fit(blocks())

    @pytest.mark.gpu
    def test_gpu_fit_gives_numpy_factors(self, tmp_path) -> None:
        import implicit.gpu

        if not implicit.gpu.HAS_CUDA:
            pytest.skip("implicit was built without CUDA")
        model = ALSRecommender(factors=8, random_state=0, use_gpu=True).fit(blocks())
        assert isinstance(model.item_factors_, np.ndarray)
        loaded = Recommender.load(model.save(tmp_path / "m"))
        np.testing.assert_array_equal(model.recommend(["b0u0"])[0], loaded.recommend(["b0u0"])[0])


class TestBPR(RecommenderContract):
    def make(self) -> Recommender:
        return BPRRecommender(factors=8, learning_rate=0.05, iterations=200, random_state=0,
                              use_gpu=False)

    def test_factors_carry_the_item_bias(self) -> None:
        model = self.fitted()
        assert model.user_factors_.shape == (18, 9) and model.item_factors_.shape == (15, 9)
        np.testing.assert_array_equal(model.user_factors_[:, -1], 1.0)
        folded = model.fold_in(model.user_items_[:3])
        assert folded.shape == (3, 9) and np.all(folded[:, -1] == 1.0)

    def test_fractional_synthetic_weight_is_seeded_sampling(self) -> None:
        m = blocks()
        a = self.fitted(synthetic=synthetic(), synthetic_weight=0.5).score_block(np.arange(18))
        b = self.fitted(synthetic=synthetic(), synthetic_weight=0.5).score_block(np.arange(18))
        c = self.fitted(synthetic=synthetic(), synthetic_weight=1.5).score_block(np.arange(18))
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)
        assert m.shape == (18, 15)

    def test_bad_parameters(self) -> None:
        with pytest.raises(ValueError, match=r"'learning_rate' parameter of BPRRecommender must "
                                             r"be a float in the range \(0, inf\). Got 0"):
            BPRRecommender(learning_rate=0).fit(blocks())
        with pytest.raises(ValueError, match="'factors' parameter of BPRRecommender"):
            BPRRecommender(factors=-1).fit(blocks())


class TestItemKNN(RecommenderContract):
    def make(self) -> Recommender:
        return ItemKNNRecommender(k=10)

    @pytest.mark.parametrize("similarity", ["bm25", "tfidf"])
    def test_other_similarities(self, similarity: str) -> None:
        m = blocks()
        model = ItemKNNRecommender(k=10, similarity=similarity).fit(m)
        items, _ = model.recommend(m.user_ids, n=3)
        np.testing.assert_array_equal(items[:, 0], [withheld(u) for u in m.user_ids])
        assert model.similarity_.shape == (15, 15)

    def test_short_rows_are_padded_by_popularity(self) -> None:
        """implicit returns only items with a similarity; the rest is padded, score 0."""
        m = blocks()
        model = self.fitted()
        items, scores = model.recommend(["b0u0"], n=6)
        assert items[0, 0] == "b0i0" and scores[0, 0] > 0
        np.testing.assert_array_equal(scores[0, 1:], 0.0)
        others = [i for i in model.item_ids_[np.argsort(-model.popularity_, kind="stable")]
                  if not i.startswith("b0")]
        assert list(items[0, 1:]) == others[:5]
        assert m.shape[1] == 15

    def test_bad_parameters(self) -> None:
        with pytest.raises(ValueError, match="'similarity' parameter of ItemKNNRecommender must "
                                             "be a str among"):
            ItemKNNRecommender(similarity="jaccard").fit(blocks())
        with pytest.raises(ValueError, match=r"'k' parameter .* \[1, inf\). Got 0 instead"):
            ItemKNNRecommender(k=0).fit(blocks())


class TestEASE(RecommenderContract):
    """EASE-specific checks (reference formula, memory guard, ...) are in test_ease.py."""

    def make(self) -> Recommender:
        return EASERecommender(regularization=1.0, device="cpu")


class TestPopularity(RecommenderContract):
    personalised = False

    def make(self) -> Recommender:
        return PopularityRecommender()

    def test_popularity_ordering(self) -> None:
        frame = pd.DataFrame({
            "user_id": ["a", "a", "a", "b", "b", "c", "d"],
            "item_id": ["x", "y", "z", "y", "z", "z", "w"],
        })
        model = PopularityRecommender().fit(build_user_items(frame))
        np.testing.assert_array_equal(model.popularity_, [1, 1, 2, 3])  # w, x, y, z
        items, scores = model.recommend(["ghost", "d", "a"], n=1)
        assert items[:, 0].tolist() == ["z", "z", "w"]
        assert scores[:, 0].tolist() == [3.0, 3.0, 1.0]
        items, _ = model.recommend(["ghost"], n=4)
        assert items[0].tolist() == ["z", "y", "w", "x"]  # ties: the id that sorts first

    def test_synthetic_weight_scales_popularity(self) -> None:
        model = self.fitted(synthetic=synthetic(), synthetic_weight=0.25)
        real = np.bincount(blocks().matrix.indices, minlength=15)
        in_b0_b1 = np.array([i.startswith(("b0", "b1")) for i in model.item_ids_])
        np.testing.assert_allclose(model.popularity_, real + 0.25 * 8 * in_b0_b1)
