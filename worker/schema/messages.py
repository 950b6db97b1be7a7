"""The HTTP messages between a worker and the API, built and validated by the same models.

A worker claims a run (`ClaimRequest` -> `ClaimReply`), then posts its events to
`POST /api/runs/{id}/events` as `{"seq", "time", "kind", "data"}` envelopes in an
`IngestBatch` (-> `IngestReply`). Sequence numbers start at 1 and have no gaps, which is
what makes a retried batch idempotent. Torch-free.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from worker.schema.events import (
    Batch,
    Epoch,
    EventData,
    EventKind,
    Failed,
    Finished,
    Heartbeat,
    RecoveredSteps,
    Released,
    Resources,
    Started,
    StatusChange,
    Steps,
)
from worker.schema.status import RunStatus

MAX_EVENTS_PER_BATCH = 10_000  # events in one POST


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=1, le=2**31 - 1)
    time: float = Field(ge=0, le=1e11, description="when the worker emitted it, Unix seconds")


class StartedEvent(_Envelope):
    kind: Literal[EventKind.started]
    data: Started


class BatchEvent(_Envelope):
    kind: Literal[EventKind.batch]
    data: Batch


class BatchesEvent(_Envelope):
    kind: Literal[EventKind.batches]
    data: Steps


class RecoveredBatchesEvent(_Envelope):
    kind: Literal[EventKind.recovered_batches]
    data: RecoveredSteps


class EpochEvent(_Envelope):
    kind: Literal[EventKind.epoch]
    data: Epoch


class FinishedEvent(_Envelope):
    kind: Literal[EventKind.finished]
    data: Finished


class StatusEvent(_Envelope):
    kind: Literal[EventKind.status]
    data: StatusChange


class HeartbeatEvent(_Envelope):
    kind: Literal[EventKind.heartbeat]
    data: Heartbeat = Field(default_factory=Heartbeat)


class FailedEvent(_Envelope):
    kind: Literal[EventKind.failed]
    data: Failed


class ReleasedEvent(_Envelope):
    kind: Literal[EventKind.released]
    data: Released = Field(default_factory=Released)


class ResourcesEvent(_Envelope):
    kind: Literal[EventKind.resources]
    data: Resources


IngestEvent = Annotated[
    StartedEvent | BatchEvent | BatchesEvent | RecoveredBatchesEvent | EpochEvent
    | FinishedEvent | StatusEvent | HeartbeatEvent | FailedEvent | ReleasedEvent
    | ResourcesEvent,
    Field(discriminator="kind"),
]  # fmt: skip


class IngestBatch(BaseModel):
    """The body of `POST /api/runs/{id}/events`."""

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
    status: RunStatus


class ClaimRequest(BaseModel):
    """The body of `POST /api/runs/{id}/claim`: a worker takes the run before training."""

    model_config = ConfigDict(extra="forbid")

    worker_host: str = Field(min_length=1, max_length=255)


class ClaimReply(BaseModel):
    next_seq: int = Field(description="the first sequence number this attempt sends")
    attempt: int = Field(description="sent with every batch; older attempts are fenced out")
    cancel_requested: bool
    lease_s: float | None = Field(
        default=None,
        description="RUNBOARD_HEARTBEAT_TIMEOUT_S: a worker that could not reach the API for "
        "most of this long stops training, since the run is about to be handed on",
    )


def envelope(seq: int, time: float, data: EventData) -> dict[str, Any]:
    """One event as the reporter posts it (plain JSON types; NaN kept, the API stores a gap)."""
    return {"seq": seq, "time": time, "kind": data.kind.value, "data": data.model_dump()}


def _json_number(value: Any) -> Any:
    """JSON Schema's integer excludes booleans and strings (and admits 5.0): so does this."""
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON number")
    return value


NO_NUL = "^[^\\u0000]*$"  # PostgreSQL text cannot hold NUL: refused, on SQLite too
Text = Annotated[str, Field(pattern=NO_NUL)]
Count = Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(_json_number)]
RunRef = Annotated[int, Field(ge=1, le=2**31 - 1), BeforeValidator(_json_number)]


class WorkerHello(BaseModel):
    """The body of `POST /api/workers`: a worker says what it is when it starts, and says it
    again every few seconds as its heartbeat (with the run it trains, if any). A number
    must be a JSON number, not `false` or "12"; text may not hold NUL."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=255, description="its Celery node name")
    host: Text = Field(min_length=1, max_length=255)
    device: Text = Field(min_length=1, max_length=64, description="cuda:0, mps or cpu")
    gpu_name: Text | None = Field(default=None, max_length=255)
    gpu_memory_mb: Count | None = None
    datasets: list[Annotated[Text, Field(max_length=64)]] = Field(
        default_factory=list, max_length=32, description="data sets it can train on now"
    )
    weights: list[Annotated[Text, Field(max_length=64)]] = Field(
        default_factory=list, max_length=32, description="pretrained weights it holds"
    )
    version: Text = Field(min_length=1, max_length=64)
    run_id: RunRef | None = Field(default=None, description="busy with")
