"""Customer segments (engine.customers): the feature table, k-means / mixture / RFM
segments with automatic k, stable labels, save / load, and profiles, on constructed
customers with a known answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.customers.profiles import segment_profiles, standardised_differences
from engine.customers.segments import CustomerSegmenter, rfm_names, rfm_scores
from engine.customers.table import CustomerTable, customer_table
from features.artifacts import ArtifactError
from features.errors import DataValidationError

# three behaviour groups: (customers, purchases per customer, spend per purchase, days
# since the last purchase)
GROUPS = {"loyal": (40, 12, 50.0, 3), "occasional": (25, 3, 20.0, 60),
          "lapsed": (15, 1, 10.0, 300)}


def transactions(seed: int = 0) -> tuple[pd.DataFrame, dict[str, str]]:
    """A purchase log and each customer's true group."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp("2024-12-31")
    rows, truth = [], {}
    for group, (n, buys, spend, last) in GROUPS.items():
        for i in range(n):
            uid = f"{group[:2]}{i:03d}"
            truth[uid] = group
            days = last + np.sort(rng.integers(0, 30, buys))[::-1] * (buys > 1)
            for d in days:
                rows.append({"user_id": uid, "ts": end - pd.Timedelta(days=int(d)),
                             "quantity": 1,
                             "amount": float(spend * rng.uniform(0.8, 1.2))})
    return pd.DataFrame(rows), truth


@pytest.fixture(scope="module")
def table() -> CustomerTable:
    return customer_table({"transactions": transactions()[0]}, "transactions")


def test_transactions_table_has_rfm_per_customer(table: CustomerTable) -> None:
    f = table.frame.set_index("user_id")
    assert len(f) == sum(g[0] for g in GROUPS.values())
    assert f.loc["la000", "frequency"] == 1 and f.loc["lo000", "frequency"] == 12
    assert f.loc["la000", "recency_days"] == pytest.approx(300 - 3)  # as of the last purchase
    assert {"recency_days", "frequency", "monetary", "tenure_days",
            "avg_order_value", "units_per_order"} <= set(table.numeric)
    assert list(table.frame["user_id"]) == sorted(table.frame["user_id"])


def test_kmeans_finds_the_three_groups_and_names_them_by_size(table: CustomerTable) -> None:
    seg = CustomerSegmenter(random_state=0).fit(table)
    assert seg.k_ == 3 and seg.score_name_ == "silhouette"
    assert [c["k"] for c in seg.k_curve_] == list(range(2, 11))
    assert seg.sizes_ == {"S1": 40, "S2": 25, "S3": 15}
    truth = transactions()[1]
    crosstab = pd.crosstab(seg.labels_.to_numpy(), [truth[u] for u in seg.labels_.index])
    assert (crosstab.max(axis=1) == crosstab.sum(axis=1)).all()  # each segment one group
    assert crosstab.loc["S1", "loyal"] == 40 and crosstab.loc["S3", "lapsed"] == 15


def test_gmm_chooses_k_by_bic() -> None:
    # 320 customers on the three RFM columns: with 80, the BIC's penalty for a third
    # full-covariance component outweighs what it earns
    log = pd.concat([transactions(seed=s)[0].assign(user_id=lambda f, s=s: f"{s}" + f.user_id)
                     for s in range(4)])
    full = customer_table({"transactions": log}, "transactions")
    rfm = CustomerTable(full.frame, full.source, ["recency_days", "frequency", "monetary"],
                        [])
    seg = CustomerSegmenter(method="gmm", random_state=0, k_range=(2, 5)).fit(rfm)
    assert seg.score_name_ == "BIC" and seg.k_ == 3
    best = min(seg.k_curve_, key=lambda c: c["score"])
    assert best["k"] == seg.k_ == len(seg.sizes_)
    assert seg.sizes_ == {"S1": 160, "S2": 100, "S3": 60}


