"""One training job as a worker runs it: claim the run, train it, report, never crash.

Kept apart from the Celery task (which only unpacks arguments) so that the same code runs
in tests and in `runboard worker`. The training core sees two callbacks and nothing else.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from typing import Any

from worker import hello
from worker.client import ApiClient, RefusedError, patiently
from worker.config import worker_settings
from worker.reporter import Reporter
from worker.schema.errors import UserError
from worker.schema.events import Failed, Finished, Released, TrainerEvent
from worker.schema.messages import ClaimReply
from worker.schema.runconfig import ConfigError, validate_config

log = logging.getLogger("runboard.worker")
MAX_ERROR, MAX_TRACE = 10_000, 200_000  # what the API stores of a failure
CLAIM_PATIENCE_S = 600.0  # how long a task waits for an unreachable API before failing


def worker_host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# Set when the worker process is asked to shut down: the run stops at the next step and
# goes back to the queue (its checkpoint keeps the finished epochs), instead of blocking
# the shutdown until training ends.
shutdown_requested = threading.Event()


class ShutdownRelease(Exception):
    """The run was handed back to the queue because the worker is shutting down."""


def claim_patiently(
    api: ApiClient, run_id: int, patience_s: float = CLAIM_PATIENCE_S
) -> ClaimReply:
    """Claim the run, riding out an API that is restarting or briefly overloaded: transient
    errors are retried for `patience_s` (waits of 0.5 s doubling to 10 s), then raised
    (Celery logs them); RefusedError (cancelled, finished, running elsewhere) at once."""
    return patiently(lambda: api.claim(run_id, worker_host()), patience_s, f"run {run_id}: claim")


def run_job(run_id: int, config: dict[str, Any], token: str) -> str:
    """Train one run end to end; returns its final status (also reported to the API)."""
    api_url = worker_settings().api_url
    try:
        with ApiClient(api_url, token) as api:
            claimed = claim_patiently(api, run_id)
    except RefusedError as exc:  # not ours to train: cancelled, finished, alive elsewhere
        log.info("run %s not claimed: %s", run_id, exc)
        return "skipped"
    reporter = Reporter(
        api_url,
        run_id,
        token,
        next_seq=claimed.next_seq,
        attempt=claimed.attempt,
        lease_s=claimed.lease_s,
        sample_resources=True,
    ).start()
    status = "failed"
    hello.busy_with(run_id)
    try:
        status = _train(run_id, config, reporter)
    except ShutdownRelease:
        reporter.emit(Released())
        status = "released"
    except UserError as exc:  # bad data dir, missing weights, no such GPU: say what to do
        reporter.emit(Failed(error=str(exc)[:MAX_ERROR], user_error=True))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
        reporter.emit(Failed(error=error, traceback=traceback.format_exc()[-MAX_TRACE:]))
    finally:
        hello.busy_with(None)
        delivered = reporter.close()
        if reporter.abandoned:
            status = "abandoned"  # the API hands the run on: its next worker resumes it
        elif not delivered:
            log.error("run %s: some events could not be delivered to the API", run_id)
    return status


def _train(run_id: int, config_data: dict[str, Any], reporter: Reporter) -> str:
    try:
        config = validate_config(config_data)
    except ConfigError as exc:
        raise UserError(f"the stored config is invalid: {exc}") from None
    from worker.core.trainer import train  # torch loads here, in the worker only

    def forward(event: TrainerEvent) -> None:
        if isinstance(event, Finished) and shutdown_requested.is_set():
            raise ShutdownRelease  # stopped for the shutdown, not by the user: not finished
        reporter.emit(event)

    def should_stop() -> bool:
        return reporter.should_stop() or shutdown_requested.is_set()

    settings = worker_settings()
    result = train(
        config,
        on_event=forward,
        should_stop=should_stop,
        checkpoint_dir=settings.checkpoint_dir / f"run-{run_id}",
        data_dir=settings.data_dir,
        download=settings.data_download,
    )
    if reporter.rejected:
        return "rejected"
    return result.status
