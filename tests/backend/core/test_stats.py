"""The replicate statistics against values worked out by hand (derivations in comments)."""

from __future__ import annotations

import math

import pytest

from backend.app.core.stats import (
    band,
    summarize,
    time_to_accuracy,
    value_at,
    verdict,
    welch,
)


def test_a_summary_is_the_mean_the_sample_std_the_range_and_the_count() -> None:
    # mean (0.30 + 0.32 + 0.34) / 3 = 0.32; squares 0.0004 + 0 + 0.0004 over n-1 = 2: 0.0004
    s = summarize([0.30, 0.32, None, 0.34])
    assert s.mean == pytest.approx(0.32) and s.std == pytest.approx(0.02)
    assert (s.min, s.max, s.n) == (pytest.approx(0.30), pytest.approx(0.34), 3)
    one = summarize([0.5])
    assert (one.mean, one.std, one.n) == (0.5, None, 1)  # one value: no spread, not 0
    none = summarize([None, float("nan")])
    assert (none.mean, none.std, none.n) == (None, None, 0)


def test_a_band_summarises_each_epoch_over_the_runs_that_reached_it() -> None:
    epochs = band([[0.1, 0.2], [0.3, None, 0.5]])
    assert [e.n for e in epochs] == [2, 1, 1]
    # epoch 1: mean 0.2, deviations -0.1 and 0.1: sqrt(0.02 / 1) = 0.141421...
    assert epochs[0].mean == pytest.approx(0.2)
    assert epochs[0].std == pytest.approx(math.sqrt(0.02))
    assert (epochs[0].min, epochs[0].max) == (0.1, 0.3)
    assert (epochs[1].mean, epochs[1].std, epochs[2].mean) == (0.2, None, 0.5)
    assert band([]) == []


def test_time_to_accuracy_is_the_first_epoch_at_the_threshold_and_the_seconds_up_to_it() -> None:
    accuracy, seconds = [0.1, 0.25, 0.3, 0.2], [10.0, 12.0, 11.0, 9.0]
    reached = time_to_accuracy(accuracy, seconds, 0.25)
    assert (reached.epoch, reached.seconds) == (2, 22.0)  # 10 + 12, ">=" counts
    later = time_to_accuracy(accuracy, seconds, 0.26)
    assert (later.epoch, later.seconds) == (3, 33.0)
    never = time_to_accuracy(accuracy, seconds, 0.31)
    assert (never.threshold, never.epoch, never.seconds) == (0.31, None, None)
    assert time_to_accuracy(accuracy, seconds, None).epoch is None
    gap = time_to_accuracy([None, 0.4], [None, 5.0], 0.3)  # a missing epoch counts 0 s
    assert (gap.epoch, gap.seconds) == (2, 5.0)


def test_welch_interval_matches_the_hand_computed_one() -> None:
    # a: mean 0.42, var 0.0004; b: mean 0.32, var (0.0004 + 0.0001 + 0.0009) / 2 = 0.0007.
    # se = sqrt(0.0004/3 + 0.0007/3) = 0.0191485; Welch-Satterthwaite df = se^4 /
    # ((0.0004/3)^2/2 + (0.0007/3)^2/2) = 3.72308; t(0.975, 3.72308) = 2.85982 (tables:
    # 3.182 at 3, 2.776 at 4). Interval in points: 10 -+ 100 * 2.85982 * 0.0191485.
    d = welch([0.40, 0.42, 0.44], [0.30, 0.31, 0.35])
    assert d.difference_pp == pytest.approx(10.0)
    assert d.ci_low_pp == pytest.approx(4.52387, abs=1e-4)
    assert d.ci_high_pp == pytest.approx(15.47613, abs=1e-4)
    assert (d.n, d.baseline_n) == (3, 3)


def test_welch_gives_no_interval_below_two_values_a_side_and_a_point_without_spread() -> None:
    single = welch([0.40], [0.30, 0.32])
    assert single.difference_pp == pytest.approx(9.0) and single.ci_low_pp is None
    assert welch([], [0.3]).difference_pp is None
    flat = welch([0.4, 0.4], [0.3, 0.3])  # no variance: the interval is the difference
    assert (flat.ci_low_pp, flat.ci_high_pp) == (pytest.approx(10.0), pytest.approx(10.0))


def test_the_verdict_is_within_three_points_above_below_or_not_run() -> None:
    assert verdict(0.26, 29) == "within"  # -3 pp exactly, whatever 100 * 0.26 rounds to
    assert verdict(0.2599, 29) == "below"
    assert verdict(0.32, 29) == "within" and verdict(0.3201, 29) == "above"
    assert verdict(None, 29) == "not_run" and verdict(0.3, None) is None


def test_the_representative_value_is_the_best_the_final_or_the_one_at_an_epoch() -> None:
    accuracy = [0.1, 0.4, 0.3, None]
    assert value_at(accuracy, "best") == 0.4
    assert value_at(accuracy, "final") == 0.3  # the last measured
    assert value_at(accuracy, "epoch", 3) == 0.3 and value_at(accuracy, "epoch", 9) is None
