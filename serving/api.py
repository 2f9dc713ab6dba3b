"""The HTTP API: recommendations, similar items, credit scores and demand forecasts.

Started by ``genlift serve --models DIR [--host 127.0.0.1] [--port 8000]`` (see
:mod:`serving.cli_serve`), or built in code with :func:`create_app`. ``DIR`` holds one
sub-folder per model, each the ``--out`` folder of a ``genlift train`` command (a
``train.json`` beside a ``model/`` folder); any subset may be present::

    DIR/recs/     genlift train recs   --out DIR/recs
    DIR/credit/   genlift train credit --out DIR/credit
    DIR/demand/   genlift train demand --out DIR/demand

Every model is loaded once, read-only, when the app is built. Start-up fails with one
message naming the folder when ``DIR`` holds none of the three, or when a present folder
cannot be loaded (missing ``train.json``, a checksum mismatch, a truncated file).

Endpoints (the schemas, with every limit, are at ``/docs`` and ``/openapi.json``):

======================  ===============================================================
``GET /recommend/{u}``  top-``n`` items for one user (``n`` <= 100 and the catalogue
                        size); the same items and scores as ``genlift score recommend``
``POST /recommend``     the same for up to 1,000 users; ``recent_items`` may carry the
                        recent item ids of users the model does not know, which are then
                        folded in without retraining
``GET /similar/{i}``    the ``n`` items most similar to item ``i`` (404 when unknown)
``POST /score/credit``  PD, scorecard points and reason codes for up to 1,000 applicants
``POST /forecast``      point and quantile forecasts from the recent history and the
                        known future (price, promo, ...) of the series asked about
``GET /healthz``        the loaded models with their run ids, and the genlift version
``GET /version``        genlift and API versions
======================  ===============================================================

Users the recommender did not see get the most popular items, flagged with
``"fallback": true`` and ``"source": "popularity"`` (``"fold_in"`` when their
``recent_items`` were used). Each result carries the ``run_id`` of the training run that
made the model.

Errors. A request that breaks the schema (a missing field, a wrong type, ``n`` out of
range, a batch over its limit, a bad date, an empty body) gets **422** in FastAPI's
validation shape, ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``, ``loc``
naming the field. A request the schema accepts but the model cannot serve (more items
than a user has not seen yet, dates off the model's weekly grid, a series with no
history) also gets **422** in that shape, with the engine's message. An unknown item
gets **404**, an endpoint whose model is not in ``DIR`` **503**, a body that is not UTF-8
**400**, a body over 16 MiB **413**; never a traceback. Credit rows that cannot be
scored (a null value, a category unseen in training) do not fail the request: as in
``genlift score credit`` their ``pd`` and ``score`` are null and ``error`` says why.

API key. When ``GENLIFT_API_KEY`` is set (or ``api_key=`` is passed), every model
endpoint requires the header ``X-API-Key`` with that value (compared in constant time)
and answers **401** otherwise. ``/healthz``, ``/version`` and the docs stay open, so load
balancers can probe the service; they show model run ids but no data.

Concurrency. Handlers run in the server's thread pool. Each model is called under its
own lock: ``Recommender.recommend`` records ``last_fallback_`` on the model, and
LightGBM's predictor set-up on a shared booster has known data races (LightGBM issues
#6142, #5482). Requests to different models run in parallel; for more throughput on one
model run several worker processes (``genlift serve --workers N``). A serving process
keeps one BLAS and one torch thread (:func:`limit_threads`): a request's small matrix
products and top-k are many times slower when the two thread pools compete for cores.
"""

import datetime as dt
import hmac
import inspect
import json
import logging
import math
import os
import platform
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, cast

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, create_model

from features.errors import DataValidationError
from features.version import __version__

logger = logging.getLogger(__name__)

API_VERSION = "1"
API_KEY_ENV = "GENLIFT_API_KEY"
API_KEY_HEADER = "X-API-Key"
MODELS_ENV = "GENLIFT_MODELS_DIR"
KINDS = ("recs", "credit", "demand")
TRAIN_COMMAND = {"recs": "genlift train recs", "credit": "genlift train credit",
                 "demand": "genlift train demand"}

