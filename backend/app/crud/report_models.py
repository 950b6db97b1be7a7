"""The report card's API shapes: one row per homework point, against the report's figures.

Accuracies of runs are fractions 0..1 as everywhere in the API; the report's own figures are
whole percent (`*_pct`) as it prints them; differences are percentage points (`*_pp`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from backend.app.core.stats import Summary, Verdict

# Each point's change is measured against the point it modifies (the homework's order).
PARENTS = {
    "2": "1", "3a": "2", "3b": "2", "3c": "2", "4a": "3a", "4b": "4a", "4c": "4a",
    "5a": "3a", "5b": "3a", "free": "4a",
}  # fmt: skip


class ReportReference(BaseModel):
    final_accuracy_pct: float | None
    final_train_loss: float | None
    training_seconds: float | None  # the report's minutes, in seconds
    accuracy_pct: list[float | None] | None  # per epoch; None: the report has no curve
    train_loss: list[float | None] | None


class Representative(BaseModel):
    kind: Literal["run", "group"]
    id: int
    name: str
    dataset: str  # "cifar100", or the synthetic set's name: such rows are labelled
    pinned: bool  # False: chosen by default (the best finished run or group of the point)
    run_ids: list[int]
    counted_ids: list[int]  # the runs behind the figures: the finished ones when any


class TimeToReport(BaseModel):
    """When test accuracy first reached the report's final accuracy, over counted runs."""

    threshold: float | None  # a fraction
    reached: int  # how many counted runs reached it
    epochs: Summary
    seconds: Summary


class Effect(BaseModel):
    """This point's final test accuracy minus its parent point's, in points, with Welch's
    95% interval when both sides are groups of at least 2 finished runs."""

    against: str
    difference_pp: float | None
    ci_low_pp: float | None
    ci_high_pp: float | None
    n: int
    baseline_n: int


class ReportCurve(BaseModel):
    test_acc: list[float | None]  # the counted runs' mean per epoch, fractions
    train_loss: list[float | None]


class ReportRow(BaseModel):
    point: str
    title: str
    reference: ReportReference
    representative: Representative | None
    final_test_acc: Summary
    best_test_acc: Summary
    final_train_loss: Summary
    training_seconds: Summary
    images_per_second: Summary
    difference_pp: float | None  # final test accuracy (mean) minus the report's
    verdict: Verdict | None  # None: the report gives no final accuracy for the point
    time_to_report: TimeToReport
    effect: Effect | None
    curve: ReportCurve


class ReportCard(BaseModel):
    within_pp: float
    rows: list[ReportRow]
