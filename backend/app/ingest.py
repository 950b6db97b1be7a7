"""What workers send to `POST /api/runs/{id}/events`: numbered events, in batches.

The trainer's own events (started, batch, epoch, finished; see worker.schema.events) travel
unchanged inside `data`; the worker adds status, heartbeat and failed. Sequence numbers
start at 1 and have no gaps, which is what makes a retried batch idempotent.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from worker.schema.events import EPOCH_METRICS

MAX_EVENTS_PER_BATCH = 10_000


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=1, le=2**31 - 1)
    time: float = Field(ge=0, le=1e11, description="when the worker emitted it, Unix seconds")


def _no_nul(text: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: replace it rather than refuse a worker's report."""
    return None if text is None else text.replace("\x00", "\ufffd")


def _json_safe(value: Any) -> Any:
    """NaN and infinity become None: JSON (and PostgreSQL's json type) has neither."""
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


class StartedData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    start_epoch: int = Field(ge=1, le=100_000)
    epochs: int = Field(ge=1, le=100_000)
    steps_per_epoch: int = Field(ge=0, le=2**31 - 1)
    device: str = Field(max_length=64)
    device_name: str = Field(max_length=255)
    precision: str = Field(max_length=128)
    parameters: int = Field(ge=0, le=2**31 - 1)
    dataset: str = Field(max_length=255)

    _text = field_validator("device", "device_name")(_no_nul)


class StartedEvent(_Event):
    kind: Literal["started"]
    data: StartedData


class BatchData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    epoch: int = Field(ge=1, le=100_000)
    step: int = Field(ge=1, le=2**31 - 1)
    global_step: int = Field(ge=1, le=2**31 - 1)
    loss: float


class BatchEvent(_Event):
    kind: Literal["batch"]
    data: BatchData


Epoch = Annotated[int, Field(ge=1, le=100_000)]
Step = Annotated[int, Field(ge=1, le=2**31 - 1)]
Seconds = Annotated[float, Field(ge=0, le=1e11)]
MAX_COLUMN = 100_000


class BatchesData(BaseModel):
    """Many reported steps as columns of equal length: what the reporter sends, since one
    event per step costs the API far more to parse and validate than a number in a list."""

    model_config = ConfigDict(extra="forbid")

    epoch: list[Epoch] = Field(min_length=1, max_length=MAX_COLUMN)
    step: list[Step] = Field(min_length=1, max_length=MAX_COLUMN)
    global_step: list[Step] = Field(min_length=1, max_length=MAX_COLUMN)
    loss: list[float] = Field(min_length=1, max_length=MAX_COLUMN)
    time: list[Seconds] = Field(min_length=1, max_length=MAX_COLUMN)

    @model_validator(mode="after")
    def _same_lengths(self) -> BatchesData:
        lengths = {len(self.epoch), len(self.step), len(self.global_step), len(self.loss)}
        if len(lengths | {len(self.time)}) != 1:
            raise ValueError("epoch, step, global_step, loss and time need the same length")
        return self


class BatchesEvent(_Event):
    kind: Literal["batches"]
    data: BatchesData


class RecoveredBatchesEvent(_Event):
    """Steps of checkpointed epochs sent again by a resumed attempt; stored where missing."""

    kind: Literal["recovered_batches"]
    data: BatchesData


class EpochData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    epoch: int = Field(ge=1, le=100_000)
    metrics: dict[str, float]

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, metrics: dict[str, float]) -> dict[str, float]:
        unknown = set(metrics) - set(EPOCH_METRICS)
        if unknown:
            raise ValueError(f"unknown metric names: {', '.join(sorted(unknown))}")
        return metrics


class EpochEvent(_Event):
    kind: Literal["epoch"]
    data: EpochData


class FinishedData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["succeeded", "cancelled"]
    result: dict[str, Any]

    @field_validator("result")
    @classmethod
    def _summary_fields(cls, result: dict[str, Any]) -> dict[str, Any]:
        """The fields copied into the run's columns must fit them; the rest is stored as JSON."""
        result = _json_safe(result)
        seconds, parameters = result.get("total_seconds"), result.get("parameters")
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0
        ):
            raise ValueError("result.total_seconds must be a number of seconds, at least 0")
        if parameters is not None and (
            isinstance(parameters, bool)
            or not isinstance(parameters, int)
            or not 0 <= parameters <= 2**31 - 1
        ):
            raise ValueError("result.parameters must be an integer from 0 to 2^31-1")
        return result


class FinishedEvent(_Event):
    kind: Literal["finished"]
    data: FinishedData


class StatusData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["running"]
    worker_host: str | None = Field(default=None, max_length=255)

    _text = field_validator("worker_host")(_no_nul)


class StatusEvent(_Event):
    kind: Literal["status"]
    data: StatusData


class HeartbeatEvent(_Event):
    kind: Literal["heartbeat"]
    data: dict[str, Any] = Field(default_factory=dict)


class FailedData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: str = Field(max_length=10_000)
    traceback: str | None = Field(default=None, max_length=200_000)

    _text = field_validator("error", "traceback")(_no_nul)


class FailedEvent(_Event):
    kind: Literal["failed"]
    data: FailedData


class ReleasedEvent(_Event):
    """The worker is shutting down mid-run and hands the run back to the queue."""

    kind: Literal["released"]
    data: dict[str, Any] = Field(default_factory=dict)


IngestEvent = Annotated[
    StartedEvent
    | BatchEvent
    | BatchesEvent
    | RecoveredBatchesEvent
    | EpochEvent
    | FinishedEvent
    | StatusEvent
    | HeartbeatEvent
    | FailedEvent
    | ReleasedEvent,
    Field(discriminator="kind"),
]


class IngestBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[IngestEvent] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)
    attempt: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="the claim's attempt number; batches of an older attempt get 409",
    )

    @field_validator("events")
    @classmethod
    def _ordered(cls, events: list[Any]) -> list[Any]:
        for before, after in itertools.pairwise(events):
            if after.seq != before.seq + 1:
                raise ValueError(f"sequence numbers must be consecutive: {before.seq}, {after.seq}")
        return events


class IngestReply(BaseModel):
    accepted_through: int = Field(description="highest sequence number now stored")
    cancel_requested: bool
    status: str


def finite(value: float) -> float | None:
    """JSON has no NaN or infinity: a diverged loss is stored as a gap."""
    return value if math.isfinite(value) else None
