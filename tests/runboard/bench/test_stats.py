"""The benchmarks' one percentile: nearest rank, always a measured value."""

from __future__ import annotations

import pytest

from runboard.bench.stats import percentile, summary


def test_p95_is_the_nearest_rank_sample() -> None:
    samples = list(range(1, 101))  # 1..100 ms
    assert percentile(samples, 95) == 95  # 95 of 100 samples are at or below it
    assert percentile(samples, 99) == 99 and percentile(samples, 100) == 100
    assert percentile([3.0, 1.0, 2.0], 95) == 3.0  # few samples: the largest, never between
    assert percentile([5.0], 95) == 5.0
    assert percentile(list(range(1, 21)), 95) == 19  # ceil(0.95 * 20) = the 19th


def test_summary_of_a_sample_and_what_it_refuses() -> None:
    assert summary([4.0, 1.0, 3.0, 2.0]) == {"count": 4, "median": 2.5, "p95": 4.0, "max": 4.0}
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 95)
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0], 0)
