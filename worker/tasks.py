"""The one Celery task, named explicitly so that the API can enqueue it by name alone."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import httpx
from celery.exceptions import Reject
from celery.signals import worker_ready, worker_shutting_down

from worker.broker import restore_orphans
from worker.celery_app import celery_app
from worker.job import api_url, run_job, shutdown_requested
from worker.schema.broker import TRAIN_QUEUE, TRAIN_TASK

log = logging.getLogger("runboard.worker")
API_WAIT_S = 120.0  # how long a starting worker waits for the API before it skips the sweep


def orphan_sweep_interval_s() -> float:
    """Seconds between sweeps for hidden tasks (RUNBOARD_ORPHAN_SWEEP_S, default 60): a task
    hidden by a worker killed while others kept running waits at most this long."""
    return max(float(os.environ.get("RUNBOARD_ORPHAN_SWEEP_S", "60")), 0.5)


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


def _sweep_orphans(broker: str, api: str, wait_s: float = API_WAIT_S) -> None:
    """Once the API answers, show again the tasks of killed workers (worker.broker), then
    again every orphan_sweep_interval_s() until the worker shuts down."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if httpx.get(f"{api}/api/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or shutdown_requested.is_set():
            log.warning("the API at %s did not answer: orphaned tasks not looked for", api)
            return
        time.sleep(1.0)
    interval = orphan_sweep_interval_s()
    while not shutdown_requested.is_set():
        try:
            sweep = restore_orphans(broker, api, TRAIN_QUEUE)
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
        target=_sweep_orphans, args=(broker, api_url()), name="orphan-sweep", daemon=True
    ).start()
