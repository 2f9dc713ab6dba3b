"""The FastAPI app: its endpoints over the loaded models (see :mod:`serving.api`)."""

import hmac
import inspect
import logging
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Annotated, Any, cast

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from fastapi_offline import FastAPIOffline
from threadpoolctl import threadpool_limits

from features.errors import DataValidationError
from features.version import __version__
from serving.api.errors import BodyLimit, engine_call, validation_errors
from serving.api.loading import TRAIN_COMMAND, LoadedModel, ModelSet, load_models
from serving.api.schemas import (
    MAX_APPLICANTS,
    MAX_BATCH_USERS,
    MAX_BODY_BYTES,
    MAX_FUTURE_ROWS,
    MAX_HISTORY_ROWS,
    MAX_ID_LENGTH,
    MAX_N,
    BatchRecommendRequest,
    BatchRecommendResponse,
    CreditResponse,
    CreditScore,
    ErrorMessage,
    ForecastResponse,
    ForecastRow,
    Health,
    ModelInfo,
    Reason,
    RecommendResponse,
    ScoredItem,
    SimilarResponse,
    UserRecommendations,
    VersionInfo,
    batch_request_model,
    credit_request_model,
    forecast_request_model,
)
from serving.jobs.scoring import recommend_block, similar_block

logger = logging.getLogger(__name__)

API_VERSION = "1"
API_KEY_ENV = "GENLIFT_API_KEY"
API_KEY_HEADER = "X-API-Key"
MODELS_ENV = "GENLIFT_MODELS_DIR"


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
    # has no Content-Length); older ones get the Content-Length check of BodyLimit.
    builtin_limit = "max_body_size" in inspect.signature(FastAPI.__init__).parameters
    options: dict[str, Any] = {"max_body_size": MAX_BODY_BYTES} if builtin_limit else {}
    # /docs and /redoc load Swagger UI and ReDoc from the installed fastapi-offline
    # package (under /static-offline-docs), never from a CDN: they work air-gapped
    app = FastAPIOffline(
        **options,
        title="genlift",
        version=__version__,
        description="Recommendations, similar items, credit scores and demand forecasts "
                    "from the models of one models folder. Limits: top_k <= "
                    f"{MAX_N}, {MAX_BATCH_USERS} users, {MAX_APPLICANTS} applicants, "
                    f"{MAX_HISTORY_ROWS:,} history and {MAX_FUTURE_ROWS:,} future rows per "
                    "request.",
    )
    if not builtin_limit:
        app.add_middleware(BodyLimit)
    app.state.models = ms

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_errors(exc.errors())}, status_code=422)

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
    CreditRequest = credit_request_model(ms)
    ForecastRequest = forecast_request_model(ms)
    # n is capped by MAX_N and by the catalogue (an item is never its own neighbour)
    n_items = len(ms.recs.model.item_ids_) if ms.recs is not None else MAX_N + 1
    max_rec, max_sim = min(MAX_N, max(n_items, 1)), min(MAX_N, max(n_items - 1, 1))
    RecN = Annotated[int | None, Query(ge=1, le=max_rec, description=f"Items to return (1 "
                                       f"to {max_rec}: at most {MAX_N} and the catalogue "
                                       "size; default 10).")]
    SimN = Annotated[int | None, Query(ge=1, le=max_sim, description=f"Items to return (1 "
                                       f"to {max_sim}: at most {MAX_N} and the other "
                                       "items; default 10).")]
    old_n = "Deprecated spelling of top_k (top_k wins when both are given); answered " \
            "with a Deprecation header."
    RecOldN = Annotated[int | None, Query(ge=1, le=max_rec, deprecated=True,
                                          description=old_n)]
    SimOldN = Annotated[int | None, Query(ge=1, le=max_sim, deprecated=True,
                                          description=old_n)]
    Batch = batch_request_model(max_rec)

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
        rec = loaded.model
        ids = np.asarray(users, dtype=object)
        history = None
        if recent:
            wanted = set(users)
            rows = [(u, i) for u, items in recent.items() if u in wanted for i in items]
            if rows:
                history = pd.DataFrame(rows, columns=["user_id", "item_id"])
        with loaded.lock:
            items, scores, fallback = engine_call(loc, lambda: recommend_block(
                rec, ids, n, exclude_seen=exclude_seen, interactions=history,
                index=loaded.index))
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
                      response: Response,
                      top_k: RecN = None,
                      exclude_seen: Annotated[bool, Query(
                          description="Never return items the user interacted with.")] = True,
                      n: RecOldN = None,
                      ) -> RecommendResponse:
        """Top-k items for one user; unknown users get the most popular items."""
        k, loc = top_k_of(top_k, n, "query", response)
        got = recommend(loaded, [user_id], k, exclude_seen, None, loc)[0]
        return RecommendResponse(**got.model_dump(), run_id=loaded.run_id)

    @app.post("/recommend", response_model=BatchRecommendResponse, tags=["recommend"],
              dependencies=guards, responses=_BODY_RESPONSES)
    def recommend_batch(loaded: Recs,
                        body: Batch,  # type: ignore[valid-type]
                        response: Response,
                        ) -> BatchRecommendResponse:
        """Top-k items for a batch of users, in one pass (the batch-scoring path)."""
        req = cast(BatchRecommendRequest, body)
        k, loc = top_k_of(req.top_k, req.n, "body", response)
        results = recommend(loaded, list(req.users), k, req.exclude_seen,
                            req.recent_items, loc)
        return BatchRecommendResponse(run_id=loaded.run_id, top_k=k, n=k, results=results)

    @app.get("/similar/{item_id}", response_model=SimilarResponse, tags=["recommend"],
             dependencies=guards, responses={
                 **_RESPONSES, 404: {"model": ErrorMessage,
                                     "description": "The item is not in the catalogue."}})
    def similar(loaded: Recs, item_id: Annotated[str, PathParam(max_length=MAX_ID_LENGTH)],
                response: Response, top_k: SimN = None, n: SimOldN = None
                ) -> SimilarResponse:
        """The top_k items most similar to an item (never the item itself)."""
        k, loc = top_k_of(top_k, n, "query", response)
        rec = loaded.model
        pos = int(np.searchsorted(rec.item_ids_, item_id)) if len(rec.item_ids_) else 0
        if pos >= len(rec.item_ids_) or rec.item_ids_[pos] != item_id:
            raise HTTPException(404, f"item {item_id!r} is not in the recommender's "
                                     f"catalogue ({len(rec.item_ids_)} items, run "
                                     f"{loaded.run_id})")
        with loaded.lock:
            ids, scores = engine_call(loc, lambda: similar_block(
                rec, np.array([item_id], dtype=object), k, index=loaded.similar_index))
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
            out = engine_call(["body", "applicants"], lambda: model.score(frame))
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
            pred = engine_call(["body"], lambda: model.predict(hist, fut, origin=origin))
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


def top_k_of(top_k: int | None, n: int | None, where: str, response: Response
             ) -> tuple[int, list[str | int]]:
    """The list length asked for (default 10) and the field that asked for it: ``top_k``,
    or its deprecated spelling ``n``, which is answered with a ``Deprecation: true``
    header (``top_k`` wins when both are given)."""
    if n is not None:
        response.headers["Deprecation"] = "true"
    if top_k is None and n is not None:
        return n, [where, "n"]
    return (10 if top_k is None else top_k), [where, "top_k"]


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
    threadpool_limits(1, "blas")  # a plain call: the limit stays for the process
    if "torch" in sys.modules:  # imported with serving.jobs.scoring (the top-k)
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