#: Items per list (``n``) of /recommend and /similar.
MAX_N = 100
#: Users per POST /recommend.
MAX_BATCH_USERS = 1000
#: Recent item ids per user in POST /recommend's ``recent_items``.
MAX_RECENT_ITEMS = 500
#: Applicants per POST /score/credit.
MAX_APPLICANTS = 1000
#: History rows and future rows per POST /forecast.
MAX_HISTORY_ROWS = 50_000
MAX_FUTURE_ROWS = 10_000
#: Request bodies larger than this are refused with 413 before they are read.
MAX_BODY_BYTES = 16 * 1024 * 1024
#: Length of any id (user, item, applicant, store).
MAX_ID_LENGTH = 256

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
#: Dates of sales rows: pandas holds timestamps from 1677 to 2262 only.
MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
SalesDate = Annotated[dt.date, Field(ge=MIN_DATE, le=MAX_DATE)]


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("Input should be a valid integer, not a boolean")
    return value


# Body fields take JSON's types as the schema states them: a number is not a boolean or
# a numeric string (pydantic's lax mode would take both), a boolean is not 1 or "yes".
Int = Annotated[int, BeforeValidator(_no_bool)]
Bool = Annotated[bool, Field(strict=True)]
T = TypeVar("T")


# ------------------------------------------------------------------------ loading
@dataclass
class LoadedModel:
    """One model of ``DIR``, loaded read-only, with the lock every call takes."""

    kind: str
    folder: Path
    model: Any
    meta: dict[str, Any]
    details: dict[str, Any]
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def run_id(self) -> str:
        return str(self.meta.get("run_id") or "unknown")


@dataclass
class ModelSet:
    """The models found in a models folder (``None`` where a sub-folder is absent)."""

    root: Path
    recs: LoadedModel | None = None
    credit: LoadedModel | None = None
    demand: LoadedModel | None = None

    def loaded(self) -> list[LoadedModel]:
        return [m for m in (self.recs, self.credit, self.demand) if m is not None]

    def missing(self) -> list[str]:
        return [k for k in KINDS if getattr(self, k) is None]


def _train_meta(kind: str, folder: Path) -> dict[str, Any]:
    path = folder / "train.json"
    if not path.is_file():
        raise DataValidationError(
            f"{folder} is not a `{TRAIN_COMMAND[kind]}` folder (no train.json)",
            fix=f"pass a models folder whose {kind}/ is the --out folder of "
                f"`{TRAIN_COMMAND[kind]}`")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataValidationError(f"{path} is unreadable ({exc})",
                                  fix=f"train the {kind} model again") from exc
    if not isinstance(meta, dict):
        raise DataValidationError(f"{path} does not hold a JSON object",
                                  fix=f"train the {kind} model again")
    return meta


def _load_one(kind: str, folder: Path) -> LoadedModel:
    if kind == "recs":
        from serving.scoring import load_model, recommend_block

        rec, meta = load_model(folder)
        if len(rec.user_ids_) and len(rec.item_ids_):
            recommend_block(rec, rec.user_ids_[:1], 1)  # warm-up: torch import, first GEMM
        details = {"model_class": type(rec).__name__, "users": int(len(rec.user_ids_)),
                   "items": int(len(rec.item_ids_))}
        return LoadedModel(kind, folder, rec, meta, details)
    meta = _train_meta(kind, folder)
    if kind == "credit":
        from engine.credit import CreditModel

        credit = CreditModel.load(folder / "model")
        details = {"model_class": "CreditModel",
                   "features": len(credit.features_.feature_names_),
                   "calibration": str(credit.calibration_)}
        return LoadedModel(kind, folder, credit, meta, details)
    from engine.demand import DemandModel

    demand = DemandModel.load(folder / "model")
    details = {"model_class": "DemandModel", "horizon": int(demand.horizon),
               "quantiles": [float(q) for q in sorted(demand.quantiles)],
               "exog": list(demand.exog)}
    return LoadedModel(kind, folder, demand, meta, details)


