"""The HTTP API (serving.api) on tiny models trained through the CLI, once per module.

Every endpoint's answer is compared with the engine call it wraps, every kind of bad
input must give a 4xx naming the field, and schemathesis fuzzes the app against its own
OpenAPI document.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402

from engine.credit import load_credit_model  # noqa: E402
from engine.demand import DemandModel  # noqa: E402
from features.errors import DataValidationError  # noqa: E402
from features.store import Store  # noqa: E402
from features.version import __version__  # noqa: E402
from serving import api  # noqa: E402
from serving.api.errors import BodyLimit  # noqa: E402
from serving.cli.main import main  # noqa: E402
from serving.jobs.scoring import load_model, recommend_block  # noqa: E402

with warnings.catch_warnings():  # starlette's notice that its TestClient moves to httpx2
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

N_USERS, N_ITEMS, N_APPLICANTS = 40, 30, 120
WEEKS = pd.date_range("2020-01-02", periods=30, freq="7D")
FEATURES = ["duration_in_month", "credit_amount", "age_in_years", "housing", "purpose"]


# ----------------------------------------------------------------------- fixtures
def _data(seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for u in range(N_USERS):
        for i in rng.choice(N_ITEMS, size=8, replace=False):
            rows.append({"user_id": f"u{u:02d}", "item_id": f"i{i:02d}",
                         "ts": 1_600_000_000 + len(rows), "qty": 1.0, "value": 1.0})
    n = N_APPLICANTS
    dur, age = rng.integers(6, 48, n), rng.integers(19, 70, n)
    housing = rng.choice(["own", "rent", "free"], n)
    logit = -1.5 + dur / 24 + (housing == "rent") * 0.8 - (age - 40) / 30
    applicants = pd.DataFrame({
        "applicant_id": [f"a{i:03d}" for i in range(n)], "duration_in_month": dur,
        "credit_amount": rng.gamma(2.0, 1500.0, n).round(), "age_in_years": age,
        "housing": housing, "purpose": rng.choice(["car", "tv", "business"], n),
        "default": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)})
    sales = []
    for store in ("s1", "s2"):
        for item, base in (("a", 50), ("b", 10)):
            for d in WEEKS:
                promo, price = float(rng.random() < 0.2), float(rng.uniform(1.0, 2.0))
                sales.append({"store_id": store, "item_id": item, "date": d,
                              "units": float(rng.poisson(base * (1 + promo) / price)),
                              "price": price, "promo": promo, "feat": 0.0})
    return {"interactions": pd.DataFrame(rows), "applicants": applicants,
            "stores": pd.DataFrame({"store_id": ["s1", "s2"], "income": [1.0, 2.0]}),
            "sales": pd.DataFrame(sales)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("api")
    data = _data()
    db = str(root / "s.duckdb")
    with Store(db) as store:
        store.load(data, source="test")
    models = root / "models"
    for args in (["train", "recs", "--out", str(models / "recs")],
                 ["train", "credit", "--out", str(models / "credit")],
                 ["train", "demand", "--n-estimators", "10", "--horizon", "2", "--out",
                  str(models / "demand")]):
        assert main(["--db", db, "--no-progress", "--json", *args]) == 0
    return {"root": root, "models": models, "data": data, "set": api.load_models(models)}


@pytest.fixture(scope="module")
def client(trained: dict[str, Any]) -> TestClient:
    return TestClient(api.create_app(trained["set"], api_key=None))


@pytest.fixture(scope="module")
def rec(trained: dict[str, Any]) -> Any:
    return load_model(trained["models"] / "recs")[0]


def _applicants(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in frame[["applicant_id", *FEATURES]].to_dict("records"):
        out.append({k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()})
    return out


def _series(sales: pd.DataFrame, weeks: int = 14) -> tuple[list[dict], list[dict]]:
    """The last ``weeks`` of history of every series and the 2 future periods."""
    hist = sales[sales["date"] > sales["date"].max() - pd.Timedelta(days=7 * weeks)]
    fut = []
    for (store, item), g in hist.groupby(["store_id", "item_id"]):
        for h in (1, 2):
            fut.append({"store_id": store, "item_id": item,
                        "date": str((g["date"].max() + pd.Timedelta(days=7 * h)).date()),
                        "price": float(g["price"].iloc[-1]), "promo": float(h == 2),
                        "feat": 0.0})
    rows = [{**r, "date": str(pd.Timestamp(r["date"]).date())}
            for r in hist.to_dict("records")]
    return rows, fut


# ------------------------------------------------------------------ service routes
def test_healthz_and_version(client: TestClient, trained: dict[str, Any]) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["missing"] == []
    assert body["genlift_version"] == __version__ and not body["api_key_required"]
    for kind in api.KINDS:
        run = (trained["models"] / kind / "train.json").read_text()
        assert body["models"][kind]["run_id"] in run
        assert body["models"][kind]["run_id"].startswith(f"train-{kind}-")
    assert body["models"]["recs"]["details"] == {
        "model_class": "ALSRecommender", "users": N_USERS, "items": N_ITEMS,
        "index": {"kind": "exact"}, "similar_index": {"kind": "exact"}}
    assert client.get("/version").json()["genlift_version"] == __version__
    spec = client.get("/openapi.json").json()
    assert {"/recommend/{user_id}", "/recommend", "/similar/{item_id}", "/score/credit",
            "/forecast", "/healthz", "/version"} <= set(spec["paths"])
    def param(path: str, name: str) -> dict[str, Any]:
        return next(p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == name)

    def bounds(schema: dict[str, Any]) -> tuple[Any, Any]:  # int | None: anyOf int, null
        kind = next(s for s in schema.get("anyOf", [schema]) if s.get("type") == "integer")
        return kind.get("minimum"), kind.get("maximum")

    top_k = param("/recommend/{user_id}", "top_k")
    assert bounds(top_k["schema"]) == (1, N_ITEMS)  # < MAX_N
    assert bounds(param("/similar/{item_id}", "top_k")["schema"])[1] == N_ITEMS - 1
    for path in ("/recommend/{user_id}", "/similar/{item_id}"):  # the old spelling
        assert param(path, "n")["deprecated"] is True
    batch = spec["components"]["schemas"]["BatchRecommendRequest"]["properties"]
    assert batch["users"]["maxItems"] == api.MAX_BATCH_USERS
    assert bounds(batch["top_k"])[1] == N_ITEMS and batch["n"]["deprecated"] is True
    applicant = spec["components"]["schemas"]["Applicant"]
    assert set(applicant["required"]) == {"applicant_id", *FEATURES}
    assert "'own'" in applicant["properties"]["housing"]["description"]


# -------------------------------------------------------------------- recommend
def test_recommend_one_equals_batch_scoring(client: TestClient, rec: Any) -> None:
    for user in ("u00", "u17"):
        body = client.get(f"/recommend/{user}", params={"n": 5}).json()
        items, scores, fallback = recommend_block(rec, np.array([user], dtype=object), 5)
        assert [x["item_id"] for x in body["items"]] == list(items[0])
        np.testing.assert_allclose([x["score"] for x in body["items"]], scores[0], rtol=1e-6)
        assert body["source"] == "model" and body["fallback"] is False
        assert body["run_id"].startswith("train-recs-")
    # exclude_seen=false may return seen items: the same as the engine's
    body = client.get("/recommend/u00", params={"n": 5, "exclude_seen": "false"}).json()
    items, _, _ = recommend_block(rec, np.array(["u00"], dtype=object), 5, exclude_seen=False)
    assert [x["item_id"] for x in body["items"]] == list(items[0])


def test_unknown_user_gets_flagged_popularity(client: TestClient, rec: Any) -> None:
    body = client.get("/recommend/stranger", params={"n": 4}).json()
    assert body["fallback"] is True and body["source"] == "popularity"
    top = rec.item_ids_[np.argsort(-rec.popularity_, kind="stable")[:4]]
    assert [x["item_id"] for x in body["items"]] == list(top)


def test_recommend_batch_with_fold_in(client: TestClient, rec: Any) -> None:
    users = ["u03", "new1", "u03", "new2"]
    recent = {"new1": ["i01", "i02", "i05"], "u03": ["i00"], "ghost": ["i09"]}
    r = client.post("/recommend", json={"users": users, "n": 6, "recent_items": recent})
    assert r.status_code == 200, r.text
    body = r.json()
    history = pd.DataFrame([("new1", "i01"), ("new1", "i02"), ("new1", "i05"),
                            ("u03", "i00")], columns=["user_id", "item_id"])
    items, scores, fallback = recommend_block(rec, np.array(users, dtype=object), 6,
                                              interactions=history)
    assert body["n"] == 6 and [x["user_id"] for x in body["results"]] == users
    for row, want, want_scores in zip(body["results"], items, scores, strict=True):
        assert [x["item_id"] for x in row["items"]] == list(want)
        np.testing.assert_allclose([x["score"] for x in row["items"]], want_scores,
                                   rtol=1e-6)
    assert [x["source"] for x in body["results"]] == ["model", "fold_in", "model",
                                                      "popularity"]
    assert [x["fallback"] for x in body["results"]] == list(fallback) == \
        [False, False, False, True]
    assert not {"i01", "i02", "i05"} & {x["item_id"] for x in body["results"][1]["items"]}


def test_similar_equals_model(client: TestClient, rec: Any) -> None:
    body = client.get("/similar/i04", params={"n": 7}).json()
    ids, scores = rec.similar_items(["i04"], n=7)
    assert body["item_id"] == "i04" and [x["item_id"] for x in body["items"]] == list(ids[0])
    np.testing.assert_allclose([x["score"] for x in body["items"]], scores[0], rtol=1e-6)
    r = client.get("/similar/no-such-item")
    assert r.status_code == 404 and "'no-such-item'" in r.json()["detail"]


def test_concurrent_requests_match_sequential(client: TestClient) -> None:
    users = [f"u{i:02d}" for i in range(0, N_USERS, 3)] + ["x1", "x2", "x3"]
    want = {u: client.get(f"/recommend/{u}", params={"n": 5}).json() for u in users}
    got: dict[str, list[Any]] = {u: [] for u in users}
    errors: list[BaseException] = []

    def hit(offset: int) -> None:
        try:
            for k in range(len(users)):
                u = users[(k + offset) % len(users)]
                got[u].append(client.get(f"/recommend/{u}", params={"n": 5}).json())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hit, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for u in users:
        assert len(got[u]) == 6 and all(g == want[u] for g in got[u])


# ----------------------------------------------------------------------- credit
def test_score_credit_equals_model(client: TestClient, trained: dict[str, Any]) -> None:
    apps = trained["data"]["applicants"].iloc[:25]
    r = client.post("/score/credit", json={"applicants": _applicants(apps)})
    assert r.status_code == 200, r.text
    model = load_credit_model(trained["models"] / "credit" / "model")  # the champion
    want = model.score(apps.drop(columns="default"))
    got = r.json()["results"]
    assert [g["applicant_id"] for g in got] == list(want["applicant_id"])
    np.testing.assert_allclose([g["pd"] for g in got], want["pd"], rtol=1e-9)
    np.testing.assert_allclose([g["score"] for g in got], want["score"], rtol=1e-9)
    for g, (_, w) in zip(got, want.iterrows(), strict=True):
        names = [w[f"reason_{j}"] for j in range(1, model.n_reasons + 1) if w[f"reason_{j}"]]
        assert [x["feature"] for x in g["reasons"]] == names
        np.testing.assert_allclose([x["contribution"] for x in g["reasons"]],
                                   [w[f"reason_{j}_value"] for j in range(1, len(names) + 1)])
        assert g["error"] == ""


def test_score_credit_row_errors_do_not_fail_the_batch(client: TestClient) -> None:
    good = {"applicant_id": "ok", "duration_in_month": 12, "credit_amount": 1000.0,
            "age_in_years": 30, "housing": "own", "purpose": "car"}
    rows = [good, {**good, "applicant_id": "null", "credit_amount": None},
            {**good, "applicant_id": "castle", "housing": "castle", "extra": 1}]
    r = client.post("/score/credit", json={"applicants": rows})
    assert r.status_code == 200, r.text
    ok, null, castle = r.json()["results"]
    assert ok["error"] == "" and 0 < ok["pd"] < 1 and ok["score"] is not None
    assert null["pd"] is None and null["score"] is None and "credit_amount is missing" in \
        null["error"]
    assert castle["pd"] is None and "housing has a category unseen" in castle["error"]


# --------------------------------------------------------------------- forecast
def test_forecast_equals_model(client: TestClient, trained: dict[str, Any]) -> None:
    hist, fut = _series(trained["data"]["sales"])
    r = client.post("/forecast", json={"history": hist, "future": fut})
    assert r.status_code == 200, r.text
    body = r.json()
    model = DemandModel.load(trained["models"] / "demand" / "model")
    h, f = pd.DataFrame(hist), pd.DataFrame(fut)
    h["date"], f["date"] = pd.to_datetime(h["date"]), pd.to_datetime(f["date"])
    want = model.predict(h, f)
    assert body["origin"] == str(WEEKS[-1].date()) and len(body["results"]) == len(want) == 8
    for g, (_, w) in zip(body["results"], want.iterrows(), strict=True):
        assert (g["store_id"], g["item_id"], g["date"], g["horizon"]) == \
            (w["store_id"], w["item_id"], str(w["date"].date()), w["horizon"])
        assert g["point"] == pytest.approx(w["point"], rel=1e-9)
        assert g["quantiles"] == pytest.approx({c[1:]: w[c] for c in want.columns
                                                if c.startswith("q")}, rel=1e-9)
    short = client.post("/forecast", json={"history": hist, "future": fut, "horizon": 1})
    assert {x["horizon"] for x in short.json()["results"]} == {1}


# -------------------------------------------------------------------- bad input
def _fields(r: Any) -> list[str]:
    return [".".join(map(str, d["loc"])) for d in r.json()["detail"]]


@pytest.mark.parametrize("name", ["top_k", "n"])  # n: the deprecated spelling
@pytest.mark.parametrize("n", ["0", "-1", str(api.MAX_N + 1), "abc", "2.5", ""])
def test_bad_n_is_422_naming_n(client: TestClient, n: str, name: str) -> None:
    for path in ("/recommend/u00", "/similar/i00"):
        r = client.get(path, params={name: n})
        assert r.status_code == 422 and _fields(r) == [f"query.{name}"], r.text
    r = client.post("/recommend", json={"users": ["u00"], name: n})
    assert r.status_code == 422 and _fields(r) == [f"body.{name}"], r.text


def test_top_k_and_its_deprecated_spelling_n(client: TestClient) -> None:
    """?top_k= is the list length; ?n= still works for one release, with a Deprecation
    header, and gives the same answer; top_k wins when both are given."""
    for path in ("/recommend/u00", "/similar/i04"):
        new = client.get(path, params={"top_k": 5})
        old = client.get(path, params={"n": 5})
        assert new.status_code == old.status_code == 200
        assert "deprecation" not in new.headers and old.headers["deprecation"] == "true"
        assert len(new.json()["items"]) == 5 and new.json()["items"] == old.json()["items"]
        both = client.get(path, params={"top_k": 3, "n": 7})
        assert len(both.json()["items"]) == 3 and both.headers["deprecation"] == "true"
        assert len(client.get(path).json()["items"]) == 10  # the default
    new = client.post("/recommend", json={"users": ["u00", "u01"], "top_k": 4})
    old = client.post("/recommend", json={"users": ["u00", "u01"], "n": 4})
    assert "deprecation" not in new.headers and old.headers["deprecation"] == "true"
    assert new.json()["top_k"] == new.json()["n"] == 4
    assert new.json()["results"] == old.json()["results"]
    assert all(len(r["items"]) == 4 for r in new.json()["results"])


def test_n_beyond_the_catalogue_is_422_with_the_engines_message(client: TestClient) -> None:
    r = client.get("/recommend/u00", params={"n": N_ITEMS})  # 8 of the 30 items are seen
    assert r.status_code == 422 and _fields(r) == ["query.n"]
    assert "only 22 of the 30 catalogue items" in r.json()["detail"][0]["msg"]
    r = client.get("/similar/i00", params={"n": N_ITEMS})  # the schema caps it at 29
    assert r.status_code == 422 and _fields(r) == ["query.n"]
    assert "less than or equal to 29" in r.json()["detail"][0]["msg"]
    r = client.post("/recommend", json={"users": ["u00"], "n": N_ITEMS + 1})
    assert r.status_code == 422 and _fields(r) == ["body.n"]


@pytest.mark.parametrize("body, field", [
    ({"users": []}, "body.users"),
    ({"users": [f"u{i}" for i in range(api.MAX_BATCH_USERS + 1)]}, "body.users"),
    ({"users": [""]}, "body.users.0"),
    ({"users": "u00"}, "body.users"),
    ({"user": ["u00"]}, "body.users"),
    ({"users": ["u00"], "exclude_seen": "maybe"}, "body.exclude_seen"),
    ({"users": ["new"], "recent_items": {"new": ["i01"] * (api.MAX_RECENT_ITEMS + 1)}},
     "body.recent_items.new"),
])
def test_bad_batch_is_422_naming_the_field(client: TestClient, body: dict[str, Any],
                                           field: str) -> None:
    r = client.post("/recommend", json=body)
    assert r.status_code == 422 and field in _fields(r), r.text


def test_empty_and_malformed_bodies_are_422(client: TestClient) -> None:
    for path in ("/recommend", "/score/credit", "/forecast"):
        r = client.post(path)
        assert r.status_code == 422 and _fields(r) == ["body"], r.text
        r = client.post(path, content=b"{not json", headers={"content-type":
                                                              "application/json"})
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


def test_bad_applicants_are_422_naming_the_field(client: TestClient) -> None:
    good = {"applicant_id": "a", "duration_in_month": 12, "credit_amount": 1000.0,
            "age_in_years": 30, "housing": "own", "purpose": "car"}
    missing = {k: v for k, v in good.items() if k != "purpose"}
    cases = [([missing], "body.applicants.0.purpose"),
             ([good, {**good, "credit_amount": "lots"}], "body.applicants.1.credit_amount"),
             ([{**good, "housing": 3}], "body.applicants.0.housing"),
             ([{**good, "applicant_id": 7}], "body.applicants.0.applicant_id"),
             ([], "body.applicants"),
             ([good] * (api.MAX_APPLICANTS + 1), "body.applicants")]
    for rows, field in cases:
        r = client.post("/score/credit", json={"applicants": rows})
        assert r.status_code == 422 and field in _fields(r), (field, r.text)
    r = client.post("/score/credit", content=b'{"applicants": [{"applicant_id": "a", '
                    b'"duration_in_month": NaN, "credit_amount": 1, "age_in_years": 1, '
                    b'"housing": "own", "purpose": "car"}]}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "body.applicants.0.duration_in_month" in _fields(r)


def test_bad_forecasts_are_422_naming_the_field(client: TestClient,
                                                trained: dict[str, Any]) -> None:
    hist, fut = _series(trained["data"]["sales"])

    def post(h: list[dict], f: list[dict], **extra: Any) -> Any:
        return client.post("/forecast", json={"history": h, "future": f, **extra})

    r = post(hist, [{**fut[0], "date": "2020-13-01"}, *fut[1:]])
    assert r.status_code == 422 and _fields(r) == ["body.future.0.date"]
    r = post([{**hist[0], "units": -1.0}, *hist[1:]], fut)
    assert r.status_code == 422 and _fields(r) == ["body.history.0.units"]
    r = post(hist, [{k: v for k, v in fut[0].items() if k != "feat"}, *fut[1:]])
    assert r.status_code == 422 and _fields(r) == ["body.future.0.feat"]
    r = post(hist, fut, horizon=3)
    assert r.status_code == 422 and _fields(r) == ["body.horizon"]
    # accepted by the schema, refused by the model: the engine's message, field named
    r = post(hist, [{**fut[0], "date": "2020-08-01"}, *fut[1:]])
    assert r.status_code == 422 and _fields(r) == ["body.future.date"]
    assert "off the 7-day grid" in r.json()["detail"][0]["msg"]
    r = post(hist, [{**f, "item_id": "zz"} for f in fut[:2]])
    assert r.status_code == 422 and "no history" in r.json()["detail"][0]["msg"]
    r = post(hist, fut[:1])
    assert r.status_code == 422 and "lacks rows for some horizons" in \
        r.json()["detail"][0]["msg"]


def test_oversized_body_is_413(client: TestClient) -> None:
    r = client.post("/score/credit", content=b" " * (api.MAX_BODY_BYTES + 1),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    app = BodyLimit(None)  # the fallback for FastAPI versions without max_body_size
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "headers": [(b"content-length",
                                          str(api.MAX_BODY_BYTES + 1).encode())]}
    asyncio.run(app(scope, None, send))
    assert sent[0]["status"] == 413 and b"limit" in sent[1]["body"]


# ---------------------------------------------------------- missing models, load
def test_endpoint_of_a_missing_model_is_503(trained: dict[str, Any]) -> None:
    only_recs = api.ModelSet(trained["models"], recs=trained["set"].recs)
    c = TestClient(api.create_app(only_recs, api_key=None))
    assert c.get("/recommend/u00").status_code == 200
    for path in ("/score/credit", "/forecast"):
        r = c.post(path, json={})
        assert r.status_code == 503, r.text
        kind = "credit" if "credit" in path else "demand"
        assert f"no {kind} model is loaded" in r.json()["detail"]
    assert c.get("/healthz").json()["missing"] == ["credit", "demand"]
    only_credit = api.ModelSet(trained["models"], credit=trained["set"].credit)
    c = TestClient(api.create_app(only_credit, api_key=None))
    assert c.get("/similar/i00").status_code == 503
    assert c.post("/recommend", json={"users": ["u00"]}).status_code == 503


def test_load_models_fails_clearly(trained: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        api.load_models(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataValidationError, match="holds no model: expected at least one of "
                                                  "recs/, credit/, demand/"):
        api.load_models(tmp_path / "empty")
    broken = tmp_path / "broken"
    shutil.copytree(trained["models"] / "recs", broken / "recs")
    shutil.copytree(trained["models"] / "credit", broken / "credit")
    # the champion is a LightGBM model (arrays.npz) or a scorecard (scorecard.npz)
    arrays = next((broken / "credit" / "model").glob("*.npz"))
    arrays.write_bytes(arrays.read_bytes()[:-10])
    with pytest.raises(DataValidationError, match=r"cannot load the credit model in .*broken"
                                                  r"/credit: .*corrupted"):
        api.load_models(broken)
    shutil.rmtree(broken / "credit")
    (broken / "demand").mkdir()
    shutil.copytree(trained["models"] / "demand" / "model", broken / "demand" / "model")
    with pytest.raises(DataValidationError, match="demand.*no train.json"):
        api.load_models(broken)
    shutil.rmtree(broken / "demand")
    assert [m.kind for m in api.load_models(broken).loaded()] == ["recs"]


# ------------------------------------------------------------------------ API key
def test_api_key(trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(api.API_KEY_ENV, "s3cret-key")
    c = TestClient(api.create_app(trained["set"]))
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("get", "/recommend/u00", {}), ("get", "/similar/i00", {}),
        ("post", "/recommend", {"json": {"users": ["u00"]}}),
        ("post", "/score/credit", {"json": {"applicants": []}}),
        ("post", "/forecast", {"json": {}})]
    for method, path, kw in calls:
        r = getattr(c, method)(path, **kw)
        assert r.status_code == 401 and r.json()["detail"] == "missing X-API-Key header"
        r = getattr(c, method)(path, headers={"X-API-Key": "s3cret-kez"}, **kw)
        assert r.status_code == 401 and r.json()["detail"] == "wrong X-API-Key"
    r = c.get("/recommend/u00", headers={"X-API-Key": "s3cret-key"})
    assert r.status_code == 200
    r = c.post("/score/credit", headers={"X-API-Key": "s3cret-key"}, json={"applicants": []})
    assert r.status_code == 422  # authenticated, then validated
    # the service routes stay open for probes
    assert c.get("/healthz").json()["api_key_required"] is True
    assert c.get("/version").status_code == 200
    spec = c.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert "security" not in spec["paths"]["/healthz"]["get"]
    # an explicit key wins over the environment; no key at all: open
    c = TestClient(api.create_app(trained["set"], api_key="other"))
    assert c.get("/recommend/u00", headers={"X-API-Key": "other"}).status_code == 200
    monkeypatch.setenv(api.API_KEY_ENV, "")
    c = TestClient(api.create_app(trained["set"]))
    assert c.get("/recommend/u00").status_code == 200
    with pytest.raises(ValueError, match="'api_key' parameter"):
        api.create_app(trained["set"], api_key="")


# ---------------------------------------------------------------------------- CLI
def test_cli_serve(trained: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    # the server's one-thread limits are process-wide: keep this test process as it is
    monkeypatch.setattr(api, "limit_threads", lambda: seen.update(threads_limited=True))
    monkeypatch.delenv(api.API_KEY_ENV, raising=False)
    partial = tmp_path / "models"
    shutil.copytree(trained["models"] / "recs", partial / "recs")
    assert main(["serve", "--models", str(partial), "--port", "8123"]) == 0
    out = capsys.readouterr().out
    run_id = trained["set"].recs.run_id
    assert "serving http://127.0.0.1:8123" in out and run_id in out
    assert "ALSRecommender" in out and "credit" in out and "not found" in out
    assert "API key: none" in out
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123 and seen["threads_limited"]
    assert TestClient(seen["app"]).get("/healthz").json()["models"]["recs"]["run_id"] == run_id

    (tmp_path / "empty").mkdir()
    assert main(["serve", "--models", str(tmp_path / "empty")]) == 2
    assert "holds no model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # a usage error, before the models load
        main(["serve", "--models", str(partial), "--workers", "0"])
    assert exc.value.code == 2
    assert "argument --workers: must be a whole number >= 1" in capsys.readouterr().err


# -------------------------------------------------------------------- schemathesis
# schemathesis' own pytest loader (`schemathesis.pytest.from_fixture` + `parametrize`)
# fails on pytest 9 (it reads `request.node._nodeid`), so each operation's strategy is
# driven with hypothesis directly: the same generated cases and the same checks.
OPERATIONS = [("/recommend/{user_id}", "GET"), ("/recommend", "POST"),
              ("/similar/{item_id}", "GET"), ("/score/credit", "POST"),
              ("/forecast", "POST"), ("/healthz", "GET"), ("/version", "GET")]


@pytest.fixture(scope="module")
def api_schema(trained: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json",
                                          api.create_app(trained["set"], api_key=None))


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("path, method", OPERATIONS)
def test_openapi_contract(api_schema: Any, path: str, method: str, mode: str) -> None:
    operation = api_schema[path][method]
    if mode == "negative" and path in ("/healthz", "/version"):
        pytest.skip("no parameters to make invalid")

    # A forecast request can be schema-valid yet not servable (dates off the weekly
    # grid, a future without every horizon): the engine's 422 is the right answer there.
    excluded = [schemathesis.checks.positive_data_acceptance] if path == "/forecast" else []

    @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        case.call_and_validate(excluded_checks=excluded)

    check()


@pytest.fixture(scope="module")
def keyed_schema(trained: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json",
                                          api.create_app(trained["set"], api_key="k3y"))


@pytest.mark.parametrize("path, method", OPERATIONS[:5])
def test_openapi_contract_with_api_key(keyed_schema: Any, path: str, method: str) -> None:
    operation = keyed_schema[path][method]
    excluded = [schemathesis.checks.positive_data_acceptance] if path == "/forecast" else []

    @given(case=operation.as_strategy())
    @settings(max_examples=10, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        # schemathesis' ignored_auth check also replays each case without the key
        case.call_and_validate(headers={"X-API-Key": "k3y"}, excluded_checks=excluded)

    check()
