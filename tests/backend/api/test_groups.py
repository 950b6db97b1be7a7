"""Groups: several runs launched at once (point 3's widths) or one run replicated over seeds."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.backend.api.helpers import app_engine, db_dump, ingest_token
from tests.backend.conftest import RecordingDispatcher
from worker.schema.presets import get_preset

POINT_3 = {
    "name": "point 3: wider filters",
    "runs": [
        {"preset": "3a", "tags": ["own", "point-3"]},
        {"preset": "3b"},
        {"preset": "3c", "overrides": {"epochs": 5}},
    ],
    "tags": ["point-3"],
}


def test_group_of_point_3_queues_one_run_per_width_in_the_group(
    client: TestClient, dispatcher: RecordingDispatcher
) -> None:
    response = client.post("/api/groups", json=POINT_3)

    assert response.status_code == 201, response.text
    group = response.json()
    assert group["name"] == "point 3: wider filters"
    runs = group["runs"]
    assert [run["preset"] for run in runs] == ["3a", "3b", "3c"]
    assert [run["config"]["widths"] for run in runs] == [
        [128, 128, 128, 256],
        [256, 256, 256, 512],
        [512, 512, 512, 1024],
    ]
    assert runs[2]["config"] == {**get_preset("3c").config.model_dump(mode="json"), "epochs": 5}
    assert {run["group_id"] for run in runs} == {group["id"]}
    assert {run["status"] for run in runs} == {"queued"}
    # The group's tags are added to each run's own, once.
    assert [run["tags"] for run in runs] == [["own", "point-3"], ["point-3"], ["point-3"]]
    assert dispatcher.enqueued == [
        (run["id"], run["config"], ingest_token(client, run["id"])) for run in runs
    ]


def test_reading_a_group_lists_its_runs_and_the_run_list_filters_by_group(
    client: TestClient,
) -> None:
    created = client.post("/api/groups", json=POINT_3).json()
    client.post("/api/runs", json={"preset": "2"})  # not in the group

    response = client.get(f"/api/groups/{created['id']}")

    assert response.status_code == 200, response.text
    group = response.json()
    assert group["id"] == created["id"] and group["name"] == created["name"]
    assert [run["id"] for run in group["runs"]] == [run["id"] for run in created["runs"]]
    listed = client.get(f"/api/runs?group_id={created['id']}&order=asc").json()
    assert [run["id"] for run in listed["items"]] == [run["id"] for run in created["runs"]]
    assert listed["total"] == 3


def test_seeds_replicate_the_first_run_once_per_seed(
    client: TestClient, dispatcher: RecordingDispatcher
) -> None:
    body = {
        "name": "4a over seeds",
        "runs": [{"preset": "4a", "overrides": {"epochs": 3}, "name": "bn"}],
        "seeds": [0, 1, 2],
    }

    response = client.post("/api/groups", json=body)

    assert response.status_code == 201, response.text
    runs = response.json()["runs"]
    assert [run["config"]["seed"] for run in runs] == [0, 1, 2]
    assert [run["name"] for run in runs] == ["bn seed 0", "bn seed 1", "bn seed 2"]
    base = {**get_preset("4a").config.model_dump(mode="json"), "epochs": 3}
    assert all(run["config"] == {**base, "seed": run["config"]["seed"]} for run in runs)
    assert [entry[0] for entry in dispatcher.enqueued] == [run["id"] for run in runs]
    assert len({entry[2] for entry in dispatcher.enqueued}) == 3  # a token per run


def test_seeded_runs_without_a_name_get_the_default_one_and_names_stay_within_200_characters(
    client: TestClient,
) -> None:
    unnamed = {"name": "g", "runs": [{"preset": "2", "overrides": {"lr": 0.001}}], "seeds": [5]}
    long = {"name": "g", "runs": [{"preset": "2", "name": "n" * 200}], "seeds": [1, 123456]}

    first = client.post("/api/groups", json=unnamed)
    second = client.post("/api/groups", json=long)

    assert first.status_code == second.status_code == 201, second.text
    assert [run["name"] for run in first.json()["runs"]] == ["point 2 (lr=0.001) seed 5"]
    names = [run["name"] for run in second.json()["runs"]]
    assert [len(name) for name in names] == [200, 200]
    assert names[0].endswith("n seed 1") and names[1].endswith("n seed 123456")


def test_invalid_groups_are_refused_with_422_naming_the_field_and_create_nothing(
    client: TestClient, dispatcher: RecordingDispatcher
) -> None:
    cases = [
        ({"name": "g", "runs": []}, ["body", "runs"]),
        ({"name": "g", "runs": [{"preset": "2"}], "seeds": [1, 1]}, ["body", "seeds"]),
        (
            {"name": "g", "runs": [{"preset": "2"}, {"preset": "2", "overrides": {"lr": -1}}]},
            ["body", "runs", "1", "overrides", "lr"],
        ),
        (
            {"name": "g", "runs": [{"preset": "2"}, {"preset": "nope"}]},
            ["body", "runs", "1", "preset"],
        ),
        ({"name": "", "runs": [{"preset": "2"}]}, ["body", "name"]),
        ({"name": "g", "runs": [{"preset": "2"}], "colour": "red"}, ["body", "colour"]),
        ({"name": "g", "runs": [{"preset": "2"}], "seeds": list(range(65))}, ["body", "seeds"]),
    ]
    before = db_dump(app_engine(client))

    for body, loc in cases:
        response = client.post("/api/groups", json=body)
        assert response.status_code == 422, (body, response.text)
        assert [str(part) for part in response.json()["detail"][0]["loc"]] == loc, body

    assert db_dump(app_engine(client)) == before
    assert dispatcher.enqueued == []
