"""Metric points out of a run stream's `metrics` event (columns per metric name, expanded
by the schema's own `metric_points`)."""

from __future__ import annotations

from typing import Any

from worker.schema.events import metric_points

__all__ = ["epochs_with", "metric_points"]


def epochs_with(payload: dict[str, Any], name: str = "test_acc") -> list[int]:
    """The epochs that carry the per-epoch metric `name` in a `metrics` event."""
    return [int(point["epoch"]) for point in metric_points(payload) if point["name"] == name]
