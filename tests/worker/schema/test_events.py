"""The `metrics` stream event's columnar payload and its expansion into points."""

from __future__ import annotations

import pytest

from worker.schema.events import SERIES_COLUMNS, metric_points


def test_metric_points_expands_columns_per_name_into_one_point_each() -> None:
    event = {
        "run_id": 3,
        "series": {
            "batch_loss": {
                "seq": [5, 5],
                "epoch": [1, 1],
                "step": [1, 2],
                "value": [4.6, None],
                "time": [10.0, 10.5],
            },
            "test_acc": {"seq": [6], "epoch": [1], "step": [1], "value": [0.1], "time": [11.0]},
        },
    }
    points = metric_points(event)
    assert points == [
        {"name": "batch_loss", "seq": 5, "epoch": 1, "step": 1, "value": 4.6, "time": 10.0},
        {"name": "batch_loss", "seq": 5, "epoch": 1, "step": 2, "value": None, "time": 10.5},
        {"name": "test_acc", "seq": 6, "epoch": 1, "step": 1, "value": 0.1, "time": 11.0},
    ]


def test_metric_points_refuses_columns_of_different_lengths() -> None:
    columns = {key: [1] for key in SERIES_COLUMNS} | {"value": [0.5, 0.6]}
    with pytest.raises(ValueError):
        metric_points({"run_id": 1, "series": {"train_loss": columns}})
