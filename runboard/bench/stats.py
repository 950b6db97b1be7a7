"""The benchmarks' one summary of a sample: count, median, p95 (or any percentile), max."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least `q` percent of the
    samples at or below it. Always a measured value (never interpolated), and never below
    the true share: 95 of 100 requests took at most the p95."""
    if not values:
        raise ValueError("percentile of no samples")
    if not 0 < q <= 100:
        raise ValueError(f"q must be in (0, 100], got {q}")
    ordered = sorted(values)
    return ordered[math.ceil(q / 100 * len(ordered)) - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    """count, median, p95 and max of a non-empty sample (same unit as the values)."""
    return {
        "count": len(values),
        "median": statistics.median(values),
        "p95": percentile(values, 95),
        "max": max(values),
    }
