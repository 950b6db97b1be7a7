"""The one Celery task, named explicitly so that the API can enqueue it by name alone."""

from __future__ import annotations

from typing import Any

from celery.exceptions import Reject
from celery.signals import worker_shutting_down

from worker.celery_app import celery_app
from worker.job import run_job, shutdown_requested

TRAIN_TASK = "runboard.train_run"


@celery_app.task(name=TRAIN_TASK)  # type: ignore[untyped-decorator]
def train_run(run_id: int, config: dict[str, Any], ingest_token: str) -> str:
    """Train one run and report it to the API; returns the final status."""
    if shutdown_requested.is_set():  # taken while stopping: leave it to the next worker
        raise Reject("worker shutting down", requeue=True)
    status = run_job(run_id, config, ingest_token)
    if status == "released":  # back to the broker: the next worker resumes the checkpoint
        raise Reject("worker shutting down", requeue=True)
    return status


@worker_shutting_down.connect  # type: ignore[untyped-decorator]
def _stop_training(**kwargs: Any) -> None:
    shutdown_requested.set()
