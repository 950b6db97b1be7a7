"""The event log behind the live streams: appended in the writer's transaction, read by SSE.

`status` and `progress` events go to everyone (`/api/stream`); `metrics` events carry a
batch of new points and go only to the run's own stream, along with the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from backend.app.models import Run, RunPublic, StreamEvent

GLOBAL_KINDS = ("status", "progress", "deleted")


# What a runs-table row needs to redraw itself: the run as the API shows it, less the fields
# that can weigh kilobytes (config, traceback, notes) and are fetched with the run instead.
SNAPSHOT_EXCLUDES = frozenset({"config", "traceback", "notes"})


def run_snapshot(run: Run) -> dict[str, Any]:
    return RunPublic.model_validate(run).model_dump(mode="json", exclude=set(SNAPSHOT_EXCLUDES))


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
