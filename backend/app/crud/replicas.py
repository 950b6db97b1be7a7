"""Replicates read from the database: per-epoch series, a group's bands, the difference of
two groups with its interval, and time to accuracy for listed or compared runs."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from sqlmodel import Session

from backend.app.core.stats import (
    Difference,
    Summary,
    TimeToAccuracy,
    band,
    summarize,
    time_to_accuracy,
    value_at,
    welch,
)
from backend.app.crud.errors import Conflict
from backend.app.crud.metrics import _epoch_series
from backend.app.crud.runs import get_group
from backend.app.models import Run, RunPublic
from worker.schema.events import EPOCH_METRICS
from worker.schema.presets import all_presets
from worker.schema.status import RunStatus

EpochLists = dict[str, list[float | None]]  # metric -> value per epoch from epoch 1


class MetricBand(BaseModel):
    """One metric of a group, per epoch: the members' mean, sample std, range and count."""

    mean: list[float | None]
    std: list[float | None]
    min: list[float | None]
    max: list[float | None]
    n: list[int]


class GroupSeries(BaseModel):
    group_id: int
    name: str
    epochs: list[int]
    runs: list[RunPublic]
    metrics: dict[str, MetricBand]
    best_test_acc: Summary  # over the finished (succeeded) members
    final_test_acc: Summary


def epoch_lists(session: Session, run_ids: Sequence[int]) -> dict[int, EpochLists]:
    """run -> metric -> values of epochs 1..last (None where an epoch has no point)."""
    table = _epoch_series(session, list(run_ids))
    out: dict[int, EpochLists] = {}
    for run_id, metrics in table.items():
        last = max((max(values, default=0) for values in metrics.values()), default=0)
        out[run_id] = {
            name: [metrics.get(name, {}).get(epoch) for epoch in range(1, last + 1)]
            for name in EPOCH_METRICS
        }
    return out


def report_threshold(preset: str | None) -> float | None:
    """The report's final test accuracy of the run's point, as a fraction; None if unknown."""
    point = all_presets().get(preset or "")
    final = point.reference.final_accuracy if point else None
    return None if final is None else final / 100


def run_extras(
    session: Session, runs: Sequence[Run], threshold: float | None, epoch: int | None
) -> dict[int, tuple[TimeToAccuracy, float | None]]:
    """Per run: time to `threshold` (default: its point's report figure) and the test
    accuracy at `epoch` (None unless asked)."""
    ids = [run.id for run in runs if run.id is not None]
    lists = epoch_lists(session, ids) if ids else {}
    extras = {}
    for run in runs:
        assert run.id is not None
        series = lists.get(run.id, {})
        accuracy = series.get("test_acc", [])
        wanted = threshold if threshold is not None else report_threshold(run.preset)
        tta = time_to_accuracy(accuracy, series.get("epoch_seconds", []), wanted)
        extras[run.id] = (tta, None if epoch is None else value_at(accuracy, "epoch", epoch))
    return extras


def group_series(session: Session, group_id: int) -> GroupSeries:
    group, runs = get_group(session, group_id)
    assert group.id is not None
    lists = epoch_lists(session, [run.id for run in runs if run.id is not None])
    counted = [lists[run.id] for run in runs if run.id is not None and run.status != "failed"]
    metrics = {}
    for name in EPOCH_METRICS:
        summaries = band([series[name] for series in counted])
        metrics[name] = MetricBand(
            mean=[s.mean for s in summaries],
            std=[s.std for s in summaries],
            min=[s.min for s in summaries],
            max=[s.max for s in summaries],
            n=[s.n for s in summaries],
        )
    done = [run for run in runs if run.status == RunStatus.succeeded]
    return GroupSeries(
        group_id=group.id,
        name=group.name,
        epochs=list(range(1, len(metrics["test_acc"].n) + 1)),
        runs=[RunPublic.model_validate(run) for run in runs],
        metrics=metrics,
        best_test_acc=summarize([run.best_test_acc for run in done]),
        final_test_acc=summarize([run.final_test_acc for run in done]),
    )


def _finished_finals(session: Session, group_id: int, field: str) -> list[float | None]:
    _, runs = get_group(session, group_id)
    finals = [run.final_test_acc for run in runs if run.status == RunStatus.succeeded]
    if len([value for value in finals if value is not None]) < 2:
        raise Conflict(
            f"{field}: group {group_id} has {len(finals)} finished run(s); a confidence "
            "interval needs at least 2"
        )
    return finals


def group_difference(session: Session, group_id: int, baseline: int) -> Difference:
    """Final test accuracy of `group_id` minus `baseline`'s, with Welch's 95% interval."""
    mine = _finished_finals(session, group_id, "group_id")
    theirs = _finished_finals(session, baseline, "baseline")
    return welch(mine, theirs)
