"""Nightly batch scoring: top-N recommendations for every user, similar items for every
item, written as parquet partitions that a crashed run can resume.

Users (or items) are sorted and cut into fixed blocks; block ``p`` always holds the same
ids, so partitions never overlap. Each partition is written under a temporary name and
renamed into place, and ``_manifest.json`` pins what the folder is an output of (model
run, top-k, the id list's hash). A re-run with the same manifest skips the partitions
that exist; a re-run with a different one is refused rather than mixing two runs.
``_SUCCESS`` marks a complete output. Scores are computed one block at a time, never as
the full user x item matrix.

With a Dask ``client`` (``--cluster``, see :mod:`serving.jobs.cluster`) the same partitions
are scored on the workers: each worker loads the model folder itself (once per worker
process), scores its block and writes its part atomically under the final name. The
driver keeps the manifest, skips the parts that exist and writes ``_SUCCESS``, so the
folder holds the parts of a one-machine run (same rows, same values) and either kind of
run resumes the other. The workers must see the model and output folders (one machine,
or a shared filesystem).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from engine.recommenders import Recommender
from engine.recommenders.index_store import (
    APPROXIMATE,
    load_index,
    load_or_build_index,
    resolve_index,
    sample_recall,
    sample_similar_recall,
)
from engine.recommenders.retrieval import ItemIndex
from engine.recommenders.topk import known_topk
from features.errors import DataValidationError, check_int
from features.store import Store, q
from serving.jobs.model_folders import check_model_folder

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"


def load_model(model_dir: str | Path, command: str = "score recommend"
               ) -> tuple[Recommender, dict[str, Any]]:
    """A trained model folder: ``model/`` (the recommender) and ``train.json``; a folder
    of another kind is refused naming what ``command`` needs."""
    model_dir = check_model_folder(model_dir, "recs", command)
    meta = json.loads((model_dir / "train.json").read_text())
    return Recommender.load(model_dir / "model"), meta


def _ids_hash(ids: np.ndarray) -> str:
    return hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()[:16]


def _prepare(out: Path, manifest: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / MANIFEST
    if path.exists():
        old = json.loads(path.read_text())
        old.pop("recall", None)  # measured after the check, see _record_recall
        if old != manifest:
            raise DataValidationError(
                f"{out} holds the output of another scoring run (model run "
                f"{old.get('run_id')}, top-k {old.get('top_k')}, {old.get('n_ids')} ids)",
                fix="remove the folder, or pass another --out")
        return
    for stale in out.glob("part-*.parquet"):  # parts without a manifest: not ours to keep
        raise DataValidationError(f"{out} already holds {stale.name} but no {MANIFEST}",
                                  fix="remove the folder, or pass another --out")
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, path)


def _record_recall(out: Path, manifest: dict[str, Any], recall: dict[str, Any]) -> None:
    """Add an approximate run's measured recall to its manifest (atomically)."""
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps({**manifest, "recall": recall}, indent=2))
    os.replace(tmp, out / MANIFEST)


def _choose_index(model: Recommender, model_dir: str | Path, choice: str, purpose: str,
                  owner: str) -> tuple[str, ItemIndex | None, dict[str, Any]]:
    """The index kind of a run, the index (None for exact search) and what happened."""
    kind = resolve_index(model, choice, owner=owner)
    if kind == "exact":
        return kind, None, {"kind": "exact", "requested": choice}
    index, info = load_or_build_index(model_dir, model, kind, purpose=purpose)
    return kind, index, {**info, "requested": choice}


def _write_partitions(out: Path, ids: np.ndarray, block: int,
                      make: Callable[[np.ndarray], pd.DataFrame], desc: str,
                      show_progress: bool | None) -> dict[str, int]:
    n_parts = -(-len(ids) // block)
    done = skipped = 0
    bar = tqdm(range(n_parts), desc=desc, unit="part",
               disable=None if show_progress is None else not show_progress)
    for p in bar:
        final = out / f"part-{p:05d}.parquet"
        if final.exists():
            skipped += 1
            continue
        frame = make(ids[p * block:(p + 1) * block])
        tmp = out / f".part-{p:05d}.parquet.tmp"
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, final)
        done += 1
    (out / SUCCESS).write_text("")
    return {"partitions": n_parts, "written": done, "skipped": skipped}


