"""The progress events a training run emits: one schema for trainer, worker and API.

Torch-free. Every event is a plain JSON-able dict with a `kind`; the trainer hands them to
its `on_event` callback, the worker forwards them to the API unchanged.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

EPOCH_METRICS = (
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "epoch_seconds",
    "images_per_second",
    "lr",
)


class StartedEvent(TypedDict):
    kind: Literal["started"]
    start_epoch: int  # 1-based epoch training starts at (> 1 when resumed from a checkpoint)
    epochs: int
    steps_per_epoch: int
    device: str
    device_name: str
    precision: str
    parameters: int
    dataset: str  # e.g. "cifar100" or "synthetic (seed 0, 5000/1000 images)"
    train_size: int
    test_size: int


class BatchEvent(TypedDict):
    kind: Literal["batch"]
    epoch: int  # 1-based
    step: int  # 1-based step within the epoch
    global_step: int  # 1-based step since the start of training
    loss: float  # mean cross-entropy of the last reported step


class RecoveredBatchesEvent(TypedDict):
    """The reported steps of the epochs a resumed attempt skips, as columns of equal length.

    A worker killed after an epoch's checkpoint but before its events reached the API takes
    those batch losses with it; the checkpoint keeps them, and the next attempt sends them
    again. The API stores only the steps it does not have."""

    kind: Literal["recovered_batches"]
    epoch: list[int]
    step: list[int]
    global_step: list[int]
    loss: list[float]
    time: list[float]  # Unix seconds at which each step was first reported


class EpochEvent(TypedDict):
    kind: Literal["epoch"]
    epoch: int  # 1-based
    metrics: dict[str, float]  # every name in EPOCH_METRICS; accuracies are fractions 0..1


class FinishedEvent(TypedDict):
    kind: Literal["finished"]
    status: Literal["succeeded", "cancelled"]
    result: dict[str, Any]  # TrainResult.to_dict()


Event = StartedEvent | BatchEvent | RecoveredBatchesEvent | EpochEvent | FinishedEvent


# The API's live `metrics` stream event carries new points as columns per metric name:
#   {"run_id": 7, "series": {"test_acc": {"seq": [...], "epoch": [...], "step": [...],
#                                         "value": [...], "time": [...]}, ...}}
# (parallel lists; value None where the worker reported NaN or infinity; time in Unix s).
SERIES_COLUMNS = ("seq", "epoch", "step", "value", "time")


def metric_points(metrics_event: dict[str, Any]) -> list[dict[str, Any]]:
    """The points of one `metrics` stream event, one dict each with its `name`."""
    points = []
    for name, columns in metrics_event["series"].items():
        for row in zip(*(columns[key] for key in SERIES_COLUMNS), strict=True):
            points.append({"name": name, **dict(zip(SERIES_COLUMNS, row, strict=True))})
    return points
