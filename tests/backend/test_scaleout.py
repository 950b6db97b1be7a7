"""Several API processes on one database: a commit in one wakes the streams of the others
(PostgreSQL LISTEN/NOTIFY, or Redis pub/sub on SQLite), one watchdog hands a lost run on
exactly once, and `serve --api-workers N` runs N processes on one port."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from tests.backend.conftest import _fresh_postgres_database
from tests.support.live import Worker, create_run, http, run_redis, run_server
from tests.support.sse import SseReader, is_status, payload
from worker.schema.events import metric_points

# Streams would see a commit of another process at their next keep-alive anyway: 8 s apart
# here, so that only the bus delivers within the test's waits (5 s; readers stop within one).
SLOW_KEEPALIVE = {"RUNBOARD_SSE_KEEPALIVE_S": "8"}
WAIT_S = 5.0


@pytest.fixture(params=["postgresql", "sqlite+redis"])
def shared_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str]]]:
    """A database two API processes share, and the settings that let them relay commits."""
    if request.param == "postgresql":
        fresh = contextlib.contextmanager(_fresh_postgres_database)
        with fresh(request.getfixturevalue("postgres_server")) as url:
            yield url, {}
    else:
        with run_redis(tmp_path / "redis") as broker:
            yield f"sqlite:///{tmp_path / 'runboard.db'}", {"RUNBOARD_BROKER_URL": broker}


def test_an_event_ingested_through_one_api_process_reaches_a_stream_on_another(
    shared_database: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = shared_database
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(run_server(url, tmp_path / "a", {**env, **SLOW_KEEPALIVE}))
        second = stack.enter_context(run_server(url, tmp_path / "b", {**env, **SLOW_KEEPALIVE}))
        run = create_run(first.url)
        worker = Worker(first.url, url, run["id"])
        with (
            SseReader(f"{second.url}/api/runs/{run['id']}/stream") as own,
            SseReader(f"{second.url}/api/stream") as everyone,
        ):
            own.take(1)  # its `queued` status: the history
            everyone.take(1)  # ready
            worker.start()
            worker.epoch(1, 0.25)
            events = own.read_until(lambda event: event.event == "metrics", timeout=WAIT_S)
            accuracy = [
                p["value"] for p in metric_points(payload(events[-1])) if p["name"] == "test_acc"
            ]
            assert accuracy == [0.25]
            worker.finish()
            everyone.read_until(is_status("succeeded"), timeout=WAIT_S)


def test_two_api_processes_hand_a_lost_run_on_exactly_once(
    postgres_server: str, tmp_path: Path
) -> None:
    fresh = contextlib.contextmanager(_fresh_postgres_database)
    watchdog = {"RUNBOARD_HEARTBEAT_TIMEOUT_S": "1", "RUNBOARD_HEARTBEAT_CHECK_S": "0.1"}
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh(postgres_server))
        broker = stack.enter_context(run_redis(tmp_path / "redis"))
        env = {**watchdog, "RUNBOARD_BROKER_URL": broker}
        first = stack.enter_context(run_server(url, tmp_path / "a", env))
        stack.enter_context(run_server(url, tmp_path / "b", env))
        queue = redis.Redis.from_url(broker)
        run = create_run(first.url)
        assert queue.llen("runboard") == 1  # published once when created
        Worker(first.url, url, run["id"]).start()  # then the worker goes silent
        deadline = time.monotonic() + 20
        while http.get(f"{first.url}/api/runs/{run['id']}").json()["status"] != "failed":
            assert time.monotonic() < deadline, "the silent run was never failed"
            time.sleep(0.1)
        time.sleep(1.0)  # ten more sweeps of each process
        assert queue.llen("runboard") == 2  # handed on once, not once per process
        with SseReader(f"{first.url}/api/runs/{run['id']}/stream") as stream:
            history = stream.read_until(is_status("failed"))
            history += stream.quiet(0.5)
        failures = [event for event in history if is_status("failed")(event)]
        assert len(failures) == 1 and payload(failures[0])["failure"] == "worker_lost"


def test_serve_with_api_workers_runs_that_many_processes_on_one_port(
    postgres_server: str, tmp_path: Path
) -> None:
    fresh = contextlib.contextmanager(_fresh_postgres_database)
    with (
        fresh(postgres_server) as url,
        run_server(url, tmp_path, SLOW_KEEPALIVE, args=("--api-workers", "2")) as server,
    ):
        children = psutil.Process(server.process.pid).children()
        api = [child for child in children if "spawn" in " ".join(child.cmdline())]
        assert len(api) == 2, [child.cmdline() for child in children]
        run = create_run(server.url)
        worker = Worker(server.url, url, run["id"])
        # Each request may land on either process: whichever wrote, the stream hears it.
        with SseReader(f"{server.url}/api/runs/{run['id']}/stream") as stream:
            stream.take(1)
            worker.start()
            for epoch in (1, 2, 3):
                worker.epoch(epoch, epoch / 10)
                stream.read_until(lambda event: event.event == "metrics", timeout=WAIT_S)
            worker.finish()
            stream.read_until(is_status("succeeded"), timeout=WAIT_S)