def _part_name(p: int) -> str:
    return f"part-{p:05d}.parquet"


def _write_partitions_dask(client: Client, out: Path, ids: np.ndarray, block: int,
                           task: Callable[..., int], kwargs: dict[str, Any],
                           per_part: Callable[[np.ndarray], dict[str, Any]], desc: str,
                           show_progress: bool | None) -> dict[str, int]:
    """:func:`_write_partitions` on a Dask cluster: the same partitions, each written by
    the worker that scores it; ``_SUCCESS`` only once every part is in place."""
    from distributed import as_completed

    n_parts = -(-len(ids) // block)
    todo = [p for p in range(n_parts) if not (out / _part_name(p)).exists()]
    token = uuid.uuid4().hex[:8]
    where = str(out.resolve())  # the workers' working folder may differ from ours
    futures = [client.submit(task, out=where, part=p, block=ids[p * block:(p + 1) * block],
                             **kwargs, **per_part(ids[p * block:(p + 1) * block]),
                             key=f"genlift-{desc.replace(' ', '-')}-{p:05d}-{token}",
                             pure=False)
               for p in todo]
    bar = tqdm(total=n_parts, initial=n_parts - len(todo), desc=desc, unit="part",
               disable=None if show_progress is None else not show_progress)
    try:
        for fut in as_completed(futures, loop=client.loop):
            fut.result()  # a worker's exception is raised here, with its own type
            bar.update()
    finally:
        bar.close()
        client.cancel([f for f in futures if not f.done()])
    missing = [p for p in todo if not (out / _part_name(p)).exists()]
    if missing:  # a worker that cannot see `out` wrote somewhere else
        raise DataValidationError(
            f"{len(missing)} partitions the workers reported as written are not in {out} "
            f"(e.g. {_part_name(missing[0])})",
            fix="give the workers the output folder on a shared filesystem")
    (out / SUCCESS).write_text("")
    return {"partitions": n_parts, "written": len(todo), "skipped": n_parts - len(todo)}


# One model per worker process, loaded on first use: the key holds the params.json mtime,
# so a model folder written again is read again. Its saved index (the driver built it)
# is loaded with it when the run uses one.
_MODEL_CACHE: dict[tuple[str, int, str, str],
                   tuple[Recommender, ItemIndex | None, threading.Lock]] = {}
_MODEL_CACHE_LOCK = threading.Lock()


def _cached_model(model_dir: str, index_kind: str = "exact", purpose: str = "recommend"
                  ) -> tuple[Recommender, ItemIndex | None, threading.Lock]:
    path = Path(model_dir) / "model"
    params = path / "params.json"
    key = (str(path), params.stat().st_mtime_ns if params.exists() else -1, index_kind,
           purpose)
    with _MODEL_CACHE_LOCK:
        hit = _MODEL_CACHE.get(key)
        if hit is None:
            _MODEL_CACHE.clear()
            index = None if index_kind == "exact" else load_index(model_dir, index_kind,
                                                                  purpose)
            hit = (Recommender.load(path), index, threading.Lock())
            _MODEL_CACHE[key] = hit
    return hit


def _write_part(out: str, part: int, frame: pd.DataFrame) -> int:
    """Write one part atomically; the temporary name is unique, so a task that Dask runs
    twice (a lost worker) never writes into another attempt's file."""
    final = Path(out) / _part_name(part)
    tmp = Path(out) / f".{_part_name(part)}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return len(frame)


def _recommend_frame(model: Recommender, block: np.ndarray, top_k: int, exclude_seen: bool,
                     history: pd.DataFrame | None, run_id: str,
                     index: ItemIndex | None = None) -> pd.DataFrame:
    items, scores, fallback = recommend_block(model, block, top_k, exclude_seen=exclude_seen,
                                              interactions=history, index=index)
    frame = _ranked_frame(("user_id", block), ("item_id", items), scores, top_k, run_id)
    frame["fallback"] = np.repeat(fallback, top_k)
    return frame


def similar_block(model: Recommender, items: np.ndarray, top_k: int, *,
                  index: ItemIndex | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``top_k`` most similar items of known ``items``: the model's own
    ``similar_items``, or, with a ``similar`` index (unit item factors), its cosine
    search with each item excluded from its own list."""
    if index is None:
        return model.similar_items(items, n=top_k)
    pos = np.searchsorted(model.item_ids_, np.asarray(items, dtype=object).astype(str))
    pos = np.clip(pos, 0, len(model.item_ids_) - 1)
    if (model.item_ids_[pos] != np.asarray(items).astype(str)).any() \
            or top_k > len(model.item_ids_) - 1:
        return model.similar_items(items, n=top_k)  # its errors name the problem
    cols, scores = index.search(index.item_factors_[pos], top_k,
                                exclude=[{int(p)} for p in pos])
    return model.item_ids_[cols], scores


def _similar_frame(model: Recommender, block: np.ndarray, top_k: int,
                   run_id: str, index: ItemIndex | None = None) -> pd.DataFrame:
    similar, scores = similar_block(model, block, top_k, index=index)
    return _ranked_frame(("item_id", block), ("similar_item_id", similar), scores, top_k,
                         run_id)


def _ranked_frame(key: tuple[str, np.ndarray], ranked: tuple[str, np.ndarray],
                  scores: np.ndarray, top_k: int, run_id: str) -> pd.DataFrame:
    """One row per (key, rank): the ``top_k`` ranked ids and scores of each key."""
    (key_name, keys), (ranked_name, ids) = key, ranked
    return pd.DataFrame({
        key_name: np.repeat(keys, top_k),
        "rank": np.tile(np.arange(1, top_k + 1, dtype=np.int32), len(keys)),
        ranked_name: ids.reshape(-1).astype(str),
        "score": scores.reshape(-1).astype(np.float32),
        "run_id": run_id,
    })


def _recommend_part(*, model_dir: str, out: str, part: int, block: np.ndarray, top_k: int,
                    exclude_seen: bool, history: pd.DataFrame | None, run_id: str,
                    index_kind: str = "exact") -> int:
    """A worker's task: score one partition of users and write it."""
    model, index, lock = _cached_model(model_dir, index_kind)
    with lock:  # recommend() records last_fallback_ on the shared model
        frame = _recommend_frame(model, block, top_k, exclude_seen, history, run_id, index)
    return _write_part(out, part, frame)


def _similar_part(*, model_dir: str, out: str, part: int, block: np.ndarray, top_k: int,
                  run_id: str, index_kind: str = "exact") -> int:
    """A worker's task: the similar items of one partition of items, written."""
    model, index, lock = _cached_model(model_dir, index_kind, "similar")
    with lock:
        frame = _similar_frame(model, block, top_k, run_id, index)
    return _write_part(out, part, frame)


def recommend_block(model: Recommender, users: np.ndarray, top_k: int, *,
                    exclude_seen: bool = True, interactions: pd.DataFrame | None = None,
                    index: ItemIndex | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k for one block of users: ``(item_ids, scores, fallback)``.

    Known users take the fast path (:func:`engine.recommenders.topk.known_topk`): a
    blocked GEMM for factor models (or ``model.score_block``), seen items set to -inf in
    the block, and a grouped top-k; with an ``index`` (factor models), FAISS search over
    the item factors instead. Users the model does not know, and the rare known user with
    fewer than ``top_k`` unseen items, go through ``model.recommend`` (fold-in,
    popularity fallback, padding).
    """
    users = np.asarray(users, dtype=object)
    rows = np.searchsorted(model.user_ids_, users.astype(str))
    rows = np.clip(rows, 0, max(len(model.user_ids_) - 1, 0))
    known = (len(model.user_ids_) > 0) & (model.user_ids_[rows] == users.astype(str))
    items = np.empty((len(users), top_k), dtype=object)
    scores = np.zeros((len(users), top_k), dtype=np.float32)
    fallback = np.zeros(len(users), dtype=bool)
    slow = ~known
    if known.any() and top_k <= len(model.item_ids_):
        cols, vals = known_topk(model, rows[known], top_k, exclude_seen=exclude_seen,
                                index=index)
        full = np.isfinite(vals).all(axis=1)
        where = np.flatnonzero(known)
        items[where[full]] = model.item_ids_[cols[full]]
        scores[where[full]] = vals[full]
        slow[where[~full]] = True
    elif known.any():
        slow |= known
    if slow.any():
        got, got_scores = model.recommend(users[slow], n=top_k, exclude_seen=exclude_seen,
                                          interactions=interactions)
        items[slow], scores[slow] = got, got_scores
        fallback[slow] = np.asarray(model.last_fallback_, dtype=bool)
    return items, scores, fallback


def check_unseen_items(model: Recommender, history: pd.DataFrame | None, top_k: int) -> None:
    """Every user has ``top_k`` items left once their seen items are excluded (the known
    users' training items, the new users' items in ``history``); else the message says
    which --top-k would work, before any output exists."""
    n_items = len(model.item_ids_)
    seen = np.diff(model.user_items_.indptr) if len(model.user_ids_) else np.zeros(0, int)
    worst, who = (int(seen.max()), str(model.user_ids_[int(seen.argmax())])) if seen.size \
        else (0, "")
    if history is not None and len(history):
        catalogue = set(map(str, model.item_ids_))
        hist = history.assign(item_id=history["item_id"].astype(str),
                              user_id=history["user_id"].astype(str))
        counts = hist[hist["item_id"].isin(catalogue)].groupby("user_id")["item_id"].nunique()
        if len(counts) and int(counts.max()) > worst:
            worst, who = int(counts.max()), str(counts.idxmax())
    if top_k > n_items - worst:
        raise DataValidationError(
            f"--top-k {top_k} is more than the {n_items - worst} unseen items of user "
            f"{who} ({n_items} items, {worst} already seen)",
            fix=f"pass --top-k {max(n_items - worst, 1)} or less")


def users_to_score(store: Store, model: Recommender) -> np.ndarray:
    """Every user the model knows plus every user of the store's users table."""
    ids = set(map(str, model.user_ids_))
    if store.has("users"):
        ids |= set(store.read("users", ["user_id"])["user_id"].astype(str))
    return np.array(sorted(ids), dtype=object)


def score_recommend(store: Store, model_dir: str | Path, out: str | Path, *, top_k: int = 10,
                    block_users: int = 4096, exclude_seen: bool = True,
                    show_progress: bool | None = None, client: Client | None = None,
                    index: str = "auto") -> dict[str, Any]:
    """Top-``top_k`` items for every user, as parquet partitions under ``out``.

    Users the model did not see are folded in from their interactions in the store when
    they have any, and otherwise get the popular items with ``fallback = True``. With a
    Dask ``client`` the partitions are scored and written by its workers (the output is
    the same; see the module docstring).

    ``index`` (``auto``, ``exact``, ``flat``, ``ivf``, ``hnsw``; see
    :mod:`engine.recommenders.index_store`) picks how known users of a factor model are
    searched. The index is built once into the model folder and reused; an approximate
    run measures its recall@k against exact search on a sample of users and reports it
    in the summary (``index.recall``) and the output's manifest.
    """
    check_int("score recommend", "top_k", top_k, 1)
    check_int("score recommend", "block_users", block_users, 1)
    model, meta = load_model(model_dir)
    out = Path(out)
    users = users_to_score(store, model)
    known = set(map(str, model.user_ids_))
    new_users = [u for u in users if u not in known]
    history = None
    if new_users and store.has("interactions"):
        history = store.query(
            f"SELECT i.* FROM {q('interactions')} i JOIN _genlift_new_users n "
            "ON CAST(i.user_id AS VARCHAR) = n.user_id",
            frames={"_genlift_new_users": pd.DataFrame({"user_id": new_users})})
    if exclude_seen:
        check_unseen_items(model, history, top_k)
    # everything is checked: the work starts, and the output folder with it
    kind, item_index, index_info = _choose_index(model, model_dir, index, "recommend",
                                                 "score recommend")
    manifest = {"kind": "recommend", "run_id": meta["run_id"], "top_k": top_k,
                "exclude_seen": exclude_seen, "n_ids": len(users), "ids": _ids_hash(users),
                "block": block_users, "index": kind}
    _prepare(out, manifest)
    if item_index is not None and kind in APPROXIMATE:
        index_info["recall"] = sample_recall(model, item_index, top_k,
                                             exclude_seen=exclude_seen)
        _record_recall(out, manifest, index_info["recall"])

    if client is not None:
        hist_users = (None if history is None
                      else history["user_id"].astype(str).to_numpy(dtype=object))

        def per_part(block: np.ndarray) -> dict[str, Any]:
            # only this block's new users: fold-in is per user, so the result is the same
            if history is None or hist_users is None:
                return {"history": None}
            return {"history": history[np.isin(hist_users, block)]}

        stats = _write_partitions_dask(
            client, out, users, block_users, _recommend_part,
            {"model_dir": str(Path(model_dir).resolve()), "top_k": top_k,
             "exclude_seen": exclude_seen, "run_id": meta["run_id"], "index_kind": kind},
            per_part, "score users", show_progress)
    else:
        def make(block: np.ndarray) -> pd.DataFrame:
            return _recommend_frame(model, block, top_k, exclude_seen, history,
                                    meta["run_id"], item_index)

        stats = _write_partitions(out, users, block_users, make, "score users",
                                  show_progress)
    return {"out": str(out), "users": len(users), "rows": len(users) * top_k,
            "new_users": len(new_users), **stats, "index": index_info}


def score_similar_items(model_dir: str | Path, out: str | Path, *, top_k: int = 10,
                        block_items: int = 4096, show_progress: bool | None = None,
                        client: Client | None = None, index: str = "auto") -> dict[str, Any]:
    """The ``top_k`` most similar items of every item, as parquet partitions (written by
    the workers of ``client`` when one is given).

    With ``index`` other than ``exact`` (factor models), items are searched in a FAISS
    index over the unit-length item factors (cosine, as ``similar_items``), saved as
    ``similar-index-<kind>/`` in the model folder; approximate runs report recall@k on
    a sample of items as :func:`score_recommend` does."""
    check_int("score similar-items", "top_k", top_k, 1)
    check_int("score similar-items", "block_items", block_items, 1)
    model, meta = load_model(model_dir, "score similar-items")
    if top_k > len(model.item_ids_) - 1:
        raise DataValidationError(
            f"--top-k {top_k} is more than the {len(model.item_ids_) - 1} other items an "
            f"item of this model can have as neighbours ({len(model.item_ids_)} items)",
            fix=f"pass --top-k {max(len(model.item_ids_) - 1, 1)} or less")
    kind, item_index, index_info = _choose_index(model, model_dir, index, "similar",
                                                 "score similar-items")
    out = Path(out)
    items = np.asarray(model.item_ids_, dtype=object)
    manifest = {"kind": "similar-items", "run_id": meta["run_id"], "top_k": top_k,
                "n_ids": len(items), "ids": _ids_hash(items), "block": block_items,
                "index": kind}
    _prepare(out, manifest)
    if item_index is not None and kind in APPROXIMATE:
        index_info["recall"] = sample_similar_recall(model, item_index, top_k)
        _record_recall(out, manifest, index_info["recall"])

    if client is not None:
        stats = _write_partitions_dask(
            client, out, items, block_items, _similar_part,
            {"model_dir": str(Path(model_dir).resolve()), "top_k": top_k,
             "run_id": meta["run_id"], "index_kind": kind},
            lambda block: {}, "score items", show_progress)
    else:
        def make(block: np.ndarray) -> pd.DataFrame:
            return _similar_frame(model, block, top_k, meta["run_id"], item_index)

        stats = _write_partitions(out, items, block_items, make, "score items",
                                  show_progress)
    return {"out": str(out), "items": len(items), "rows": len(items) * top_k, **stats,
            "index": index_info}


def to_store(store: Store, out: str | Path, table: str) -> int:
    """Load a complete scoring output into a store table, in one transaction."""
    out = Path(out)
    if not (out / SUCCESS).exists():
        raise DataValidationError(f"{out} is not a complete scoring output (no {SUCCESS})",
                                  fix="run the scoring command again to finish it")
    with store.transaction() as con:
        con.execute(f"CREATE OR REPLACE TABLE {q(table)} AS SELECT * FROM "
                    f"read_parquet('{(out / 'part-*.parquet').as_posix()}')")
        rows = con.execute(f"SELECT count(*) FROM {q(table)}").fetchall()[0][0]
    return int(rows)