def load_models(models_dir: str | os.PathLike[str]) -> ModelSet:
    """Load every model of ``models_dir`` (``recs/``, ``credit/``, ``demand/``).

    Raises
    ------
    FileNotFoundError
        ``models_dir`` is not a folder.
    DataValidationError
        It holds none of the three sub-folders, or one that is present cannot be
        loaded (the message names it and the cause).
    """
    root = Path(models_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"the models folder {root} does not exist or is not a folder")
    present = [k for k in KINDS if (root / k).exists()]
    if not present:
        raise DataValidationError(
            f"{root} holds no model: expected at least one of "
            + ", ".join(f"{k}/" for k in KINDS),
            fix="train one with e.g. `genlift train recs --out DIR/recs` and serve DIR")
    models = ModelSet(root)
    for kind in present:
        folder = root / kind
        try:
            setattr(models, kind, _load_one(kind, folder))
        except Exception as exc:  # start-up: one clear message, whatever broke
            raise DataValidationError(
                f"cannot load the {kind} model in {folder}: {exc}",
                fix=f"train it again with `{TRAIN_COMMAND[kind]} --out {folder}`, or "
                    "remove the folder to serve the other models") from exc
        logger.info("serving %s model %s from %s", kind, models.loaded()[-1].run_id, folder)
    return models


# ----------------------------------------------------------------- schema: shared
class ErrorMessage(BaseModel):
    """Body of every 401, 404, 413 and 503 answer."""

    detail: str = Field(description="What went wrong, and what to do.")


class ScoredItem(BaseModel):
    item_id: str
    score: float = Field(description="The model's score (popularity counts for the "
                                     "popularity fallback); higher is better.")


class UserRecommendations(BaseModel):
    user_id: str
    items: list[ScoredItem] = Field(description="Exactly n items, best first.")
    source: Literal["model", "fold_in", "popularity"] = Field(
        description="model: a user seen in training; fold_in: an unknown user scored "
                    "from their recent_items; popularity: an unknown user given the most "
                    "popular items.")
    fallback: bool = Field(description="True when the popularity fallback was used.")


class RecommendResponse(UserRecommendations):
    run_id: str = Field(description="The training run of the recommender.")


class BatchRecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[Id] = Field(min_length=1, max_length=MAX_BATCH_USERS,
                            description=f"User ids (1 to {MAX_BATCH_USERS}).")
    n: Int = Field(10, ge=1, le=MAX_N, description=f"Items per user (1 to {MAX_N}).")
    exclude_seen: Bool = Field(True, description="Never return items the user already "
                                                 "interacted with.")
    recent_items: dict[Id, Annotated[list[Id], Field(max_length=MAX_RECENT_ITEMS)]] | None = Field(
        None, max_length=MAX_BATCH_USERS,
        description="Per unknown user, the item ids they recently interacted with (at most "
                    f"{MAX_RECENT_ITEMS} each): folded in without retraining. Ignored for "
                    "users the model knows and for ids not in users; items unknown to the "
                    "model are ignored.")


def _batch_request(max_n: int) -> type[BaseModel]:
    """``BatchRecommendRequest`` with ``n`` capped at the catalogue size too."""
    return create_model("BatchRecommendRequest", __base__=BatchRecommendRequest,
                        n=(Int, Field(10, ge=1, le=max_n, description=f"Items per user (1 to "
                                      f"{max_n}: at most {MAX_N} and the catalogue size).")))


class BatchRecommendResponse(BaseModel):
    run_id: str
    n: int
    results: list[UserRecommendations] = Field(description="One per user, in request order.")


class SimilarResponse(BaseModel):
    run_id: str
    item_id: str
    items: list[ScoredItem] = Field(description="Exactly n other items, most similar first.")


class Reason(BaseModel):
    feature: str
    contribution: float = Field(description="SHAP contribution to the log-odds of default "
                                            "(uncalibrated model); positive raises the PD.")


class CreditScore(BaseModel):
    applicant_id: str
    pd: float | None = Field(description="Calibrated probability of default; null when "
                                         "the row could not be scored.")
    score: float | None = Field(description="Scorecard points (higher is safer); null "
                                            "when the row could not be scored.")
    reasons: list[Reason] = Field(description="Features pushing the PD up the most, "
                                              "largest first.")
    error: str = Field(description="Empty, or why the row was not scored.")


class CreditResponse(BaseModel):
    run_id: str
    results: list[CreditScore] = Field(description="One per applicant, in request order.")


