"""The event log behind the live streams: appended in the writer's transaction, read by SSE.

`status` and `progress` events go to everyone (`/api/stream`); `metrics` events carry a
batch of new points and go only to the run's own stream, along with the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from backend.app.models import Run, StreamEvent

GLOBAL_KINDS = ("status", "progress", "deleted")


def run_snapshot(run: Run) -> dict[str, Any]:
    """What a runs table row needs to redraw itself."""
    return {
        "id": run.id,
        "name": run.name,
        "preset": run.preset,
        "group_id": run.group_id,
        "tags": list(run.tags),
        "status": run.status,
        "cancel_requested": run.cancel_requested,
        "epoch": run.epoch,
        "epochs": run.epochs,
        "step": run.step,
        "steps_per_epoch": run.steps_per_epoch,
        "device": run.device,
        "error": run.error,
        "final_test_acc": run.final_test_acc,
        "best_test_acc": run.best_test_acc,
        "final_test_loss": run.final_test_loss,
        "final_train_loss": run.final_train_loss,
        "duration_s": run.duration_s,
        "images_per_second": run.images_per_second,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def add_event(session: Session, run: Run, kind: str, data: dict[str, Any]) -> None:
    assert run.id is not None
    session.add(StreamEvent(run_id=run.id, kind=kind, data=data))


def events_after(
    session: Session, last_id: int, run_id: int | None = None, limit: int = 500
) -> Sequence[StreamEvent]:
    """Events with id > last_id, oldest first: one run's, or every run's status/progress."""
    query = select(StreamEvent).where(col(StreamEvent.id) > last_id)
    if run_id is None:
        query = query.where(col(StreamEvent.kind).in_(GLOBAL_KINDS))
    else:
        query = query.where(StreamEvent.run_id == run_id)
    return session.exec(query.order_by(col(StreamEvent.id)).limit(limit)).all()


def latest_event_id(session: Session) -> int:
    newest = session.exec(select(StreamEvent.id).order_by(col(StreamEvent.id).desc())).first()
    return newest or 0
