"""The FAISS item index of a trained model folder: chosen, built once, saved beside the
model, reused, and rebuilt when the model changed.

A `genlift train recs` folder holds ``model/`` and ``train.json``; an index over its item
factors lives in ``index-<kind>/`` next to them (``similar-index-<kind>/`` over the
unit-length item factors, whose inner products are the cosine similarities of
``similar_items``). It is an :class:`ItemIndex` artifact
(atomic folder, sha256 of every file) whose data fingerprint is the sha256 of the
model's ``params.json``, which itself pins the sha256 of every model file. So a model
trained again, or edited, no longer matches its index: the scoring job rebuilds it (and
says so), the API refuses it and searches exactly.

Which index: ``exact`` (the blocked GEMM of :mod:`engine.recommenders.topk`), ``flat``
(FAISS ``IndexFlatIP``, exact too), ``ivf`` or ``hnsw`` (approximate, factor models
only). ``auto`` is ``exact`` below :data:`BREAK_EVEN_ITEMS` items and ``hnsw`` from there.
Every approximate run measures its recall@k against exact search on a sample of users.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from engine.recommenders.retrieval import ItemIndex, Kind, recall_vs_exact
from features.artifacts import ArtifactError, sha256_file
from features.errors import DataValidationError

logger = logging.getLogger(__name__)

__all__ = ["BREAK_EVEN_ITEMS", "INDEX_CHOICES", "RECALL_SAMPLE", "index_folder",
           "load_index", "load_or_build_index", "model_fingerprint", "resolve_index",
           "sample_recall"]

INDEX_CHOICES = ("auto", "exact", "flat", "ivf", "hnsw")
APPROXIMATE = ("ivf", "hnsw")
#: ``auto`` picks HNSW from this many items. Measured with benchmarks/bench_recommender.py
#: (``break_even`` section, 2026-12-06; 64 factors, top-10, seen items excluded, 4,096
#: users, 2 shared CPU cores): the blocked exact GEMM is faster up to 100k items (7.1k vs
#: 5.5k users/s), HNSW from 200k (6.3k vs 3.3k); the crossing lies between the two.
BREAK_EVEN_ITEMS = 150_000
#: The HNSW setting of scoring runs (bench_recommender's trade-off curve on 200k x 20k
#: power-law ALS factors: recall@10 0.998; 4.7x and 1.25x the queries/s of flat search in
#: two runs on 2 shared cores, so the speed-up is noisy, the recall is not).
HNSW_PARAMS: dict[str, Any] = {"hnsw_m": 32, "ef_search": 16, "head_share": 0.01}
#: Users whose approximate top-k is compared with the exact one, per run.
RECALL_SAMPLE = 500


def has_factors(model: Any) -> bool:
    """True for factor models (ALS, BPR): approximate indexes search their item factors."""
    return getattr(model, "item_factors_", None) is not None and \
        getattr(model, "user_factors_", None) is not None


def resolve_index(model: Any, choice: str, *, owner: str = "score recommend") -> str:
    """The index a run uses: ``exact``, ``flat``, ``ivf`` or ``hnsw``.

    Raises ValueError for an unknown ``choice`` and for ``flat`` / ``ivf`` / ``hnsw`` on
    a model without factors (item-kNN, EASE, popularity score items by other means, so a
    FAISS index over factors does not exist for them; ``exact`` and ``auto`` work).
    """
    if choice not in INDEX_CHOICES:
        raise ValueError(f"The 'index' parameter of {owner} must be one of "
                         f"{', '.join(INDEX_CHOICES)}. Got {choice!r} instead.")
    if not has_factors(model):
        if choice in ("flat", *APPROXIMATE):
            raise ValueError(
                f"--index {choice} needs a factor model (als, bpr); this model is a "
                f"{type(model).__name__}, which has no item factors to index. Use "
                "--index exact (or auto) for it.")
        return "exact"
    if choice == "auto":
        return "hnsw" if len(model.item_ids_) >= BREAK_EVEN_ITEMS else "exact"
    return choice


def model_fingerprint(model_dir: str | Path) -> str:
    """sha256 of the model's ``params.json`` (which holds the sha256 of every model file)."""
    return sha256_file(Path(model_dir) / "model" / "params.json")


def index_folder(model_dir: str | Path, kind: str, purpose: str = "recommend") -> Path:
    prefix = "similar-index" if purpose == "similar" else "index"
    return Path(model_dir) / f"{prefix}-{kind}"