class ForecastRow(BaseModel):
    store_id: str
    item_id: str
    date: dt.date
    horizon: int
    point: float = Field(description="Point forecast of units.")
    quantiles: dict[str, float] = Field(description="Quantile level -> units, "
                                                    "non-decreasing in the level.")


class ForecastResponse(BaseModel):
    run_id: str
    origin: dt.date = Field(description="The forecast origin: the last history date, or "
                                        "the origin given.")
    results: list[ForecastRow] = Field(description="Sorted by store, item, horizon.")


class ModelInfo(BaseModel):
    run_id: str
    folder: str = Field(description="The sub-folder of the models folder.")
    details: dict[str, Any]


class Health(BaseModel):
    status: Literal["ok"]
    genlift_version: str
    api_version: str
    uptime_s: float
    api_key_required: bool
    models: dict[str, ModelInfo] = Field(description="The loaded models by kind.")
    missing: list[str] = Field(description="Kinds with no folder (their endpoints "
                                           "answer 503).")


class VersionInfo(BaseModel):
    genlift_version: str
    api_version: str
    python_version: str


# ------------------------------------------------------------ schema: per model
def _float_field(description: str, *, gt: float | None = None, ge: float | None = None) -> Any:
    return Field(strict=True, allow_inf_nan=False, description=description, gt=gt, ge=ge)


def _credit_request(models: ModelSet) -> type[BaseModel]:
    """The request schema of the loaded credit model: its feature columns, typed."""
    if models.credit is None:
        return create_model(
            "CreditRequest", __config__=ConfigDict(extra="forbid"),
            applicants=(list[dict[str, Any]],
                        Field(min_length=1, max_length=MAX_APPLICANTS,
                              description="No credit model is loaded (503).")))
    feats = models.credit.model.features_
    fields: dict[str, Any] = {"applicant_id": (Id, Field(description="Echoed back."))}
    for j, col in enumerate(feats.feature_names_):
        if col in feats.numeric_:
            fields[f"f{j}"] = (float | None, Field(
                alias=col, strict=True, allow_inf_nan=False,
                description=f"Numeric feature {col!r} (null: the row is not scored)."))
        else:
            cats = feats.categories_[col]
            shown = ", ".join(map(repr, cats[:30])) + (", ..." if len(cats) > 30 else "")
            fields[f"f{j}"] = (str | None, Field(
                alias=col, max_length=MAX_ID_LENGTH,
                description=f"Categorical feature {col!r}, one of {shown} (another value "
                            "or null: the row is not scored)."))
    applicant = create_model("Applicant", __config__=ConfigDict(extra="ignore"), **fields)
    return create_model(
        "CreditRequest", __config__=ConfigDict(extra="forbid"),
        applicants=(list[applicant],  # type: ignore[valid-type]
                    Field(min_length=1, max_length=MAX_APPLICANTS,
                          description=f"1 to {MAX_APPLICANTS} applicants: applicant_id and "
                                      "every feature column of training (extra keys are "
                                      "ignored).")))


