"""Apply a worker's event batch to its run: metric points, progress, status, summary.

Idempotent by sequence number: events at or below the run's `last_seq` were applied
before and are skipped, so a batch retried after a lost reply stores nothing twice.
"""

from __future__ import annotations

import math
from datetime import timedelta
from math import isfinite
from typing import Any, Final

from sqlalchemy import delete, func, insert
from sqlmodel import Session, col, select

from backend.app.crud.errors import Conflict
from backend.app.crud.stream import add_event, run_snapshot
from backend.app.ingest import (
    BatchesEvent,
    BatchEvent,
    EpochEvent,
    FailedEvent,
    FinishedEvent,
    HeartbeatEvent,
    IngestBatch,
    IngestReply,
    ReleasedEvent,
    StartedEvent,
    StatusEvent,
    finite,
)
from backend.app.models import FINISHED, ClaimReply, MetricPoint, Run, RunStatus, utcnow
from worker.schema.events import EPOCH_METRICS, SERIES_COLUMNS

WORKER_LOST = "worker lost"
# Result fields kept in run.result (history and config are stored elsewhere already).
RESULT_FIELDS = (
    "per_class_accuracy", "confusion", "confusion_coarse", "classes", "coarse_classes",
    "dataset", "device_name", "precision", "versions", "total_seconds", "epochs_completed",
    "resumed_from_epoch",
)  # fmt: skip


# A metric point on its way in, as a row of POINT_COLUMNS: a tuple rather than a dict, since
# ingest builds one per reported step and the driver takes tuples as they are.
POINT_COLUMNS = ("run_id", "seq", "epoch", "step", "name", "value", "time")
Point = tuple[int, int, int, int, str, float | None, float]
EPOCH: Final = 2  # POINT_COLUMNS.index("epoch"), as a literal so that types follow
NAME: Final = 4
assert POINT_COLUMNS[EPOCH] == "epoch" and POINT_COLUMNS[NAME] == "name"


def _revivable(run: Run) -> bool:
    """A run failed only because its worker went quiet may be resumed by a new worker."""
    return run.status == RunStatus.failed and (run.error or "").startswith(WORKER_LOST)


def ingest(session: Session, run: Run, batch: IngestBatch) -> IngestReply:
    if batch.attempt is not None and batch.attempt != run.attempts:
        # A newer claim took the run over (its worker was presumed lost): fence this one out.
        raise Conflict(f"attempt {batch.attempt} was superseded by attempt {run.attempts}")
    new = [event for event in batch.events if event.seq > run.last_seq]
    if new and new[0].seq != run.last_seq + 1:
        raise Conflict(f"gap in sequence numbers: expected {run.last_seq + 1}, got {new[0].seq}")
    if new and run.status in FINISHED and not _revivable(run):
        raise Conflict(f"run {run.id} is {run.status}; it takes no more events")
    if new and _revivable(run):
        _set_running(session, run)  # its worker was only quiet: any new event revives the run
    assert run.id is not None
    points: list[Point] = []
    # Batch events are most of the traffic (one per reported step): their point is built
    # here and the run's progress is set once per run of them, not per event, since each
    # attribute set on the ORM object costs ~10 us (x3 per event made ingest CPU-bound).
    progress: tuple[int, int] | None = None  # (epoch, step) of the latest batch event
    for event in new:
        if isinstance(event, BatchesEvent):
            columns, seq, run_id = event.data, event.seq, run.id
            progress = columns.epoch[-1], columns.step[-1]
            points += [
                (run_id, seq, epoch, step, "batch_loss", loss if isfinite(loss) else None, when)
                for epoch, step, loss, when in zip(
                    columns.epoch, columns.global_step, columns.loss, columns.time, strict=True
                )
            ]
            continue
        if isinstance(event, BatchEvent):
            data = event.data
            progress = data.epoch, data.step
            points.append(
                _point(run.id, event, data.epoch, data.global_step, "batch_loss", data.loss)
            )
            continue
        if progress is not None:
            run.epoch, run.step = progress
            progress = None
        if isinstance(event, FinishedEvent):
            _recover_epochs(session, run, event, points)
        if isinstance(event, FinishedEvent | FailedEvent | ReleasedEvent):
            _store_points(session, run, points)  # streams show the metrics before the end
        _apply(session, run, event, points)
    if progress is not None:
        run.epoch, run.step = progress
    if new:
        run.last_seq = new[-1].seq
        run.heartbeat_at = utcnow()
    _store_points(session, run, points)
    if new:
        session.add(run)
        add_event(session, run, "progress", run_snapshot(run))
    return IngestReply(
        accepted_through=run.last_seq, cancel_requested=run.cancel_requested, status=run.status
    )


