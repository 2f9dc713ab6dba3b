"""The CDNOW purchase logs of lifetimes' datasets folder, parsed into ``transactions``.

CDNOW_master.txt holds every purchase (customer id, date YYYYMMDD, number of CDs,
dollar value) of the 23,570 customers who first bought in January-March 1997, up to
June 1998; CDNOW_sample.txt the same rows for every tenth of them (2,357), the data of
Fader, Hardie & Lee (2005). The purchases name no items, so they are not
``interactions``: the ``transactions`` contract keeps customer, time, units and money.
"""

from __future__ import annotations

import io

import pandas as pd

from features.errors import DataValidationError

CDNOW = "lifetimes/datasets/CDNOW_master.txt"
CDNOW_SAMPLE = "lifetimes/datasets/CDNOW_sample.txt"
#: the columns of each file: the master log has a header row, the sample none (it adds
#: the sample's own customer number, 1-2,357, after the master's id)
CDNOW_COLUMNS = {CDNOW: ["customer_id", "date", "number_of_cds", "dollar_value"],
                 CDNOW_SAMPLE: ["customer_id", "sample_id", "date", "number_of_cds",
                                "dollar_value"]}
CDNOW_TERMS = (
    "CDNOW purchase log of the customer-base-analysis literature (Fader & Hardie, "
    "https://www.brucehardie.com/datasets/; cite Fader, Hardie & Lee 2005, 'Counting Your "
    "Customers the Easy Way', Marketing Science 24(2)), as shipped in lifetimes' datasets "
    "folder; lifetimes is MIT-licensed; genlift fetches it at run time and never commits it")


def cdnow_transactions(raw: bytes, member: str) -> pd.DataFrame:
    """One CDNOW file as the transactions contract: every row kept (a customer's several
    purchases on one day stay several rows), ids as the file's 5-digit text."""
    names = CDNOW_COLUMNS[member]
    frame = pd.read_csv(io.BytesIO(raw), sep=r"\s+", dtype=str,
                        header=0 if member == CDNOW else None, names=names)
    short = frame.isna().any(axis=1).to_numpy()
    if short.any():
        raise DataValidationError(
            f"cdnow: {member} has {int(short.sum())} rows with fewer than {len(names)} "
            "fields", fix="delete the cached lifetimes wheel (archives/lifetimes under "
            "the genlift cache folder) and fetch again")
    return pd.DataFrame({
        "user_id": frame["customer_id"],
        "ts": pd.to_datetime(frame["date"], format="%Y%m%d"),
        "quantity": frame["number_of_cds"].astype("int64"),
        "amount": frame["dollar_value"].astype("float64"),
    })


def parse_cdnow(files: dict[str, bytes]) -> dict[str, pd.DataFrame]:
    """The full log (69,659 purchases) as ``transactions``."""
    return {"transactions": cdnow_transactions(files[CDNOW], CDNOW)}


def parse_cdnow_sample(files: dict[str, bytes]) -> dict[str, pd.DataFrame]:
    """The 2,357-customer sample (6,919 purchases) as ``transactions``."""
    return {"transactions": cdnow_transactions(files[CDNOW_SAMPLE], CDNOW_SAMPLE)}
