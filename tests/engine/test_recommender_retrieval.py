"""FAISS retrieval: exact == brute force, approximate recall, MIPS transform, exclusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from engine.recommenders.retrieval import (
    ItemIndex,
    brute_force_topk,
    mips_transform,
    recall_vs_exact,
)
from features.artifacts import ArtifactError
from features.errors import GenliftWarning


def _clustered(n_items: int = 1500, n_queries: int = 200, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(15, dim)) * 3
    items = centers[rng.integers(0, 15, n_items)] + rng.normal(size=(n_items, dim))
    items *= rng.uniform(0.5, 2.0, (n_items, 1))  # unequal norms: a real MIPS problem
    queries = centers[rng.integers(0, 15, n_queries)] + rng.normal(size=(n_queries, dim))
    return items.astype(np.float32), queries.astype(np.float32)


def _naive_topk(q: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    scores = q.astype(np.float64) @ items.T.astype(np.float64)
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def test_flat_equals_brute_force() -> None:
    items, queries = _clustered(n_items=300, n_queries=50, seed=1)
    idx, scores = ItemIndex(kind="flat").fit(items).search(queries, 10)
    bf_idx, bf_scores = brute_force_topk(queries, items, 10, block_size=7)  # several blocks
    np.testing.assert_array_equal(idx, bf_idx)
    np.testing.assert_allclose(scores, bf_scores, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(bf_idx, _naive_topk(queries, items, 10))
    assert idx.dtype == np.int64 and scores.dtype == np.float32


@pytest.mark.parametrize("kind,params", [("ivf", {"nlist": 16, "nprobe": 8}),
                                         ("hnsw", {"hnsw_m": 16, "ef_search": 64})])
def test_approximate_recall(kind: str, params: dict[str, int]) -> None:
    items, queries = _clustered()
    index = ItemIndex(kind=kind, **params).fit(items)  # type: ignore[arg-type]
    assert recall_vs_exact(index, queries, 10) >= 0.9
    idx, scores = index.search(queries, 10)
    # Scores are the exact inner products of the returned items, best first.
    exact = np.einsum("qd,qkd->qk", queries, items[idx])
    np.testing.assert_allclose(scores, exact, rtol=1e-5, atol=1e-4)
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_mips_transform_turns_argmax_inner_product_into_argmin_l2() -> None:
    items, queries = _clustered(n_items=400, n_queries=100, seed=2)
    base, max_norm = mips_transform(items)
    assert base.shape == (400, 17)
    np.testing.assert_allclose(np.linalg.norm(base, axis=1), max_norm, rtol=1e-5)
    q = np.hstack([queries, np.zeros((100, 1), np.float32)]).astype(np.float64)
    l2 = ((q[:, None, :] - base[None, :, :].astype(np.float64)) ** 2).sum(-1)
    ip = queries.astype(np.float64) @ items.T.astype(np.float64)
    np.testing.assert_array_equal(l2.argmin(axis=1), ip.argmax(axis=1))


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_exclusion_still_returns_k(kind: str) -> None:
    items, queries = _clustered(n_items=500, n_queries=40, seed=3)
    top, _ = brute_force_topk(queries, items, 30)
    # Exclude each query's 30 best items: the answer must come from further down.
    excl = sp.csr_matrix((np.ones(top.size), top.ravel(), np.arange(0, top.size + 1, 30)),
                         shape=(40, 500))
    index = ItemIndex(kind=kind, nlist=8, nprobe=8).fit(items)  # type: ignore[arg-type]
    idx, scores = index.search(queries, 10, exclude=excl)
    assert (idx >= 0).all()
    assert all(not set(idx[i]) & set(top[i]) for i in range(40))
    if kind == "flat":
        want, _ = brute_force_topk(queries, items, 10, exclude=excl)
        np.testing.assert_array_equal(idx, want)
    as_sets = [set(row.tolist()) for row in top]
    idx2, _ = index.search(queries, 10, exclude=as_sets)
    np.testing.assert_array_equal(idx, idx2)


def test_ivf_with_one_probe_falls_back_to_exact_rows() -> None:
    # nprobe=1 over many lists may see fewer candidates than k + excluded.
    items, queries = _clustered(n_items=400, n_queries=20, seed=4)
    excl = [set(range(0, 400, 2))] * 20
    index = ItemIndex(kind="ivf", nlist=10, nprobe=1).fit(items)
    idx, _ = index.search(queries, 50, exclude=excl)
    assert (idx >= 0).all() and (idx % 2 == 1).all()
    assert all(len(set(row)) == 50 for row in idx.tolist())


def test_padding_when_catalogue_is_too_small() -> None:
    items = np.eye(4, dtype=np.float32)
    index = ItemIndex().fit(items, item_ids=["a", "b", "c", "d"])
    idx, scores = index.search(np.array([[1, 2, 3, 4]], np.float32), 6, exclude=[{0}])
    assert idx.tolist() == [[3, 2, 1, -1, -1, -1]]
    assert np.isneginf(scores[0, 3:]).all()
    assert index.to_ids(idx).tolist() == [["d", "c", "b", None, None, None]]


def test_save_load_round_trip(tmp_path: Path) -> None:
    items, queries = _clustered(n_items=300, n_queries=20, seed=5)
    index = ItemIndex(kind="hnsw", hnsw_m=8).fit(items, item_ids=[f"i{j}" for j in range(300)])
    index.save(tmp_path / "idx")
    loaded = ItemIndex.load(tmp_path / "idx")
    a, sa = index.search(queries, 5)
    b, sb = loaded.search(queries, 5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa, sb)
    assert loaded.to_ids(b)[0, 0] == index.to_ids(a)[0, 0]
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == [
        "arrays.npz", "index.faiss", "params.json"]
    index.save(tmp_path / "idx")  # over its own earlier save
    (tmp_path / "idx" / "index.faiss").write_bytes(b"x")
    with pytest.raises(ArtifactError, match="index.faiss sha256"):
        ItemIndex.load(tmp_path / "idx")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    with pytest.raises(ArtifactError, match="refusing to overwrite"):
        index.save(mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_bad_input() -> None:
    items, queries = _clustered(n_items=100, n_queries=5, seed=6)
    index = ItemIndex().fit(items)
    with pytest.raises(ValueError, match="query has 3 factors but the index was fit on 16"):
        index.search(queries[:, :3], 5)
    with pytest.raises(ValueError, match="The 'k' parameter of ItemIndex.search must be an int"):
        index.search(queries, 0)
    with pytest.raises(ValueError, match="empty"):
        ItemIndex().fit(np.zeros((0, 4), np.float32))
    bad = items.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match="1 rows with NaN or inf"):
        ItemIndex().fit(bad)
    with pytest.raises(ValueError, match="The 'kind' parameter of ItemIndex must be one of"):
        ItemIndex(kind="lsh").fit(items)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'nlist' parameter of ItemIndex must be at most"):
        ItemIndex(kind="ivf", nlist=500).fit(items)
    with pytest.raises(ValueError, match="exclude has 2 entries for 5 queries"):
        index.search(queries, 3, exclude=[{1}, {2}])
    with pytest.raises(RuntimeError, match="not fitted"):
        ItemIndex().search(queries, 3)
    with pytest.warns(GenliftWarning, match="float64 to float32"):
        ItemIndex().fit(items.astype(np.float64))


def test_use_gpu_true_without_gpu_warns_and_uses_cpu() -> None:
    import faiss

    if faiss.get_num_gpus() > 0:  # pragma: no cover - GPU machines
        pytest.skip("a GPU is present")
    items, queries = _clustered(n_items=50, n_queries=3, seed=7)
    with pytest.warns(GenliftWarning, match="no GPU"):
        index = ItemIndex(use_gpu=True).fit(items)
    assert index.gpu_index_ is None
    assert index.search(queries, 3)[0].shape == (3, 3)