def _store_points(session: Session, run: Run, points: list[Point]) -> None:
    """Insert the pending points and announce them on the run's stream; empties `points`."""
    if not points:
        return
    _insert_points(session, points)
    add_event(session, run, "metrics", {"run_id": run.id, "series": _series_columns(points)})
    points.clear()


def _series_columns(points: list[Point]) -> dict[str, dict[str, list[Any]]]:
    """The points as columns per metric name (worker.schema.events.SERIES_COLUMNS): a
    1,000-point batch encodes to a third of the JSON of one object per point, in a tenth
    of the time, for the log and for every client of the stream."""
    series: dict[str, dict[str, list[Any]]] = {}
    for _, seq, epoch, step, name, value, when in points:
        columns = series.get(name)
        if columns is None:
            columns = series[name] = {key: [] for key in SERIES_COLUMNS}
        columns["seq"].append(seq)
        columns["epoch"].append(epoch)
        columns["step"].append(step)
        columns["value"].append(value)
        columns["time"].append(when)
    return series


def _insert_points(session: Session, points: list[Point]) -> None:
    """Bulk insert through the driver: COPY on PostgreSQL, one executemany on SQLite.

    SQLAlchemy's executemany builds and processes a parameter set per row, which was about
    half of a 1,000-point batch's database time (`runboard bench api`); the driver paths
    take plain tuples. Other databases get SQLAlchemy's Core insert.
    """
    connection = session.connection()
    rows = points  # already tuples in POINT_COLUMNS order
    columns = ", ".join(POINT_COLUMNS)
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection  # psycopg 3, in this transaction
        assert driver is not None
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY metric_point ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    elif connection.dialect.name == "sqlite":
        marks = ", ".join("?" * len(POINT_COLUMNS))
        sql = f"INSERT INTO metric_point ({columns}) VALUES ({marks})"
        connection.exec_driver_sql(sql, rows)
    else:
        mappings = [dict(zip(POINT_COLUMNS, point, strict=True)) for point in points]
        session.execute(insert(MetricPoint.__table__), mappings)  # type: ignore[attr-defined]


def _recover_epochs(session: Session, run: Run, event: FinishedEvent, points: list[Point]) -> None:
    """Adds the epochs of the finished run's history that never arrived, once each.

    A worker killed after an epoch's checkpoint but before sending that epoch (say, while the
    API was down) takes the epoch's events with it; the next attempt resumes after it."""
    assert run.id is not None
    stored = select(MetricPoint.epoch).where(
        col(MetricPoint.run_id) == run.id, col(MetricPoint.name) != "batch_loss"
    )
    have = set(session.exec(stored.distinct()).all())
    have |= {point[EPOCH] for point in points if point[NAME] != "batch_loss"}
    history = event.data.result.get("history")
    for entry in history if isinstance(history, list) else []:
        number = entry.get("epoch") if isinstance(entry, dict) else None
        if not isinstance(number, int | float) or not 1 <= number <= run.epochs:
            continue
        epoch = int(number)
        if epoch in have:
            continue
        have.add(epoch)
        for name in EPOCH_METRICS:
            value = entry.get(name, "missing")
            value = math.nan if value is None else value  # NaN arrives as None (JSON)
            if isinstance(value, int | float):
                points.append(_point(run.id, event, epoch, epoch, name, float(value)))


def _set_running(session: Session, run: Run) -> None:
    if run.status != RunStatus.running:
        run.status = RunStatus.running
        run.error = run.traceback = None
        run.finished_at = None
        run.started_at = run.started_at or utcnow()
        add_event(session, run, "status", run_snapshot(run))


