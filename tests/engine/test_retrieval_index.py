"""The scoring kernel (engine.recommenders.topk), HNSW with an exact norm head, and the
index saved in a model folder (engine.recommenders.index_store)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from engine.recommenders import ALSRecommender, ItemKNNRecommender
from engine.recommenders.index_store import (
    index_folder,
    load_index,
    load_or_build_index,
    resolve_index,
    sample_recall,
)
from engine.recommenders.retrieval import ItemIndex, brute_force_topk, recall_vs_exact
from engine.recommenders.topk import factor_topk, grouped_topk
from features.artifacts import ArtifactError
from features.matrix import InteractionMatrix


def power_law_factors(n_items: int = 3000, n_users: int = 300, d: int = 16,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Item norms spanning three orders of magnitude, as ALS gives on power-law data."""
    rng = np.random.default_rng(seed)
    items = rng.standard_normal((n_items, d)).astype(np.float32)
    items *= (1.0 / np.arange(1, n_items + 1) ** 0.9)[rng.permutation(n_items), None]
    users = rng.standard_normal((n_users, d)).astype(np.float32)
    return users, items.astype(np.float32)


def test_grouped_topk_equals_full_topk() -> None:
    rng = np.random.default_rng(1)
    block = torch.from_numpy(rng.standard_normal((37, 128 * 60), dtype=np.float32))
    block[3, :] = -float("inf")
    block[3, :5] = 1.0  # fewer than k finite: the rest stays -inf
    vals, cols = grouped_topk(block, 10)
    ref_vals, _ = torch.topk(block, 10, dim=1)
    torch.testing.assert_close(vals, ref_vals)
    torch.testing.assert_close(block.gather(1, cols), vals)


def test_factor_topk_equals_brute_force_with_seen_items() -> None:
    users, items = power_law_factors(n_items=700, n_users=50)
    seen = sp.random(50, 700, density=0.05, format="csr", random_state=0, dtype=np.float32)
    cols, vals = factor_topk(users, items, 7, seen=seen, rows_per_block=16)
    ref_idx, ref_vals = brute_force_topk(users, items, 7, seen)
    np.testing.assert_allclose(vals, ref_vals, rtol=1e-5, atol=1e-6)
    assert not (seen[np.arange(50)[:, None], cols].toarray() > 0).any()
    one = np.vstack([factor_topk(users[i:i + 1], items, 7, seen=seen[i])[0]
                     for i in range(50)])
    assert (one == cols).all()  # batch == one by one


def test_hnsw_head_tail_recall_on_power_law_factors() -> None:
    users, items = power_law_factors()
    index = ItemIndex(kind="hnsw", hnsw_m=16, ef_search=32, use_gpu=False).fit(items)
    assert recall_vs_exact(index, users, 10) >= 0.95
    flat = ItemIndex(kind="flat", use_gpu=False).fit(items)
    assert recall_vs_exact(flat, users, 10) == 1.0


@pytest.fixture
def model_dir(tmp_path: Path) -> tuple[Path, ALSRecommender]:
    rng = np.random.default_rng(0)
    m = sp.random(80, 60, density=0.15, format="csr", random_state=rng, dtype=np.float32)
    m.data[:] = 1.0
    matrix = InteractionMatrix(m, np.array([f"u{i:02d}" for i in range(80)], dtype=object),
                               np.array([f"i{i:02d}" for i in range(60)], dtype=object))
    model = ALSRecommender(factors=8, iterations=2, random_state=0, use_gpu=False).fit(matrix)
    model.save(tmp_path / "m" / "model")
    return tmp_path / "m", model


def test_index_saved_reused_and_checksummed(model_dir: tuple[Path, ALSRecommender]) -> None:
    folder, model = model_dir
    index, info = load_or_build_index(folder, model, "hnsw")
    assert info["status"] == "built" and (folder / "index-hnsw" / "index.faiss").is_file()
    params = json.loads((folder / "index-hnsw" / "params.json").read_text())
    assert set(params["sha256"]) == {"arrays.npz", "index.faiss"}
    again, info = load_or_build_index(folder, model, "hnsw")
    assert info["status"] == "reused"
    q = model.user_factors_[:5]
    assert (again.search(q, 5)[0] == index.search(q, 5)[0]).all()
    rec = sample_recall(model, again, 5, sample=30)
    assert rec["sample"] == 30 and 0.9 <= rec["recall_at_k"] <= 1.0


def test_corrupt_index_is_refused_then_rebuilt(model_dir: tuple[Path, ALSRecommender]) -> None:
    folder, model = model_dir
    load_or_build_index(folder, model, "flat")
    with open(index_folder(folder, "flat") / "index.faiss", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ArtifactError, match="corrupted or incomplete: index.faiss sha256"):
        load_index(folder, "flat")
    _, info = load_or_build_index(folder, model, "flat")
    assert info["status"] == "rebuilt" and "index.faiss" in info["reason"]
    load_index(folder, "flat")


def test_index_of_another_model_is_refused_then_rebuilt(
        model_dir: tuple[Path, ALSRecommender]) -> None:
    folder, model = model_dir
    load_or_build_index(folder, model, "ivf", nlist=1)
    model.item_factors_ = model.item_factors_ * 2  # "trained again"
    model.save(folder / "model")
    with pytest.raises(ArtifactError, match="built for another model"):
        load_index(folder, "ivf")
    index, info = load_or_build_index(folder, model, "ivf", nlist=1)
    assert info["status"] == "rebuilt" and "another model" in info["reason"]
    np.testing.assert_allclose(index.item_factors_, model.item_factors_)


def test_resolve_index(model_dir: tuple[Path, ALSRecommender]) -> None:
    _, model = model_dir
    assert resolve_index(model, "auto") == "exact"  # 60 items: below the break-even
    assert resolve_index(model, "hnsw") == "hnsw"
    with pytest.raises(ValueError, match="'index' parameter of score recommend must be one"):
        resolve_index(model, "annoy")
    knn = ItemKNNRecommender().fit(InteractionMatrix(
        model.user_items_, model.user_ids_, model.item_ids_))
    assert resolve_index(knn, "auto") == "exact"
    with pytest.raises(ValueError, match="needs a factor model .* ItemKNNRecommender"):
        resolve_index(knn, "ivf")
