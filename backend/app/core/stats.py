"""Replicate statistics, pure: summaries, per-epoch bands, time to accuracy, Welch's t CI.

No database here: crud/replicas.py and crud/report.py read the rows and call these. Standard
deviations are the sample's (ddof=1), the spread a replicate of the same config would show;
with one value it is None, not 0, so that no one reads "± 0" as "no seed noise".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel
from scipy import stats as scipy_stats

WITHIN_PP = 3.0  # a run reproduces the report when within this many percentage points
Verdict = Literal["within", "above", "below", "not_run"]


class Summary(BaseModel):
    """Mean, sample standard deviation, range and count of the values that were present."""

    mean: float | None
    std: float | None  # ddof=1; None below 2 values
    min: float | None
    max: float | None
    n: int


class TimeToAccuracy(BaseModel):
    """When test accuracy first reached `threshold` (a fraction): the 1-based epoch and the
    training seconds up to the end of that epoch; both None when it never did (or no
    threshold is known for the run)."""

    threshold: float | None
    epoch: int | None
    seconds: float | None


class Difference(BaseModel):
    """`a` minus `b` in percentage points, with Welch's 95% interval when both have n >= 2."""

    difference_pp: float | None
    ci_low_pp: float | None
    ci_high_pp: float | None
    n: int
    baseline_n: int


def present(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def summarize(values: Sequence[float | None]) -> Summary:
    kept = present(values)
    if not kept:
        return Summary(mean=None, std=None, min=None, max=None, n=0)
    array = np.asarray(kept, dtype=float)
    std = float(np.std(array, ddof=1)) if len(kept) >= 2 else None
    return Summary(
        mean=float(array.mean()), std=std, min=float(array.min()), max=float(array.max()),
        n=len(kept),
    )  # fmt: skip


def band(series: Sequence[Sequence[float | None]]) -> list[Summary]:
    """Per epoch (index) over runs: each run's series is one list, gaps as None, any length."""
    length = max((len(s) for s in series), default=0)
    return [summarize([s[i] if i < len(s) else None for s in series]) for i in range(length)]


def time_to_accuracy(
    test_acc: Sequence[float | None],
    epoch_seconds: Sequence[float | None],
    threshold: float | None,
) -> TimeToAccuracy:
    """Both series per epoch from epoch 1; a missing epoch's seconds count as 0."""
    if threshold is not None:
        elapsed = 0.0
        for index, accuracy in enumerate(test_acc):
            seconds = epoch_seconds[index] if index < len(epoch_seconds) else None
            elapsed += seconds or 0.0
            if accuracy is not None and accuracy >= threshold:
                return TimeToAccuracy(threshold=threshold, epoch=index + 1, seconds=elapsed)
    return TimeToAccuracy(threshold=threshold, epoch=None, seconds=None)


def welch(a: Sequence[float | None], b: Sequence[float | None]) -> Difference:
    """mean(a) - mean(b) in points (values are fractions 0..1) with Welch's t 95% CI."""
    left, right = present(a), present(b)
    if not left or not right:
        return Difference(
            difference_pp=None, ci_low_pp=None, ci_high_pp=None, n=len(left),
            baseline_n=len(right),
        )  # fmt: skip
    diff = 100 * (float(np.mean(left)) - float(np.mean(right)))
    low = high = None
    if len(left) >= 2 and len(right) >= 2 and max(np.var(left), np.var(right)) == 0:
        low = high = diff  # identical replicates: no spread, the interval is the point
    elif len(left) >= 2 and len(right) >= 2:
        result = scipy_stats.ttest_ind(left, right, equal_var=False)
        interval = result.confidence_interval(confidence_level=0.95)
        low = 100 * float(interval.low) if math.isfinite(interval.low) else diff
        high = 100 * float(interval.high) if math.isfinite(interval.high) else diff
    return Difference(
        difference_pp=diff, ci_low_pp=low, ci_high_pp=high, n=len(left), baseline_n=len(right)
    )


def verdict(accuracy: float | None, reference_pct: float | None) -> Verdict | None:
    """`accuracy` (a fraction) against the report's figure (whole percent); None when the
    report gives no figure for the point."""
    if reference_pct is None:
        return None
    if accuracy is None:
        return "not_run"
    difference = round(100 * accuracy - reference_pct, 9)  # 0.26 -> 26.000000000000004
    if abs(difference) <= WITHIN_PP:
        return "within"
    return "above" if difference > 0 else "below"


def value_at(
    test_acc: Sequence[float | None], mode: Literal["best", "final", "epoch"], epoch: int = 1
) -> float | None:
    """A run's representative test accuracy: its best, its last, or the one at `epoch`."""
    kept = present(test_acc)
    if mode == "best":
        return max(kept) if kept else None
    if mode == "final":
        return next((v for v in reversed(test_acc) if v is not None), None)
    return test_acc[epoch - 1] if 1 <= epoch <= len(test_acc) else None
