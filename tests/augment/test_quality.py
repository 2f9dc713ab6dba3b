"""What gives synthetic rows away (detection's top columns, the worst pairs), machine-
learning utility (TSTR vs TRTR) and the report sections that show them: known answers on
tiny seeded frames built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from augment.quality import (
    detection,
    detection_auc,
    pair_trends,
    tabular_scorecard,
    utility,
    worst_numeric_pair,
    worst_pairs,
)
from features.errors import DataValidationError
from serving.reports.generator import (
    detection_reading,
    giveaway_sections,
    write_generator_report,
)


def make_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    group = rng.choice(["a", "b", "c"], n)
    return pd.DataFrame({
        "x": x,
        "y": 2.0 * x + rng.normal(0, 0.3, n),                          # tied to x
        "z": rng.gamma(2.0, 1.0, n),
        "w": np.where(group == "a", 10.0, 0.0) + rng.normal(0, 1, n),  # tied to group
        "group": group,
        "flag": rng.integers(0, 2, n),
    })


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(scope="module")
def other() -> pd.DataFrame:
    return make_frame(seed=1)  # the same process, another seed: a perfect "generator"


@pytest.mark.parametrize(("column", "broken"), [
    ("z", lambda f: f.assign(z=f["z"] + 3.0)),  # a number shifted
    ("group", lambda f: f.assign(group=f["group"].replace({"c": "d"}))),  # a level renamed
])
def test_top_features_name_the_one_column_that_differs(real: pd.DataFrame,
                                                       other: pd.DataFrame, column: str,
                                                       broken) -> None:
    found = detection(real, broken(other))
    top = found["top_features"]
    assert found["auc"] > 0.75 and top[0]["column"] == column
    assert top[0]["share"] > 2 * top[1]["share"]  # by far
    assert len(top) == 5 and [t["share"] for t in top] == sorted(
        (t["share"] for t in top), reverse=True)
    assert len({t["column"] for t in top}) == 5  # one-hot blocks and NaN flags added back


def test_detection_auc_keeps_its_signature_and_reads_like_detection(
        real: pd.DataFrame, other: pd.DataFrame) -> None:
    auc = detection_auc(real, other, folds=3, random_state=0, max_rows=5000)
    assert isinstance(auc, float) and auc == detection(real, other)["auc"]
    assert auc < 0.65  # same process: hard to tell apart


def test_detection_of_identical_frames_and_of_too_few_rows(real: pd.DataFrame) -> None:
    same = detection(real, real, top=99)
    assert same["auc"] < 0.6
    assert sum(t["share"] for t in same["top_features"]) == pytest.approx(1.0)
    tiny = detection(real, real.iloc[:3])
    assert np.isnan(tiny["auc"]) and tiny["top_features"] == []


def test_worst_pairs_pick_the_broken_pairs(real: pd.DataFrame, other: pd.DataFrame) -> None:
    rng = np.random.default_rng(2)
    broken = other.assign(y=rng.permutation(other["y"].to_numpy()))  # x|y loses its tie
    pairs = pair_trends(real, broken)
    worst = worst_pairs(pairs)
    assert len(worst) == 5 and worst[0]["pair"] == "x|y"
    assert worst[0]["score"] < 0.6 and [w["score"] for w in worst] == sorted(
        w["score"] for w in worst)
    assert worst_numeric_pair(real, pairs) == ("x", "y")
    cat_broken = other.assign(group=rng.permutation(other["group"].to_numpy()))
    pairs = pair_trends(real, cat_broken)
    assert worst_pairs(pairs, k=1)[0]["pair"] == "w|group"
    assert worst_numeric_pair(real, pairs) == ("w", "group")
    only_cats = real[["group", "flag"]]
    assert worst_numeric_pair(only_cats, pair_trends(only_cats, only_cats)) is None


def test_scorecard_carries_top_features_and_worst_pairs(real: pd.DataFrame,
                                                        other: pd.DataFrame) -> None:
    card = tabular_scorecard(real.iloc[:400], real.iloc[400:],
                             other.assign(z=other["z"] * 4), detection_folds=5)
    assert card["detection_top_features"][0]["column"] == "z"
    assert len(card["detection_top_features"]) == 5 and len(card["worst_pairs"]) == 5
    assert set(card["worst_pairs"][0]) == {"pair", "score"}
    assert len(card["per_pair"]) == 15  # 6 columns


def classification_frame(n: int, seed: int, classes: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    cuts = np.quantile(x, np.linspace(0, 1, classes + 1)[1:-1])
    return pd.DataFrame({"x": x, "noise": rng.normal(0, 1, n),
                         "color": rng.choice(["red", "blue"], n),
                         "label": np.array(list("ABCDE"))[np.searchsorted(cuts, x)]})


@pytest.mark.parametrize("classes", [2, 3])
def test_utility_of_a_copy_and_of_shuffled_labels(classes: int) -> None:
    frame = classification_frame(800, 0, classes)
    train, holdout = frame.iloc[:600], frame.iloc[600:]
    copy = utility(train, holdout, train.assign(is_synthetic=True), "label")
    assert copy["metric"] == "auc" and copy["trtr"] > 0.95
    assert copy["tstr"] == copy["trtr"] and copy["ratio"] == 1.0  # same rows, same model
    rng = np.random.default_rng(1)
    shuffled = train.assign(label=rng.permutation(train["label"].to_numpy()))
    bad = utility(train, holdout, shuffled, "label")
    assert bad["tstr"] < 0.65 and bad["ratio"] < 0.7
    assert utility(train, holdout, train, "label", random_state=0) == copy  # deterministic


def test_utility_for_a_number_target_is_r2() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 800)
    frame = pd.DataFrame({"x": x, "kind": rng.choice(["p", "q"], 800),
                          "amount": 3.0 * x + rng.normal(0, 0.3, 800)})
    train, holdout = frame.iloc[:600], frame.iloc[600:]
    copy = utility(train, holdout, train, "amount")
    assert copy["metric"] == "r2" and copy["trtr"] > 0.9 and copy["ratio"] == 1.0
    shuffled = train.assign(amount=rng.permutation(train["amount"].to_numpy()))
    assert utility(train, holdout, shuffled, "amount")["tstr"] < 0.2
    constant = utility(train, holdout, train.assign(amount=1.0), "amount")
    assert constant["tstr"] < 0.0  # a constant synthetic target: a constant prediction


def test_utility_bad_input() -> None:
    frame = classification_frame(200, 0)
    train, holdout = frame.iloc[:150], frame.iloc[150:]
    with pytest.raises(DataValidationError, match=r"target column 'label' is missing from "
                                                  r"the synthetic rows\. Fix: pass a column"):
        utility(train, holdout, train.drop(columns="label"), "label")
    with pytest.raises(DataValidationError, match=r"'nope' is missing from the train rows"):
        utility(train, holdout, train, "nope")
    with pytest.raises(DataValidationError, match=r"'label' is constant \(or empty\) in the "
                                                  r"train rows\. Fix: pick a target"):
        utility(train.assign(label="A"), holdout, train, "label")
    with pytest.raises(DataValidationError, match=r"constant \(or empty\) in the holdout"):
        utility(train, holdout.assign(label=np.nan), train, "label")
    with pytest.raises(DataValidationError, match="no column besides the target"):
        utility(train[["label"]], holdout[["label"]], train[["label"]], "label")


def test_detection_reading_in_plain_words() -> None:
    assert detection_reading(0.52).startswith("hard to tell apart")
    assert detection_reading(0.7).startswith("somewhat")
    assert detection_reading(0.95).startswith("easily told apart")
    assert detection_reading(float("nan")).startswith("not measured")


@pytest.mark.parametrize("pair", [("x", "y"), ("w", "group"), None])
def test_report_shows_what_gives_rows_away(real: pd.DataFrame, other: pd.DataFrame,
                                           tmp_path: Path, pair) -> None:
    synth = other.assign(z=other["z"] + 3.0)
    card = tabular_scorecard(real.iloc[:400], real.iloc[400:], synth)
    sections = giveaway_sections(card, real.iloc[400:], synth, pair)
    path = write_generator_report(tmp_path / "r.html", title="t", scorecard=card,
                                  plots=sections, history=[], config={}, run_id="r1")
    page = path.read_text()
    assert "What gives synthetic rows away" in page and "Worst column pairs" in page
    assert "easily told apart" in page or "clearly distinguishable" in page
    worst = card["worst_pairs"][0]["pair"].replace("|", " vs ")
    assert "pair-trend score" in page and worst in page
    images = page.count('<img src="data:image/png;base64,')
    if pair is None:
        assert "Worst pair with a number" not in page and images == 1
    else:
        assert f"Worst pair with a number: {pair[0]} vs {pair[1]}" in page and images == 2
    assert "[{" not in page  # lists are shown as charts and tables, not as raw text
