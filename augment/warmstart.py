"""Warm start (transfer): fine-tune a generator from one fitted on another table with the
same columns.

``make_generator(...).fit(frame, init=source)`` with ``source`` a fitted generator of the
same class (or the folder it was saved to) starts from the source's network weights and
trains for the new generator's ``epochs`` on ``frame``.

What is refit and what is kept
    Fine-tuning keeps the source's *encoding* - the tabular encoder's marginals and
    category lists, the price-path generator's return scaling, the sales generator's
    standardisation of deviations and covariates and its store/item embeddings - because
    the weights only mean something in the space they were trained in: a refit marginal
    would hand the same network different normal scores. Values of the new table beyond
    the source's range therefore map to the source's tails. What is data rather than
    encoding is read from the new table: the sales generator's per-series levels and
    mean prices and the rows it samples covariates from, the tabular validation split.
    Optimiser state is not carried over (a fresh Adam at the new generator's ``lr``).

Checks
    The classes, the architecture parameters and the encodings must match; a mismatch is
    a :class:`~features.errors.DataValidationError` naming the differing columns or
    parameters. A new table may hold a subset of the source's categories (they keep the
    source's codes); a category the source never saw is refused (unless the source
    column has a rare-values bucket, which takes it). The sales generator also accepts
    stores and items the source never saw: their embeddings start at the mean of the
    source's (an "average store"), which is what transfer to a new store needs.

The fitted generator records its origin in ``init_`` (saved in ``params.json``): the
source's class, data fingerprint, the sha256 of its weights and, when it was read from a
folder, that folder and the sha256 of its ``params.json`` (which lists the sha256 of every
other file of the folder).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from torch import nn

from features.errors import DataValidationError


class Networked(Protocol):
    """What a warm start reads of a generator (augment.base.Generator has both)."""

    def _modules(self) -> dict[str, nn.Module]: ...

    def get_params(self) -> dict[str, Any]: ...


def weights_sha256(gen: Networked) -> str:
    """sha256 over a generator's network weights (modules and tensors in name order)."""
    digest = hashlib.sha256()
    for key, module in sorted(gen._modules().items()):
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(f"{key}.{name}".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def check_same_params(target: Networked, source: Networked, names: Iterable[str]) -> None:
    """The architecture parameters ``names`` are equal in both (tuples and lists alike)."""
    def norm(v: Any) -> Any:
        return list(v) if isinstance(v, tuple | list) else v

    a, b = target.get_params(), source.get_params()
    diff = [n for n in names if norm(a[n]) != norm(b[n])]
    if diff:
        shown = ", ".join(f"{n}={a[n]!r} (source {b[n]!r})" for n in diff)
        raise DataValidationError(
            f"{type(target).__name__}.fit: the network differs from the --init generator's "
            f"in {shown}; its weights cannot be loaded", column=diff[0],
            fix="use the source's values for these parameters (or fit without --init)")


def mismatch(what: str, problems: Mapping[str, str], fix: str) -> DataValidationError:
    """One error naming every differing column: ``{column: what differs}``."""
    shown = "; ".join(f"{c}: {why}" for c, why in problems.items())
    return DataValidationError(
        f"the training table does not match the --init generator's {what} "
        f"({len(problems)} column(s) differ: {shown})", column=next(iter(problems)),
        fix=fix)


def load_weights(target: Networked, source: Networked) -> None:
    """Copy every network's weights from ``source`` into ``target`` (same shapes)."""
    theirs = source._modules()
    for key, module in target._modules().items():
        module.load_state_dict({k: v.detach().clone()
                                for k, v in theirs[key].state_dict().items()})

