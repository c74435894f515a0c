"""The pure steps-to-threshold helper (harness.verdict.steps_to_threshold): first crossing, censoring."""

import math

import pytest

from harness.verdict import steps_to_threshold


def test_first_crossing_is_returned():
    assert steps_to_threshold([100, 200, 300, 400], [10.0, 50.0, 40.0, 90.0], 50.0, 400) == 200.0


def test_never_reached_is_censored_past_the_budget_and_ranks_last():
    reached_last = steps_to_threshold([100, 200], [0.0, 60.0], 50.0, 200)
    never = steps_to_threshold([100, 200], [0.0, 40.0], 50.0, 200)
    assert never == 201.0 and never > reached_last == 200.0


def test_nan_after_divergence_never_reaches():
    assert steps_to_threshold([100, 200], [math.nan, math.nan], 0.0, 200) == 201.0
    assert steps_to_threshold([100, 200], [70.0, math.nan], 50.0, 200) == 100.0


def test_bad_input_says_how_to_fix():
    with pytest.raises(ValueError, match="one entry per evaluation"):
        steps_to_threshold([100], [1.0, 2.0], 0.0, 100)
    with pytest.raises(ValueError, match="budget"):
        steps_to_threshold([], [], 0.0, -1)
