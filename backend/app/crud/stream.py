"""The event log behind the live streams: appended in the writer's transaction, read by SSE.

`status` and `progress` events go to everyone (`/api/stream`); `metrics` events carry a
batch of new points and go only to the run's own stream, along with the rest.

The log stays bounded. `progress` rows are coalesced: adding one deletes the run's older
ones, since a snapshot supersedes the previous (a reconnecting client needs the latest,
which has a higher id than anything it saw). Finished runs are compacted once
RUNBOARD_EVENT_RETENTION has passed: their rows give way to one `status` row with the
final snapshot, and a `stream_compaction` row remembers what was deleted, so that a client
resuming from before it is told to `reset` (reload) instead of silently missing rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from backend.app.models import Run, RunPublic, StreamCompaction, StreamEvent
from worker.schema.status import FINISHED

GLOBAL_KINDS = ("status", "progress", "deleted")
COMPACT_BATCH = 50  # runs compacted per watchdog sweep


# What a runs-table row needs to redraw itself: the run as the API shows it, less the fields
# that can weigh kilobytes (config, traceback, notes) and are fetched with the run instead.
SNAPSHOT_EXCLUDES = frozenset({"config", "traceback", "notes"})


def run_snapshot(run: Run) -> dict[str, Any]:
    return RunPublic.model_validate(run).model_dump(mode="json", exclude=set(SNAPSHOT_EXCLUDES))


def add_event(session: Session, run: Run, kind: str, data: dict[str, Any]) -> None:
    assert run.id is not None
    if kind == "progress":  # the newest snapshot supersedes the others
        older = col(StreamEvent.run_id) == run.id, col(StreamEvent.kind) == "progress"
        session.execute(delete(StreamEvent).where(*older))
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


def missed_compaction(session: Session, last_id: int, run_id: int | None = None) -> bool:
    """True when rows after `last_id` (of the run, or of any run) were compacted away."""
    query = select(StreamCompaction.run_id).where(col(StreamCompaction.through_id) > last_id)
    if run_id is not None:
        query = query.where(StreamCompaction.run_id == run_id)
    return session.exec(query.limit(1)).first() is not None


def compact_finished(session: Session, before: datetime) -> int:
    """Compact the stream rows of runs finished before `before` (not compacted since they
    last wrote to the log); returns how many runs were compacted. The caller commits."""
    newest = (
        select(func.max(StreamEvent.id))
        .where(col(StreamEvent.run_id) == col(Run.id))
        .scalar_subquery()
    )
    kept = (
        select(StreamCompaction.kept_id)
        .where(col(StreamCompaction.run_id) == col(Run.id))
        .scalar_subquery()
    )
    due = session.exec(
        select(Run)
        .where(col(Run.status).in_(FINISHED), col(Run.finished_at) < before)
        .where(newest.is_not(None), (kept.is_(None)) | (newest > kept))
        .limit(COMPACT_BATCH)
    ).all()
    for run in due:
        assert run.id is not None
        through: int = (
            session.exec(
                select(func.max(StreamEvent.id)).where(col(StreamEvent.run_id) == run.id)
            ).one()
            or 0
        )
        session.execute(
            delete(StreamEvent).where(
                col(StreamEvent.run_id) == run.id, col(StreamEvent.id) <= through
            )
        )
        summary = StreamEvent(run_id=run.id, kind="status", data=run_snapshot(run))
        session.add(summary)
        session.flush()
        assert summary.id is not None
        mark = session.get(StreamCompaction, run.id) or StreamCompaction(
            run_id=run.id, through_id=through, kept_id=summary.id
        )
        mark.through_id, mark.kept_id = through, summary.id
        session.add(mark)
    return len(due)