def test_labels_are_stable_over_seeds_and_shuffled_input(table: CustomerTable) -> None:
    ref = CustomerSegmenter(random_state=3).fit(table).labels_
    again = CustomerSegmenter(random_state=3).fit(table).labels_
    pd.testing.assert_series_equal(ref, again)
    shuffled = CustomerTable(table.frame.sample(frac=1.0, random_state=7), table.source,
                             table.numeric, table.categorical)
    moved = CustomerSegmenter(random_state=3).fit(shuffled).labels_
    pd.testing.assert_series_equal(ref, moved)
    # another seed: k-means numbers its clusters differently, the canonical names do not
    other = CustomerSegmenter(random_state=11, k=3).fit(table).labels_
    pd.testing.assert_series_equal(ref, other)


def test_shuffled_raw_log_gives_the_same_segments() -> None:
    log, _ = transactions(seed=1)
    a = customer_table({"transactions": log}, "transactions")
    b = customer_table({"transactions": log.sample(frac=1.0, random_state=2)},
                       "transactions")
    for method in ("kmeans", "gmm", "rfm"):
        la = CustomerSegmenter(method=method, k_range=(2, 4)).fit(a).labels_
        lb = CustomerSegmenter(method=method, k_range=(2, 4)).fit(b).labels_
        pd.testing.assert_series_equal(la, lb)


def test_predict_new_customers_and_save_load(table: CustomerTable, tmp_path: Path) -> None:
    seg = CustomerSegmenter(random_state=0).fit(table)
    frame = table.frame
    assert (seg.predict(frame) == seg.labels_.to_numpy()).all()
    # a new customer who looks like the loyal group lands in its segment
    new = frame[frame["user_id"] == "lo000"].assign(user_id="new1")
    assert seg.predict(new)[0] == "S1"
    seg.save(tmp_path / "m")
    back = CustomerSegmenter.load(tmp_path / "m")
    assert (back.predict(frame) == seg.predict(frame)).all()
    assert back.k_curve_ == seg.k_curve_ and back.sizes_ == seg.sizes_
    gmm = CustomerSegmenter(method="gmm", k=3).fit(table)
    gmm.save(tmp_path / "g")
    assert (CustomerSegmenter.load(tmp_path / "g").predict(frame) == gmm.predict(frame)).all()
    with open(tmp_path / "m" / "arrays.npz", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ArtifactError, match="sha256"):
        CustomerSegmenter.load(tmp_path / "m")


def test_predict_refuses_a_table_without_the_features(table: CustomerTable) -> None:
    seg = CustomerSegmenter(k=3).fit(table)
    with pytest.raises(DataValidationError, match="lack feature column.*monetary"):
        seg.predict(table.frame.drop(columns=["monetary"]))


def test_rfm_grid_known_cells() -> None:
    scores = np.array([[5, 5, 5], [5, 1, 1], [1, 5, 5], [1, 1, 1], [3, 3, 3], [4, 1, 2],
                       [1, 3, 4]])
    assert list(rfm_names(scores)) == ["champions", "new customers", "can't lose them",
                                       "hibernating", "need attention",
                                       "potential loyalists", "at risk"]
    frame = pd.DataFrame({"recency_days": [1.0, 100.0], "frequency": [10, 1],
                          "monetary": [500.0, 1.0]})
    edges = {"recency_days": [5.0, 10, 20, 50], "frequency": [1.0, 2, 3, 5],
             "monetary": [10.0, 20, 50, 100]}
    assert rfm_scores(frame, edges).tolist() == [[5, 5, 5], [1, 1, 1]]


def test_rfm_segments_name_the_groups(table: CustomerTable) -> None:
    seg = CustomerSegmenter(method="rfm").fit(table)
    truth = transactions()[1]
    by_group = pd.Series(seg.labels_.to_numpy()).groupby(
        [truth[u] for u in seg.labels_.index]).agg(lambda s: s.value_counts().index[0])
    assert by_group["lapsed"] == "hibernating"
    assert by_group["loyal"] in ("champions", "loyal customers")
    assert seg.k_curve_ == [] and seg.score_ is None


