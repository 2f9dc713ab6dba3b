"""Sampling a fitted generator in parallel partitions with a result that does not depend
on the partitioning.

The ``n`` rows (tabular rows, paths, sales windows, basket users) are cut into fixed-size
chunks of ``chunk_rows``. Chunk ``i`` is drawn with its own seed, the ``i``-th child of
``np.random.SeedSequence(seed)``, whatever the number of partitions; partitions are
contiguous runs of chunks, sampled one per task on a Dask cluster (or one after the other
here without a client), and concatenated in chunk order. So the same ``seed`` gives the
same frame for any ``partitions``, with or without a cluster. (It is not the frame of one
``generator.sample(n, random_state=seed)`` call, which draws all rows from one stream.)

Workers load the generator artifact from its folder themselves, once per worker process:
fitted torch modules never travel through pickle.

Ids that a generator numbers per call are renumbered across chunks, so they stay unique:
``path`` (path generators), ``window_id`` (sales windows) and ``user_id`` (baskets:
``syn-000001``, ... over the whole sample, in interactions too).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from augment.base import Generator, generator_kind, read_params
from augment.baskets import BasketGenerator
from augment.paths import PathGenerator
from augment.registry import load_generator
from augment.sales import SalesWindowGenerator
from features.errors import check_int, check_param, is_int

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)

__all__ = ["sample_partitioned", "sample_users_partitioned", "chunk_bounds"]

DEFAULT_CHUNK_ROWS = 10_000
Source = Generator | str | Path


def chunk_bounds(n: int, chunk_rows: int, partitions: int) -> list[list[tuple[int, int, int]]]:
    """``(chunk index, first row, rows)`` of every chunk, grouped into ``partitions``
    contiguous runs (fewer when there are fewer chunks)."""
    chunks = [(i, start, min(chunk_rows, n - start))
              for i, start in enumerate(range(0, n, chunk_rows))]
    groups = np.array_split(np.arange(len(chunks)), min(partitions, len(chunks)))
    return [[chunks[i] for i in g] for g in groups if len(g)]


def sample_partitioned(source: Source, n: int, seed: int | None = None, *,
                       partitions: int | None = None, client: Client | None = None,
                       chunk_rows: int = DEFAULT_CHUNK_ROWS,
                       conditions: Mapping[str, Any] | None = None,
                       device: str = "auto") -> pd.DataFrame:
    """``n`` synthetic rows drawn in chunks with per-chunk seeds; see the module docstring.

    Parameters
    ----------
    source : Generator, str or Path
        A fitted generator, or its artifact folder (the ``generator/`` folder that
        :meth:`Generator.save` wrote). With a ``client`` it must be the folder, which the
        workers must be able to read.
    n : int
        Rows (paths, windows, users) in all.
    seed : int or None
        The root seed. None takes the generator's own ``random_state`` when it is an int
        (as ``sample`` does), else fresh entropy.
    partitions : int, optional
        Tasks to split the chunks over; default: the client's workers, or 1.
    client : distributed.Client, optional
        Sample the partitions on its workers; None samples them here, one by one.
    chunk_rows : int
        Rows per chunk, the unit of seeding: the result depends on it, never on
        ``partitions``.
    conditions : mapping, optional
        As in :meth:`Generator.sample`, for every chunk.
    device : str
        Where the loaded generator samples (see :func:`augment.runtime.resolve_device`).

    Returns
    -------
    DataFrame
        What ``sample`` returns, ``n`` rows, ids renumbered over the whole sample.
    """
    frames = _run(source, n, seed, partitions, client, chunk_rows, conditions, device,
                  users=False)
    return pd.concat(frames, ignore_index=True)


def sample_users_partitioned(source: Source, n: int, seed: int | None = None, *,
                             partitions: int | None = None, client: Client | None = None,
                             chunk_rows: int = DEFAULT_CHUNK_ROWS,
                             conditions: Mapping[str, Any] | None = None,
                             device: str = "auto") -> tuple[pd.DataFrame, pd.DataFrame]:
    """:meth:`BasketGenerator.sample_users` in partitions: ``(users, interactions)``, with
    user ids ``syn-000001`` ... over the whole sample. Arguments as in
    :func:`sample_partitioned`."""
    parts = _run(source, n, seed, partitions, client, chunk_rows, conditions, device,
                 users=True)
    return (pd.concat([u for u, _ in parts], ignore_index=True),
            pd.concat([i for _, i in parts], ignore_index=True))


def _run(source: Source, n: int, seed: int | None, partitions: int | None,
         client: Client | None, chunk_rows: int, conditions: Mapping[str, Any] | None,
         device: str, *, users: bool) -> list[Any]:
    owner = "sample_users_partitioned" if users else "sample_partitioned"
    check_int(owner, "n", n, 1)
    check_int(owner, "chunk_rows", chunk_rows, 1)
    check_param(owner, "partitions", partitions,
                partitions is None or (is_int(partitions) and partitions >= 1),
                "None or an int in the range [1, inf)")
    check_param(owner, "seed", seed, seed is None or (is_int(seed) and seed >= 0),
                "None or an int in the range [0, inf)")
    if isinstance(source, Generator):
        if client is not None:
            raise ValueError(f"{owner}: with a client, pass the generator's artifact folder "
                             "(the workers load it themselves; a fitted generator is not "
                             "sent through pickle). Save it with generator.save(folder).")
        gen: Generator | None = source
        folder: str | None = None
        kind: Any = source.kind
        own_seed: Any = source.get_params().get("random_state")
    else:
        folder = str(Path(source).resolve())
        params = read_params(Path(folder))  # a clear error here, before any task runs
        kind, own_seed = generator_kind(params), params["config"].get("random_state")
        # here: read once for this call; on workers: once per process (_cached)
        gen = load_generator(folder, device=device) if client is None else None
    if users and kind != BasketGenerator.kind:
        raise ValueError(f"{owner} needs a basket generator; got a {kind} generator: use "
                         "sample_partitioned")
    if seed is None and is_int(own_seed):
        seed = int(own_seed)  # as Generator.sample does with random_state=None
    entropy = np.random.SeedSequence(seed).entropy
    n_parts = partitions or (len(client.nthreads()) if client is not None else 1)
    groups = chunk_bounds(int(n), int(chunk_rows), int(n_parts))
    args: dict[str, Any] = {"entropy": entropy, "total": int(n),
                            "conditions": dict(conditions or {}), "users": users}
    if client is None:
        assert gen is not None
        return [_sample_group(gen, group, **args) for group in groups]
    assert folder is not None
    futures = [client.submit(_sample_group_at, folder, device, group, **args, pure=False)
               for group in groups]
    logger.info("%s: %d rows in %d partitions on %d workers", owner, n, len(groups),
                len(client.nthreads()))
    return list(client.gather(futures))


# One generator per worker process, read on first use; keyed by the params.json mtime,
# so an artifact saved again is read again.
_CACHE: dict[tuple[str, str, int], Generator] = {}
_CACHE_LOCK = threading.Lock()


def _cached(folder: str, device: str) -> Generator:
    params = Path(folder) / "params.json"
    key = (folder, device, params.stat().st_mtime_ns if params.exists() else -1)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE.clear()
            _CACHE[key] = load_generator(folder, device=device)
        return _CACHE[key]


def _sample_group_at(folder: str, device: str, group: list[tuple[int, int, int]],
                     **kwargs: Any) -> Any:
    """A worker's task: load (or reuse) the generator and sample its chunks."""
    return _sample_group(_cached(folder, device), group, **kwargs)


