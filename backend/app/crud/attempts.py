"""Who trains a run: a worker's claim, and the watchdog that notices a worker went silent.

A claim is what keeps a run from training twice when a broker redelivers its task; each
claim is a new attempt, and the attempt number fences the events of older ones out.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from backend.app.crud.errors import Conflict
from backend.app.crud.status import revivable, set_running, set_status
from backend.app.crud.stream import add_event, run_snapshot
from backend.app.models import Run, utcnow
from worker.schema.messages import ClaimReply
from worker.schema.status import FINISHED, FailureReason, RunStatus


def claim(session: Session, run: Run, worker_host: str, timeout_s: float) -> ClaimReply:
    """A worker takes the run: queued, lost or silent runs can be taken; live ones cannot."""
    now = utcnow()
    alive = run.heartbeat_at is not None and run.heartbeat_at > now - timedelta(seconds=timeout_s)
    if run.status == RunStatus.running and alive and run.worker_host != worker_host:
        raise Conflict(f"run {run.id} is running on {run.worker_host}")
    if run.status in FINISHED and not revivable(run):
        raise Conflict(f"run {run.id} is {run.status}; there is nothing to train")
    run.worker_host = worker_host
    run.heartbeat_at = now
    run.attempts += 1
    set_running(session, run)
    session.add(run)
    add_event(session, run, "progress", run_snapshot(run))
    return ClaimReply(
        next_seq=run.last_seq + 1,
        attempt=run.attempts,
        cancel_requested=run.cancel_requested,
        lease_s=timeout_s,
    )


def mark_lost_runs(session: Session, timeout_s: float) -> list[Run]:
    """Fail running runs whose worker has been silent for `timeout_s` seconds."""
    cutoff = utcnow() - timedelta(seconds=timeout_s)
    silent = session.exec(
        select(Run).where(Run.status == RunStatus.running, col(Run.heartbeat_at) < cutoff)
    ).all()
    for run in silent:
        error = f"worker lost: no heartbeat for {timeout_s:g} s"
        set_status(session, run, RunStatus.failed, error=error, failure=FailureReason.worker_lost)
    return list(silent)
