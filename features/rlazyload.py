"""Read objects out of an R lazy-load database (``Rdata.rdb`` + ``Rdata.rdx``) without R.

An installed R package keeps its data sets (``LazyData: true``) in two files:

- ``Rdata.rdx``, the index: one serialized R list, compressed as a whole (gzip as R's
  ``saveRDS`` writes it; bzip2, xz, raw zlib and no compression are read too), with
  ``variables`` (name -> ``c(offset, length)`` into the ``.rdb``), ``references`` and
  ``compressed`` (how the chunks are compressed: 1 or TRUE zlib, 2 bzip2, 3 xz).
- ``Rdata.rdb``, the chunks: each a 4-byte big-endian length of the uncompressed
  serialization, then (for ``compressed`` 2 and 3) one type byte -- ``Z`` raw LZMA2 (R's
  ``lzma_raw_encoder``, not the .xz container), ``2`` bzip2, ``1`` zlib, ``0`` stored --
  then the compressed bytes of one R serialization (``X\\n`` + XDR).

The serialization is parsed and converted to Python by the ``rdata`` package (a data
frame becomes a pandas DataFrame). Objects that refer to environments through the
database's ``references`` (closures, R6 objects) are refused: data frames never need them.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import warnings
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

# R's init_filters(): LZMA2 at preset 6; a raw decoder needs the same filter chain.
R_LZMA_FILTERS = ({"id": lzma.FILTER_LZMA2, "preset": 6},)


class RLazyLoadError(ValueError):
    """The files are not an R lazy-load database this reader understands."""


def _parse(serialized: bytes, what: str) -> Any:
    """Parse and convert one R serialization (``X\\n`` + XDR, or a compressed RDS)."""
    import rdata  # imported here: only the R datasets need the R reader

    try:
        parsed = rdata.parser.parse_data(serialized, extension=".rds")
        with warnings.catch_warnings():
            # tibbles ("tbl_df", "tbl") fall back to the data.frame constructor, as wanted
            warnings.filterwarnings("ignore", message="Missing constructor for R class")
            return rdata.conversion.convert(parsed)
    except (ValueError, NotImplementedError, KeyError, TypeError, struct.error) as exc:
        raise RLazyLoadError(f"{what}: not an R serialization the rdata package can read "
                             f"({type(exc).__name__}: {exc})") from exc


def read_index(rdx: bytes) -> dict[str, Any]:
    """The ``.rdx`` index: ``{"variables": {name: (offset, length)}, "compressed": int}``."""
    if rdx[:1] == b"\x78":  # a bare zlib stream (0x78 is its header byte)
        try:
            rdx = zlib.decompress(rdx)
        except zlib.error as exc:
            raise RLazyLoadError(f"Rdata.rdx: bad zlib stream ({exc})") from exc
    index = _parse(rdx, "Rdata.rdx")
    if not isinstance(index, Mapping) or "variables" not in index:
        raise RLazyLoadError("Rdata.rdx: not a lazy-load index (no 'variables' list)")
    variables: dict[str, tuple[int, int]] = {}
    for name, pos in dict(index["variables"]).items():
        offset, length = (int(v) for v in list(pos)[:2])
        variables[str(name)] = (offset, length)
    flag = index.get("compressed", 1)  # an R vector of length 1: TRUE, 2 or 3
    if hasattr(flag, "__len__"):
        flag = list(flag)[0] if len(flag) else 1
    return {"variables": variables, "compressed": int(flag)}


def decompress_chunk(chunk: bytes, compressed: int, name: str = "chunk") -> bytes:
    """The serialization inside one ``.rdb`` chunk (R's ``R_decompress1/2/3``)."""
    if len(chunk) < 5:
        raise RLazyLoadError(f"{name}: a chunk of {len(chunk)} bytes is too short")
    (outlen,) = struct.unpack(">I", chunk[:4])
    try:
        if compressed == 1:
            out = zlib.decompress(chunk[4:])
        elif compressed in (2, 3):
            kind, body = chunk[4:5], chunk[5:]
            if kind == b"Z":
                out = lzma.decompress(body, format=lzma.FORMAT_RAW,
                                      filters=list(R_LZMA_FILTERS))
            elif kind == b"2":
                out = bz2.decompress(body)
            elif kind == b"1":
                out = zlib.decompress(body)
            elif kind == b"0":
                out = body
            else:
                raise RLazyLoadError(f"{name}: unknown compression type byte {kind!r} "
                                     "(R writes Z = xz, 2 = bzip2, 1 = zlib, 0 = none)")
        elif compressed == 0:
            out = chunk[4:]
        else:
            raise RLazyLoadError(f"{name}: unknown 'compressed' flag {compressed} in the "
                                 "index (R writes 1 = zlib, 2 = bzip2, 3 = xz)")
    except (zlib.error, lzma.LZMAError, OSError, EOFError) as exc:
        raise RLazyLoadError(f"{name}: the compressed chunk does not decompress "
                             f"({type(exc).__name__}: {exc})") from exc
    if len(out) != outlen:
        raise RLazyLoadError(f"{name}: decompressed to {len(out)} bytes, the chunk header "
                             f"says {outlen}")
    return out


def read_lazyload(rdx: bytes, rdb: bytes, names: Iterable[str]) -> dict[str, Any]:
    """The objects ``names`` of a lazy-load database, converted by ``rdata``.

    Raises
    ------
    RLazyLoadError
        When a name is not in the index, a chunk lies outside the ``.rdb``, or a chunk
        does not decompress or parse.
    """
    index = read_index(rdx)
    out: dict[str, Any] = {}
    for name in names:
        if name not in index["variables"]:
            shown = ", ".join(sorted(index["variables"])[:20])
            raise RLazyLoadError(f"{name} is not in the lazy-load index (it has {shown})")
        offset, length = index["variables"][name]
        if offset < 0 or length <= 0 or offset + length > len(rdb):
            raise RLazyLoadError(f"{name}: bytes {offset}..{offset + length} lie outside "
                                 f"Rdata.rdb ({len(rdb)} bytes)")
        data = decompress_chunk(rdb[offset:offset + length], index["compressed"], name)
        out[name] = _parse(data, name)
    return out
