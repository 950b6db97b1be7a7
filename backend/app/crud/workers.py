"""Workers: each says hello when it starts and again as its heartbeat; the list shows them
with what they hold (device, GPU, data sets, weights) and what they do, beside the queue."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from backend.app.models import QueuedRun, Run, Worker, WorkerList, WorkerPublic, utcnow
from worker.schema.messages import WorkerHello
from worker.schema.status import RunStatus

MAX_QUEUE = 500  # queued runs listed at most
LOST_KEPT = timedelta(days=1)  # lost workers stay listed this long, then are forgotten
MIN_LOST_S = 15.0  # three missed hellos


def hello(session: Session, data: WorkerHello) -> Worker:
    """Store what the worker says of itself; the caller commits."""
    worker = session.exec(select(Worker).where(Worker.name == data.name)).first()
    now = utcnow()
    if worker is None:
        worker = Worker.model_validate(
            data.model_dump(), update={"started_at": now, "seen_at": now}
        )
    else:
        for key, value in data.model_dump().items():
            setattr(worker, key, value)
        worker.seen_at = now
    session.add(worker)
    return worker


def state_of(worker: Worker, timeout_s: float) -> str:
    """lost once silent for `timeout_s` (at least MIN_LOST_S: hellos come every 5 s)."""
    silent_s = (utcnow() - worker.seen_at).total_seconds()
    if silent_s > max(timeout_s, MIN_LOST_S):
        return "lost"
    return "busy" if worker.run_id is not None else "idle"


def public(worker: Worker, timeout_s: float) -> WorkerPublic:
    return WorkerPublic.model_validate(worker, update={"state": state_of(worker, timeout_s)})


def list_workers(session: Session, timeout_s: float) -> WorkerList:
    """Workers by name, lost ones of the last day included; queued runs oldest first."""
    forgotten = utcnow() - LOST_KEPT
    workers = session.exec(
        select(Worker).where(col(Worker.seen_at) >= forgotten).order_by(col(Worker.name))
    ).all()
    queued = session.exec(
        select(Run)
        .where(Run.status == RunStatus.queued)
        .order_by(col(Run.created_at), col(Run.id))
        .limit(MAX_QUEUE)
    ).all()
    return WorkerList(
        workers=[public(worker, timeout_s) for worker in workers],
        queue=[QueuedRun.model_validate(run) for run in queued],
    )
