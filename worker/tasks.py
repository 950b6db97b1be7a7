"""The one Celery task, named explicitly so that the API can enqueue it by name alone."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.exceptions import Reject
from celery.signals import worker_ready, worker_shutting_down

from worker import hello
from worker.broker import restore_orphans
from worker.celery_app import celery_app
from worker.client import ApiClient, ApiError, patiently
from worker.config import worker_settings
from worker.job import run_job, shutdown_requested
from worker.schema.broker import TRAIN_QUEUE, TRAIN_TASK

log = logging.getLogger("runboard.worker")
API_WAIT_S = 120.0  # how long a starting worker waits for the API before it skips the sweep
API_POLL_S = 1.0  # between two health checks meanwhile
HEALTH_TIMEOUT_S = 5.0


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
    hello.stop()


@worker_ready.connect  # type: ignore[untyped-decorator]
def _say_hello(sender: Any = None, **kwargs: Any) -> None:
    # The Celery node name (`runboard-cpu-<pid>@<host>`): one per worker process.
    hello.start(str(getattr(sender, "hostname", None) or hello.worker_name()))


def _api_answers(api_url: str, wait_s: float) -> bool:
    """Wait up to `wait_s` for the API's health check to pass (under `runboard serve` the
    worker starts first), retrying transient errors only; False when it never did, or the
    worker began to shut down meanwhile."""

    def healthy() -> bool:
        if shutdown_requested.is_set():
            return False
        api.health()
        return True

    with ApiClient(api_url, timeout_s=HEALTH_TIMEOUT_S) as api:
        try:
            return patiently(
                healthy, wait_s, None, wait_initial_s=API_POLL_S, wait_max_s=API_POLL_S
            )
        except ApiError:
            return False


def _sweep_orphans(broker: str, api_url: str, wait_s: float = API_WAIT_S) -> None:
    """Once the API answers, show again the tasks of killed workers (worker.broker), then
    again every RUNBOARD_ORPHAN_SWEEP_S seconds until the worker shuts down: a task hidden
    by a worker killed while others kept running waits at most this long."""
    if not _api_answers(api_url, wait_s):
        log.warning("the API at %s did not answer: orphaned tasks not looked for", api_url)
        return
    interval = worker_settings().orphan_sweep_s
    while not shutdown_requested.is_set():
        try:
            sweep = restore_orphans(broker, api_url, TRAIN_QUEUE)
        except Exception:  # a locked broker file, say: the next sweep tries again
            log.exception("looking for orphaned tasks failed")
        else:
            if sweep.restored or sweep.removed:
                log.info(
                    "queued again the runs of killed workers: %s; removed %d delivered tasks",
                    sweep.restored or "none",
                    sweep.removed,
                )
        shutdown_requested.wait(interval)


@worker_ready.connect  # type: ignore[untyped-decorator]
def _restore_orphaned_tasks(**kwargs: Any) -> None:
    # In a thread: under `runboard serve` the worker starts before the API listens.
    broker = str(celery_app.conf.broker_url)
    threading.Thread(
        target=_sweep_orphans,
        args=(broker, worker_settings().api_url),
        name="orphan-sweep",
        daemon=True,
    ).start()