def _forecast_request(models: ModelSet) -> type[BaseModel]:
    """The request schema of the loaded demand model: sales rows with its exog columns."""
    if models.demand is None:
        return create_model(
            "ForecastRequest", __config__=ConfigDict(extra="forbid"),
            history=(list[dict[str, Any]], Field(min_length=1, max_length=MAX_HISTORY_ROWS)),
            future=(list[dict[str, Any]], Field(min_length=1, max_length=MAX_FUTURE_ROWS)))
    model = models.demand.model
    keys: dict[str, Any] = {
        "store_id": (Id, Field()), "item_id": (Id, Field()),
        "date": (SalesDate, Field(description="The period's date (ISO 8601, "
                                              f"{MIN_DATE} to {MAX_DATE}), on the model's "
                                              f"{model.freq_days}-day grid.")),
    }
    known: dict[str, Any] = {
        "price": (float, _float_field("Unit price, > 0.", gt=0)),
        "promo": (float, _float_field("Promotion flag or intensity, >= 0.", ge=0)),
        **{f"x{j}": (float, Field(alias=c, strict=True, allow_inf_nan=False,
                                  description=f"Known-in-advance column {c!r}."))
           for j, c in enumerate(model.exog)},
    }
    config = ConfigDict(extra="ignore")
    history = create_model("HistoryRow", __config__=config, **keys,
                           units=(float, _float_field("Units sold, >= 0.", ge=0)), **known)
    future = create_model("FutureRow", __config__=config, **keys, **known)
    return create_model(
        "ForecastRequest", __config__=ConfigDict(extra="forbid"),
        history=(list[history],  # type: ignore[valid-type]
                 Field(min_length=1, max_length=MAX_HISTORY_ROWS,
                       description="Recent sales of the series to forecast (at least "
                                   f"{max(max(model.lags), max(model.windows))} periods "
                                   "give every lag feature).")),
        future=(list[future],  # type: ignore[valid-type]
                Field(min_length=1, max_length=MAX_FUTURE_ROWS,
                      description=f"One row per series and period origin+1 .. origin+"
                                  f"{model.horizon}: the known price, promo and exog.")),
        origin=(SalesDate | None, Field(None, description="Forecast origin; the last history "
                                                         "date when omitted.")),
        horizon=(Int | None, Field(None, ge=1, le=int(model.horizon),
                                   description="Return horizons 1..horizon only (the "
                                               "future still needs every period).")),
    )


# ------------------------------------------------------------------------ errors
def _unprocessable(loc: Sequence[str | int], message: str) -> HTTPException:
    """422 in the shape of FastAPI's own validation errors."""
    return HTTPException(422, detail=[{"loc": list(loc), "msg": message,
                                       "type": "value_error"}])


def _engine(loc: Sequence[str | int], fn: Callable[[], T]) -> T:
    """Run an engine call; its input errors become 422 naming the field, never a 500."""
    try:
        return fn()
    except DataValidationError as exc:
        where: list[str | int] = list(loc)
        if exc.table in ("history", "future", "applicants") and where[:1] == ["body"]:
            where = ["body", exc.table, *([exc.column] if exc.column else [])]
        logger.info("rejected request at %s: %s", where, exc)
        raise _unprocessable(where, str(exc)) from exc
    except ValueError as exc:
        logger.info("rejected request at %s: %s", loc, exc)
        raise _unprocessable(loc, str(exc)) from exc


