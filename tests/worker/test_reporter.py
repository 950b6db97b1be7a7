"""The worker's reporter against a real API: buffered, numbered, folded, retried, fenced."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live import (
    ServerProcess,
    create_run,
    free_port,
    ingest_token,
    run_server,
)
from worker.client import ApiClient
from worker.job import worker_host
from worker.reporter import Reporter
from worker.schema.events import Batch


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    database_url = f"sqlite:///{tmp_path / 'runboard.db'}"
    with run_server(database_url, tmp_path / "server", {}) as server:
        yield server, database_url


def _claimed_reporter(url: str, database_url: str) -> tuple[int, Reporter]:
    run = create_run(url, preset="2")
    token = ingest_token(database_url, run["id"])
    with ApiClient(url, token) as api:
        claimed = api.claim(run["id"], worker_host())
    reporter = Reporter(url, run["id"], token, claimed.next_seq, attempt=claimed.attempt)
    return run["id"], reporter


def _batch(global_step: int) -> dict[str, float]:
    return {"epoch": 1, "step": global_step, "global_step": global_step, "loss": 5.0 / global_step}


def test_every_batch_loss_arrives_once_in_order_folded_into_few_events(
    api: tuple[ServerProcess, str],
) -> None:
    server, database_url = api
    run_id, reporter = _claimed_reporter(server.url, database_url)
    reporter.start()
    for step in range(1, 2001):
        reporter.emit(Batch(**_batch(step)))
    assert reporter.close(60)
    series = httpx.get(f"{server.url}/api/runs/{run_id}/metrics").json()["series"]
    steps = [point["step"] for point in series["batch_loss"]]
    assert steps == list(range(1, 2001))
    assert series["batch_loss"][9]["value"] == pytest.approx(0.5)
    run = httpx.get(f"{server.url}/api/runs/{run_id}").json()
    assert run["epoch"] == 1 and run["step"] == 2000
    assert run["status"] == "running"


@contextlib.contextmanager
def _serve_on(port: int, database_url: str, workdir: Path) -> Iterator[str]:
    """A real API on a given port (a restart keeps its address, as a worker expects)."""
    with run_server(database_url, workdir, port=port) as server:
        yield server.url


def test_events_emitted_while_the_api_is_down_are_delivered_after_it_returns(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'runboard.db'}"
    port = free_port()
    with _serve_on(port, database_url, tmp_path / "one") as url:
        run_id, reporter = _claimed_reporter(url, database_url)
        reporter.start()
        reporter.emit(Batch(**_batch(1)))
        time.sleep(1.0)
    for step in range(2, 51):  # the API is down: these wait in the buffer
        reporter.emit(Batch(**_batch(step)))
    time.sleep(1.5)  # the reporter retries meanwhile
    with _serve_on(port, database_url, tmp_path / "two") as url:
        assert reporter.close(120)
        series = httpx.get(f"{url}/api/runs/{run_id}/metrics").json()["series"]
    assert [point["step"] for point in series["batch_loss"]] == list(range(1, 51))


def test_steps_piled_up_past_the_body_limit_during_an_outage_arrive_in_several_posts(
    tmp_path: Path,
) -> None:
    """120,000 buffered steps are ~7 MB of JSON, over the API's 4 MiB limit for one body."""
    database_url = f"sqlite:///{tmp_path / 'runboard.db'}"
    port, steps = free_port(), 120_000
    with _serve_on(port, database_url, tmp_path / "one") as url:
        run_id, reporter = _claimed_reporter(url, database_url)
        reporter.start()
        reporter.emit(Batch(**_batch(1)))
        time.sleep(1.0)
    for step in range(2, steps + 1):  # the API is down: these wait in the buffer
        reporter.emit(Batch(**{**_batch(step), "epoch": 1 + step // 400}))
    with _serve_on(port, database_url, tmp_path / "two"):
        assert reporter.close(120), "the buffered steps were not all delivered"
        assert reporter.rejected is None
    with sqlite3.connect(tmp_path / "runboard.db") as connection:
        stored = connection.execute(
            "SELECT count(*), count(DISTINCT step), min(step), max(step) FROM metric_point"
            " WHERE run_id = ? AND name = 'batch_loss'",
            (run_id,),
        ).fetchone()
    assert stored == (steps, steps, 1, steps)
    assert reporter.sent_batches >= 6  # 20,000 steps a post at most


def test_a_cancel_requested_in_the_api_reaches_should_stop(
    api: tuple[ServerProcess, str],
) -> None:
    server, database_url = api
    run_id, reporter = _claimed_reporter(server.url, database_url)
    reporter.start()
    assert not reporter.should_stop()
    httpx.post(f"{server.url}/api/runs/{run_id}/cancel").raise_for_status()
    deadline = time.monotonic() + 30
    while not reporter.should_stop() and time.monotonic() < deadline:
        time.sleep(0.1)  # the next heartbeat's reply carries the request
    assert reporter.should_stop()
    reporter.close(30)


def test_an_older_attempt_is_fenced_out_once_another_worker_claims_the_run(
    api: tuple[ServerProcess, str],
) -> None:
    server, database_url = api
    run_id, old = _claimed_reporter(server.url, database_url)
    token = ingest_token(database_url, run_id)
    with ApiClient(server.url, token) as api:  # same host name: a restarted worker may re-claim
        newer = api.claim(run_id, worker_host())
    assert newer.attempt == 2
    old.start()
    old.emit(Batch(**_batch(1)))
    old.close(30)
    assert old.should_stop() and old.rejected is not None and "superseded" in old.rejected
    series = httpx.get(f"{server.url}/api/runs/{run_id}/metrics").json()["series"]
    assert "batch_loss" not in series


def test_a_reporter_out_of_contact_for_most_of_its_lease_stops_and_sends_nothing_more(
    api: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, database_url = api
    run = create_run(server.url, preset="2")
    token = ingest_token(database_url, run["id"])
    with ApiClient(server.url, token) as client:
        claimed = client.claim(run["id"], worker_host())
    assert claimed.lease_s == 120  # the API's heartbeat timeout
    # The same run reported to an address where nothing answers: a cut link, as it sees it.
    lost = Reporter(
        f"http://127.0.0.1:{free_port()}", run["id"], token, claimed.next_seq,
        attempt=claimed.attempt, lease_s=1.0,
    ).start()  # fmt: skip
    lost.emit(Batch(**_batch(1)))
    deadline = time.monotonic() + 10
    while not lost.should_stop():  # 80 % of the lease without contact
        assert time.monotonic() < deadline, "the reporter kept going past its lease"
        time.sleep(0.05)
    assert lost.abandoned
    lost.emit(Batch(**_batch(2)))  # dropped: the run is about to be handed on
    started = time.monotonic()
    assert not lost.close(60) and time.monotonic() - started < 15
    series = httpx.get(f"{server.url}/api/runs/{run['id']}/metrics").json()["series"]
    assert series.get("batch_loss", []) == []


def test_resources_are_sampled_on_the_reporting_thread_and_the_summary_keeps_peak_memory(
    api: tuple[ServerProcess, str],
) -> None:
    server, database_url = api
    run = create_run(server.url, preset="2")
    token = ingest_token(database_url, run["id"])
    with ApiClient(server.url, token) as client:
        claimed = client.claim(run["id"], worker_host())
    reporter = Reporter(
        server.url, run["id"], token, claimed.next_seq, claimed.attempt, sample_resources=True
    ).start()
    reporter.emit(Batch(**_batch(7)))  # a position to sample at: epoch 1, step 7
    deadline = time.monotonic() + 30
    series: dict[str, list[dict[str, float]]] = {}
    while "rss_mb" not in series and time.monotonic() < deadline:
        series = httpx.get(f"{server.url}/api/runs/{run['id']}/metrics").json()["series"]
        time.sleep(0.1)
    assert reporter.close(60)

    assert series["rss_mb"][0]["step"] == 7 and series["rss_mb"][0]["value"] > 10  # MiB
    assert "cpu_percent" in series
    assert not any(name.startswith(("cuda_", "gpu_")) for name in series)  # no GPU here
    peak = httpx.get(f"{server.url}/api/runs/{run['id']}").json()["peak_rss_mb"]
    assert peak == max(point["value"] for point in series["rss_mb"])
