"""`runboard submit --wait` across an API restart: the stream is opened again from the last
event seen (Last-Event-ID), so every epoch and status is printed once."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live import RUNBOARD, Worker, clean_env, free_port, read_line

pytestmark = pytest.mark.timeout(240)


@contextlib.contextmanager
def serve_on(port: int, database_url: str, workdir: Path) -> Iterator[str]:
    """A real API on a given port: a restarted one keeps its address, as clients expect."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = clean_env(
        RUNBOARD_DATABASE_URL=database_url,
        RUNBOARD_BROKER_DB=str(workdir / "broker.sqlite"),
        RUNBOARD_SSE_KEEPALIVE_S="0.5",
    )
    command = [RUNBOARD, "serve", "--no-worker", "--port", str(port)]
    with (workdir / "server.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            assert process.poll() is None and time.monotonic() < deadline, "API did not start"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_submit_wait_rides_out_an_api_restart_and_prints_each_event_once(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'runboard.db'}"
    port = free_port()
    with serve_on(port, database_url, tmp_path / "one") as url:
        submitting = subprocess.Popen(
            [RUNBOARD, "submit", "--preset", "2", "--set", "epochs=2", "--url", url, "--wait"],
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            run_id = int(read_line(submitting, timeout=60))
            worker = Worker(url, database_url, run_id, epochs=2)
            worker.start()
            worker.epoch(1, 0.25)
            time.sleep(3.0)  # for the stream to carry epoch 1 before the API goes away
        except BaseException:
            submitting.kill()
            raise
    try:
        time.sleep(1.5)  # down: `submit` tries again meanwhile
        with serve_on(port, database_url, tmp_path / "two"):
            worker.epoch(2, 0.5)
            worker.finish()
            stdout, stderr = submitting.communicate(timeout=60)
    finally:
        if submitting.poll() is None:
            submitting.kill()
            submitting.communicate(timeout=10)

    assert submitting.returncode == 0, stderr
    assert stdout == ""
    lines = stderr.splitlines()
    assert any(line.startswith("stream dropped (") for line in lines), stderr
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epoch_lines] == ["epoch 1", "epoch 2"], stderr
    for status in ("queued", "running"):
        assert lines.count(f"status: {status}") == 1, stderr
    assert lines[-1] == "status: succeeded"
    assert "Traceback" not in stderr and "stamina" not in stderr  # its own lines only
