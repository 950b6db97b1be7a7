"""Replicates, the report card, time to accuracy and per-class differences through the API,
on SQLite and PostgreSQL; bad input gets a 4xx naming the field and changes nothing."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.app.core.stats import welch
from tests.backend.api.helpers import (
    Worker,
    app_engine,
    create_run,
    db_dump,
    epoch_end,
    finished,
    started,
    status_running,
)
from worker.schema.cifar_meta import COARSE_CLASSES, FINE_CLASSES


def play(client: TestClient, run_id: int, accuracies: list[float], finish: bool = True,
         **result: Any) -> None:  # fmt: skip
    """A worker reports one epoch per accuracy (1.5 s each), then (optionally) succeeds."""
    worker = Worker(client, run_id)
    events = [status_running(), started(epochs=max(len(accuracies), 1))]
    events += [epoch_end(i + 1, test_acc=acc) for i, acc in enumerate(accuracies)]
    if finish:
        events.append(finished(**result))
    worker.ok(*events)


def group(client: TestClient, preset: str, seeds: list[int], **overrides: Any) -> dict[str, Any]:
    body = {"name": f"{preset} seeds", "runs": [{"preset": preset, "overrides": overrides}],
            "seeds": seeds}  # fmt: skip
    response = client.post("/api/groups", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def rows(client: TestClient) -> dict[str, dict[str, Any]]:
    response = client.get("/api/report")
    assert response.status_code == 200, response.text
    return {row["point"]: row for row in response.json()["rows"]}


def test_a_group_series_is_the_mean_the_sample_std_and_n_per_epoch_live(
    client: TestClient,
) -> None:
    runs = group(client, "2", [0, 1, 2])["runs"]
    play(client, runs[0]["id"], [0.1, 0.3])
    play(client, runs[1]["id"], [0.2, 0.5])
    play(client, runs[2]["id"], [0.3], finish=False)  # still running: in the band so far

    response = client.get(f"/api/groups/{runs[0]['group_id']}/series")

    assert response.status_code == 200, response.text
    data = response.json()
    acc = data["metrics"]["test_acc"]
    assert data["epochs"] == [1, 2] and acc["n"] == [3, 2]
    assert acc["mean"] == pytest.approx([0.2, 0.4])
    assert acc["std"] == pytest.approx([0.1, 2**0.5 / 10])  # (0.1, 0.2, 0.3); (0.3, 0.5)
    assert (acc["min"], acc["max"]) == ([0.1, 0.3], [0.3, 0.5])
    final = data["final_test_acc"]  # the two finished runs only
    assert (final["mean"], final["n"]) == (pytest.approx(0.4), 2)
    assert [run["id"] for run in data["runs"]] == [run["id"] for run in runs]


def test_the_report_card_picks_the_best_finished_run_or_group_and_says_how_it_compares(
    client: TestClient,
) -> None:
    one = group(client, "1", [0, 1])["runs"]  # point 1: report 26 %
    play(client, one[0]["id"], [0.20, 0.25])
    play(client, one[1]["id"], [0.20, 0.27])
    two = group(client, "2", [0, 1, 2])["runs"]  # point 2: report 29 %
    for run, final in zip(two, [0.30, 0.32, 0.34], strict=True):
        play(client, run["id"], [0.28, final])
    lone = create_run(client, "2", name="lucky")["id"]  # better, but one seed of a point
    play(client, lone, [0.2, 0.31])
    synthetic = create_run(client, "3a", overrides={"dataset": "synthetic-easy"})["id"]
    play(client, synthetic, [0.5, 0.9])

    card = rows(client)

    assert list(card) == ["1", "2", "3a", "3b", "3c", "4a", "4b", "4c", "5a", "5b", "6", "free"]
    first, second = card["1"], card["2"]
    assert first["representative"]["kind"] == "group" and not first["representative"]["pinned"]
    assert first["final_test_acc"]["mean"] == pytest.approx(0.26)
    assert first["difference_pp"] == pytest.approx(0.0) and first["verdict"] == "within"
    assert second["representative"]["id"] == two[0]["group_id"]  # mean 32 % beats 31 %
    assert second["final_test_acc"]["n"] == 3
    assert second["final_test_acc"]["std"] == pytest.approx(0.02)
    assert second["difference_pp"] == pytest.approx(3.0) and second["verdict"] == "within"
    expected = welch([0.30, 0.32, 0.34], [0.25, 0.27])
    effect = second["effect"]
    assert effect["against"] == "1" and effect["difference_pp"] == pytest.approx(6.0)
    assert effect["ci_low_pp"] == pytest.approx(expected.ci_low_pp)
    assert effect["ci_high_pp"] == pytest.approx(expected.ci_high_pp)
    # 29 % first reached at epoch 2 by all three (epochs of 1.5 s each).
    reached = second["time_to_report"]
    assert reached["reached"] == 3 and reached["seconds"]["mean"] == pytest.approx(3.0)
    assert second["curve"]["test_acc"] == pytest.approx([0.28, 0.32])
    assert second["reference"]["final_accuracy_pct"] == 29
    assert card["3a"]["representative"]["dataset"] == "synthetic-easy"  # labelled
    assert card["3a"]["verdict"] == "above" and card["3a"]["effect"]["ci_low_pp"] is None
    assert card["3b"]["verdict"] == "not_run" and card["3b"]["representative"] is None
    assert card["4c"]["verdict"] is None  # the report gives no figure for 4c

    pinned = client.put("/api/report/pins/2", json={"run_id": lone})
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["run_id"] == lone and pinned.json()["point"] == "2"
    second = rows(client)["2"]
    assert (second["representative"]["id"], second["representative"]["pinned"]) == (lone, True)
    assert second["final_test_acc"]["std"] is None and second["effect"]["ci_low_pp"] is None
    assert client.put("/api/report/pins/2", json={"group_id": two[0]["group_id"]}).is_success
    assert rows(client)["2"]["representative"]["kind"] == "group"
    assert client.delete("/api/report/pins/2").status_code == 204
    assert rows(client)["2"]["representative"]["pinned"] is False
    assert client.delete(f"/api/runs/{lone}").status_code == 204  # a pinned run goes too
    assert client.put("/api/report/pins/2", json={"run_id": two[0]["id"]}).is_success
    assert client.delete(f"/api/runs/{two[0]['id']}").status_code == 204
    assert rows(client)["2"]["representative"]["pinned"] is False  # its pin went with it


def test_time_to_accuracy_and_the_value_at_an_epoch_in_the_run_list_and_compare(
    client: TestClient,
) -> None:
    run_id = create_run(client, "2")["id"]
    play(client, run_id, [0.2, 0.3, 0.35])

    listed = client.get("/api/runs").json()["items"][0]
    assert listed["time_to_accuracy"] == {"threshold": 0.29, "epoch": 2, "seconds": 3.0}
    assert listed["test_acc_at_epoch"] is None
    asked = client.get("/api/runs?threshold=0.35&epoch=1").json()["items"][0]
    assert asked["time_to_accuracy"] == {"threshold": 0.35, "epoch": 3, "seconds": 4.5}
    assert asked["test_acc_at_epoch"] == pytest.approx(0.2)
    never = client.get(f"/api/compare?ids={run_id}&threshold=1&epoch=3").json()
    summary = never["runs"][0]["summary"]
    assert summary["time_to_accuracy"] == {"threshold": 1.0, "epoch": None, "seconds": None}
    assert summary["test_acc_at_epoch"] == pytest.approx(0.35)
    assert never["runs"][0]["group_id"] is None


def per_class(shift: dict[int, float]) -> dict[str, Any]:
    accuracy = [0.5 + shift.get(i, 0.0) for i in range(100)]
    coarse = [[10 if i == j else 0 for j in range(20)] for i in range(20)]
    coarse[3][4] = 10  # superclass 3 right half the time in the second run's eyes
    return {"per_class_accuracy": accuracy, "confusion_coarse": coarse}


def test_per_class_differences_list_the_classes_and_superclasses_that_moved_most(
    client: TestClient,
) -> None:
    base, other = create_run(client, "2")["id"], create_run(client, "4a")["id"]
    play(client, base, [0.3], **per_class({}))
    moved = {i: 0.01 * (i + 1) for i in range(12)} | {50: -0.2, 60: -0.1}
    result = per_class(moved)
    result["confusion_coarse"][3][4] = 0  # superclass 3: 50 % -> 100 %
    play(client, other, [0.4], **result)

    response = client.get(f"/api/compare/classes?ids={base},{other}")

    assert response.status_code == 200, response.text
    [comparison] = response.json()["comparisons"]
    gained = comparison["classes_gained"]
    assert len(gained) == 10 and gained[0]["name"] == FINE_CLASSES[11]
    assert gained[0]["change_pp"] == pytest.approx(12.0)
    assert [c["name"] for c in comparison["classes_lost"]] == [FINE_CLASSES[50], FINE_CLASSES[60]]
    assert comparison["classes_lost"][0]["change_pp"] == pytest.approx(-20.0)
    [superclass] = comparison["superclasses_gained"]
    assert superclass["name"] == COARSE_CLASSES[3] and superclass["change_pp"] == pytest.approx(50)
    assert comparison["superclasses_lost"] == []


def test_the_card_downloads_as_markdown_html_and_csv_with_every_name_escaped(
    client: TestClient,
) -> None:
    run_id = create_run(client, "2", name="<script>alert(1)</script> | pipe")["id"]
    play(client, run_id, [0.2, 0.3])

    md = client.get("/api/report.md")
    page = client.get("/api/report.html")
    table = client.get("/api/report.csv")

    assert md.status_code == page.status_code == table.status_code == 200
    assert md.headers["content-type"].startswith("text/markdown")
    assert 'filename="report.md"' in md.headers["content-disposition"]
    assert "| 2 | Convolutional neural network |" in md.text and "\\| pipe" in md.text
    assert md.text.count("](data:image/png;base64,") == 12
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.count('src="data:image/png;base64,') == 12 and "<style>" in page.text
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # opens offline
    parsed = list(csv.reader(io.StringIO(table.text)))
    assert len(parsed) == 13 and parsed[2][0] == "2" and parsed[2][10] == "within ± 3 pp"


def test_bad_input_gets_a_4xx_naming_the_field_and_changes_nothing(client: TestClient) -> None:
    run_of_2 = create_run(client, "2")["id"]
    single = group(client, "2", [0])["runs"][0]
    play(client, single["id"], [0.3])
    mixed = client.post(
        "/api/groups", json={"name": "w", "runs": [{"preset": "3a"}, {"preset": "3b"}]}
    ).json()["id"]
    pair = group(client, "1", [0, 1])["runs"]
    for run in pair:
        play(client, run["id"], [0.2])
    engine = app_engine(client)
    before = db_dump(engine)
    gid, pair_gid = single["group_id"], pair[0]["group_id"]
    cases = [
        ("PUT", "/api/report/pins/3a", {"run_id": run_of_2}, 409, "run_id"),
        ("PUT", "/api/report/pins/3a", {"group_id": mixed}, 409, "group_id"),
        ("PUT", "/api/report/pins/7", {"run_id": run_of_2}, 422, "point"),
        ("PUT", "/api/report/pins/2", {"run_id": run_of_2, "group_id": gid}, 422, "body"),
        ("PUT", "/api/report/pins/2", {"run_id": True}, 422, "run_id"),
        ("PUT", "/api/report/pins/2", {"run_id": 2**31 - 1}, 404, "run"),
        ("DELETE", "/api/report/pins/x", None, 422, "point"),
        ("GET", "/api/runs?threshold=1.5", None, 422, "threshold"),
        ("GET", "/api/runs?threshold=-0.1", None, 422, "threshold"),
        ("GET", f"/api/compare?ids={run_of_2}&threshold=2", None, 422, "threshold"),
        ("GET", f"/api/groups/{gid}/difference?baseline={pair_gid}", None, 409, "group_id"),
        ("GET", f"/api/groups/{pair_gid}/difference?baseline={gid}", None, 409, "baseline"),
        ("GET", f"/api/compare/classes?ids={run_of_2},{single['id']}", None, 409, "ids"),
        ("GET", f"/api/compare/classes?ids={run_of_2}", None, 422, "ids"),
    ]
    for method, url, body, code, field in cases:
        response = client.request(method, url, json=body)
        assert response.status_code == code, (url, body, response.text)
        assert field in response.text, (url, body, response.text)
    assert db_dump(engine) == before
    ok = client.get(f"/api/groups/{pair_gid}/difference?baseline={pair_gid}")
    assert ok.status_code == 200 and ok.json()["difference_pp"] == pytest.approx(0.0)
