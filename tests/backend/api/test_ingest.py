"""Worker ingest: numbered batches, idempotent retries, tokens, cancel and the watchdog."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from backend.app import crud
from backend.app.core.config import Settings
from backend.app.main import create_app
from backend.app.models import MetricPoint
from tests.backend.api.helpers import (
    Worker,
    app_engine,
    batch,
    create_run,
    db_dump,
    epoch_end,
    failed,
    finished,
    finished_run,
    get_run,
    heartbeat,
    ingest_token,
    number,
    post_events,
    post_events_with_nan,
    running_run,
    started,
    status_running,
    worker_events,
)
from tests.backend.conftest import RecordingDispatcher


def point_count(client: TestClient, run_id: int) -> int:
    with Session(app_engine(client)) as session:
        query = select(func.count()).where(col(MetricPoint.run_id) == run_id)
        return session.exec(query).one()


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# ---- progress ------------------------------------------------------------------------------


def test_a_worker_stream_drives_the_run_from_queued_to_succeeded(client: TestClient) -> None:
    run_id = create_run(client)["id"]
    token = ingest_token(client, run_id)
    events = worker_events(epochs=2, steps_per_epoch=3, finish="succeeded")

    first = post_events(client, run_id, events[:2], token)  # status, started
    running = get_run(client, run_id)
    rest = post_events(client, run_id, events[2:], token)

    assert first.json() == {"accepted_through": 2, "cancel_requested": False, "status": "running"}
    assert running["status"] == "running"
    assert (running["worker_host"], running["device"]) == ("gpu-box-1", "Test CPU (cpu)")
    assert (running["epochs"], running["steps_per_epoch"], running["parameters"]) == (2, 3, 1000)
    assert running["started_at"] is not None and running["heartbeat_at"] is not None
    assert rest.json() == {
        "accepted_through": len(events),
        "cancel_requested": False,
        "status": "succeeded",
    }
    run = get_run(client, run_id)
    assert run["status"] == "succeeded" and run["finished_at"] is not None
    assert (run["epoch"], run["step"]) == (2, 3)
    assert run["final_test_acc"] == 0.1 and run["best_test_acc"] == 0.1
    assert run["final_train_loss"] == 3.0 and run["final_test_loss"] == 4.2 - 0.8
    assert run["images_per_second"] == 1002.0 and run["duration_s"] == 12.5
    assert run["result"] == {"total_seconds": 12.5}


def test_failed_event_records_the_error_and_the_run_takes_no_more_events(
    client: TestClient,
) -> None:
    run_id, worker = running_run(client)

    reply = worker.ok(failed("CUDA out of memory", "Traceback: line 1"))
    again = worker.send(status_running())

    run = get_run(client, run_id)
    assert reply["status"] == "failed"
    assert (run["status"], run["error"], run["traceback"]) == (
        "failed",
        "CUDA out of memory",
        "Traceback: line 1",
    )
    assert run["finished_at"] is not None
    assert again.status_code == 409  # failed by its worker: not revivable
    assert get_run(client, run_id) == run


def test_why_a_run_failed_is_a_field_and_only_a_lost_worker_makes_it_revivable(
    client: TestClient,
) -> None:
    crashed, worker = running_run(client)
    # An error text that merely starts like the watchdog's does not make the run revivable.
    worker.ok(failed("worker lost its mind: CUDA out of memory"))
    assert get_run(client, crashed)["failure"] == "error"
    assert worker.send(status_running()).status_code == 409

    misconfigured, worker = running_run(client)
    worker.ok(("failed", {"error": "CIFAR-100 not found", "user_error": True}))
    assert get_run(client, misconfigured)["failure"] == "user_error"

    lost, worker = running_run(client)
    with Session(app_engine(client)) as session:
        crud.mark_lost_runs(session, -1.0)
        session.commit()
    assert get_run(client, lost)["failure"] == "worker_lost"
    worker.ok(heartbeat())  # revived: no failure any more
    assert (get_run(client, lost)["status"], get_run(client, lost)["failure"]) == (
        "running",
        None,
    )


def test_worker_values_that_would_not_fit_the_database_are_cut_or_stored_as_null(
    client: TestClient,
) -> None:
    run_id = create_run(client)["id"]
    worker = Worker(client, run_id)
    kind, data = started()
    worker.ok(status_running(), (kind, {**data, "device_name": "d" * 255}))
    nan, inf = float("nan"), float("inf")
    result = {
        "total_seconds": nan,
        "per_class_accuracy": [0.5, nan],
        "confusion": [[1, 2]],
        "history": [{"loss": inf}],
    }
    events = number([("finished", {"status": "succeeded", "result": result})], worker.seq + 1)

    response = post_events_with_nan(client, run_id, events, worker.token)

    assert response.status_code == 200, response.text
    run = get_run(client, run_id)
    assert len(run["device"]) == 255 and run["device"].startswith("ddd")
    assert run["status"] == "succeeded"
    assert run["result"] == {
        "total_seconds": None,
        "per_class_accuracy": [0.5, None],
        "confusion": [[1, 2]],
    }
    assert run["duration_s"] is None


# ---- idempotency and order ----------------------------------------------------------------


def test_a_retried_batch_stores_nothing_twice(client: TestClient) -> None:
    run_id = create_run(client)["id"]
    token = ingest_token(client, run_id)
    events = worker_events(epochs=2, steps_per_epoch=3)

    first = post_events(client, run_id, events, token)
    stored = db_dump(app_engine(client))
    again = post_events(client, run_id, events, token)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    dump = db_dump(app_engine(client))
    assert dump["metric_point"] == stored["metric_point"]
    assert dump["stream_event"] == stored["stream_event"]
    assert point_count(client, run_id) == 2 * 3 + 2 * 7


def test_an_overlapping_batch_applies_only_its_new_events(client: TestClient) -> None:
    run_id = create_run(client)["id"]
    token = ingest_token(client, run_id)
    events = worker_events(epochs=2, steps_per_epoch=3)  # 10 events

    post_events(client, run_id, events[:6], token)
    reply = post_events(client, run_id, events[3:], token)  # 4..6 again, then 7..10

    assert reply.json()["accepted_through"] == 10
    steps = [
        p["step"] for p in client.get(f"/api/runs/{run_id}/metrics").json()["series"]["batch_loss"]
    ]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_a_gap_in_sequence_numbers_is_a_409_that_stores_nothing(client: TestClient) -> None:
    run_id, worker = running_run(client)  # seq 1, 2 stored
    before = db_dump(app_engine(client))

    response = post_events(client, run_id, number([batch(1, 1, 1, 2.0)], first_seq=4), worker.token)

    assert response.status_code == 409
    assert "expected 3" in response.json()["detail"]
    assert db_dump(app_engine(client)) == before
    assert worker.send(batch(1, 1, 1, 2.0)).status_code == 200  # seq 3 still fits


# ---- tokens --------------------------------------------------------------------------------


def test_ingest_needs_the_runs_own_token(client: TestClient) -> None:
    run_id = create_run(client)["id"]
    other_id = create_run(client)["id"]
    events = worker_events(epochs=1, steps_per_epoch=1)
    before = db_dump(app_engine(client))

    missing = post_events(client, run_id, events, None)
    wrong = post_events(client, run_id, events, "not-the-token")
    others = post_events(client, run_id, events, ingest_token(client, other_id))
    basic = client.post(
        f"/api/runs/{run_id}/events",
        json={"events": events},
        headers={"Authorization": f"Basic {ingest_token(client, run_id)}"},
    )

    for response in (missing, wrong, others, basic):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
    assert db_dump(app_engine(client)) == before
    assert post_events(client, run_id, events, ingest_token(client, run_id)).status_code == 200
    unknown = post_events(client, 9999, events, ingest_token(client, run_id))
    assert unknown.status_code == 404


# ---- finished runs -------------------------------------------------------------------------


def test_events_for_a_finished_run_are_a_409(client: TestClient) -> None:
    succeeded, worker = finished_run(client, epochs=1)
    failed_id, failed_worker = running_run(client)
    failed_worker.ok(failed("boom"))
    assert get_run(client, succeeded)["status"] == "succeeded"
    assert get_run(client, failed_id)["status"] == "failed"
    cancelled = create_run(client)["id"]
    client.post(f"/api/runs/{cancelled}/cancel")
    before = db_dump(app_engine(client))

    late = worker.send(heartbeat())
    after_failure = failed_worker.send(batch(1, 1, 1, 1.0))
    cancelled_start = Worker(client, cancelled).send(status_running())

    for response in (late, after_failure, cancelled_start):
        assert response.status_code == 409, response.text
    assert "succeeded" in late.json()["detail"]
    assert db_dump(app_engine(client)) == before
    assert get_run(client, cancelled)["status"] == "cancelled"


def test_retrying_the_batch_that_finished_a_run_is_accepted_and_changes_nothing(
    client: TestClient,
) -> None:
    run_id = create_run(client)["id"]
    token = ingest_token(client, run_id)
    events = worker_events(epochs=1, steps_per_epoch=2, finish="succeeded")
    assert post_events(client, run_id, events, token).status_code == 200
    before = db_dump(app_engine(client))

    retry = post_events(client, run_id, events[-2:], token)

    assert retry.status_code == 200
    assert retry.json()["status"] == "succeeded"
    assert db_dump(app_engine(client)) == before


# ---- cancel --------------------------------------------------------------------------------


def test_the_reply_tells_the_worker_once_cancel_was_requested(client: TestClient) -> None:
    run_id, worker = running_run(client)
    assert worker.ok(heartbeat())["cancel_requested"] is False

    client.post(f"/api/runs/{run_id}/cancel")

    assert worker.ok(batch(1, 1, 1, 2.0))["cancel_requested"] is True
    retry = post_events(client, run_id, number([heartbeat()], first_seq=1), worker.token)
    assert retry.json() == {
        "accepted_through": worker.seq,
        "cancel_requested": True,
        "status": "running",
    }


# ---- heartbeat watchdog --------------------------------------------------------------------


def with_changes(settings: Settings, **changes: Any) -> Settings:
    return Settings(**{**settings.model_dump(), **changes})


def test_the_watchdog_fails_a_silent_running_run_and_a_later_event_revives_it(
    settings: Settings, dispatcher: RecordingDispatcher
) -> None:
    fast = with_changes(settings, heartbeat_timeout_s=0.5, heartbeat_check_s=0.05)
    with TestClient(create_app(fast, dispatcher)) as client:
        run_id, worker = running_run(client)
        queued_id = create_run(client)["id"]

        wait_for(lambda: get_run(client, run_id)["status"] != "running")

        lost = get_run(client, run_id)
        assert lost["status"] == "failed"
        assert lost["error"].startswith("worker lost")
        assert lost["finished_at"] is not None
        assert get_run(client, queued_id)["status"] == "queued"  # never started: not lost

    # The same database under the default timeout of minutes: nothing races the revival.
    with TestClient(create_app(settings, dispatcher)) as client:
        worker.client = client
        reply = worker.ok(heartbeat())

        assert reply["status"] == "running"
        revived = get_run(client, run_id)
        assert revived["status"] == "running"
        assert revived["error"] is None and revived["finished_at"] is None


def test_a_lost_run_is_revived_by_any_new_event_and_can_finish_cleanly(client: TestClient) -> None:
    run_id, worker = running_run(client)

    def lose() -> None:
        with Session(app_engine(client)) as session:
            assert [run.id for run in crud.mark_lost_runs(session, -1.0)] == [run_id]
            session.commit()
        assert get_run(client, run_id)["status"] == "failed"

    lose()
    assert worker.ok(started(start_epoch=1, epochs=3, steps_per_epoch=4))["status"] == "running"
    assert get_run(client, run_id)["error"] is None
    lose()
    assert worker.ok(batch(1, 1, 1, 2.0))["status"] == "running"
    lose()
    reply = worker.ok(epoch_end(1), finished())  # straight from 'worker lost' to the end

    assert reply["status"] == "succeeded"
    run = get_run(client, run_id)
    assert run["status"] == "succeeded" and run["error"] is None
    assert run["final_test_acc"] == 0.05