def _json_safe(value: Any) -> Any:
    """Non-finite floats as text (JSON has no NaN), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _validation_errors(errors: Sequence[Any]) -> list[Any]:
    """FastAPI's validation errors, safe to encode, with large echoed inputs summarised
    (a 1,001-applicant batch must not come back whole in the error)."""
    out = []
    for err in jsonable_encoder(errors):
        given = err.get("input")
        if isinstance(given, list | dict) and len(given) > 10:
            err["input"] = f"<{type(given).__name__} of {len(given)} entries>"
        out.append(_json_safe(err))
    return out


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0


def _items(ids: np.ndarray, scores: np.ndarray) -> list[ScoredItem]:
    return [ScoredItem(item_id=str(i), score=_finite(float(s)))
            for i, s in zip(ids, scores, strict=True)]


_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorMessage, "description": f"Missing or wrong {API_KEY_HEADER} "
                                                f"(only when {API_KEY_ENV} is set)."},
    503: {"model": ErrorMessage, "description": "The model this endpoint needs is not in "
                                                "the models folder."},
}
_BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_RESPONSES,
    400: {"model": ErrorMessage, "description": "The body could not be read as JSON "
                                                "(e.g. it is not UTF-8)."},
}


class _BodyLimit:
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


# --------------------------------------------------------------------------- app
def create_app(models: ModelSet | str | os.PathLike[str], *,
               api_key: str | None = None) -> FastAPI:
    """The FastAPI app serving ``models`` (a :class:`ModelSet` or a models folder).

    Parameters
    ----------
    models : ModelSet or path
        The models, or the folder to load them from with :func:`load_models`.
    api_key : str, optional
        Require this value in the ``X-API-Key`` header on every model endpoint. When
        omitted, the environment variable ``GENLIFT_API_KEY`` is used if set and
        non-empty; otherwise no key is required.

    Examples
    --------
    >>> app = create_app("reports/demo/models")  # doctest: +SKIP
    >>> import uvicorn; uvicorn.run(app, port=8000)  # doctest: +SKIP
    """
    if not isinstance(models, ModelSet):
        models = load_models(models)
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
    if api_key is not None and not api_key:
        raise ValueError("The 'api_key' parameter of create_app must be a non-empty string "
                         "or None. Got '' instead.")
    started = time.monotonic()
    ms = models

    # Recent FastAPI limits bodies itself, counting streamed bytes too (a chunked body
    # has no Content-Length); older ones get the Content-Length check of _BodyLimit.
    builtin_limit = "max_body_size" in inspect.signature(FastAPI.__init__).parameters
    options: dict[str, Any] = {"max_body_size": MAX_BODY_BYTES} if builtin_limit else {}
    app = FastAPI(
        **options,
        title="genlift",
        version=__version__,
        description="Recommendations, similar items, credit scores and demand forecasts "
                    "from the models of one models folder. Limits: n <= "
                    f"{MAX_N}, {MAX_BATCH_USERS} users, {MAX_APPLICANTS} applicants, "
                    f"{MAX_HISTORY_ROWS:,} history and {MAX_FUTURE_ROWS:,} future rows per "
                    "request.",
    )
    if not builtin_limit:
        app.add_middleware(_BodyLimit)
    app.state.models = ms

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_errors(exc.errors())}, status_code=422)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the server log has the details"},
                            status_code=500)

    guards: list[Any] = []
    if key:
        header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                              description=f"The value of {API_KEY_ENV} on the server.")
        expected = key.encode("utf-8")

        def check_key(given: Annotated[str | None, Depends(header)]) -> None:
            if not given:
                raise HTTPException(401, f"missing {API_KEY_HEADER} header",
                                    headers={"WWW-Authenticate": "APIKey"})
            # starlette decodes header bytes as latin-1: encode back to the raw bytes
            if not hmac.compare_digest(given.encode("latin-1", "replace"), expected):
                raise HTTPException(401, f"wrong {API_KEY_HEADER}",
                                    headers={"WWW-Authenticate": "APIKey"})

        guards.append(Depends(check_key))

    def need(kind: str) -> Callable[[], LoadedModel]:
        def dependency() -> LoadedModel:
            loaded = getattr(ms, kind)
            if loaded is None:
                raise HTTPException(503, f"no {kind} model is loaded: {ms.root / kind} does "
                                         f"not exist; serve a folder that holds the "
                                         f"--out of `{TRAIN_COMMAND[kind]}`")
            return loaded
        return dependency

    Recs = Annotated[LoadedModel, Depends(need("recs"))]
    Credit = Annotated[LoadedModel, Depends(need("credit"))]
    Demand = Annotated[LoadedModel, Depends(need("demand"))]
    CreditRequest = _credit_request(ms)
    ForecastRequest = _forecast_request(ms)
    # n is capped by MAX_N and by the catalogue (an item is never its own neighbour)
    n_items = len(ms.recs.model.item_ids_) if ms.recs is not None else MAX_N + 1
    max_rec, max_sim = min(MAX_N, max(n_items, 1)), min(MAX_N, max(n_items - 1, 1))
    RecN = Annotated[int, Query(ge=1, le=max_rec, description=f"Items to return (1 to "
                                f"{max_rec}: at most {MAX_N} and the catalogue size).")]
    SimN = Annotated[int, Query(ge=1, le=max_sim, description=f"Items to return (1 to "
                                f"{max_sim}: at most {MAX_N} and the other items).")]
    Batch = _batch_request(max_rec)

    # ----------------------------------------------------------------- open
    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> Health:
        """Liveness and what is served: the loaded models with their run ids."""
        return Health(status="ok", genlift_version=__version__, api_version=API_VERSION,
                      uptime_s=round(time.monotonic() - started, 3),
                      api_key_required=bool(key),
                      models={m.kind: ModelInfo(run_id=m.run_id, folder=m.kind,
                                                details=m.details) for m in ms.loaded()},
                      missing=ms.missing())

    @app.get("/version", response_model=VersionInfo, tags=["service"])
    def version() -> VersionInfo:
        """genlift, API and Python versions."""
        return VersionInfo(genlift_version=__version__, api_version=API_VERSION,
                           python_version=platform.python_version())

    # ----------------------------------------------------------- recommend
    def recommend(loaded: LoadedModel, users: list[str], n: int, exclude_seen: bool,
                  recent: dict[str, list[str]] | None, loc: list[str | int]
                  ) -> list[UserRecommendations]:
        from serving.scoring import recommend_block

        rec = loaded.model
        ids = np.asarray(users, dtype=object)
        history = None
        if recent:
            wanted = set(users)
            rows = [(u, i) for u, items in recent.items() if u in wanted for i in items]
            if rows:
                history = pd.DataFrame(rows, columns=["user_id", "item_id"])
        with loaded.lock:
            items, scores, fallback = _engine(loc, lambda: recommend_block(
                rec, ids, n, exclude_seen=exclude_seen, interactions=history))
        pos = np.clip(np.searchsorted(rec.user_ids_, ids.astype(str)), 0,
                      max(len(rec.user_ids_) - 1, 0))
        known = (len(rec.user_ids_) > 0) & (rec.user_ids_[pos] == ids.astype(str))
        return [UserRecommendations(
            user_id=str(u), items=_items(items[r], scores[r]), fallback=bool(fallback[r]),
            source="model" if known[r] else "popularity" if fallback[r] else "fold_in")
            for r, u in enumerate(users)]

    @app.get("/recommend/{user_id}", response_model=RecommendResponse, tags=["recommend"],
             dependencies=guards, responses=_RESPONSES)
    def recommend_one(loaded: Recs,
                      user_id: Annotated[str, PathParam(max_length=MAX_ID_LENGTH)],
                      n: RecN = 10,
                      exclude_seen: Annotated[bool, Query(
                          description="Never return items the user interacted with.")] = True,
                      ) -> RecommendResponse:
        """Top-n items for one user; unknown users get the most popular items."""
        got = recommend(loaded, [user_id], n, exclude_seen, None, ["query", "n"])[0]
        return RecommendResponse(**got.model_dump(), run_id=loaded.run_id)

    @app.post("/recommend", response_model=BatchRecommendResponse, tags=["recommend"],
              dependencies=guards, responses=_BODY_RESPONSES)
    def recommend_batch(loaded: Recs,
                        body: Batch,  # type: ignore[valid-type]
                        ) -> BatchRecommendResponse:
        """Top-n items for a batch of users, in one pass (the batch-scoring path)."""
        req = cast(BatchRecommendRequest, body)
        results = recommend(loaded, list(req.users), req.n, req.exclude_seen,
                            req.recent_items, ["body", "n"])
        return BatchRecommendResponse(run_id=loaded.run_id, n=req.n, results=results)

    @app.get("/similar/{item_id}", response_model=SimilarResponse, tags=["recommend"],
             dependencies=guards, responses={
                 **_RESPONSES, 404: {"model": ErrorMessage,
                                     "description": "The item is not in the catalogue."}})
    def similar(loaded: Recs, item_id: Annotated[str, PathParam(max_length=MAX_ID_LENGTH)],
                n: SimN = 10) -> SimilarResponse:
        """The n items most similar to an item (never the item itself)."""
        rec = loaded.model
        pos = int(np.searchsorted(rec.item_ids_, item_id)) if len(rec.item_ids_) else 0
        if pos >= len(rec.item_ids_) or rec.item_ids_[pos] != item_id:
            raise HTTPException(404, f"item {item_id!r} is not in the recommender's "
                                     f"catalogue ({len(rec.item_ids_)} items, run "
                                     f"{loaded.run_id})")
        with loaded.lock:
            ids, scores = _engine(["query", "n"], lambda: rec.similar_items([item_id], n=n))
        return SimilarResponse(run_id=loaded.run_id, item_id=item_id,
                               items=_items(ids[0], scores[0]))

    # -------------------------------------------------------------- credit
    @app.post("/score/credit", response_model=CreditResponse, tags=["credit"],
              dependencies=guards, responses=_BODY_RESPONSES)
    def score_credit(loaded: Credit,
                     body: CreditRequest,  # type: ignore[valid-type]
                     ) -> CreditResponse:
        """PD, scorecard points and reason codes per applicant; rows that cannot be
        scored get an error text instead of failing the request."""
        model, req = loaded.model, cast(Any, body)
        rows = [a.model_dump(by_alias=True) for a in req.applicants]
        frame = pd.DataFrame(rows, columns=["applicant_id", *model.features_.feature_names_])
        with loaded.lock:
            out = _engine(["body", "applicants"], lambda: model.score(frame))
        k = int(model.n_reasons)
        results = []
        for r in out.itertuples(index=False):
            rec = r._asdict()
            reasons = [Reason(feature=str(rec[f"reason_{j}"]),
                              contribution=float(rec[f"reason_{j}_value"]))
                       for j in range(1, k + 1) if rec[f"reason_{j}"]]
            p, s = float(rec["pd"]), float(rec["score"])
            results.append(CreditScore(
                applicant_id=str(rec["applicant_id"]), pd=p if math.isfinite(p) else None,
                score=s if math.isfinite(s) else None, reasons=reasons,
                error=str(rec["error"])))
        return CreditResponse(run_id=loaded.run_id, results=results)

    # ------------------------------------------------------------ forecast
    @app.post("/forecast", response_model=ForecastResponse, tags=["forecast"],
              dependencies=guards, responses=_BODY_RESPONSES)
    def forecast(loaded: Demand,
                 body: ForecastRequest,  # type: ignore[valid-type]
                 ) -> ForecastResponse:
        """Point and quantile forecasts for every series of ``future``, from ``history``."""
        model, req = loaded.model, cast(Any, body)
        hist = pd.DataFrame([r.model_dump(by_alias=True) for r in req.history])
        fut = pd.DataFrame([r.model_dump(by_alias=True) for r in req.future])
        for frame in (hist, fut):
            frame["date"] = pd.to_datetime(frame["date"])
        origin = req.origin
        with loaded.lock:
            pred = _engine(["body"], lambda: model.predict(hist, fut, origin=origin))
        horizon = req.horizon
        if horizon is not None:
            pred = pred[pred["horizon"] <= horizon]
        levels = [c for c in pred.columns if c.startswith("q")]
        t0 = (pd.Timestamp(origin) if origin is not None else hist["date"].max()).date()
        results = [ForecastRow(
            store_id=str(r["store_id"]), item_id=str(r["item_id"]),
            date=pd.Timestamp(r["date"]).date(), horizon=int(r["horizon"]),
            point=_finite(float(r["point"])),
            quantiles={c[1:]: _finite(float(r[c])) for c in levels})
            for r in pred.to_dict("records")]
        return ForecastResponse(run_id=loaded.run_id, origin=t0, results=results)

    return app


def limit_threads() -> None:
    """One BLAS thread and one torch thread for this whole process: what a serving
    process wants.

    A request's matrix products and top-k are small (at most 1,000 users x items), and
    the thread pools of OpenBLAS (the product) and torch (the top-k) then fight each
    other, and the other requests, for the cores. On this project's 2-core machine
    ``recommend_block`` for 100 MovieLens users took 36-44 ms (p50) with the default 2
    + 2 threads, 1.4 ms with one BLAS thread and 1.1 ms with one of each. Call it once
    the models are loaded: threadpoolctl limits only the libraries already loaded
    (scipy's OpenBLAS comes in with the models). Called by ``genlift serve`` and
    :func:`create_app_from_env`, never by :func:`create_app` (it must not change the
    threads of a process that embeds the app).
    """
    import sys

    from threadpoolctl import threadpool_limits

    threadpool_limits(1, "blas")  # a plain call: the limit stays for the process
    if "torch" in sys.modules:  # imported by the recommender's warm-up
        sys.modules["torch"].set_num_threads(1)


def create_app_from_env() -> FastAPI:
    """The app of the models folder named by ``GENLIFT_MODELS_DIR`` (for
    ``uvicorn --factory`` and multi-worker serving), in a process limited to one BLAS
    and one torch thread (:func:`limit_threads`)."""
    root = os.environ.get(MODELS_ENV)
    if not root:
        raise DataValidationError(f"{MODELS_ENV} is not set",
                                  fix=f"set {MODELS_ENV} to the models folder to serve")
    models = load_models(root)
    limit_threads()
    return create_app(models)