def unit_item_factors(model: Any) -> np.ndarray:
    """Item factors scaled to unit length (zero rows stay zero): IP = cosine."""
    items = np.asarray(model.item_factors_, dtype=np.float32)
    norms = np.linalg.norm(items, axis=1, keepdims=True)
    return np.ascontiguousarray(items / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def load_index(model_dir: str | Path, kind: str, purpose: str = "recommend") -> ItemIndex:
    """The saved index of ``model_dir``, checked against the model it was built for.

    Raises FileNotFoundError when there is none and :class:`ArtifactError` when it is
    corrupted or was built for another model (the model was trained again since).
    """
    folder = index_folder(model_dir, kind, purpose)
    index = ItemIndex.load(folder)
    if index.kind != kind:
        raise ArtifactError(f"{folder} holds a {index.kind!r} index, not {kind!r}",
                            table="index", fix=f"remove {folder} and score again")
    if index.fingerprint_ != model_fingerprint(model_dir):
        raise ArtifactError(
            f"index {folder} was built for another model (fingerprint "
            f"{str(index.fingerprint_)[:12]}..., the model in {Path(model_dir) / 'model'} "
            f"is {model_fingerprint(model_dir)[:12]}...): the model was trained again",
            table="index", fix=f"run `genlift score recommend --index {kind}` to rebuild it")
    return index


def load_or_build_index(model_dir: str | Path, model: Any, kind: str,
                        purpose: str = "recommend", **params: Any
                        ) -> tuple[ItemIndex, dict[str, Any]]:
    """Reuse ``index-<kind>/`` of ``model_dir`` or build (and save) it.

    A missing index is built; a corrupted one, or one of another model, is rebuilt and
    the returned info says why (``status``: ``reused``, ``built`` or ``rebuilt``).
    """
    folder = index_folder(model_dir, kind, purpose)
    info: dict[str, Any] = {"kind": kind, "folder": str(folder)}
    if folder.exists():
        try:
            index = load_index(model_dir, kind, purpose)
            return index, {**info, "status": "reused"}
        except (ArtifactError, DataValidationError) as exc:
            logger.warning("rebuilding the %s index: %s", kind, exc)
            info.update(status="rebuilt", reason=str(exc).split("\n")[0])
    else:
        info["status"] = "built"
    start = time.perf_counter()
    items = unit_item_factors(model) if purpose == "similar" else model.item_factors_
    params = {**(HNSW_PARAMS if kind == "hnsw" else {}), **params}
    index = ItemIndex(kind=cast(Kind, kind), use_gpu="auto", **params).fit(items)
    index.fingerprint_ = model_fingerprint(model_dir)
    index.save(folder)
    info["build_s"] = round(time.perf_counter() - start, 3)
    return index, info


def sample_recall(model: Any, index: ItemIndex, k: int, *, exclude_seen: bool = True,
                  sample: int = RECALL_SAMPLE, seed: int = 0) -> dict[str, Any]:
    """recall@k of ``index`` against exact search for ``sample`` random known users."""
    n_users = len(model.user_ids_)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n_users, size=min(sample, n_users), replace=False))
    k = min(k, len(model.item_ids_))
    seen = model.user_items_[rows] if exclude_seen else None
    start = time.perf_counter()
    recall = recall_vs_exact(index, model.user_factors_[rows], k, exclude=seen)
    return {"recall_at_k": round(float(recall), 4), "k": int(k), "sample": int(rows.size),
            "seconds": round(time.perf_counter() - start, 3)}


def sample_similar_recall(model: Any, index: ItemIndex, k: int, *,
                          sample: int = RECALL_SAMPLE, seed: int = 0) -> dict[str, Any]:
    """recall@k of a ``similar`` index against exact cosine search, ``sample`` items."""
    n_items = len(model.item_ids_)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n_items, size=min(sample, n_items), replace=False))
    k = min(k, n_items - 1)
    itself = [{int(r)} for r in rows]
    start = time.perf_counter()
    recall = recall_vs_exact(index, index.item_factors_[rows], k, exclude=itself)
    return {"recall_at_k": round(float(recall), 4), "k": int(k), "sample": int(rows.size),
            "seconds": round(time.perf_counter() - start, 3)}


def find_saved_index(model_dir: str | Path, model: Any, purpose: str = "recommend"
                     ) -> tuple[ItemIndex | None, dict[str, Any]]:
    """The index a scoring run saved in ``model_dir`` (hnsw, then ivf, then flat), for
    read-only users such as the API: one that is corrupted or built for another model is
    refused (never rebuilt here) and exact search is used; the info says which and why."""
    if not has_factors(model):
        return None, {"kind": "exact"}
    refused: list[str] = []
    for kind in ("hnsw", "ivf", "flat"):
        if not index_folder(model_dir, kind, purpose).exists():
            continue
        try:
            return load_index(model_dir, kind, purpose), {"kind": kind}
        except (ArtifactError, DataValidationError) as exc:
            logger.warning("not using the saved %s index: %s", kind, exc)
            refused.append(f"{kind}: {str(exc).splitlines()[0]}")
    return None, {"kind": "exact", **({"refused": refused} if refused else {})}
