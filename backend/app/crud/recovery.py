"""Points a killed attempt checkpointed but never delivered, sent again by the next one.

A worker killed after an epoch's checkpoint but before that epoch's events reached the API
(say, while the API was down) takes them with it, and the next attempt resumes after the
epoch. It sends them again: the reported steps as a `recovered_batches` event when it
starts, the epoch metrics in the finished run's history. Each is stored only if missing.
"""

from __future__ import annotations

import math

from sqlmodel import Session, col, select

from backend.app.crud.points import EPOCH, NAME, STEP, PointRow, point_row
from backend.app.models import MetricPoint, Run
from worker.schema.events import EPOCH_METRICS, finite
from worker.schema.messages import FinishedEvent, RecoveredBatchesEvent


def recover_steps(
    session: Session, run: Run, event: RecoveredBatchesEvent, points: list[PointRow]
) -> None:
    """Adds the recovered batch losses whose global step is not stored yet, once each."""
    assert run.id is not None
    columns = event.data
    first, last = min(columns.global_step), max(columns.global_step)
    stored = select(MetricPoint.step).where(
        col(MetricPoint.run_id) == run.id,
        col(MetricPoint.name) == "batch_loss",
        col(MetricPoint.step).between(first, last),
    )  # served by the (run_id, name, step) index
    have = set(session.exec(stored).all())
    have |= {point[STEP] for point in points if point[NAME] == "batch_loss"}
    # `started` came just before and set run.epoch to the last checkpointed epoch: the
    # epochs after it are trained (and reported) again by this attempt.
    skipped_through = run.epoch
    for epoch, step, loss, when in zip(
        columns.epoch, columns.global_step, columns.loss, columns.time, strict=True
    ):
        if step not in have and epoch <= skipped_through:
            have.add(step)
            points.append((run.id, event.seq, epoch, step, "batch_loss", finite(loss), when))


def recover_epochs(
    session: Session, run: Run, event: FinishedEvent, points: list[PointRow]
) -> None:
    """Adds the epochs of the finished run's history that never arrived, once each."""
    assert run.id is not None
    # Only an epoch metric says the epoch arrived: resource samples carry the epoch they
    # were taken in, long before it ends.
    stored = select(MetricPoint.epoch).where(
        col(MetricPoint.run_id) == run.id, col(MetricPoint.name).in_(EPOCH_METRICS)
    )
    have = set(session.exec(stored.distinct()).all())
    have |= {point[EPOCH] for point in points if point[NAME] in EPOCH_METRICS}
    for entry in event.data.result.history:
        number = entry.get("epoch")
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
                points.append(point_row(run.id, event, epoch, epoch, name, float(value)))
