"""Helpers for tests against a real `runboard serve` process: start it (and Redis), act as
a worker. Every wait here has a bound. Its streams are read with tests/support/sse.py."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session

from backend.app.core.db import make_engine
from backend.app.models import Run

RUNBOARD = str(Path(sys.executable).with_name("runboard"))
# One client for every request of the tests: a new httpx client costs ~50 ms of CPU (its SSL
# context), which adds up over hundreds of calls on a busy machine.
http = httpx.Client(timeout=10)
START_TIMEOUT_S = 60.0  # imports and migrations, on a machine shared with other test runs
STOP_TIMEOUT_S = 10.0  # uvicorn waits up to 5 s for open streams before it cancels them


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any RUNBOARD_* setting of the developer's own, and
    with Python's usual buffering (a piped stdout is block-buffered, as users have it)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RUNBOARD_") and key != "PYTHONUNBUFFERED"
    }
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    url: str
    port: int
    database_url: str
    process: subprocess.Popen[bytes]
    log: Path
    stopped: bool = False  # by stop_server; an exit before that is a crash

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def run_server(
    database_url: str,
    workdir: Path,
    env: dict[str, str] | None = None,
    port: int | None = None,
    args: tuple[str, ...] = (),
    prefix: tuple[str, ...] = (),
    host: str = "127.0.0.1",
) -> Iterator[ServerProcess]:
    """`runboard serve --port P` on `database_url`, up once /api/health answers; stopped with
    SIGTERM (then SIGKILL) on the way out. Its working directory is `workdir`. P is a free
    port, or `port` (a restarted server keeps its address, as a worker expects). `args` are
    more options of serve; `prefix` runs it under another command (`ip netns exec NS`), and
    then `host` is where the test reaches it."""
    workdir.mkdir(parents=True, exist_ok=True)
    defaults = {
        "RUNBOARD_DATABASE_URL": database_url,
        "RUNBOARD_SSE_KEEPALIVE_S": "0.5",
        "RUNBOARD_BROKER_DB": str(workdir / "broker.sqlite"),
    }
    environment = clean_env(**{**defaults, **(env or {})})
    for attempt in range(3):  # another process may take the free port before the server does
        listen = port or free_port()
        log = workdir / f"server-{listen}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                # tests are the worker
                [*prefix, RUNBOARD, "serve", "--no-worker", "--port", str(listen), *args],
                cwd=workdir,
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        server = ServerProcess(f"http://{host}:{listen}", listen, database_url, process, log)
        try:
            _wait_until_healthy(server)
            break
        except AssertionError:
            stop_server(server)
            if attempt == 2 or "address already in use" not in server.output():
                raise
    try:
        yield server
    finally:
        crashed = server.process.poll() is not None and not server.stopped
        stop_server(server)
        if crashed:
            tail = server.output()[-4000:]
            raise AssertionError(f"the server died during the test ({process.returncode}):\n{tail}")


@contextlib.contextmanager
def run_redis(
    workdir: Path, bind: str = "127.0.0.1", prefix: tuple[str, ...] = (), reach: str = "127.0.0.1"
) -> Iterator[str]:
    """A private `redis-server` (no persistence) on a free port: its redis:// URL. For tests
    that count keys or messages, which the machine's shared Redis would mix up. `prefix` runs
    it under another command (`ip netns exec NS`); `reach` is where the test reaches it."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [*prefix, "redis-server", "--port", str(port), "--bind", bind, "--save", ""]
    command += ["--appendonly", "no", "--protected-mode", "no", "--dir", str(workdir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    host = reach
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, f"redis-server exited ({process.returncode})"
            with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
                break
            assert time.monotonic() < deadline, "redis-server did not listen within 15 s"
            time.sleep(0.05)
        yield f"redis://{host}:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(server: ServerProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"the server exited ({server.process.returncode}):\n{server.output()}"
            )
        with contextlib.suppress(httpx.TransportError):
            if http.get(f"{server.url}/api/health", timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"no answer from {server.url} in {START_TIMEOUT_S} s:\n{server.output()}")


def stop_server(server: ServerProcess) -> int:
    """SIGTERM, then SIGKILL if it lingers; the exit status."""
    server.stopped = True
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(STOP_TIMEOUT_S)
    return server.process.returncode


def read_line(process: subprocess.Popen[str], timeout: float = 20.0) -> str:
    """The next line the process prints on stdout, waiting at most `timeout` seconds for it.
    (Only for output that comes a line at a time: lines buffered ahead are not seen.)"""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"nothing on stdout within {timeout} s"
    return process.stdout.readline()


def ingest_token(database_url: str, run_id: int) -> str:
    """The run's worker token: the API never shows it, so read it where the worker gets it."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            run = session.get(Run, run_id)
            assert run is not None, f"run {run_id} is not in the database"
            return run.ingest_token
    finally:
        engine.dispose()


def create_run(base_url: str, **body: Any) -> dict[str, Any]:
    response = http.post(f"{base_url}/api/runs", json={"preset": "2", **body})
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


class Worker:
    """Plays a training worker: numbered ingest batches under the run's own token.

    What each call adds to the run's stream: start -> status, progress; epoch -> metrics,
    progress; heartbeat -> progress; finish or fail -> status, progress.
    """

    def __init__(self, base_url: str, database_url: str, run_id: int, epochs: int = 3) -> None:
        self.url = f"{base_url}/api/runs/{run_id}/events"
        self.headers = {"Authorization": f"Bearer {ingest_token(database_url, run_id)}"}
        self.epochs = epochs
        self.seq = 0

    def send(self, *events: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        batch = []
        for kind, data in events:
            self.seq += 1
            batch.append({"seq": self.seq, "time": time.time(), "kind": kind, "data": data})
        response = http.post(self.url, json={"events": batch}, headers=self.headers)
        assert response.status_code == 200, response.text
        reply: dict[str, Any] = response.json()
        return reply

    def start(self) -> dict[str, Any]:
        started = {
            "start_epoch": 1, "epochs": self.epochs, "steps_per_epoch": 2, "device": "cpu",
            "device_name": "test cpu", "precision": "fp32", "parameters": 1000,
            "dataset": "synthetic",
        }  # fmt: skip
        return self.send(
            ("status", {"status": "running", "worker_host": "test-worker"}), ("started", started)
        )

    def epoch(self, epoch: int, test_acc: float) -> dict[str, Any]:
        batch = {"epoch": epoch, "step": 2, "global_step": 2 * epoch, "loss": 4.0 / epoch}
        metrics = {"train_loss": 4.0 / epoch, "test_loss": 4.5 / epoch, "test_acc": test_acc}
        return self.send(("batch", batch), ("epoch", {"epoch": epoch, "metrics": metrics}))

    def heartbeat(self) -> dict[str, Any]:
        return self.send(("heartbeat", {}))

    def finish(self, status: str = "succeeded") -> dict[str, Any]:
        result = {"total_seconds": 1.5, "epochs_completed": self.epochs}
        return self.send(("finished", {"status": status, "result": result}))

    def fail(self, error: str) -> dict[str, Any]:
        return self.send(("failed", {"error": error}))
