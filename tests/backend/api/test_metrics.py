"""Metric series (JSON and CSV), downsampling, and the comparison of several runs."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from fastapi.testclient import TestClient

from tests.backend.api.conftest import MakeClient
from tests.backend.api.helpers import (
    ALL_EPOCH_METRICS,
    Worker,
    batch,
    create_run,
    epoch_end,
    finished,
    finished_run,
    number,
    post_events_with_nan,
    started,
    status_running,
    training,
)
from worker.schema.presets import get_preset


def metrics(client: TestClient, run_id: int, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/runs/{run_id}/metrics{query}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def spiky_losses(count: int) -> list[float]:
    """A falling loss with one spike up and one dip down, away from the ends."""
    losses = [5.0 - 0.001 * i for i in range(count)]
    losses[count // 3] = 50.0
    losses[2 * count // 3] = -7.0
    return losses


def run_with_batches(client: TestClient, losses: list[float]) -> int:
    run_id = create_run(client)["id"]
    steps = len(losses)
    events = [status_running(), started(epochs=1, steps_per_epoch=steps)]
    events += [batch(1, i + 1, i + 1, loss) for i, loss in enumerate(losses)]
    Worker(client, run_id).ok(*events)
    return run_id


# ---- series --------------------------------------------------------------------------------


def test_series_hold_batch_loss_by_global_step_and_epoch_metrics_by_epoch(
    client: TestClient,
) -> None:
    run_id = create_run(client)["id"]
    worker = Worker(client, run_id)
    worker.ok(status_running(), *training(epochs=2, steps_per_epoch=3))

    data = metrics(client, run_id)

    assert data["run_id"] == run_id and data["last_seq"] == worker.seq == 10
    series = data["series"]
    assert set(series) == {"batch_loss", *ALL_EPOCH_METRICS}
    assert [p["step"] for p in series["batch_loss"]] == [1, 2, 3, 4, 5, 6]
    assert [p["epoch"] for p in series["batch_loss"]] == [1, 1, 1, 2, 2, 2]
    assert [p["value"] for p in series["batch_loss"]] == [4.5 - 0.01 * step for step in range(1, 7)]
    assert [(p["epoch"], p["step"]) for p in series["test_acc"]] == [(1, 1), (2, 2)]
    assert [p["value"] for p in series["test_acc"]] == [0.05, 0.1]
    assert all(set(p) == {"seq", "epoch", "step", "value", "time"} for p in series["lr"])


def test_names_and_since_seq_select_which_series_and_points_come_back(client: TestClient) -> None:
    run_id = create_run(client)["id"]
    worker = Worker(client, run_id)
    worker.ok(status_running(), started(epochs=2, steps_per_epoch=2), batch(1, 1, 1, 3.0))
    seen = metrics(client, run_id)["last_seq"]
    worker.ok(batch(1, 2, 2, 2.5), epoch_end(1, test_acc=0.2))

    later = metrics(client, run_id, f"?since_seq={seen}")
    named = metrics(client, run_id, "?names=test_acc,%20train_loss,,nonexistent")

    assert [p["value"] for p in later["series"]["batch_loss"]] == [2.5]
    assert [p["value"] for p in later["series"]["test_acc"]] == [0.2]
    assert all(p["seq"] > seen for points in later["series"].values() for p in points)
    assert metrics(client, run_id, f"?since_seq={later['last_seq']}")["series"] == {}
    assert set(named["series"]) == {"test_acc", "train_loss"}


def test_downsampling_caps_each_series_and_keeps_first_last_min_and_max(
    client: TestClient,
) -> None:
    losses = spiky_losses(400)
    run_id = run_with_batches(client, losses)

    for max_points in (4, 8, 13, 50):
        points = metrics(client, run_id, f"?names=batch_loss&max_points={max_points}")["series"][
            "batch_loss"
        ]
        values = [p["value"] for p in points]
        steps = [p["step"] for p in points]
        assert 2 <= len(points) <= max_points, max_points
        assert steps == sorted(steps) and len(set(steps)) == len(steps)
        assert steps[0] == 1 and steps[-1] == 400, max_points
        assert max(values) == 50.0 and min(values) == -7.0, max_points
        assert all(losses[step - 1] == value for step, value in zip(steps, values, strict=True))
    whole = metrics(client, run_id, "?max_points=1000")
    assert whole["downsampled"] == {} and len(whole["series"]["batch_loss"]) == 400
    cut = metrics(client, run_id, "?max_points=40")
    assert cut["downsampled"] == {"batch_loss": 400}  # the response says which it cut


def test_a_flat_series_is_downsampled_to_max_points_too(client: TestClient) -> None:
    run_id = run_with_batches(client, [2.0] * 400)  # every value ties for lowest and highest

    points = metrics(client, run_id, "?max_points=40")["series"]["batch_loss"]

    steps = [p["step"] for p in points]
    assert 2 <= len(points) <= 40 and steps[0] == 1 and steps[-1] == 400
    assert len(set(steps)) == len(steps)


def test_max_points_is_capped_by_the_setting_and_short_series_come_back_whole(
    make_client: MakeClient,
) -> None:
    client = make_client(max_metric_points=8)
    run_id = run_with_batches(client, spiky_losses(100))
    short_id = run_with_batches(client, [3.0, 2.0, 1.0])

    points = metrics(client, run_id, "?max_points=1000")["series"]["batch_loss"]
    short = metrics(client, short_id, "?max_points=4")["series"]["batch_loss"]

    assert len(points) <= 8
    assert len(metrics(client, run_id)["series"]["batch_loss"]) == 100  # no max_points: all
    assert [p["value"] for p in short] == [3.0, 2.0, 1.0]


def test_a_non_finite_loss_is_stored_as_a_gap(client: TestClient) -> None:
    run_id = create_run(client)["id"]
    worker = Worker(client, run_id)
    worker.ok(status_running(), started(epochs=1, steps_per_epoch=3))
    events = [
        batch(1, 1, 1, float("nan")),
        batch(1, 2, 2, float("inf")),
        batch(1, 3, 3, 1.5),
    ]

    response = post_events_with_nan(client, run_id, number(events, worker.seq + 1), worker.token)

    assert response.status_code == 200, response.text
    points = metrics(client, run_id)["series"]["batch_loss"]
    assert [p["value"] for p in points] == [None, None, 1.5]
    rows = list(csv.reader(io.StringIO(client.get(f"/api/runs/{run_id}/metrics.csv").text)))
    assert [row[4] for row in rows[1:]] == ["", "", "1.5"]


# ---- CSV -----------------------------------------------------------------------------------


def test_csv_has_a_header_and_one_row_per_point_in_arrival_order(client: TestClient) -> None:
    run_id, _ = finished_run(client, epochs=2)

    response = client.get(f"/api/runs/{run_id}/metrics.csv")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="run-{run_id}-metrics.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["seq", "epoch", "step", "name", "value", "time"]
    body = rows[1:]
    assert len(body) == 2 * 3 + 2 * len(ALL_EPOCH_METRICS)  # batch losses + epoch metrics
    seqs = [int(row[0]) for row in body]
    assert seqs == sorted(seqs)
    first = body[0]
    assert (first[1], first[2], first[3]) == ("1", "1", "batch_loss")
    assert math.isclose(float(first[4]), 4.49)
    json_points = sum(len(points) for points in metrics(client, run_id)["series"].values())
    assert len(body) == json_points


def test_csv_of_a_run_without_points_is_the_header_alone(client: TestClient) -> None:
    run_id = create_run(client)["id"]

    response = client.get(f"/api/runs/{run_id}/metrics.csv")

    assert response.status_code == 200
    assert response.text.splitlines() == ["seq,epoch,step,name,value,time"]
    assert client.get("/api/runs/31337/metrics.csv").status_code == 404


# ---- compare -------------------------------------------------------------------------------


def test_compare_aligns_runs_by_epoch_and_pads_shorter_runs_with_null(client: TestClient) -> None:
    long_id, _ = finished_run(client, "2", epochs=3)
    short_id = create_run(client)["id"]
    Worker(client, short_id).ok(
        status_running(),
        started(epochs=2, steps_per_epoch=1),
        epoch_end(1, test_acc=0.4),
        epoch_end(2, test_acc=0.3),
        finished(),
    )

    response = client.get(f"/api/compare?ids={short_id},{long_id}")

    assert response.status_code == 200, response.text
    data = response.json()
    assert data["epochs"] == [1, 2, 3]
    short, long = data["runs"]
    assert (short["id"], long["id"]) == (short_id, long_id)  # the order asked for
    assert long["series"]["test_acc"] == [0.05, 0.1, 0.05 * 3]
    assert short["series"]["test_acc"] == [0.4, 0.3, None]
    assert set(short["series"]) == set(ALL_EPOCH_METRICS)
    assert "batch_loss" not in long["series"]
    assert long["summary"]["final_test_acc"] == long["summary"]["best_test_acc"] == 0.05 * 3
    assert (short["summary"]["final_test_acc"], short["summary"]["best_test_acc"]) == (0.3, 0.4)
    assert long["summary"]["duration_s"] == 12.5
    assert long["status"] == "succeeded" and long["preset"] == "2"


def test_compare_returns_each_presets_reference_curves(client: TestClient) -> None:
    cnn = create_run(client, "2")["id"]
    wide = create_run(client, "3a")["id"]
    again = create_run(client, "2")["id"]

    data = client.get(f"/api/compare?ids={cnn},{wide},{again}").json()

    assert set(data["references"]) == {"2", "3a"}
    for preset in ("2", "3a"):
        assert data["references"][preset] == get_preset(preset).to_dict()["reference"]
    assert len(data["references"]["2"]["loss"]) == 20
    assert data["epochs"] == []  # nothing trained yet
    assert data["runs"][0]["series"]["test_acc"] == []


def test_compare_config_diff_lists_only_the_fields_that_differ(client: TestClient) -> None:
    cnn = create_run(client, "2", overrides={"epochs": 5})
    wide = create_run(client, "3a", overrides={"epochs": 5, "lr": 0.001})
    seeded = create_run(client, "2", overrides={"epochs": 5, "seed": 3})
    twin = create_run(client, "2", overrides={"epochs": 5})

    data = client.get(f"/api/compare?ids={cnn['id']},{wide['id']},{seeded['id']}").json()
    twins = client.get(f"/api/compare?ids={cnn['id']},{twin['id']}").json()

    assert data["config_diff"] == {
        "widths": [[32, 32, 32, 64], [128, 128, 128, 256], [32, 32, 32, 64]],
        "lr": [0.0001, 0.001, 0.0001],
        "seed": [0, 0, 3],
    }
    assert twins["config_diff"] == {}


def test_compare_ignores_repeated_ids_and_404s_on_unknown_ones(client: TestClient) -> None:
    run_id = create_run(client)["id"]

    repeated = client.get(f"/api/compare?ids={run_id},{run_id},%20{run_id}")
    unknown = client.get(f"/api/compare?ids={run_id},999")

    assert repeated.status_code == 200
    assert [run["id"] for run in repeated.json()["runs"]] == [run_id]
    assert unknown.status_code == 404
    assert "999" in unknown.json()["detail"]
