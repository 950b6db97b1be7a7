"""Bad requests get a 4xx that says what is wrong (never a 500), and change nothing stored."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.backend.api.conftest import MakeClient
from tests.backend.api.helpers import (
    Worker,
    app_engine,
    batch,
    create_run,
    db_dump,
    failed,
    finished,
    finished_run,
    number,
    post_events,
    running_run,
    started,
    status_running,
)

JSON = {"Content-Type": "application/json"}


@contextlib.contextmanager
def unchanged(client: TestClient) -> Iterator[None]:
    """Asserts that every table holds exactly the same rows afterwards."""
    before = db_dump(app_engine(client))
    yield
    assert db_dump(app_engine(client)) == before


def refused(
    client: TestClient,
    method: str,
    url: str,
    status: int,
    loc: list[Any] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Sends the request, asserts its status (and the first error's loc), and no change."""
    with unchanged(client):
        response = client.request(method, url, **kwargs)
    assert response.status_code == status, (method, url, kwargs, response.text)
    if loc is not None:
        assert response.json()["detail"][0]["loc"] == loc, (method, url, response.text)
    return response


def some_runs(client: TestClient) -> dict[str, int]:
    """A queued, a running and a succeeded run, so that bad requests have data to spoil."""
    queued = create_run(client, tags=["a"])["id"]
    running, _ = running_run(client)
    done, _ = finished_run(client, epochs=1)
    return {"queued": queued, "running": running, "done": done}


# ---- bodies --------------------------------------------------------------------------------


def test_malformed_json_bodies_get_422(client: TestClient) -> None:
    run = some_runs(client)["queued"]
    bodies = ["{bad", "", "[1, 2", '{"preset": "2",}', "null", "[]", '"2"', "\xff\xfe"]

    for body in bodies:
        refused(client, "POST", "/api/runs", 422, content=body, headers=JSON)
        refused(client, "PATCH", f"/api/runs/{run}", 422, content=body or "{", headers=JSON)
        refused(client, "POST", "/api/groups", 422, content=body, headers=JSON)


def test_bodies_of_the_wrong_shape_get_422_naming_the_field(client: TestClient) -> None:
    run = some_runs(client)["queued"]
    cases: list[tuple[str, str, Any, list[Any]]] = [
        ("POST", "/api/runs", {}, ["body", "preset"]),
        ("POST", "/api/runs", {"preset": 2}, ["body", "preset"]),
        ("POST", "/api/runs", {"preset": "2", "colour": "red"}, ["body", "colour"]),
        ("POST", "/api/runs", {"preset": "2", "overrides": [1]}, ["body", "overrides"]),
        ("POST", "/api/runs", {"preset": "2", "tags": "lr"}, ["body", "tags"]),
        ("POST", "/api/runs", {"preset": "2", "tags": [""]}, ["body", "tags"]),
        ("POST", "/api/runs", {"preset": "2", "tags": ["x" * 65]}, ["body", "tags"]),
        (
            "POST",
            "/api/runs",
            {"preset": "2", "tags": [str(i) for i in range(33)]},
            ["body", "tags"],
        ),
        ("POST", "/api/runs", {"preset": "2", "name": ""}, ["body", "name"]),
        ("POST", "/api/runs", {"preset": "2", "name": "x" * 201}, ["body", "name"]),
        ("POST", "/api/runs", {"preset": "2", "notes": "x" * 20_001}, ["body", "notes"]),
        ("PATCH", f"/api/runs/{run}", {"status": "succeeded"}, ["body", "status"]),
        ("PATCH", f"/api/runs/{run}", {"config": {"lr": 1}}, ["body", "config"]),
        ("PATCH", f"/api/runs/{run}", {"name": 5}, ["body", "name"]),
        ("PATCH", f"/api/runs/{run}", {"tags": ["ok", " "]}, ["body", "tags"]),
        ("POST", f"/api/runs/{run}/clone", {"preset": "3a"}, ["body", "preset"]),
        (
            "POST",
            f"/api/runs/{run}/clone",
            {"overrides": {"nope": 1}},
            ["body", "overrides", "nope"],
        ),
    ]

    for method, url, body, loc in cases:
        refused(client, method, url, 422, loc, json=body)


def test_out_of_range_config_overrides_get_422_naming_the_override(client: TestClient) -> None:
    some_runs(client)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("2", {"lr": -1}, "lr"),
        ("2", {"lr": 0}, "lr"),
        ("2", {"lr": "fast"}, "lr"),
        ("2", {"epochs": 0}, "epochs"),
        ("2", {"epochs": 10_000}, "epochs"),
        ("2", {"batch_size": 0}, "batch_size"),
        ("2", {"dropout": 1.0}, "dropout"),
        ("2", {"seed": -1}, "seed"),
        ("2", {"widths": [32, 32, 32]}, "widths"),
        ("2", {"widths": [32, 32, 32, 64, 64]}, "widths"),
        ("2", {"widths": [32, 0, 32, 64]}, "widths"),
        ("1", {"image_size": 224}, "image_size"),
        ("1", {"batch_norm": True}, "batch_norm"),
        ("2", {"pretrained": True}, "pretrained"),
        ("6", {"activation": "tanh"}, "activation"),
        ("2", {"augmentations": ["flip", "flip"]}, "augmentations"),
        ("2", {"device": "tpu"}, "device"),
        ("2", {"optimizer": "lion"}, "optimizer"),
        ("2", {"learning_rate": 0.1}, "learning_rate"),
    ]

    for preset, overrides, field in cases:
        response = refused(
            client,
            "POST",
            "/api/runs",
            422,
            ["body", "overrides", field],
            json={"preset": preset, "overrides": overrides},
        )
        assert response.json()["detail"][0]["msg"], overrides


