"""Fixtures for end-to-end tests of the worker: real `runboard serve` and `runboard worker`
processes, a real broker (the SQLite default or a private Redis), real training.

Every process starts in its own session (its own process group), with its output in a log
file under the test's temporary directory; teardown stops workers first (so that a run they
release can still reach the API), then the API, then Redis, each with SIGTERM and then
SIGKILL to the whole group, so that no worker outlives its test. When a test fails, the
tails of the logs are printed with its report. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis

from tests.support.live import RUNBOARD, clean_env, free_port

T = TypeVar("T")

# A tiny CNN on the synthetic set: 8 steps an epoch, seconds per run. On the CPU everywhere,
# so that a GPU machine does not finish runs before the tests can act on them.
TINY: dict[str, Any] = {
    "device": "cpu",
    "dataset": "synthetic",
    "train_subset": 512,
    "test_subset": 128,
    "widths": [8, 8, 8, 16],
    "fc_width": 64,
    "batch_size": 64,
    "epochs": 3,
    "report_every": 1,
}
# Long enough to act on a run while it trains: 32 steps an epoch, about half a second each
# on an idle 2-core machine (several seconds on a busy one). Tests act in epoch 1 or 2 and
# need a few epochs after that, so that even on an idle machine the run is still going.
LONGER: dict[str, Any] = {**TINY, "train_subset": 2048, "epochs": 5}
WAIT_S = 240.0  # the most any one wait takes: the machine is shared and slow
START_S = 120.0  # for a process to come up (torch and Celery import slowly under load)
STOP_S = 120.0  # for a process to stop on SIGTERM (a worker first releases its run)
POLL_S = 0.1  # quick to react: the tests act on runs mid-epoch
LOG_TAIL = 4000


def wait_for(check: Callable[[], T | None], what: str, timeout: float = WAIT_S) -> T:
    """Polls `check` until it returns something other than None (or False)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(POLL_S)


