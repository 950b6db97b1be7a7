"""The one server harness of the benchmarks: `runboard serve` in its own process on a free
port, up once /api/health answers, with its CPU time read from /proc (Linux)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from worker.schema.errors import UserError

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0  # with a worker, serve stops it first: the caller may wait longer


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux); None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving(
    database_url: str,
    settings: Mapping[str, str | None] | None = None,
    with_worker: bool = False,
    cwd: Path | None = None,
    stop_timeout_s: float = STOP_TIMEOUT_S,
) -> Iterator[tuple[str, int]]:
    """`runboard serve` (`--no-worker` unless `with_worker`) in its own process on a free
    port; yields its base URL and pid. By default its broker is its own (memory://): runs
    must not reach real workers. `settings` adds RUNBOARD_* variables to its environment
    (None removes one, e.g. RUNBOARD_BROKER_URL for the embedded SQLite broker)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "RUNBOARD_DATABASE_URL": database_url,
        "RUNBOARD_BROKER_URL": "memory://",
        "RUNBOARD_API_URL": base,  # where the local worker, if any, reports
    }
    for name, value in (settings or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    command = [sys.executable, "-P", "-m", "runboard", "serve", "--port", str(port)]
    command += ["--host", "127.0.0.1"] + ([] if with_worker else ["--no-worker"])
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                        break
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise UserError(f"the server did not start:\n{log.read().decode()[-3000:]}")
                time.sleep(0.1)
            yield base, server.pid
        finally:
            server.terminate()
            try:
                server.wait(timeout=stop_timeout_s)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