def test_an_unknown_preset_gets_422_at_body_preset(client: TestClient) -> None:
    some_runs(client)

    response = refused(client, "POST", "/api/runs", 422, ["body", "preset"], json={"preset": "7"})

    assert "3a" in response.json()["detail"][0]["msg"]  # it lists the known presets


def test_a_body_larger_than_max_body_bytes_gets_413(make_client: MakeClient) -> None:
    client = make_client(max_body_bytes=2048)
    run, worker = running_run(client)
    big = "x" * 3000

    response = refused(client, "POST", "/api/runs", 413, json={"preset": "2", "notes": big})
    assert "content-length" in {name.lower() for name in response.request.headers}
    # JSON like every other error, though Starlette answers a long Content-Length itself.
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "detail": "request body larger than 2048 bytes (RUNBOARD_MAX_BODY_BYTES)"
    }
    refused(client, "PATCH", f"/api/runs/{run}", 413, json={"notes": big})
    refused(client, "POST", "/api/groups", 413, json={"name": big, "runs": [{"preset": "2"}]})
    events = number([batch(1, i, i, 1.0) for i in range(1, 40)], first_seq=worker.seq + 1)
    with unchanged(client):
        response = post_events(client, run, events, worker.token)
    assert response.status_code == 413
    small = create_run(client, notes="x" * 1000)  # below the limit: fine
    assert small["notes"] == "x" * 1000


def test_text_with_nul_characters_gets_422_on_every_database(client: TestClient) -> None:
    ids = some_runs(client)
    run = ids["queued"]
    cases: list[tuple[str, str, Any, list[Any]]] = [
        ("POST", "/api/runs", {"preset": "2", "name": "a\x00b"}, ["body", "name"]),
        ("POST", "/api/runs", {"preset": "2", "notes": "a\x00b"}, ["body", "notes"]),
        ("PATCH", f"/api/runs/{run}", {"name": "a\x00b"}, ["body", "name"]),
        ("PATCH", f"/api/runs/{run}", {"notes": "\x00"}, ["body", "notes"]),
        ("POST", f"/api/runs/{run}/clone", {"name": "\x00"}, ["body", "name"]),
        ("POST", "/api/groups", {"name": "g\x00", "runs": [{"preset": "2"}]}, ["body", "name"]),
    ]

    for method, url, body, loc in cases:
        refused(client, method, url, 422, loc, json=body)
    for query in ("q=a%00b", "preset=2%00"):
        refused(client, "GET", f"/api/runs?{query}", 422)
    refused(client, "GET", f"/api/runs/{ids['done']}/metrics?names=test_acc%00", 422)


# ---- query parameters and ids --------------------------------------------------------------


def test_bad_run_list_parameters_get_422_naming_the_parameter(client: TestClient) -> None:
    some_runs(client)
    cases = [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("sort=bogus", "sort"),
        ("sort=ingest_token", "sort"),
        ("order=sideways", "order"),
        ("status=bogus", "status"),
        ("status=queued&status=done", "status"),
        ("group_id=0", "group_id"),
        (f"q={'x' * 201}", "q"),
    ]

    for query, parameter in cases:
        response = refused(client, "GET", f"/api/runs?{query}", 422)
        assert response.json()["detail"][0]["loc"][:2] == ["query", parameter], query


def test_non_numeric_and_out_of_range_ids_get_422_and_unknown_ids_404(client: TestClient) -> None:
    ids = some_runs(client)
    routes = [
        ("GET", "/api/runs/{}"),
        ("PATCH", "/api/runs/{}"),
        ("DELETE", "/api/runs/{}"),
        ("POST", "/api/runs/{}/cancel"),
        ("POST", "/api/runs/{}/clone"),
        ("GET", "/api/runs/{}/metrics"),
        ("GET", "/api/runs/{}/metrics.csv"),
        ("POST", "/api/runs/{}/events"),
        ("GET", "/api/groups/{}"),
    ]
    invalid = ["abc", "1.5", "0", "-1", "2147483648", "99999999999999999999999", "1e3", "%20"]
    missing = ["2147483647", str(ids["done"] + 100)]
    body = {"events": number([status_running()])}

    for method, template in routes:
        for run_id in invalid:
            refused(client, method, template.format(run_id), 422, json=body)
        for run_id in missing:
            refused(client, method, template.format(run_id), 404, json=body)


