"""The heartbeat watchdog: fails running runs whose worker went silent, and queues them again.

Nothing stays `running` forever: a run whose worker has said nothing for
RUNBOARD_HEARTBEAT_TIMEOUT_S is marked failed ("worker lost") and handed to the workers
again, up to RUNBOARD_MAX_ATTEMPTS claims; the next worker resumes from its checkpoint.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from backend.app import crud
from backend.app.core.config import Settings

log = logging.getLogger("runboard.api")


def sweep(app: FastAPI) -> int:
    """One look at the running runs; returns how many were found lost."""
    settings: Settings = app.state.settings
    with Session(app.state.engine) as session:
        lost = crud.mark_lost_runs(session, settings.heartbeat_timeout_s)
        session.commit()
        for run in lost:
            if run.attempts < settings.max_attempts and run.id is not None:
                app.state.dispatcher.enqueue(run.id, run.config, run.ingest_token)
        return len(lost)


async def watch_heartbeats(app: FastAPI) -> None:
    """Sweep every RUNBOARD_HEARTBEAT_CHECK_S seconds until cancelled."""
    settings: Settings = app.state.settings
    while True:
        await asyncio.sleep(settings.heartbeat_check_s)
        try:
            if await run_in_threadpool(sweep, app):
                app.state.bus.notify()
        except Exception:  # the sweep retries next time; the API must not die of it
            log.exception("heartbeat sweep failed")
