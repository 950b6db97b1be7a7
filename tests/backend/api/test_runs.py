"""Runs: launch from a preset, list with filters/sorting/pages, edit, cancel, clone, delete."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from backend.app.models import MetricPoint
from tests.backend.api.helpers import (
    Worker,
    app_engine,
    create_run,
    epoch_end,
    finished,
    finished_run,
    get_run,
    ingest_token,
    running_run,
    status_running,
    training,
)
from tests.backend.conftest import RecordingDispatcher
from worker.schema.presets import get_preset


def list_ids(client: TestClient, query: str = "") -> list[int]:
    response = client.get(f"/api/runs{query}")
    assert response.status_code == 200, response.text
    return [run["id"] for run in response.json()["items"]]


def metric_point_count(client: TestClient, run_id: int) -> int:
    with Session(app_engine(client)) as session:
        query = select(func.count()).where(col(MetricPoint.run_id) == run_id)
        return session.exec(query).one()


# ---- create ------------------------------------------------------------------------------


def test_create_run_queues_the_presets_config_with_overrides_applied(client: TestClient) -> None:
    response = client.post(
        "/api/runs",
        json={
            "preset": "3a",
            "overrides": {"lr": 0.001, "epochs": 5},
            "name": "wide, faster",
            "tags": [" lr ", "wide", "lr"],
            "notes": "first try",
        },
    )

    assert response.status_code == 201, response.text
    run = response.json()
    expected = {**get_preset("3a").config.model_dump(mode="json"), "lr": 0.001, "epochs": 5}
    assert run["config"] == expected
    assert run["config"]["widths"] == [128, 128, 128, 256]
    assert run["status"] == "queued"
    assert (run["name"], run["preset"], run["tags"], run["notes"]) == (
        "wide, faster",
        "3a",
        ["lr", "wide"],  # stripped, without repeats
        "first try",
    )
    assert run["epochs"] == 5 and run["epoch"] == 0
    assert run["group_id"] is None and run["cancel_requested"] is False
    assert run["started_at"] is None and run["finished_at"] is None
    assert get_run(client, run["id"]) == run
    # Without a name, the preset and the overrides make one.
    assert create_run(client, "2")["name"] == "point 2"
    assert create_run(client, "4a", overrides={"lr": 0.001})["name"] == "point 4a (lr=0.001)"


def test_each_created_run_is_dispatched_once_with_its_token_which_no_response_reveals(
    client: TestClient, dispatcher: RecordingDispatcher
) -> None:
    first = create_run(client, "2")
    second = create_run(client, "3a", overrides={"epochs": 2})
    token = ingest_token(client, first["id"])

    assert dispatcher.enqueued == [
        (first["id"], first["config"], token),
        (second["id"], second["config"], ingest_token(client, second["id"])),
    ]
    assert token != ingest_token(client, second["id"])
    responses = [
        client.get(f"/api/runs/{first['id']}"),
        client.get("/api/runs"),
        client.patch(f"/api/runs/{first['id']}", json={"notes": "x"}),
        client.get(f"/api/compare?ids={first['id']}"),
        client.post(f"/api/runs/{first['id']}/cancel"),
    ]
    assert "ingest_token" not in first
    for response in responses:
        assert response.status_code == 200, response.text
        assert token not in response.text and "ingest_token" not in response.text


# ---- list ----------------------------------------------------------------------------------


def test_run_list_is_newest_first_by_default_and_pages_with_total_offset_and_limit(
    client: TestClient,
) -> None:
    ids = [create_run(client)["id"] for _ in range(5)]

    listing = client.get("/api/runs").json()
    pages = [client.get(f"/api/runs?limit=2&offset={offset}").json() for offset in (0, 2, 4, 6)]

    assert [run["id"] for run in listing["items"]] == ids[::-1]
    created = [run["created_at"] for run in listing["items"]]
    assert created == sorted(created, reverse=True)
    assert (listing["total"], listing["offset"], listing["limit"]) == (5, 0, 50)
    assert list_ids(client, "?order=asc") == ids
    newest = ids[::-1]
    assert [[run["id"] for run in page["items"]] for page in pages] == [
        newest[0:2],
        newest[2:4],
        newest[4:5],
        [],
    ]
    assert [page["total"] for page in pages] == [5, 5, 5, 5]
    assert [(page["offset"], page["limit"]) for page in pages] == [(0, 2), (2, 2), (4, 2), (6, 2)]


def test_run_list_filters_by_one_or_several_statuses(client: TestClient) -> None:
    queued = create_run(client)["id"]
    running, _ = running_run(client)
    done, _ = finished_run(client, epochs=1)
    cancelled = create_run(client)["id"]
    assert client.post(f"/api/runs/{cancelled}/cancel").status_code == 200

    assert list_ids(client, "?status=queued") == [queued]
    assert list_ids(client, "?status=running") == [running]
    assert list_ids(client, "?status=succeeded") == [done]
    assert list_ids(client, "?status=cancelled") == [cancelled]
    assert list_ids(client, "?status=failed") == []
    assert sorted(list_ids(client, "?status=queued&status=running")) == sorted([queued, running])


def test_run_list_matches_whole_tags_and_text_in_any_case_taking_wildcards_literally(
    client: TestClient,
) -> None:
    lr = create_run(client, tags=["lr", "baseline"], name="Wide Filters")["id"]
    sweep = create_run(client, tags=["lr-sweep"], notes="tried WIDE widths here")["id"]
    percent = create_run(client, tags=["50%", 'say "hi"'], name="lr_1e-3")["id"]
    create_run(client, name="lrx1e-3", notes="nothing to see")

    assert list_ids(client, "?tag=lr") == [lr]
    assert list_ids(client, "?tag=lr-sweep") == [sweep]
    assert list_ids(client, "?tag=baseline") == [lr]
    assert list_ids(client, "?tag=50%25") == [percent]
    assert list_ids(client, "?tag=%25") == []  # a LIKE wildcard is taken literally
    assert list_ids(client, "?tag=say%20%22hi%22") == [percent]
    assert list_ids(client, "?tag=l") == []
    assert list_ids(client, "?q=wide") == [sweep, lr]  # in the name or the notes
    assert list_ids(client, "?q=FILTERS") == [lr]
    assert list_ids(client, "?q=lr_1") == [percent]  # '_' is no wildcard either
    assert list_ids(client, "?q=zzz") == []


def test_run_list_filters_by_exact_preset_and_combines_filters(client: TestClient) -> None:
    match = create_run(client, "3a", tags=["sweep"], name="wide sweep")["id"]
    other_tag = create_run(client, "3a", tags=["other"], name="wide other")["id"]
    create_run(client, "2", tags=["sweep"], name="narrow sweep")

    assert list_ids(client, "?preset=3a") == [other_tag, match]
    assert list_ids(client, "?preset=3") == []  # an exact match, not a prefix
    assert list_ids(client, "?preset=3a&tag=sweep&q=wide&status=queued") == [match]
    listing = client.get("/api/runs?tag=sweep&limit=1").json()
    assert listing["total"] == 2 and len(listing["items"]) == 1


def test_run_list_sorts_by_name_or_best_accuracy_with_unmeasured_runs_last(
    client: TestClient,
) -> None:
    accuracies = {}
    for name, acc in (("bravo", 0.3), ("alpha", 0.5), ("delta", 0.1)):
        run_id = create_run(client, name=name)["id"]
        Worker(client, run_id).ok(
            status_running(), *training(1, 1)[:-1], epoch_end(1, test_acc=acc)
        )
        accuracies[run_id] = acc
    unmeasured = create_run(client, name="charlie")["id"]

    by_name = client.get("/api/runs?sort=name&order=asc").json()["items"]
    by_name_desc = client.get("/api/runs?sort=name&order=desc").json()["items"]
    best_first = list_ids(client, "?sort=best_test_acc&order=desc")
    worst_first = list_ids(client, "?sort=best_test_acc&order=asc")

    assert [run["name"] for run in by_name] == ["alpha", "bravo", "charlie", "delta"]
    assert [run["name"] for run in by_name_desc] == ["delta", "charlie", "bravo", "alpha"]
    by_acc = sorted(accuracies, key=accuracies.__getitem__)
    assert best_first == [*by_acc[::-1], unmeasured]
    assert worst_first == [*by_acc, unmeasured]


# ---- edit ----------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_it_names_even_on_a_running_run(client: TestClient) -> None:
    before = create_run(client, name="old", tags=["a"], notes="old notes")
    running_id, _ = running_run(client)
    running = get_run(client, running_id)

    response = client.patch(
        f"/api/runs/{before['id']}", json={"name": "new", "tags": ["b", "c"], "notes": "new notes"}
    )
    notes_only = client.patch(f"/api/runs/{before['id']}", json={"notes": "changed"}).json()
    emptied = client.patch(f"/api/runs/{before['id']}", json={"tags": []}).json()
    renamed = client.patch(f"/api/runs/{running_id}", json={"name": "renamed"}).json()

    assert response.status_code == 200, response.text
    after = response.json()
    assert (after["name"], after["tags"], after["notes"]) == ("new", ["b", "c"], "new notes")
    unchanged = {k: v for k, v in before.items() if k not in ("name", "tags", "notes")}
    assert {k: after[k] for k in unchanged} == unchanged
    assert (notes_only["name"], notes_only["tags"], notes_only["notes"]) == (
        "new",
        ["b", "c"],
        "changed",
    )
    assert (emptied["name"], emptied["tags"], emptied["notes"]) == ("new", [], "changed")
    assert get_run(client, before["id"]) == emptied
    assert {**renamed, "name": running["name"]} == running


def test_patch_with_null_name_is_refused_with_422_naming_the_field(client: TestClient) -> None:
    run = create_run(client, name="keep")

    for field in ("name", "tags", "notes"):
        response = client.patch(f"/api/runs/{run['id']}", json={field: None})
        assert response.status_code == 422, (field, response.text)
        assert response.json()["detail"][0]["loc"] == ["body", field]

    assert get_run(client, run["id"]) == run


# ---- cancel --------------------------------------------------------------------------------


def test_cancelling_a_queued_run_cancels_it_at_once(client: TestClient) -> None:
    run = create_run(client)

    response = client.post(f"/api/runs/{run['id']}/cancel")

    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["finished_at"] is not None
    assert get_run(client, run["id"])["status"] == "cancelled"


def test_cancelling_a_running_run_asks_the_worker_and_waits_for_its_confirmation(
    client: TestClient,
) -> None:
    run_id, worker = running_run(client)

    response = client.post(f"/api/runs/{run_id}/cancel")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "running"
    assert response.json()["cancel_requested"] is True
    assert get_run(client, run_id)["status"] == "running"
    assert get_run(client, run_id)["finished_at"] is None

    assert client.post(f"/api/runs/{run_id}/cancel").status_code == 200  # asking twice is fine
    reply = worker.ok(("heartbeat", {}))
    assert reply == {"accepted_through": worker.seq, "cancel_requested": True, "status": "running"}

    reply = worker.ok(finished("cancelled"))
    assert reply["status"] == "cancelled"
    confirmed = get_run(client, run_id)
    assert confirmed["status"] == "cancelled"
    assert confirmed["finished_at"] is not None


# ---- clone ---------------------------------------------------------------------------------


def test_clone_queues_a_new_run_with_the_config_plus_overrides(
    client: TestClient, dispatcher: RecordingDispatcher
) -> None:
    original = create_run(client, "4a", tags=["bn"], notes="base", overrides={"epochs": 3})

    response = client.post(
        f"/api/runs/{original['id']}/clone", json={"overrides": {"lr": 0.01, "dropout": 0.5}}
    )
    plain = client.post(f"/api/runs/{original['id']}/clone")
    named = client.post(
        f"/api/runs/{original['id']}/clone", json={"name": "second try", "tags": ["new"]}
    )

    assert response.status_code == 201, response.text
    clone = response.json()
    assert clone["id"] != original["id"]
    assert clone["config"] == {**original["config"], "lr": 0.01, "dropout": 0.5}
    assert clone["preset"] == "4a"
    assert clone["status"] == "queued"
    assert clone["name"] == f"{original['name']} (clone)"
    assert (clone["tags"], clone["notes"]) == (["bn"], "base")
    assert dispatcher.enqueued[1] == (
        clone["id"],
        clone["config"],
        ingest_token(client, clone["id"]),
    )
    assert len(dispatcher.enqueued) == 4
    assert get_run(client, original["id"]) == original
    assert plain.status_code == named.status_code == 201
    assert plain.json()["config"] == named.json()["config"] == original["config"]
    assert (named.json()["name"], named.json()["tags"]) == ("second try", ["new"])


def test_clone_of_a_finished_run_starts_from_scratch(client: TestClient) -> None:
    original_id, _ = finished_run(client, epochs=2)

    clone = client.post(f"/api/runs/{original_id}/clone").json()

    assert clone["status"] == "queued"
    assert (clone["epoch"], clone["final_test_acc"], clone["started_at"]) == (0, None, None)
    assert client.get(f"/api/runs/{clone['id']}/metrics").json()["series"] == {}


# ---- delete --------------------------------------------------------------------------------


def test_delete_answers_204_and_then_the_run_and_its_metrics_are_gone(client: TestClient) -> None:
    run_id, _ = finished_run(client, epochs=2)
    assert metric_point_count(client, run_id) > 0
    other = create_run(client)["id"]
    cancelled = create_run(client)["id"]
    client.post(f"/api/runs/{cancelled}/cancel")

    response = client.delete(f"/api/runs/{run_id}")

    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"/api/runs/{run_id}").status_code == 404
    assert client.get(f"/api/runs/{run_id}/metrics").status_code == 404
    assert client.delete(f"/api/runs/{run_id}").status_code == 404
    assert metric_point_count(client, run_id) == 0
    assert list_ids(client) == [cancelled, other]
    assert client.delete(f"/api/runs/{cancelled}").status_code == 204  # cancelled: fine
    assert client.delete(f"/api/runs/{other}").status_code == 204  # queued: fine
    assert list_ids(client) == []
