"""Apply a worker's event batch to its run: metric points, progress, status, summary.

Idempotent by sequence number: events at or below the run's `last_seq` were applied
before and are skipped, so a batch retried after a lost reply stores nothing twice.
"""

from __future__ import annotations

from math import isfinite
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from backend.app.crud.errors import Conflict
from backend.app.crud.points import EPOCH, NAME, PointRow, point_row, store_points
from backend.app.crud.recovery import recover_epochs, recover_steps
from backend.app.crud.status import revivable, set_running, set_status
from backend.app.crud.stream import add_event, run_snapshot
from backend.app.models import MetricPoint, Run, utcnow
from worker.schema.events import STORED_RESULT_FIELDS, finite
from worker.schema.messages import (
    BatchesEvent,
    BatchEvent,
    EpochEvent,
    FailedEvent,
    FinishedEvent,
    HeartbeatEvent,
    IngestBatch,
    IngestReply,
    RecoveredBatchesEvent,
    ReleasedEvent,
    ResourcesEvent,
    StartedEvent,
    StatusEvent,
)
from worker.schema.status import FINISHED, FailureReason, RunStatus


def ingest(session: Session, run: Run, batch: IngestBatch) -> IngestReply:
    if batch.attempt is not None and batch.attempt != run.attempts:
        # A newer claim took the run over (its worker was presumed lost): fence this one out.
        raise Conflict(f"attempt {batch.attempt} was superseded by attempt {run.attempts}")
    new = [event for event in batch.events if event.seq > run.last_seq]
    if new and new[0].seq != run.last_seq + 1:
        raise Conflict(f"gap in sequence numbers: expected {run.last_seq + 1}, got {new[0].seq}")
    if new and run.status in FINISHED and not revivable(run):
        raise Conflict(f"run {run.id} is {run.status}; it takes no more events")
    if new and revivable(run):
        set_running(session, run)  # its worker was only quiet: any new event revives the run
    assert run.id is not None
    points: list[PointRow] = []
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
                point_row(run.id, event, data.epoch, data.global_step, "batch_loss", data.loss)
            )
            continue
        if progress is not None:
            run.epoch, run.step = progress
            progress = None
        if isinstance(event, FinishedEvent):
            recover_epochs(session, run, event, points)
        if isinstance(event, FinishedEvent | FailedEvent | ReleasedEvent):
            store_points(session, run, points)  # streams show the metrics before the end
        _apply(session, run, event, points)
    if progress is not None:
        run.epoch, run.step = progress
    if new:
        run.last_seq = new[-1].seq
        run.heartbeat_at = utcnow()
    store_points(session, run, points)
    if new:
        session.add(run)
        add_event(session, run, "progress", run_snapshot(run))
    return IngestReply(
        accepted_through=run.last_seq, cancel_requested=run.cancel_requested, status=run.status
    )


def _apply(session: Session, run: Run, event: Any, points: list[PointRow]) -> None:
    assert run.id is not None
    if isinstance(event, HeartbeatEvent):
        return
    if isinstance(event, StatusEvent):
        run.worker_host = event.data.worker_host or run.worker_host
        set_running(session, run)
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
        set_running(session, run)
    elif isinstance(event, RecoveredBatchesEvent):
        recover_steps(session, run, event, points)
    elif isinstance(event, EpochEvent):
        _apply_epoch(run, event, points)
    elif isinstance(event, ResourcesEvent):
        _apply_resources(run, event, points)
    elif isinstance(event, FinishedEvent):
        result = event.data.result
        sent = result.model_fields_set
        run.duration_s = result.total_seconds if "total_seconds" in sent else run.duration_s
        run.parameters = result.parameters if "parameters" in sent else run.parameters
        run.result = result.model_dump(include=set(STORED_RESULT_FIELDS), exclude_unset=True)
        run.stopped_by, run.stopped_epoch = result.stopped_by, result.stopped_epoch
        set_status(session, run, RunStatus(event.data.status))
    elif isinstance(event, ReleasedEvent):
        set_status(session, run, RunStatus.queued)
    elif isinstance(event, FailedEvent):
        failed = event.data
        reason = FailureReason.user_error if failed.user_error else FailureReason.error
        set_status(
            session,
            run,
            RunStatus.failed,
            error=failed.error,
            traceback=failed.traceback,
            failure=reason,
        )


def _apply_epoch(run: Run, event: EpochEvent, points: list[PointRow]) -> None:
    assert run.id is not None
    epoch, metrics = event.data.epoch, event.data.metrics
    # Drop this epoch's points from earlier in the same batch (a restarted epoch).
    points[:] = [p for p in points if not (p[EPOCH] == epoch and p[NAME] != "batch_loss")]
    for name, value in metrics.items():
        points.append(point_row(run.id, event, epoch, epoch, name, value))
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


def _apply_resources(run: Run, event: ResourcesEvent, points: list[PointRow]) -> None:
    """A resource sample's metrics as points at its step; the summary keeps the peaks."""
    assert run.id is not None
    data = event.data
    for name, value in data.metrics.items():
        points.append(point_row(run.id, event, data.epoch, data.global_step, name, value))
    rss = finite(data.metrics.get("rss_mb", 0.0))
    gpu = finite(data.metrics.get("cuda_peak_mb", 0.0))
    if rss:
        run.peak_rss_mb = max(run.peak_rss_mb or 0.0, rss)
    if gpu:
        run.peak_gpu_mb = max(run.peak_gpu_mb or 0.0, gpu)