@dataclass
class Process:
    """One started process: its own session, its output in `log`."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def terminate(self, timeout: float = STOP_S) -> int:
        """SIGTERM to the process alone (as systemd or docker would), then its exit status;
        SIGKILL to its whole group if it has not stopped after `timeout` seconds."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(
                    f"{self.name} did not stop within {timeout:g} s of SIGTERM"
                ) from None
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL to the whole process group, children included, and reap the leader."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(30)

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def reap_group(self, deadline: float) -> None:
        """Waits until `deadline` for the whole group to exit, then SIGKILLs what is left."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(max(deadline - time.monotonic(), 0.01))
        while group_members(self.pid) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        self.kill()


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group `pgid`, read from /proc: no psutil."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def children_of(pid: int) -> list[int]:
    """Live direct children of `pid`."""
    found = []
    for member in group_members(pid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{member}/stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(member)
    return found


class Api:
    """A `runboard serve` process and a small client for its REST API."""

    def __init__(self, stack: Stack, port: int, with_worker: bool) -> None:
        self.stack = stack
        self.port = port
        self.with_worker = with_worker
        self.url = f"http://127.0.0.1:{port}"
        self.process: Process | None = None

    # ---- the process -------------------------------------------------------------------

    def start(self) -> Api:
        """Starts serve (again, on the same port and database) and waits for /api/health."""
        argv = [RUNBOARD, "serve", "--port", str(self.port)]
        if not self.with_worker:
            argv.append("--no-worker")
        self.process = self.stack.spawn("serve", argv)
        process = self.process

        def healthy() -> bool:
            assert process.alive(), f"serve exited ({process.process.returncode})"
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(f"{self.url}/api/health", timeout=5).status_code == 200
            return False

        wait_for(healthy, f"{self.url}/api/health", START_S)
        return self

    def stop(self) -> int:
        assert self.process is not None
        return self.process.terminate()

    # ---- the API -----------------------------------------------------------------------

    def create_run(self, config: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"preset": "2", "overrides": config}
        if name:
            body["name"] = name
        response = httpx.post(f"{self.url}/api/runs", json=body, timeout=60)
        assert response.status_code == 201, response.text
        run: dict[str, Any] = response.json()
        return run

    def run(self, run_id: int) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/api/runs/{run_id}", timeout=60)
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        return run

    def cancel(self, run_id: int) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/api/runs/{run_id}/cancel", timeout=60)
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        return run

    def metrics(self, run_id: int) -> dict[str, list[dict[str, Any]]]:
        """Every point of every series, by metric name."""
        response = httpx.get(f"{self.url}/api/runs/{run_id}/metrics", timeout=60)
        assert response.status_code == 200, response.text
        series: dict[str, list[dict[str, Any]]] = response.json()["series"]
        return series

    def wait_until(
        self,
        run_id: int,
        done: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float = WAIT_S,
    ) -> dict[str, Any]:
        """The run as soon as `done(run)` holds; the API may be down for a while meanwhile."""
        last: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            nonlocal last
            try:
                last = self.run(run_id)
            except httpx.TransportError:
                return None
            return last if done(last) else None

        try:
            return wait_for(check, f"run {run_id}: {what}", timeout)
        except AssertionError as exc:
            state = {k: last.get(k) for k in ("status", "epoch", "step", "attempts", "error")}
            raise AssertionError(f"{exc}; last seen {state}") from None

    def wait_status(self, run_id: int, status: str, timeout: float = WAIT_S) -> dict[str, Any]:
        """The run once it has reached `status`; fails at once on another final status."""

        def done(run: dict[str, Any]) -> bool:
            final = {"succeeded", "failed", "cancelled"} - {status}
            assert run["status"] not in final or (
                run["status"] == "failed" and (run["error"] or "").startswith("worker lost")
            ), f"run {run_id} ended {run['status']} ({run['error']}), expected {status}"
            return bool(run["status"] == status)

        return self.wait_until(run_id, done, f"status {status}", timeout)

    def wait_training(self, run_id: int, epoch: int, timeout: float = WAIT_S) -> dict[str, Any]:
        """The run once its worker reports steps of `epoch` (earlier epochs are stored)."""
        return self.wait_until(
            run_id,
            lambda run: run["status"] == "running" and run["epoch"] >= epoch and run["step"] >= 1,
            f"training in epoch {epoch}",
            timeout,
        )


class Stack:
    """One test's processes, settings and folders; `env` is what every process gets."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.data_dir.mkdir()
        self.checkpoints = root / "checkpoints"
        self.env = clean_env(
            RUNBOARD_DATABASE_URL=f"sqlite:///{root / 'runboard.db'}",
            RUNBOARD_BROKER_DB=str(root / "broker.sqlite"),
            RUNBOARD_CHECKPOINT_DIR=str(self.checkpoints),
            RUNBOARD_DATA_DIR=str(self.data_dir),
            RUNBOARD_DATA_DOWNLOAD="0",
            RUNBOARD_SSE_KEEPALIVE_S="0.5",
            RUNBOARD_HEARTBEAT_CHECK_S="0.5",
            PYTHONUNBUFFERED="1",  # logs reach their files as they are written
        )
        self.processes: list[Process] = []
        self.redis_port: int | None = None

    def spawn(self, name: str, argv: list[str]) -> Process:
        log = self.root / f"{len(self.processes):02d}-{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                argv,
                cwd=self.root,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = Process(name, argv, process, log)
        self.processes.append(started)
        return started

    def api(self, *, with_worker: bool = False, port: int | None = None) -> Api:
        """A started `runboard serve` (with `--no-worker` unless `with_worker`)."""
        return Api(self, port or free_port(), with_worker).start()

    def worker(self, api: Api, name: str = "w1") -> Process:
        """A started `runboard worker` reporting to `api` (it connects to the broker itself)."""
        self.env["RUNBOARD_API_URL"] = api.url
        process = self.spawn(f"worker-{name}", [RUNBOARD, "worker", "--name", f"{name}@test"])
        self.env.pop("RUNBOARD_API_URL")
        return process

    # ---- a private Redis ---------------------------------------------------------------

    def start_redis(self) -> Process:
        """A private redis-server without persistence, on this test's own port; the API
        and the workers started from now on use it as their broker."""
        if self.redis_port is None:
            self.redis_port = free_port()
            self.env["RUNBOARD_BROKER_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"
        argv = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.root)]
        process = self.spawn("redis", argv)
        client = redis.Redis(port=self.redis_port, socket_timeout=5)

        def answers() -> bool:
            assert process.alive(), f"redis-server exited:\n{process.output()}"
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_for(answers, f"redis-server on port {self.redis_port}", START_S)
        client.close()
        return process

    def stop_redis(self, process: Process) -> None:
        """SHUTDOWN NOSAVE: Redis goes away with everything in it (queued tasks included)."""
        assert self.redis_port is not None
        client = redis.Redis(port=self.redis_port, socket_timeout=5)
        with contextlib.suppress(redis.ConnectionError):
            client.shutdown(nosave=True)
        client.close()
        process.process.wait(STOP_S)

    # ---- teardown ----------------------------------------------------------------------

    def close(self, timeout: float = 20.0) -> None:
        """SIGTERM to every group, workers first, then the API, then Redis (each kind at
        once); SIGKILL to whatever is left of a group after `timeout` seconds."""
        for kind in ("worker", "serve", "redis"):
            group = [p for p in self.processes if p.name.split("-")[0] == kind]
            for process in group:
                process.signal_group(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for process in group:
                process.reap_group(deadline)

    def logs(self) -> str:
        parts = []
        for process in self.processes:
            text = process.output()
            parts.append(f"----- {process.log.name} ({' '.join(process.argv[1:])}) -----")
            parts.append(text[-LOG_TAIL:])
        return "\n".join(parts)


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remembers whether a test's body failed, for `stack` to print the logs."""
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


@pytest.fixture
def stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    """This test's stack, rooted (and run) in its own temporary directory."""
    monkeypatch.chdir(tmp_path)
    processes = Stack(tmp_path)
    try:
        yield processes
    finally:
        processes.close()
        if request.node.stash.get(_FAILED, False):
            print(processes.logs())