@pytest.mark.parametrize(("params", "n", "match"), [
    ({"k": 500}, None, "k=500 segments asked for 80 customers"),
    ({"k": 1}, None, "'k' parameter .* range \\[2, inf\\)"),
    ({"method": "dbscan"}, None, "'method' parameter"),
    ({"method": "rfm", "k": 4}, None, "RFM segments are fixed cells"),
    ({"k_range": (1, 5)}, None, "k_range"),
])
def test_bad_settings_are_refused(table: CustomerTable, params: dict, n: int | None,
                                  match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CustomerSegmenter(**params).fit(table)


def test_rfm_needs_rfm_columns() -> None:
    frame = pd.DataFrame({"user_id": [f"c{i}" for i in range(20)],
                          "tenure": np.arange(20.0), "plan": ["a", "b"] * 10})
    with pytest.raises(DataValidationError, match="RFM segments need"):
        CustomerSegmenter(method="rfm").fit(CustomerTable(frame, "customers", ["tenure"],
                                                          ["plan"]))


def test_bad_tables_are_refused() -> None:
    log, _ = transactions()
    with pytest.raises(DataValidationError, match="transactions.amount has 2 negative"):
        bad = log.copy()
        bad.loc[[3, 8], "amount"] = -5.0
        customer_table({"transactions": bad}, "transactions")
    with pytest.raises(DataValidationError, match="quantity has 1 values below 1"):
        bad = log.copy()
        bad.loc[4, "quantity"] = 0
        customer_table({"transactions": bad}, "transactions")
    with pytest.raises(DataValidationError, match="missing column\\(s\\) amount"):
        customer_table({"transactions": log.drop(columns=["amount"])}, "transactions")
    with pytest.raises(DataValidationError, match="not in the store"):
        customer_table({}, "transactions")
    with pytest.raises(DataValidationError, match="cannot build segments from table"):
        customer_table({"sales": log}, "sales")


def test_interactions_with_users_attributes_and_outcomes() -> None:
    inter = pd.DataFrame({"user_id": ["1", "1", "2", "3"], "item_id": ["a", "b", "a", "c"],
                          "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-02",
                                                "2024-01-03"]),
                          "qty": 1.0, "value": [4.0, 5.0, 3.0, 1.0]})
    users = pd.DataFrame({"user_id": ["1", "2", "3", "4"], "age": [20, 30, 40, 50],
                          "gender": ["F", "M", "F", "M"],
                          "zip_code": ["01", "02", "03", "04"]})
    t = customer_table({"interactions": inter, "users": users}, "interactions")
    assert list(t.frame["user_id"]) == ["1", "2", "3"]  # users with interactions
    assert "gender" in t.categorical and "age" in t.numeric
    assert "zip_code" in t.dropped  # every value distinct: an id, not a category
    assert "quantity" in t.dropped  # equal to frequency (one unit per rating)
    t_users = customer_table({"users": users, "interactions": inter}, "users")
    assert len(t_users) == 4  # every user, also the one without interactions
    telco = pd.DataFrame({"customer_id": [f"{i:04d}" for i in range(6)],
                          "churn": [0, 1, 0, 1, 0, 0], "tenure": [1, 2, 3, 4, 5, 6],
                          "contract": ["m", "y", "m", "y", "m", "m"]})
    t_telco = customer_table({"customers": telco}, "customers")
    assert t_telco.outcomes == ["churn"] and "churn" not in t_telco.features


def test_profiles_smd_and_clv(table: CustomerTable) -> None:
    seg = CustomerSegmenter(random_state=0).fit(table)
    labels = seg.labels_.reindex(table.frame["user_id"]).to_numpy(dtype=object)
    smd = standardised_differences(table, labels)
    x = table.frame["frequency"].to_numpy(float)
    a, b = x[labels == "S1"], x[labels != "S1"]
    assert smd["S1"]["frequency"] == pytest.approx(
        (a.mean() - b.mean()) / np.sqrt((a.var() + b.var()) / 2))
    prof = segment_profiles(table, labels, order=seg.segment_names_)
    assert prof["clv"].startswith("absent")
    first = prof["segments"][0]
    assert first["segment"] == "S1" and first["size"] == 40
    assert first["share"] == pytest.approx(0.5)
    assert first["rfm"]["frequency"] == 12
    assert first["distinguishing"][0]["smd"] != 0
    value = pd.DataFrame({"user_id": table.frame["user_id"], "clv": 1.0,
                          "p_alive": 0.5, "expected_purchases": 2.0})
    prof = segment_profiles(table, labels, order=seg.segment_names_, customer_value=value)
    assert prof["clv"].startswith("joined") and prof["segments"][0]["value"][
        "total_clv"] == pytest.approx(40.0)
