"""ProfileEncoder (the basket generator's profile input) on a table with a known encoding.
(TabularEncoder's tests sit with the tabular generators in test_tabular.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from augment.baskets.encoding import ProfileEncoder
from features.errors import DataValidationError


def test_standardised_numbers_and_one_hot_categories_with_an_other_slot() -> None:
    frame = pd.DataFrame({"age": [20.0, 40.0, np.nan, 30.0],
                          "city": ["b", "a", None, "c"], "vip": [True, False, True, True]})
    enc = ProfileEncoder(max_categories=2, jitter_min_levels=3).fit(frame)
    age, city, vip = enc.columns_
    assert (age.kind, city.kind, vip.kind) == ("numeric", "categorical", "categorical")
    assert age.mean == 30.0 and age.integer and age.jitter and (age.lo, age.hi) == (20.0, 40.0)
    assert city.levels == ("a", "b")  # two most frequent (ties by order), sorted
    assert vip.levels == ("False", "True")  # booleans are categories, not numbers
    assert enc.width == 1 + 3 + 3
    x = enc.transform(enc.values_, len(frame))
    assert x.dtype == np.float32 and x.shape == (4, 7)
    np.testing.assert_allclose(x[:, 0], [-10 / age.std, 10 / age.std, 0.0, 0.0])
    np.testing.assert_array_equal(x[:, 1:4], [[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1]])
    np.testing.assert_array_equal(enc.one_hot_mask(), [False] + [True] * 6)
    again = ProfileEncoder.from_columns(enc.columns_)
    np.testing.assert_array_equal(again.transform(enc.values_, 4), x)


def test_a_numeric_column_without_numbers_is_refused() -> None:
    with pytest.raises(DataValidationError, match=r"users.score holds no numbers"):
        ProfileEncoder().fit(pd.DataFrame({"score": [np.nan, np.nan]}))
