"""Reading metric points: per-name series, downsampling, CSV rows and run comparison."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from backend.app.core.stats import time_to_accuracy, value_at
from backend.app.crud.errors import NotFound
from backend.app.models import MetricPoint, Run
from worker.schema.events import EPOCH_METRICS
from worker.schema.presets import all_presets

SeriesPoint = dict[str, Any]  # {"seq", "epoch", "step", "value", "time"}


def series(
    session: Session,
    run_id: int,
    names: Sequence[str] = (),
    since_seq: int = 0,
    max_points: int | None = None,
) -> dict[str, list[SeriesPoint]]:
    """Points per metric name, ordered by step; each series at most `max_points` long."""
    query = sa_select(
        col(MetricPoint.name),
        col(MetricPoint.seq),
        col(MetricPoint.epoch),
        col(MetricPoint.step),
        col(MetricPoint.value),
        col(MetricPoint.time),
    ).where(col(MetricPoint.run_id) == run_id)
    if names:
        query = query.where(col(MetricPoint.name).in_(list(names)))
    if since_seq:
        query = query.where(col(MetricPoint.seq) > since_seq)
    query = query.order_by(col(MetricPoint.name), col(MetricPoint.step), col(MetricPoint.id))
    out: dict[str, list[SeriesPoint]] = defaultdict(list)
    for name, seq, epoch, step, value, time in session.execute(query):
        out[name].append({"seq": seq, "epoch": epoch, "step": step, "value": value, "time": time})
    if max_points is not None:
        return {name: downsample(points, max_points) for name, points in out.items()}
    return dict(out)


def downsample(points: list[SeriesPoint], max_points: int) -> list[SeriesPoint]:
    """At most `max_points` points keeping the shape: first, last, and each bucket's min/max.

    The series is cut into buckets of equal size; each contributes its first, last, lowest
    and highest point (in step order), so spikes and the overall range survive.
    """
    if len(points) <= max_points:
        return points
    buckets = max(1, max_points // 4)
    size = -(-len(points) // buckets)
    keep: set[int] = {0, len(points) - 1}
    for start in range(0, len(points), size):
        indices = range(start, min(start + size, len(points)))
        valued = [i for i in indices if points[i]["value"] is not None]
        keep.update((indices[0], indices[-1]))
        if valued:
            keep.add(min(valued, key=lambda i: points[i]["value"]))
            keep.add(max(valued, key=lambda i: points[i]["value"]))
    return [points[i] for i in sorted(keep)][: max(max_points, 2)]


def csv_rows(session: Session, run_id: int) -> Iterator[tuple[Any, ...]]:
    query = (
        sa_select(
            col(MetricPoint.seq),
            col(MetricPoint.epoch),
            col(MetricPoint.step),
            col(MetricPoint.name),
            col(MetricPoint.value),
            col(MetricPoint.time),
        )
        .where(col(MetricPoint.run_id) == run_id)
        .order_by(col(MetricPoint.seq), col(MetricPoint.id))
    )
    for row in session.execute(query):
        yield tuple(row)


def _epoch_series(session: Session, run_ids: Sequence[int]) -> dict[int, dict[str, dict[int, Any]]]:
    """run -> metric -> epoch -> value, for the per-epoch metrics only."""
    query = select(
        MetricPoint.run_id, MetricPoint.name, MetricPoint.epoch, MetricPoint.value
    ).where(col(MetricPoint.run_id).in_(list(run_ids)), col(MetricPoint.name).in_(EPOCH_METRICS))
    table: dict[int, dict[str, dict[int, Any]]] = {i: defaultdict(dict) for i in run_ids}
    for run_id, name, epoch, value in session.exec(query):
        table[run_id][name][epoch] = value
    return table


def config_diff(configs: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """Only the config fields whose values are not all equal, one value per run."""
    fields = sorted({key for config in configs for key in config})
    return {
        key: [config.get(key) for config in configs]
        for key in fields
        if len({repr(config.get(key)) for config in configs}) > 1
    }


def _extras(
    run: Run, series: dict[str, list[Any]], threshold: float | None, epoch: int | None
) -> dict[str, Any]:
    """Time to `threshold` (default: the report's final accuracy of the run's point) and
    the test accuracy at `epoch` when asked."""
    if threshold is None:
        point = all_presets().get(run.preset or "")
        final = point.reference.final_accuracy if point else None
        threshold = None if final is None else final / 100
    accuracy = series["test_acc"]
    tta = time_to_accuracy(accuracy, series["epoch_seconds"], threshold)
    at = None if epoch is None else value_at(accuracy, "epoch", epoch)
    return {"time_to_accuracy": tta.model_dump(), "test_acc_at_epoch": at}


def compare(
    session: Session,
    run_ids: Sequence[int],
    threshold: float | None = None,
    epoch: int | None = None,
) -> dict[str, Any]:
    # `result` (confusion matrices, tens of kB a run) is not compared: leave it unread.
    query = select(Run).where(col(Run.id).in_(run_ids)).options(defer(Run.result))  # type: ignore[arg-type]
    runs = {run.id: run for run in session.exec(query)}
    missing = [i for i in run_ids if i not in runs]
    if missing:
        raise NotFound(f"runs {', '.join(map(str, missing))} do not exist")
    ordered = [runs[i] for i in run_ids]
    table = _epoch_series(session, run_ids)
    last_epoch = max((max(s, default=0) for t in table.values() for s in t.values()), default=0)
    epochs = list(range(1, last_epoch + 1))
    presets = all_presets()
    references = {
        run.preset: presets[run.preset].to_dict()["reference"]
        for run in ordered
        if run.preset in presets
    }
    series = {
        run.id: {
            name: [table[run.id][name].get(epoch) for epoch in epochs] for name in EPOCH_METRICS
        }
        for run in ordered
        if run.id is not None
    }
    return {
        "epochs": epochs,
        "runs": [
            {
                "id": run.id,
                "name": run.name,
                "preset": run.preset,
                "group_id": run.group_id,
                "status": run.status,
                "summary": {
                    "final_test_acc": run.final_test_acc,
                    "best_test_acc": run.best_test_acc,
                    "final_train_loss": run.final_train_loss,
                    "final_test_loss": run.final_test_loss,
                    "duration_s": run.duration_s,
                    "images_per_second": run.images_per_second,
                    "parameters": run.parameters,
                    **_extras(run, series[run.id], threshold, epoch),
                },
                "series": series[run.id],
            }
            for run in ordered
            if run.id is not None
        ],
        "references": references,
        "config_diff": config_diff([run.config for run in ordered]),
    }
