"""Error answers of the API: 422 in FastAPI's validation shape (for schema errors and for
input the engine refuses) and 413 for bodies over the limit."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from features.errors import DataValidationError
from serving.api.schemas import MAX_BODY_BYTES

logger = logging.getLogger(__name__)

T = TypeVar("T")


def unprocessable(loc: Sequence[str | int], message: str) -> HTTPException:
    """422 in the shape of FastAPI's own validation errors."""
    return HTTPException(422, detail=[{"loc": list(loc), "msg": message,
                                       "type": "value_error"}])


def engine_call(loc: Sequence[str | int], fn: Callable[[], T]) -> T:
    """Run an engine call; its input errors become 422 naming the field, never a 500."""
    try:
        return fn()
    except DataValidationError as exc:
        where: list[str | int] = list(loc)
        if exc.table in ("history", "future", "applicants") and where[:1] == ["body"]:
            where = ["body", exc.table, *([exc.column] if exc.column else [])]
        logger.info("rejected request at %s: %s", where, exc)
        raise unprocessable(where, str(exc)) from exc
    except ValueError as exc:
        logger.info("rejected request at %s: %s", loc, exc)
        raise unprocessable(loc, str(exc)) from exc


def _json_safe(value: Any) -> Any:
    """Non-finite floats as text (JSON has no NaN), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def validation_errors(errors: Sequence[Any]) -> list[Any]:
    """FastAPI's validation errors, safe to encode, with large echoed inputs summarised
    (a 1,001-applicant batch must not come back whole in the error)."""
    out = []
    for err in jsonable_encoder(errors):
        given = err.get("input")
        if isinstance(given, list | dict) and len(given) > 10:
            err["input"] = f"<{type(given).__name__} of {len(given)} entries>"
        out.append(_json_safe(err))
    return out



class BodyLimit:
    """Refuse a request whose Content-Length exceeds ``MAX_BODY_BYTES`` (413), for
    FastAPI versions without ``max_body_size``."""

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers", ()):
                if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                    response = JSONResponse(
                        {"detail": f"request body of {int(value):,} bytes is over the "
                                   f"{self.limit:,}-byte limit; send smaller batches"},
                        status_code=413)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