def _apply(session: Session, run: Run, event: Any, points: list[Point]) -> None:
    assert run.id is not None
    if isinstance(event, HeartbeatEvent):
        return
    if isinstance(event, StatusEvent):
        run.worker_host = event.data.worker_host or run.worker_host
        _set_running(session, run)
    elif isinstance(event, StartedEvent):
        data = event.data
        run.epochs, run.steps_per_epoch = data.epochs, data.steps_per_epoch
        run.device = f"{data.device_name} ({data.device})"[:255]  # the column's length
        run.parameters = data.parameters
        run.epoch, run.step = data.start_epoch - 1, 0
        # A resumed attempt re-sends everything from its first epoch: drop the partial epoch
        # an earlier attempt reported, so that each epoch's points exist exactly once.
        stale = col(MetricPoint.run_id) == run.id, col(MetricPoint.epoch) >= data.start_epoch
        session.execute(delete(MetricPoint).where(*stale))
        points[:] = [point for point in points if point[EPOCH] < data.start_epoch]
        kept_best = session.exec(
            select(func.max(MetricPoint.value)).where(
                col(MetricPoint.run_id) == run.id, col(MetricPoint.name) == "test_acc"
            )
        ).one()
        run.best_test_acc = kept_best  # without the dropped epochs' accuracies
        _set_running(session, run)
    elif isinstance(event, EpochEvent):
        _apply_epoch(run, event, points)
    elif isinstance(event, FinishedEvent):
        result = event.data.result
        run.status = event.data.status
        run.finished_at = utcnow()
        run.duration_s = result.get("total_seconds", run.duration_s)
        run.parameters = result.get("parameters", run.parameters)
        run.result = {key: result[key] for key in RESULT_FIELDS if key in result}
        add_event(session, run, "status", run_snapshot(run))
    elif isinstance(event, ReleasedEvent):
        run.status = RunStatus.queued
        run.worker_host = None
        add_event(session, run, "status", run_snapshot(run))
    elif isinstance(event, FailedEvent):
        run.status = RunStatus.failed
        run.error, run.traceback = event.data.error, event.data.traceback
        run.finished_at = utcnow()
        add_event(session, run, "status", run_snapshot(run))


def _point(run_id: int, event: Any, epoch: int, step: int, name: str, value: float) -> Point:
    return (run_id, event.seq, epoch, step, name, finite(value), event.time)


def _apply_epoch(run: Run, event: EpochEvent, points: list[Point]) -> None:
    assert run.id is not None
    epoch, metrics = event.data.epoch, event.data.metrics
    # Drop this epoch's points from earlier in the same batch (a restarted epoch).
    points[:] = [p for p in points if not (p[EPOCH] == epoch and p[NAME] != "batch_loss")]
    for name, value in metrics.items():
        points.append(_point(run.id, event, epoch, epoch, name, value))
    run.epoch = epoch
    run.step = run.steps_per_epoch or run.step
    if "test_acc" in metrics:
        run.final_test_acc = finite(metrics["test_acc"])
        if run.final_test_acc is not None:
            run.best_test_acc = max(run.best_test_acc or 0.0, run.final_test_acc)
    if "train_loss" in metrics:
        run.final_train_loss = finite(metrics["train_loss"])
    if "test_loss" in metrics:
        run.final_test_loss = finite(metrics["test_loss"])
    if "images_per_second" in metrics:
        run.images_per_second = finite(metrics["images_per_second"])


def claim(session: Session, run: Run, worker_host: str, timeout_s: float) -> ClaimReply:
    """A worker takes the run: queued, lost or silent runs can be taken; live ones cannot.

    This is what keeps a run from training twice when a broker redelivers its task.
    """
    now = utcnow()
    alive = run.heartbeat_at is not None and run.heartbeat_at > now - timedelta(seconds=timeout_s)
    if run.status == RunStatus.running and alive and run.worker_host != worker_host:
        raise Conflict(f"run {run.id} is running on {run.worker_host}")
    if run.status in FINISHED and not _revivable(run):
        raise Conflict(f"run {run.id} is {run.status}; there is nothing to train")
    run.worker_host = worker_host
    run.heartbeat_at = now
    run.attempts += 1
    _set_running(session, run)
    session.add(run)
    add_event(session, run, "progress", run_snapshot(run))
    return ClaimReply(
        next_seq=run.last_seq + 1, attempt=run.attempts, cancel_requested=run.cancel_requested
    )


def mark_lost_runs(session: Session, timeout_s: float) -> list[Run]:
    """Fail running runs whose worker has been silent for `timeout_s` seconds."""
    cutoff = utcnow() - timedelta(seconds=timeout_s)
    silent = session.exec(
        select(Run).where(Run.status == RunStatus.running, col(Run.heartbeat_at) < cutoff)
    ).all()
    for run in silent:
        run.status = RunStatus.failed
        run.error = f"{WORKER_LOST}: no heartbeat for {timeout_s:g} s"
        run.finished_at = utcnow()
        session.add(run)
        add_event(session, run, "status", run_snapshot(run))
    return list(silent)