def _sample_group(gen: Generator, group: list[tuple[int, int, int]], *, entropy: Any,
                  total: int, conditions: dict[str, Any], users: bool) -> Any:
    """One partition: its chunks, each with its own seed, concatenated."""
    out: list[Any] = []
    for index, start, rows in group:
        rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(index,)))
        if users:
            assert isinstance(gen, BasketGenerator)
            u, i = gen.sample_users(rows, conditions=conditions, random_state=rng)
            out.append(_renumber_users(u, i, start, total))
        else:
            frame = gen.sample(rows, conditions=conditions, random_state=rng)
            out.append(_renumber(gen, frame, start, total))
    if users:
        return (pd.concat([u for u, _ in out], ignore_index=True),
                pd.concat([i for _, i in out], ignore_index=True))
    return pd.concat(out, ignore_index=True)


def _renumber(gen: Generator, frame: pd.DataFrame, start: int, total: int) -> pd.DataFrame:
    if isinstance(gen, PathGenerator) and "path" in frame.columns:
        frame["path"] = frame["path"] + start
    elif isinstance(gen, SalesWindowGenerator) and "window_id" in frame.columns:
        frame["window_id"] = frame["window_id"] + start
    elif isinstance(gen, BasketGenerator) and "user_id" in frame.columns:
        frame["user_id"] = _user_ids(frame["user_id"], start, total)
    return frame


def _user_ids(ids: pd.Series, start: int, total: int) -> pd.Series:
    """``syn-<k>`` numbered within a chunk -> numbered within the whole sample, in the
    width ``sample_users(total)`` uses."""
    width = max(6, len(str(total)))
    number = ids.astype(str).str.slice(len("syn-")).astype(np.int64) + start
    return pd.Series([f"syn-{k:0{width}d}" for k in number], index=ids.index, dtype=object)


def _renumber_users(users: pd.DataFrame, interactions: pd.DataFrame, start: int,
                    total: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    users["user_id"] = _user_ids(users["user_id"], start, total)
    interactions["user_id"] = _user_ids(interactions["user_id"], start, total)
    return users, interactions