def test_bad_compare_ids_and_metrics_parameters_get_422(client: TestClient) -> None:
    run = some_runs(client)["done"]
    for ids in ["abc", f"{run},abc", "", ",", "0", "-1", "2147483648", "1.5", f"{run};{run}"]:
        refused(client, "GET", f"/api/compare?ids={ids}", 422, ["query", "ids"])
    refused(client, "GET", "/api/compare", 422, ["query", "ids"])
    many = ",".join(str(i) for i in range(1, 52))
    refused(client, "GET", f"/api/compare?ids={many}", 422, ["query", "ids"])
    refused(client, "GET", f"/api/compare?ids={run},2147483647", 404)
    for query, parameter in [
        ("max_points=3", "max_points"),
        ("max_points=0", "max_points"),
        ("max_points=many", "max_points"),
        ("since_seq=-1", "since_seq"),
        (f"since_seq={2**63}", "since_seq"),
    ]:
        refused(client, "GET", f"/api/runs/{run}/metrics?{query}", 422, ["query", parameter])


# ---- state changes -------------------------------------------------------------------------


def test_cancelling_a_finished_run_or_deleting_a_running_one_is_a_409(client: TestClient) -> None:
    ids = some_runs(client)
    failed_id, worker = running_run(client)
    worker.ok(failed())
    cancelled = create_run(client)["id"]
    client.post(f"/api/runs/{cancelled}/cancel")

    for run in (ids["done"], failed_id, cancelled):
        response = refused(client, "POST", f"/api/runs/{run}/cancel", 409)
        assert "cancel" in response.json()["detail"]
    response = refused(client, "DELETE", f"/api/runs/{ids['running']}", 409)
    assert "running" in response.json()["detail"]
    assert client.get(f"/api/runs/{ids['running']}").json()["status"] == "running"


# ---- worker events -------------------------------------------------------------------------


def test_malformed_event_batches_get_422_and_store_nothing(client: TestClient) -> None:
    run, worker = running_run(client)
    token = worker.token
    first = worker.seq + 1

    def event(kind: str, data: Any, **extra: Any) -> dict[str, Any]:
        return {"seq": first, "time": 1.0, "kind": kind, "data": data, **extra}

    batches: list[Any] = [
        {"events": []},
        {"events": [event("teleport", {})]},
        {"events": [event("batch", {"epoch": 1, "step": 1, "global_step": 1})]},
        {"events": [event("batch", {"epoch": 0, "step": 1, "global_step": 1, "loss": 1.0})]},
        {"events": [event("batch", {"epoch": 1, "step": 1, "global_step": 2**31, "loss": 1})]},
        {"events": [event("epoch", {"epoch": 1, "metrics": {"accuracy": 0.5}})]},
        {"events": [event("finished", {"status": "failed", "result": {}})]},
        {"events": [event("status", {"status": "succeeded"})]},
        {"events": [event("failed", {"error": "x" * 10_001})]},
        {"events": [event("heartbeat", {}, colour="red")]},
        {"events": [{**event("heartbeat", {}), "seq": 0}]},
        {"events": [{**event("heartbeat", {}), "time": -1}]},
        {"events": [event("heartbeat", {})], "extra": 1},
        {"events": [event("heartbeat", {}), {**event("heartbeat", {}), "seq": first + 2}]},
        {"events": [{"seq": first, "time": 1.0, "kind": "heartbeat"}] * 10_001},
    ]

    for body in batches:
        with unchanged(client):
            response = client.post(
                f"/api/runs/{run}/events", json=body, headers={"Authorization": f"Bearer {token}"}
            )
        assert response.status_code == 422, (str(body)[:200], response.text[:300])

    assert worker.send(status_running()).status_code == 200  # the run still takes events


def test_a_finished_event_with_malformed_summary_fields_gets_422(client: TestClient) -> None:
    run, worker = running_run(client)

    for result in [
        {"total_seconds": "abc"},
        {"total_seconds": -1},
        {"parameters": "many"},
        {"parameters": 2**40},
    ]:
        event = number([finished("succeeded", **result)], first_seq=worker.seq + 1)
        with unchanged(client):
            response = post_events(client, run, event, worker.token)
        assert response.status_code == 422, (result, response.text)

    assert worker.ok(finished("succeeded", parameters=123))["status"] == "succeeded"
    assert client.get(f"/api/runs/{run}").json()["parameters"] == 123


def test_worker_text_with_nul_characters_is_stored_without_them(client: TestClient) -> None:
    run_id = create_run(client)["id"]
    worker = Worker(client, run_id)
    worker.ok(status_running("host\x00one"), started())

    worker.ok(failed("bad\x00byte", "trace\x00back"))

    run = client.get(f"/api/runs/{run_id}").json()
    assert (run["status"], run["worker_host"]) == ("failed", "host\ufffdone")
    assert (run["error"], run["traceback"]) == ("bad\ufffdbyte", "trace\ufffdback")
