"""The heartbeat watchdog: fails running runs whose worker went silent, and queues them again.

Nothing stays `running` forever: a run whose worker has said nothing for
RUNBOARD_HEARTBEAT_TIMEOUT_S is marked failed ("worker lost") and handed to the workers
again, up to RUNBOARD_MAX_ATTEMPTS claims; the next worker resumes from its checkpoint.
The same sweep compacts the stream rows of runs finished RUNBOARD_EVENT_RETENTION ago.

Every API process runs this loop, but one sweeps at a time across processes and machines,
so that a lost run is handed on exactly once: on PostgreSQL the sweep's transaction takes
a transaction-level advisory lock (pg_try_advisory_xact_lock: held until its commit, freed
by the server if the process dies); on SQLite with a Redis broker a Redis lock with an
expiry (SET NX PX); on SQLite alone there is one process and no lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import time
import uuid

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text
from sqlmodel import Session

from backend.app import crud
from backend.app.core.config import Settings
from backend.app.models import utcnow

log = logging.getLogger("runboard.api")
# The advisory lock's key: any 64-bit number the deployment's other users of advisory
# locks do not take; this one is "runboard" as bytes.
ADVISORY_KEY = int.from_bytes(b"runboard", "big") & (2**63 - 1)
COMPACT_EVERY_S = 60.0  # at most; half the retention when that is shorter


class RedisLock:
    """Held by one process at a time, for `ttl_s` unless renewed: the holder renews it at
    each sweep, and a holder that died loses it when it expires."""

    def __init__(self, url: str, database_url: str, ttl_s: float) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
        self.key = f"runboard:watchdog:{digest}"
        self.me = f"{os.getpid()}-{uuid.uuid4().hex}".encode()
        self.ttl_ms = max(int(ttl_s * 1000), 1000)

    def acquire(self) -> bool:
        if self.redis.set(self.key, self.me, nx=True, px=self.ttl_ms):
            return True
        if self.redis.get(self.key) == self.me:
            self.redis.pexpire(self.key, self.ttl_ms)
            return True
        return False


def _redis_lock(settings: Settings) -> RedisLock | None:
    broker = settings.broker_url or ""
    if settings.database_url.startswith("sqlite") and broker.startswith(("redis://", "rediss://")):
        # Longer than a sweep's interval, so the holder keeps it while it lives.
        return RedisLock(broker, settings.database_url, 3 * settings.heartbeat_check_s + 5)
    return None


def sweep(app: FastAPI) -> int:
    """One look at the running runs (and finished ones due for compaction); returns how many
    runs changed, 0 when another process holds the watchdog's lock."""
    settings: Settings = app.state.settings
    lock: RedisLock | None = getattr(app.state, "watchdog_lock", None)
    if lock is not None and not lock.acquire():
        return 0
    with Session(app.state.engine) as session:
        if session.get_bind().dialect.name == "postgresql":
            query = text("SELECT pg_try_advisory_xact_lock(:key)")
            if not session.execute(query, {"key": ADVISORY_KEY}).scalar():
                return 0
        lost = crud.mark_lost_runs(session, settings.heartbeat_timeout_s)
        compacted = 0
        now = time.monotonic()
        # Compaction looks at every finished run: far less often than lost workers.
        every_s = min(COMPACT_EVERY_S, settings.event_retention.total_seconds() / 2)
        if now - getattr(app.state, "compacted_at", -math.inf) >= every_s:
            app.state.compacted_at = now
            compacted = crud.compact_finished(session, utcnow() - settings.event_retention)
        session.commit()
        for run in lost:
            if run.attempts < settings.max_attempts and run.id is not None:
                app.state.dispatcher.enqueue(run.id, run.config, run.ingest_token)
        return len(lost) + compacted


async def watch_heartbeats(app: FastAPI) -> None:
    """Sweep every RUNBOARD_HEARTBEAT_CHECK_S seconds until cancelled."""
    settings: Settings = app.state.settings
    app.state.watchdog_lock = _redis_lock(settings)
    while True:
        await asyncio.sleep(settings.heartbeat_check_s)
        try:
            if await run_in_threadpool(sweep, app):
                app.state.bus.notify()
        except Exception:  # the sweep retries next time; the API must not die of it
            log.exception("heartbeat sweep failed")
