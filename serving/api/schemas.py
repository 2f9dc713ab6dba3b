"""Request and response bodies of the API, with every limit: the shared models, and the
credit and forecast requests built from the loaded models' own columns."""

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, create_model

from serving.api.loading import ModelSet

#: Items per list (``top_k``; ``n`` is its deprecated spelling) of /recommend and /similar.
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


def top_k_type(most: int) -> Any:
    """An optional list length in [1, most] (bools refused), with its bounds in the
    OpenAPI schema (minimum / maximum)."""
    return Annotated[Annotated[int, Field(ge=1, le=most)] | None, BeforeValidator(_no_bool)]


TopK = Annotated[Annotated[int, Field(ge=1, le=MAX_N)] | None, BeforeValidator(_no_bool)]
#: What the schema says of ``n``, the old spelling of ``top_k``.
OLD_N = ("Deprecated spelling of top_k (top_k wins when both are given); answered with a "
         "Deprecation header.")


class BatchRecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[Id] = Field(min_length=1, max_length=MAX_BATCH_USERS,
                            description=f"User ids (1 to {MAX_BATCH_USERS}).")
    top_k: TopK = Field(
        None, description=f"Items per user (1 to {MAX_N}; default 10).")
    n: TopK = Field(
        None, json_schema_extra={"deprecated": True}, description=OLD_N)
    exclude_seen: Bool = Field(True, description="Never return items the user already "
                                                 "interacted with.")
    recent_items: dict[Id, Annotated[list[Id], Field(max_length=MAX_RECENT_ITEMS)]] | None = Field(
        None, max_length=MAX_BATCH_USERS,
        description="Per unknown user, the item ids they recently interacted with (at most "
                    f"{MAX_RECENT_ITEMS} each): folded in without retraining. Ignored for "
                    "users the model knows and for ids not in users; items unknown to the "
                    "model are ignored.")


def batch_request_model(max_n: int) -> type[BaseModel]:
    """``BatchRecommendRequest`` with ``top_k`` (and ``n``) capped at the catalogue size."""
    return create_model(
        "BatchRecommendRequest", __base__=BatchRecommendRequest,
        top_k=(top_k_type(max_n), Field(
            None, description=f"Items per user (1 to {max_n}: at most {MAX_N} and the "
                              "catalogue size; default 10).")),
        n=(top_k_type(max_n), Field(
            None, json_schema_extra={"deprecated": True}, description=OLD_N)))


class BatchRecommendResponse(BaseModel):
    run_id: str
    top_k: int
    n: int = Field(json_schema_extra={"deprecated": True},
                   description="Deprecated: the same as top_k.")
    results: list[UserRecommendations] = Field(description="One per user, in request order.")


class SimilarResponse(BaseModel):
    run_id: str
    item_id: str
    items: list[ScoredItem] = Field(description="Exactly n other items, most similar first.")


class Reason(BaseModel):
    feature: str
    contribution: float = Field(description="LightGBM champion: SHAP contribution to the "
                                            "log-odds of default (uncalibrated model); "
                                            "positive raises the PD. Scorecard champion: "
                                            "points lost against the feature's best bin.")


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


def credit_request_model(models: ModelSet) -> type[BaseModel]:
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


def forecast_request_model(models: ModelSet) -> type[BaseModel]:
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

