"""runboard across hosts with faults: Redis and the API on one host, real `runboard worker`
processes on two others (network namespaces, tests/scaleout/conftest.py).

- a run trains on a worker host and its curve reaches a browser-like SSE client;
- a busy worker host's link is cut for 30 s mid-epoch, then restored: the run succeeds,
  every epoch and step stored once, never handed on (the heartbeat timeout is longer);
- a busy worker host's link is cut for longer than the heartbeat timeout: its worker stops
  when its lease lapses, the run is handed to the other host and resumes; it succeeds with
  every epoch and step stored once, and was never trained by both at once;
- two API processes on PostgreSQL: one is SIGKILLed mid-run, and a stream that followed it
  reconnects to the other with Last-Event-ID and misses nothing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.backend.conftest import _fresh_postgres_database
from tests.scaleout.conftest import Hosts, Relay
from tests.support.live import ServerProcess, Worker, create_run, http, run_redis, run_server
from tests.support.sse import SseEvent, SseReader, is_status, payload
from worker.schema.events import metric_points

pytestmark = pytest.mark.timeout(400)

# synthetic-easy, small but not tiny: a run must outlast the test's reaction to it. On a quiet
# 2-core machine an epoch of 128 steps takes about 1.3 s (16 steps of an 8-wide net took 0.07 s,
# and whole runs ended before the test saw their first step); a busy machine only slows it.
RUN: dict[str, Any] = {
    "dataset": "synthetic-easy", "device": "cpu", "train_subset": 4096, "test_subset": 128,
    "widths": [64, 64, 128, 128], "fc_width": 256, "batch_size": 32, "epochs": 5,
    "report_every": 1,
}  # fmt: skip
STEPS_PER_EPOCH = 4096 // 32
CUT_S = 30.0
SHORT_TIMEOUT_S = 6  # the heartbeat timeout of the stack whose link is cut for longer
LEASE_EPOCHS = 12  # that stack's run
WAIT_S = 240.0


@pytest.fixture(scope="module")
def broker_port(hosts: Hosts) -> Iterator[int]:
    prefix = hosts.exec_prefix("api")
    with run_redis(hosts.root / "redis", "0.0.0.0", prefix, hosts.api_from_tests) as url:
        yield int(url.rsplit(":", 1)[1].split("/")[0])


def _api(
    hosts: Hosts, stack: contextlib.ExitStack, name: str, url: str, **env: str
) -> ServerProcess:
    return stack.enter_context(
        run_server(
            url,
            hosts.root / name,
            {"RUNBOARD_HEARTBEAT_CHECK_S": "0.5", **env},
            args=("--host", "0.0.0.0"),
            prefix=hosts.exec_prefix("api"),
            host=hosts.api_from_tests,
        )
    )


def _online(server: ServerProcess, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_S
    while True:
        workers = http.get(f"{server.url}/api/workers").json()["workers"]
        online = [worker for worker in workers if worker["state"] != "lost"]
        if len(online) >= count:
            return online
        assert time.monotonic() < deadline, f"{len(online)} of {count} workers said hello"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def stack_a(hosts: Hosts, broker_port: int) -> Iterator[ServerProcess]:
    with contextlib.ExitStack() as stack:
        server = _api(
            hosts, stack, "a", f"sqlite:///{hosts.root / 'a.db'}",
            RUNBOARD_BROKER_URL=f"redis://127.0.0.1:{broker_port}/0",
            RUNBOARD_HEARTBEAT_TIMEOUT_S="60",
        )  # fmt: skip
        hosts.worker("w1", "a-w1", server.port, broker_port, 0)
        _online(server, 1)
        yield server


@pytest.fixture(scope="module")
def stack_b(hosts: Hosts, broker_port: int) -> Iterator[ServerProcess]:
    with contextlib.ExitStack() as stack:
        server = _api(
            hosts, stack, "b", f"sqlite:///{hosts.root / 'b.db'}",
            RUNBOARD_BROKER_URL=f"redis://127.0.0.1:{broker_port}/1",
            RUNBOARD_HEARTBEAT_TIMEOUT_S=str(SHORT_TIMEOUT_S),
        )  # fmt: skip
        hosts.worker("w1", "b-w1", server.port, broker_port, 1)
        hosts.worker("w2", "b-w2", server.port, broker_port, 1)
        _online(server, 2)
        yield server


def _run_stream(server: ServerProcess, run_id: int, **headers: str) -> SseReader:
    return SseReader(f"{server.url}/api/runs/{run_id}/stream", headers)


def _has(name: str) -> Any:
    return lambda event: (
        event.event == "metrics"
        and any(point["name"] == name for point in metric_points(payload(event)))
    )


def _stored(server: ServerProcess, run_id: int) -> list[tuple[str, int]]:
    """(name, step) of every metric point the API stored for the run."""
    reply = http.get(f"{server.url}/api/runs/{run_id}/metrics.csv")
    assert reply.status_code == 200, reply.text
    return [(row["name"], int(row["step"])) for row in csv.DictReader(io.StringIO(reply.text))]


def _assert_each_epoch_and_step_once(server: ServerProcess, run_id: int, epochs: int) -> None:
    stored = _stored(server, run_id)
    twice = [key for key, count in Counter(stored).items() if count > 1]
    assert not twice, f"stored more than once: {twice[:10]}"
    steps = sorted(step for name, step in stored if name == "batch_loss")
    assert steps == list(range(1, epochs * STEPS_PER_EPOCH + 1))
    assert sorted(step for name, step in stored if name == "test_acc") == list(range(1, epochs + 1))


def _accuracy(events: list[SseEvent]) -> list[float]:
    return [
        point["value"]
        for event in events
        if event.event == "metrics"
        for point in metric_points(payload(event))
        if point["name"] == "test_acc"
    ]


def _run(server: ServerProcess, run_id: int) -> dict[str, Any]:
    run: dict[str, Any] = http.get(f"{server.url}/api/runs/{run_id}").json()
    return run


def test_a_run_trained_on_a_worker_host_streams_its_curve_to_a_client(
    stack_a: ServerProcess,
) -> None:
    run = create_run(stack_a.url, overrides={**RUN, "epochs": 2})
    with _run_stream(stack_a, run["id"]) as stream:
        events = stream.read_until(is_status("succeeded"), timeout=WAIT_S)
    points = [
        point
        for event in events
        if event.event == "metrics"
        for point in metric_points(payload(event))
    ]
    accuracy = [point for point in points if point["name"] == "test_acc"]
    assert [point["epoch"] for point in accuracy] == [1, 2]
    assert len([point for point in points if point["name"] == "batch_loss"]) == 2 * STEPS_PER_EPOCH
    (worker,) = _online(stack_a, 1)  # the worker host said hello with what it holds
    assert worker["name"] == "a-w1@w1" and worker["device"] == "cpu"
    assert "synthetic-easy" in worker["datasets"] and "cifar100" not in worker["datasets"]


def test_a_busy_worker_hosts_link_cut_for_30_s_mid_epoch_loses_and_repeats_nothing(
    hosts: Hosts, stack_a: ServerProcess
) -> None:
    run = create_run(stack_a.url, overrides=RUN)
    with _run_stream(stack_a, run["id"]) as stream:
        stream.read_until(_has("batch_loss"), timeout=WAIT_S)  # training, mid-epoch 1
        hosts.cut("w1")
        try:
            cut_until = time.monotonic() + CUT_S
            while time.monotonic() < cut_until:  # the fault itself: 30 s without the link
                status = _run(stack_a, run["id"])["status"]
                assert status == "running", f"{status} while the worker's link was cut"
                time.sleep(1.0)
        finally:
            hosts.restore("w1")
        stream.read_until(is_status("succeeded"), timeout=WAIT_S)
    assert _run(stack_a, run["id"])["attempts"] == 1  # never handed on
    _assert_each_epoch_and_step_once(stack_a, run["id"], RUN["epochs"])


def _claims(events: list[SseEvent]) -> dict[int, datetime]:
    """attempt -> when it claimed the run (the heartbeat its claim set), from the stream."""
    found: dict[int, datetime] = {}
    for event in events:
        if is_status("running")(event):
            data = payload(event)
            found.setdefault(data["attempts"], datetime.fromisoformat(data["heartbeat_at"]))
    return found


def test_a_link_cut_beyond_the_heartbeat_timeout_hands_the_run_to_the_other_host_once(
    hosts: Hosts, stack_b: ServerProcess
) -> None:
    # Long enough (~16 s on a quiet machine) that the cut worker is still training when its
    # lease lapses: its hello names the run within 5 s, the lease lapses ~5 s after the cut.
    run = create_run(stack_b.url, overrides={**RUN, "epochs": LEASE_EPOCHS})
    with _run_stream(stack_b, run["id"]) as stream:
        events = stream.read_until(_has("batch_loss"), timeout=WAIT_S)
        deadline = time.monotonic() + WAIT_S
        while not (busy := [w for w in _online(stack_b, 1) if w["run_id"] == run["id"]]):
            assert time.monotonic() < deadline, "no worker says it trains the run"
            time.sleep(0.2)
        cut = busy[0]["name"].split("@")[1]
        hosts.cut(cut)
        cut_at = time.monotonic()
        try:
            while _run(stack_b, run["id"])["attempts"] < 2:
                assert time.monotonic() - cut_at < WAIT_S, "the run was never handed on"
                time.sleep(0.2)
            assert time.monotonic() - cut_at > SHORT_TIMEOUT_S
        finally:
            hosts.restore(cut)
        events += stream.read_until(is_status("succeeded"), timeout=WAIT_S)
    final = _run(stack_b, run["id"])
    assert final["attempts"] == 2 and final["status"] == "succeeded"
    _assert_each_epoch_and_step_once(stack_b, run["id"], LEASE_EPOCHS)
    # The cut worker stopped on its own once its lease lapsed, before the other claimed.
    log = (hosts.root / f"worker-b-{cut}.log").read_text(errors="replace")
    assert f"run {run['id']}: no contact with the API" in log, log[-3000:]
    claims = _claims(events)
    assert set(claims) == {1, 2} and claims[2] > claims[1]


def test_a_sigkilled_api_process_on_postgresql_leaves_streams_to_resume_on_the_other(
    hosts: Hosts, postgres_relay: Relay, postgres_server: str, broker_port: int
) -> None:
    fresh = contextlib.contextmanager(_fresh_postgres_database)
    with contextlib.ExitStack() as stack:
        direct = stack.enter_context(fresh(postgres_server))  # as the test reaches it
        name = direct.rsplit("/", 1)[1]
        relayed = (
            f"postgresql+psycopg://postgres@{hosts.tests_from_api}:{postgres_relay.port}/{name}"
        )
        env = {"RUNBOARD_BROKER_URL": f"redis://127.0.0.1:{broker_port}/2"}
        doomed = _api(hosts, stack, "c1", relayed, **env)
        survivor = _api(hosts, stack, "c2", relayed, **env)
        run = create_run(doomed.url)
        worker = Worker(survivor.url, direct, run["id"], epochs=4)  # reports to the survivor
        with _run_stream(doomed, run["id"]) as first:
            worker.start()
            worker.epoch(1, 0.1)
            worker.epoch(2, 0.2)
            seen = first.read_until(lambda event: _accuracy([event]) == [0.2])
            doomed.stopped = True  # killed on purpose: not a crash of the test's making
            doomed.process.send_signal(signal.SIGKILL)
            doomed.process.wait(10)
        worker.epoch(3, 0.3)  # while the client reconnects
        with _run_stream(survivor, run["id"], **{"Last-Event-ID": str(seen[-1].id)}) as second:
            worker.epoch(4, 0.4)
            worker.finish()
            seen += second.read_until(is_status("succeeded"))
        with _run_stream(survivor, run["id"]) as replay:  # the log as it stands
            everything = replay.read_until(is_status("succeeded"))
    kept = ("status", "metrics")  # progress rows are coalesced: only the latest is kept
    assert [e.id for e in seen if e.event in kept] == [e.id for e in everything if e.event in kept]
    assert _accuracy(seen) == [0.1, 0.2, 0.3, 0.4]  # every epoch, once
