"""The one place that changes a run's status, and the event-log line that tells the streams.

Every transition (queued -> running -> succeeded | failed | cancelled, a lost run revived,
a released run queued again) goes through `set_status`, which keeps the timestamps, the
error and the failure reason consistent and appends the `status` event the live views
redraw from. `announce` appends that event for changes that keep the status (a rename, a
cancel request).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from backend.app.core.webhook import queue_after_commit
from backend.app.crud.stream import add_event, run_snapshot
from backend.app.models import Run, utcnow
from worker.schema.status import FINISHED, FailureReason, RunStatus


def revivable(run: Run) -> bool:
    """A run that failed only because its worker went quiet may be resumed by a new worker."""
    return run.status == RunStatus.failed and run.failure == FailureReason.worker_lost


def announce(session: Session, run: Run) -> None:
    """Tell the streams that the run's row changed."""
    session.add(run)
    add_event(session, run, "status", run_snapshot(run))


def set_status(
    session: Session,
    run: Run,
    status: RunStatus,
    *,
    error: str | None = None,
    traceback: str | None = None,
    failure: FailureReason | None = None,
) -> None:
    """Move `run` to `status`; `error`, `traceback` and `failure` only for `failed`."""
    if status == RunStatus.failed and failure is None:
        raise ValueError("a failed run needs a failure reason")
    run.status = status
    now = utcnow()
    if status == RunStatus.running:
        run.started_at = run.started_at or now
    if status in FINISHED:
        run.finished_at = now
    else:  # running again (revived) or queued again (released): not finished after all
        run.finished_at = None
    if status == RunStatus.queued:
        run.worker_host = None
    run.error, run.traceback = error, traceback
    run.failure = failure if status == RunStatus.failed else None
    announce(session, run)
    if status in FINISHED:
        queue_after_commit(session, notice_of_end(run))  # the webhook, if one is set


def notice_of_end(run: Run) -> dict[str, Any]:
    """The webhook's message: `text` for Slack, `content` for Discord, fields for others;
    `link` is the run's path, made absolute by the webhook's sender."""
    accuracy = run.final_test_acc
    words = f"run #{run.id} {run.name!r} {run.status}"
    if accuracy is not None:
        words += f", final test accuracy {accuracy:.1%}"
    if run.stopped_by:
        words += f" (stopped by {run.stopped_by} after epoch {run.stopped_epoch})"
    if run.error:
        words += f": {run.error[:300]}"
    return {
        "text": f"runboard: {words}",
        "content": f"runboard: {words}",
        "run": run.id,
        "name": run.name,
        "status": str(run.status),
        "final_test_acc": accuracy,
        "stopped_by": run.stopped_by,
        "link": f"/#/run/{run.id}",
    }


def set_running(session: Session, run: Run) -> None:
    """Running, unless it is already: a claim, the worker's first event, a revival."""
    if run.status != RunStatus.running:
        set_status(session, run, RunStatus.running)
