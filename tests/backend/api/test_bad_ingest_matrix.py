"""Worker ingest and claims, table-driven: gaps, repeats, wrong tokens, stale attempts,
finished runs, malformed and oversize batches each get their clear answer, and the
database is unchanged afterwards (a repeated batch is accepted and changes nothing).
Runs on SQLite and on PostgreSQL, like every API test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient

from tests.backend.api.helpers import (
    Worker,
    app_engine,
    batch,
    create_run,
    epoch_end,
    failed,
    finished_run,
    heartbeat,
    number,
    running_run,
    started,
    status_running,
)
from tests.backend.dbstate import unchanged

MiB = 1024 * 1024


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_bad_ingest_batch_gets_its_4xx_and_stores_nothing(client: TestClient) -> None:
    run, worker = running_run(client)  # seq 1..2 stored
    _, other_worker = running_run(client)
    done, done_worker = finished_run(client, epochs=1)
    cancelled = create_run(client)["id"]
    assert client.post(f"/api/runs/{cancelled}/cancel").status_code == 200
    stored = number([status_running(), started()], first_seq=1)  # what seq 1..2 were
    nxt = worker.seq + 1

    def events(*raw: tuple[str, dict[str, Any]], first: int = nxt) -> dict[str, Any]:
        return {"events": number(list(raw), first_seq=first)}

    def columns(**changes: Any) -> dict[str, Any]:
        data = {"epoch": [1, 1], "step": [1, 2], "global_step": [1, 2], "loss": [1.0, 0.9]}
        data["time"] = [1.0, 2.0]
        event = {"seq": nxt, "time": 1.0, "kind": "batches", "data": {**data, **changes}}
        return {"events": [event]}

    url, mine = f"/api/runs/{run}/events", bearer(worker.token)
    cancelled_token, from_one = (
        bearer(Worker(client, cancelled).token),
        events(heartbeat(), first=1),
    )
    basic = {"Authorization": f"Basic {worker.token}"}
    gap_inside = events(heartbeat())["events"] + events(heartbeat(), first=nxt + 2)["events"]
    backwards = events(heartbeat(), heartbeat())["events"][::-1]
    late = events(heartbeat(), first=done_worker.seq + 1)
    loss_text = ("batch", {"epoch": 1, "step": 1, "global_step": 1, "loss": "low"})
    no_columns: dict[str, list[Any]] = {
        name: [] for name in ("epoch", "step", "global_step", "loss", "time")
    }
    table: list[tuple[str, str, dict[str, str], Any, int]] = [
        # what, url, headers, body, status
        ("a gap in the numbers", url, mine, events(heartbeat(), first=nxt + 1), 409),
        ("a gap inside the batch", url, mine, {"events": gap_inside}, 422),
        ("numbers going backwards", url, mine, {"events": backwards}, 422),
        ("the same batch again", url, mine, {"events": stored}, 200),
        ("a stale attempt", url, mine, {**events(heartbeat()), "attempt": 7}, 409),
        ("no token", url, {}, events(heartbeat()), 401),
        ("a wrong token", url, bearer("not-the-token"), events(heartbeat()), 401),
        ("another run's token", url, bearer(other_worker.token), events(heartbeat()), 401),
        ("the token as Basic auth", url, basic, events(heartbeat()), 401),
        ("an unknown run", "/api/runs/2147483647/events", mine, events(heartbeat()), 404),
        ("a finished run", f"/api/runs/{done}/events", bearer(done_worker.token), late, 409),
        ("a cancelled run", f"/api/runs/{cancelled}/events", cancelled_token, from_one, 409),
        ("no events", url, mine, {"events": []}, 422),
        ("an unknown kind", url, mine, events(("teleport", {})), 422),
        ("an unknown metric", url, mine, events(epoch_end(1, accuracy=0.5)), 422),
        ("epoch 0", url, mine, events(batch(0, 1, 1, 1.0)), 422),
        ("a loss that is text", url, mine, events(loss_text), 422),
        ("columns of unequal length", url, mine, columns(loss=[1.0]), 422),
        ("empty columns", url, mine, columns(**no_columns), 422),
        ("a column too long", url, mine, columns(epoch=[1] * 100_001), 422),
        ("an error too long", url, mine, events(failed("x" * 10_001)), 422),
        ("10,001 events", url, mine, events(*[heartbeat()] * 10_001), 422),
        ("a body over 4 MiB", url, mine, events(failed("x", "y" * (4 * MiB + 1))), 413),
        ("a body that is a list", url, mine, [1, 2], 422),
    ]  # fmt: skip

    problems = []
    for what, target, headers, body, status in table:
        with unchanged(app_engine(client), what):
            response = client.post(target, json=body, headers=headers)
        if response.status_code != status:
            problems.append(f"{what}: {response.status_code} {response.text[:200]}")
        elif status >= 400:  # it says why
            assert response.json()["detail"], what
        if status == 401:
            assert response.headers["www-authenticate"] == "Bearer", what
    assert not problems, "\n".join(problems)
    assert worker.ok(heartbeat())["accepted_through"] == nxt  # the run still takes events


def chunks(size: int) -> Iterator[bytes]:
    yield b'{"events": [{"seq": 3, "time": 1.0, "kind": "failed", "data": {"error": "'
    for _ in range(size // MiB):
        yield b"x" * MiB
    yield b'"}}]}'


def test_an_oversize_body_without_a_length_is_cut_off_with_413(client: TestClient) -> None:
    run, worker = running_run(client)

    with unchanged(app_engine(client), "streamed body"):
        response = client.post(
            f"/api/runs/{run}/events",
            content=chunks(5 * MiB),
            headers={**bearer(worker.token), "Content-Type": "application/json"},
        )

    assert response.status_code == 413
    assert response.json() == {
        "detail": f"request body larger than {4 * MiB} bytes (RUNBOARD_MAX_BODY_BYTES)"
    }


def test_bad_claims_get_their_4xx_and_change_nothing(client: TestClient) -> None:
    run, worker = running_run(client)
    done, done_worker = finished_run(client, epochs=1)
    claimed = create_run(client)["id"]
    claimer = Worker(client, claimed)
    first = client.post(
        f"/api/runs/{claimed}/claim", json={"worker_host": "a"}, headers=bearer(claimer.token)
    )
    assert first.status_code == 200
    table: list[tuple[str, int, str, Any, int]] = [
        ("a finished run", done, done_worker.token, {"worker_host": "b"}, 409),
        ("a run alive on another worker", claimed, claimer.token, {"worker_host": "b"}, 409),
        ("another run's token", claimed, worker.token, {"worker_host": "a"}, 401),
        ("no worker_host", run, worker.token, {}, 422),
        ("an empty worker_host", run, worker.token, {"worker_host": ""}, 422),
        ("a worker_host too long", run, worker.token, {"worker_host": "h" * 256}, 422),
        ("an unknown field", run, worker.token, {"worker_host": "a", "gpu": 1}, 422),
    ]

    for what, target, token, body, status in table:
        with unchanged(app_engine(client), what):
            response = client.post(f"/api/runs/{target}/claim", json=body, headers=bearer(token))
        assert response.status_code == status, (what, response.text)
