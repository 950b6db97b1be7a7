"""What the reporter builds is what the API validates: one set of models for both sides."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from worker.schema.events import (
    Batch,
    Epoch,
    EventData,
    Failed,
    Finished,
    Heartbeat,
    RecoveredSteps,
    Released,
    RunResult,
    Started,
    StatusChange,
    Steps,
)
from worker.schema.messages import IngestBatch, envelope

EVERY_KIND: list[EventData] = [
    StatusChange(status="running", worker_host="gpu-1:42"),
    Started(
        start_epoch=1,
        epochs=2,
        steps_per_epoch=3,
        device="cpu",
        device_name="CPU",
        precision="fp32",
        parameters=10,
        dataset="synthetic",
        train_size=30,
        test_size=10,
    ),
    Batch(epoch=1, step=1, global_step=1, loss=4.6),
    Steps(epoch=[1], step=[2], global_step=[2], loss=[4.5], time=[1.0]),
    RecoveredSteps(epoch=[1], step=[3], global_step=[3], loss=[4.4], time=[2.0]),
    Epoch(epoch=1, metrics={"train_loss": 4.4, "test_acc": 0.02}),
    Heartbeat(),
    Finished(status="succeeded", result=RunResult(total_seconds=3.5, parameters=10)),
    Failed(error="boom", traceback="Traceback ...", user_error=True),
    Released(),
]


def test_every_event_the_worker_builds_validates_as_the_api_reads_it() -> None:
    events = [envelope(seq, 100.0 + seq, data) for seq, data in enumerate(EVERY_KIND, start=1)]

    batch = IngestBatch.model_validate({"events": events, "attempt": 1})

    assert [event.kind for event in batch.events] == [data.kind for data in EVERY_KIND]
    assert [event.data for event in batch.events] == EVERY_KIND


def test_a_diverged_loss_travels_as_nan_and_a_result_keeps_no_nan() -> None:
    [event] = IngestBatch.model_validate(
        {"events": [envelope(1, 1.0, Batch(epoch=1, step=1, global_step=1, loss=math.nan))]}
    ).events
    assert isinstance(event.data, Batch) and math.isnan(event.data.loss)
    result = RunResult.model_validate({"per_class_accuracy": [0.5, math.inf]})
    assert result.per_class_accuracy == [0.5, None]


def test_columns_of_different_lengths_and_unknown_metrics_are_refused() -> None:
    with pytest.raises(ValidationError, match="same length"):
        Steps(epoch=[1, 1], step=[1], global_step=[1], loss=[1.0], time=[1.0])
    with pytest.raises(ValidationError, match="unknown metric names: accuracy"):
        Epoch(epoch=1, metrics={"accuracy": 0.5})
