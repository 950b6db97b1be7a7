"""Server-Sent Events read as a browser reads them, from a real server, while a simulated
worker posts its events: live delivery, history, resumption by Last-Event-ID, the global
stream, keep-alives and the heartbeat watchdog."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from backend.app.core.db import make_engine
from backend.app.models import StreamEvent
from tests.support.live import ServerProcess, Worker, create_run, http
from tests.support.sse import SseEvent, SseReader, is_status, payload
from worker.schema.events import metric_points

pytestmark = pytest.mark.timeout(60)


def kinds(events: list[SseEvent]) -> list[str]:
    return [event.event for event in events]


def ids(events: list[SseEvent]) -> list[int]:
    return [int(event.id or -1) for event in events]


def accuracy_of(event: SseEvent) -> float:
    (value,) = [p["value"] for p in metric_points(payload(event)) if p["name"] == "test_acc"]
    return float(value)


def run_stream(server: ServerProcess, run_id: int, query: str = "", **headers: str) -> SseReader:
    return SseReader(f"{server.url}/api/runs/{run_id}/stream{query}", headers)


def global_stream(server: ServerProcess) -> SseReader:
    return SseReader(f"{server.url}/api/stream")


def test_run_stream_delivers_status_progress_and_metrics_live_in_order(
    shared_server: ServerProcess,
) -> None:
    run = create_run(shared_server.url, overrides={"epochs": 2})
    worker = Worker(shared_server.url, shared_server.database_url, run["id"], epochs=2)
    with run_stream(shared_server, run["id"]) as stream:
        seen = stream.take(1)
        assert kinds(seen) == ["status"] and payload(seen[0])["status"] == "queued"

        worker.start()
        step = stream.take(2)
        assert kinds(step) == ["status", "progress"]
        assert payload(step[0])["status"] == "running" and payload(step[1])["epochs"] == 2
        seen += step
        for epoch, accuracy in ((1, 0.25), (2, 0.5)):
            worker.epoch(epoch, accuracy)  # each waits for the previous one's events: live
            step = stream.take(2)
            assert kinds(step) == ["metrics", "progress"]
            assert accuracy_of(step[0]) == accuracy
            assert {p["epoch"] for p in metric_points(payload(step[0]))} == {epoch}
            assert payload(step[1])["epoch"] == epoch
            assert payload(step[1])["final_test_acc"] == accuracy
            seen += step
        worker.finish()
        step = stream.take(2)
        assert kinds(step) == ["status", "progress"]
        assert payload(step[0])["status"] == "succeeded"
        seen += step
        assert stream.quiet(0.3) == []

    assert ids(seen) == sorted(set(ids(seen)))
    assert {payload(event).get("run_id", payload(event).get("id")) for event in seen} == {run["id"]}


def test_a_late_client_gets_the_runs_whole_history_then_live_events(
    shared_server: ServerProcess,
) -> None:
    run = create_run(shared_server.url)
    worker = Worker(shared_server.url, shared_server.database_url, run["id"])
    worker.start()
    worker.epoch(1, 0.2)
    worker.epoch(2, 0.4)
    with run_stream(shared_server, run["id"]) as stream:
        history = stream.take(5)
        # progress rows are coalesced: only the latest snapshot is kept for a late client
        assert kinds(history) == ["status", "status", "metrics", "metrics", "progress"]
        assert [payload(event)["status"] for event in history[:2]] == ["queued", "running"]
        assert [accuracy_of(event) for event in history if event.event == "metrics"] == [0.2, 0.4]
        assert stream.quiet(0.3) == []  # the history is all there was

        worker.epoch(3, 0.6)
        live = stream.take(2)
        assert kinds(live) == ["metrics", "progress"] and accuracy_of(live[0]) == 0.6
    worker.finish()  # nothing left running for the watchdog to fail later
    assert ids(history + live) == sorted(set(ids(history + live)))


def test_reconnecting_with_last_event_id_gets_exactly_the_later_events_then_live_ones(
    shared_server: ServerProcess,
) -> None:
    run = create_run(shared_server.url)
    worker = Worker(shared_server.url, shared_server.database_url, run["id"])
    worker.start()
    worker.epoch(1, 0.1)
    worker.epoch(2, 0.2)
    with run_stream(shared_server, run["id"]) as first:
        before = first.take(5)  # status, status, metrics, metrics, progress
    last_seen = before[2]  # the connection "dropped" after this event
    worker.epoch(3, 0.3)  # while no client is connected: its progress supersedes the last

    with run_stream(shared_server, run["id"], **{"Last-Event-ID": str(last_seen.id)}) as again:
        resumed = again.take(3)
        assert ids(resumed[:1]) == ids(before[3:4])  # the metrics the first client saw next
        assert [event.data for event in resumed[:1]] == [event.data for event in before[3:4]]
        assert kinds(resumed[1:]) == ["metrics", "progress"] and accuracy_of(resumed[1]) == 0.3
        assert payload(resumed[2])["epoch"] == 3  # the latest snapshot, not the stale one
        assert again.quiet(0.3) == []
        worker.finish()
        live = again.take(2)
        assert kinds(live) == ["status", "progress"] and payload(live[0])["status"] == "succeeded"
    after = ids(resumed + live)
    assert after == sorted(set(after)) and after[0] > int(str(last_seen.id))

    # ?since= is the same resumption for clients that cannot set the header.
    with run_stream(shared_server, run["id"], query=f"?since={last_seen.id}") as since:
        # all but epoch 3's progress, which the final one superseded
        assert ids(since.take(4)) == ids(resumed[:2] + live)
        assert since.quiet(0.3) == []


def test_global_stream_starts_ready_then_carries_all_runs_status_and_progress_not_metrics(
    shared_server: ServerProcess,
) -> None:
    earlier = create_run(shared_server.url)  # before the client connects: not replayed
    with global_stream(shared_server) as stream:
        (ready,) = stream.take(1)
        assert ready.event == "ready" and payload(ready)["last_id"] == int(str(ready.id)) > 0

        first, second = create_run(shared_server.url), create_run(shared_server.url)
        worker = Worker(shared_server.url, shared_server.database_url, first["id"], epochs=1)
        worker.start()
        worker.epoch(1, 0.3)
        worker.finish()
        events = stream.read_until(
            lambda event: is_status("succeeded")(event) and payload(event)["id"] == first["id"]
        )
        events += stream.take(1)
        events += stream.quiet(0.3)  # expected: nothing

    ours = {earlier["id"], first["id"], second["id"]}
    events = [event for event in events if payload(event)["id"] in ours]
    # Progress rows are coalesced, so a live client may see fewer than were written (a
    # newer snapshot replaced one before it was read), but always the latest, and every status.
    assert [kind for kind in kinds(events) if kind == "status"] == ["status"] * 4
    assert kinds(events)[-1] == "progress" and "metrics" not in kinds(events)
    assert [payload(event)["id"] for event in events[:2]] == [first["id"], second["id"]]
    assert {payload(event)["id"] for event in events} == {first["id"], second["id"]}
    assert earlier["id"] not in {payload(event)["id"] for event in events}
    assert payload(events[-1])["final_test_acc"] == 0.3  # the epoch's progress, not its points
    assert ids(events) == sorted(set(ids(events))) and ids(events)[0] > int(str(ready.id))

    with run_stream(shared_server, first["id"]) as own:  # the run's own stream has them
        assert kinds(own.take(5)).count("metrics") == 1


@pytest.mark.parametrize("value", ["abc", "-1", str(2**62), "1" * 40])
def test_malformed_last_event_id_is_refused_with_422_naming_the_header(
    shared_server: ServerProcess, value: str
) -> None:
    run = create_run(shared_server.url)
    for path in ("/api/stream", f"/api/runs/{run['id']}/stream"):
        headers = {"Last-Event-ID": value}
        with http.stream("GET", shared_server.url + path, headers=headers) as reply:
            assert reply.status_code == 422, path
            reply.read()
        assert reply.json()["detail"][0]["loc"] == ["header", "last-event-id"]


def test_idle_streams_get_keep_alive_comments(shared_server: ServerProcess) -> None:
    run = create_run(shared_server.url)
    with run_stream(shared_server, run["id"]) as own, global_stream(shared_server) as everyone:
        own.take(1)
        everyone.take(1)
        assert own.quiet(2.0) == [] and everyone.quiet(0) == []
    # 0.5 s apart on this server: about four in 2 s; a loaded machine may delay some.
    assert own.comments.count(": keep-alive") >= 2
    assert everyone.comments.count(": keep-alive") >= 2


def test_watchdog_fails_a_silent_run_as_worker_lost_on_the_streams_but_not_a_beating_one(
    start_server: Callable[..., ServerProcess], database_url: str
) -> None:
    server = start_server(RUNBOARD_HEARTBEAT_TIMEOUT_S="2", RUNBOARD_HEARTBEAT_CHECK_S="0.2")
    silent, beating = create_run(server.url), create_run(server.url)
    silent_worker = Worker(server.url, database_url, silent["id"])
    beating_worker = Worker(server.url, database_url, beating["id"])
    with run_stream(server, silent["id"]) as stream, global_stream(server) as everyone:
        stream.take(1)
        everyone.take(1)
        silent_worker.start()
        beating_worker.start()
        started = time.monotonic()
        assert kinds(stream.take(2)) == ["status", "progress"]

        lost: list[SseEvent] = []
        while not lost:
            assert time.monotonic() - started < 15, "the watchdog never failed the silent run"
            beating_worker.heartbeat()
            lost = [event for event in stream.quiet(0.2) if event.event == "status"]
        waited = time.monotonic() - started
        failures = everyone.read_until(is_status("failed"))

    assert waited > 1.0  # not right away: after 2 s of silence
    assert payload(lost[0])["status"] == "failed"
    assert payload(lost[0])["error"].startswith("worker lost")
    assert payload(failures[-1])["id"] == silent["id"]
    assert all(payload(event)["status"] == "running" for event in failures[:-1])
    assert http.get(f"{server.url}/api/runs/{beating['id']}").json()["status"] == ("running")


def test_the_stream_of_an_unknown_run_is_404_not_an_empty_stream(
    shared_server: ServerProcess,
) -> None:
    with http.stream("GET", f"{shared_server.url}/api/runs/999999/stream") as reply:
        assert reply.status_code == 404


def _stream_rows(database_url: str, run_id: int) -> int:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            query = select(func.count()).select_from(StreamEvent)
            return session.exec(query.where(StreamEvent.run_id == run_id)).one()
    finally:
        engine.dispose()


def test_finished_runs_rows_are_compacted_after_the_retention_and_late_clients_get_reset(
    start_server: Callable[..., ServerProcess], database_url: str
) -> None:
    server = start_server(RUNBOARD_EVENT_RETENTION="1s", RUNBOARD_HEARTBEAT_CHECK_S="0.2")
    run = create_run(server.url)
    worker = Worker(server.url, database_url, run["id"])
    worker.start()
    with run_stream(server, run["id"]) as first:
        early = first.take(2)[-1]  # a client that then went away for longer than the retention
    for epoch in (1, 2, 3):
        worker.epoch(epoch, epoch / 10)
    # queued, running, three metrics, one progress: the progress rows were coalesced
    assert _stream_rows(database_url, run["id"]) == 6
    worker.finish()
    deadline = time.monotonic() + 20
    while _stream_rows(database_url, run["id"]) != 1:
        assert time.monotonic() < deadline, "the finished run's rows were never compacted"
        time.sleep(0.1)

    with run_stream(server, run["id"]) as fresh:  # a new client: the final state
        (final,) = fresh.take(1)
        assert is_status("succeeded")(final) and payload(final)["final_test_acc"] == 0.3
    resume = {"Last-Event-ID": str(early.id)}
    with run_stream(server, run["id"], **resume) as late:
        (reset,) = late.take(1)
        assert reset.event == "reset" and payload(reset)["last_id"] == int(str(reset.id))
        assert late.quiet(0.3) == []
    with SseReader(f"{server.url}/api/stream", resume) as everyone:
        (reset,) = everyone.take(1)
        assert reset.event == "reset"
        later = create_run(server.url)  # and then it is live again
        (created,) = everyone.take(1)
        assert is_status("queued")(created) and payload(created)["id"] == later["id"]
