"""A real API server for the benchmarks: `runboard serve --no-worker` in its own process on a
free port, with its CPU time read from /proc (Linux)."""

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

from worker.errors import UserError


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux); None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def serving(
    database_url: str, settings: Mapping[str, str | None] | None = None
) -> Iterator[tuple[str, int]]:
    """`runboard serve --no-worker` in its own process on a free port; yields its base URL
    and pid. `settings` adds RUNBOARD_* variables to its environment (None removes one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # No local worker, and by default a broker of its own: runs must not reach real workers.
    env = {**os.environ, "RUNBOARD_DATABASE_URL": database_url, "RUNBOARD_BROKER_URL": "memory://"}
    for name, value in (settings or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    command = [sys.executable, "-m", "worker.cli.main", "serve", "--no-worker", "--port", str(port)]
    command += ["--host", "127.0.0.1"]
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
        try:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                        break
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise UserError(f"the server did not start:\n{log.read().decode()[-3000:]}")
                time.sleep(0.2)
            yield base, server.pid
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
