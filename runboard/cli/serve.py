"""`runboard serve`: the API under uvicorn, plus one local worker process by default.

Stopping serve (Ctrl-C or SIGTERM) stops both: the worker gets SIGTERM, its current run
stops at the next step and goes back to the queue, and a later `serve` picks it up again
(from its checkpoint) with every run that was still queued.

`--api-workers N` runs N API processes on the one port (uvicorn's workers, each building
its app with `app_factory`): the event bus relays commits between them (PostgreSQL or
Redis; SQLite alone is one process) and one watchdog sweeps at a time.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
from types import FrameType

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors.multiprocess import Multiprocess

from backend.app.core.config import get_settings
from backend.app.core.db import make_engine, migrate
from backend.app.main import create_app

WORKER_STOP_TIMEOUT_S = 60
# -P: the working directory is not put on sys.path, so a `worker/` folder or `worker.py` of
# the user's own (common in Celery projects) cannot shadow runboard's `worker` package.
WORKER_COMMAND = (sys.executable, "-P", "-m", "runboard", "worker")


def _start_worker(api_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RUNBOARD_API_URL": os.environ.get("RUNBOARD_API_URL", api_url)}
    return subprocess.Popen(WORKER_COMMAND, env=env)


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is not None:
        return
    worker.terminate()  # Celery's warm shutdown; the task releases its run at the next step
    try:
        worker.wait(WORKER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


class _Server(uvicorn.Server):
    """Stops the local worker first, while the API can still take its last events."""

    def __init__(self, config: uvicorn.Config, worker: subprocess.Popen[bytes] | None) -> None:
        super().__init__(config)
        self.worker = worker
        self.stopping = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.worker is None or self.stopping:  # a second Ctrl-C exits at once
            super().handle_exit(sig, frame)
            return
        self.stopping = True
        threading.Thread(target=self._stop_then_exit, args=(sig, frame), daemon=True).start()

    def _stop_then_exit(self, sig: int, frame: FrameType | None) -> None:
        assert self.worker is not None
        _stop_worker(self.worker)
        super().handle_exit(sig, frame)


def startup_banner(host: str, port: int) -> str:
    """What serve prints first: the dashboard's address and how to try it with no CIFAR-100."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown  # an IPv6 address in a URL
    return (
        f"runboard: the dashboard is at http://{shown}:{port}/\n"
        "runboard: no CIFAR-100 here? launch with data set `synthetic` (a CIFAR-like set "
        "generated offline), e.g. point 2 with data set synthetic"
    )


class _Supervisor(Multiprocess):
    """uvicorn's supervisor of N API processes, stopping the local worker first too."""

    def __init__(
        self, config: uvicorn.Config, worker: subprocess.Popen[bytes] | None, **kwargs: object
    ) -> None:
        super().__init__(config, **kwargs)  # type: ignore[arg-type]
        self.worker = worker

    def handle_int(self) -> None:
        if self.worker is not None:
            _stop_worker(self.worker)
        super().handle_int()

    def handle_term(self) -> None:
        if self.worker is not None:
            _stop_worker(self.worker)
        super().handle_term()


def app_factory() -> FastAPI:
    """The app of one API process, from the RUNBOARD_* environment."""
    app = create_app(get_settings())
    # What start-up built (modules, models, validators) lives as long as the process: keep it
    # out of the garbage collector's full passes, which otherwise walk all of it (pydantic's
    # validators are slow to traverse) for 100-250 ms on a 2-core machine, stalling whichever
    # request triggers one. Found with `runboard bench api` (its ingest and p95 figures).
    gc.collect()
    gc.freeze()
    return app


def serve(
    host: str | None = None, port: int | None = None, with_worker: bool = True, api_workers: int = 1
) -> int:
    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    options: dict[str, object] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "timeout_graceful_shutdown": 5,  # open SSE streams would otherwise hold shutdown
    }
    if api_workers > 1:
        engine = make_engine(settings.database_url)
        migrate(engine)  # once, before N processes would race to upgrade the schema
        engine.dispose()
        config = uvicorn.Config(
            "runboard.cli.serve:app_factory",
            factory=True,
            workers=api_workers,
            **options,  # type: ignore[arg-type]
        )
    else:
        config = uvicorn.Config(app_factory(), **options)  # type: ignore[arg-type]
    local_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    print(startup_banner(host, port), flush=True)
    worker = _start_worker(f"http://{local_host}:{port}") if with_worker else None
    try:
        if api_workers > 1:
            _Supervisor(config, worker, sockets=[config.bind_socket()]).run()
        else:
            _Server(config, worker).run()
    finally:
        if worker is not None:
            _stop_worker(worker)
    return 0
