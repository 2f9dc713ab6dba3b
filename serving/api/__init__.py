"""The HTTP API: recommendations, similar items, credit scores and demand forecasts.

Started by ``genlift serve --models DIR [--host 127.0.0.1] [--port 8000]`` (see
:mod:`serving.cli.serve`), or built in code with :func:`create_app`. ``DIR`` holds one
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
``GET /recommend/{u}``  top-``top_k`` items for one user (``top_k`` <= 100 and the
                        catalogue size; ``n`` is its deprecated spelling, answered with
                        a ``Deprecation`` header); the same items and scores as
                        ``genlift score recommend``
``POST /recommend``     the same for up to 1,000 users; ``recent_items`` may carry the
                        recent item ids of users the model does not know, which are then
                        folded in without retraining
``GET /similar/{i}``    the ``top_k`` items most similar to item ``i`` (404 when unknown)
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
For a factor model, ``/recommend`` and ``/similar`` search the FAISS index that
``genlift score recommend | similar-items --index ...`` saved in ``recs/`` (hnsw, then
ivf, then flat); an index built for another model, or corrupted, is refused and exact
search is used. ``/healthz`` shows which (``details.index``, ``details.similar_index``).

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

The package: :mod:`~serving.api.loading` (the models folder), :mod:`~serving.api.schemas`
(request and response bodies, limits), :mod:`~serving.api.errors` (422 and 413 answers)
and :mod:`~serving.api.app` (the app and its endpoints). It calls jobs
(:mod:`serving.jobs.scoring`), never the command line.
"""

from serving.api.app import (
    API_KEY_ENV,
    API_KEY_HEADER,
    API_VERSION,
    MODELS_ENV,
    create_app,
    create_app_from_env,
    limit_threads,
)
from serving.api.loading import KINDS, TRAIN_COMMAND, LoadedModel, ModelSet, load_models
from serving.api.schemas import (
    MAX_APPLICANTS,
    MAX_BATCH_USERS,
    MAX_BODY_BYTES,
    MAX_FUTURE_ROWS,
    MAX_HISTORY_ROWS,
    MAX_ID_LENGTH,
    MAX_N,
    MAX_RECENT_ITEMS,
)

__all__ = ["API_KEY_ENV", "API_KEY_HEADER", "API_VERSION", "KINDS", "MAX_APPLICANTS",
           "MAX_BATCH_USERS", "MAX_BODY_BYTES", "MAX_FUTURE_ROWS", "MAX_HISTORY_ROWS",
           "MAX_ID_LENGTH", "MAX_N", "MAX_RECENT_ITEMS", "MODELS_ENV", "TRAIN_COMMAND",
           "LoadedModel", "ModelSet", "create_app", "create_app_from_env", "limit_threads",
           "load_models"]
