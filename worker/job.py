"""One training job as a worker runs it: claim the run, train it, report, never crash.

Kept apart from the Celery task (which only unpacks arguments) so that the same code runs
in tests and in `runboard worker`. The training core sees two callbacks and nothing else.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import httpx

from worker.errors import UserError
from worker.reporter import Reporter
from worker.schema.events import Failed, Finished, Released, TrainerEvent
from worker.schema.runconfig import ConfigError, validate_config

log = logging.getLogger("runboard.worker")
MAX_ERROR, MAX_TRACE = 10_000, 200_000  # what the API stores of a failure
CLAIM_PATIENCE_S = 600.0  # how long a task waits for an unreachable API before failing


def api_url() -> str:
    return os.environ.get("RUNBOARD_API_URL", "http://127.0.0.1:8000").rstrip("/")


def checkpoint_root() -> Path:
    return Path(os.environ.get("RUNBOARD_CHECKPOINT_DIR", "./var/checkpoints"))


def worker_host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# Set when the worker process is asked to shut down: the run stops at the next step and
# goes back to the queue (its checkpoint keeps the finished epochs), instead of blocking
# the shutdown until training ends.
shutdown_requested = threading.Event()


class ShutdownRelease(Exception):
    """The run was handed back to the queue because the worker is shutting down."""


class ClaimRefused(RuntimeError):
    """The API says this run is not ours to train (cancelled, finished, running elsewhere)."""


def claim(api: str, run_id: int, token: str, client: httpx.Client) -> dict[str, Any]:
    """Ask the API at `api` for the run; transient failures raise (Celery logs them)."""
    response = client.post(
        f"{api}/api/runs/{run_id}/claim",
        json={"worker_host": worker_host()},
        headers={"Authorization": f"Bearer {token}"},
    )
    if response.status_code in (401, 404, 409):
        raise ClaimRefused(f"HTTP {response.status_code}: {response.text[:300]}")
    response.raise_for_status()
    claimed: dict[str, Any] = response.json()
    return claimed


def claim_patiently(
    run_id: int, token: str, patience_s: float = CLAIM_PATIENCE_S
) -> dict[str, Any]:
    """Claim, riding out an API that is restarting or briefly overloaded (transient only)."""
    deadline, backoff = time.monotonic() + patience_s, 0.5
    with httpx.Client(timeout=30) as client:
        while True:
            try:
                return claim(api_url(), run_id, token, client)
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                transient = not isinstance(exc, httpx.HTTPStatusError) or (
                    exc.response.status_code >= 500
                )
                if not transient or time.monotonic() > deadline:
                    raise
                log.warning("run %s: claim failed (%s); retrying in %.1f s", run_id, exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)


def run_job(run_id: int, config: dict[str, Any], token: str) -> str:
    """Train one run end to end; returns its final status (also reported to the API)."""
    try:
        claimed = claim_patiently(run_id, token)
    except ClaimRefused as exc:
        log.info("run %s not claimed: %s", run_id, exc)
        return "skipped"
    reporter = Reporter(
        api_url(), run_id, token, next_seq=claimed["next_seq"], attempt=claimed["attempt"]
    ).start()
    status = "failed"
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
        delivered = reporter.close()
        if not delivered:
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

    result = train(
        config,
        on_event=forward,
        should_stop=should_stop,
        checkpoint_dir=checkpoint_root() / f"run-{run_id}",
    )
    if reporter.rejected:
        return "rejected"
    return result.status
