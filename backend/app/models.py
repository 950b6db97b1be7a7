"""Tables and API shapes: runs, groups, metric points and the event log behind the streams.

Times are timezone-aware UTC (SQLModel stores them as UTC on SQLite and PostgreSQL alike).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ConfigDict, field_validator
from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from worker.schema.status import FailureReason, RunStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


MAX_TAGS = 32
MAX_TAG_LENGTH = 64


def _check_tags(tags: list[str]) -> list[str]:
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    cleaned = []
    for tag in tags:
        tag = tag.strip()
        if not tag or len(tag) > MAX_TAG_LENGTH:
            raise ValueError(f"each tag needs 1 to {MAX_TAG_LENGTH} characters")
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def _refuse_nul(text: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL characters: refuse them (422), on SQLite too."""
    if text is not None and "\x00" in text:
        raise ValueError("may not contain NUL characters")
    return text


class RunBase(SQLModel):
    name: str = Field(max_length=200)
    preset: str | None = Field(default=None, max_length=16, index=True)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    notes: str = Field(default="", max_length=20_000, sa_column=Column(Text, nullable=False))


class Group(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class RunFields(RunBase):
    """Every column a client may see: the table adds its private ones, RunPublic the id."""

    group_id: int | None = Field(default=None, foreign_key="group.id", index=True)
    config: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # A string column (not a database enum): new statuses need no type migration.
    status: RunStatus = Field(
        default=RunStatus.queued, sa_type=String(16), max_length=16, index=True
    )
    failure: FailureReason | None = Field(default=None, sa_type=String(16), max_length=16)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    cancel_requested: bool = False
    # Progress: 1-based epoch and step within it, with their totals.
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps_per_epoch: int | None = None
    worker_host: str | None = Field(default=None, max_length=255)
    device: str | None = Field(default=None, max_length=255)
    error: str | None = Field(default=None, sa_column=Column(Text))
    traceback: str | None = Field(default=None, sa_column=Column(Text))
    # Summary, filled as epochs arrive and at the end.
    final_test_acc: float | None = None
    best_test_acc: float | None = None
    final_train_loss: float | None = None
    final_test_loss: float | None = None
    duration_s: float | None = None
    images_per_second: float | None = None
    parameters: int | None = None
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # claims so far


class Run(RunFields, table=True):
    id: int | None = Field(default=None, primary_key=True)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    ingest_token: str = Field(max_length=64)  # the worker's credential: never shown
    last_seq: int = 0  # highest ingest sequence number applied


class MetricPoint(SQLModel, table=True):
    __tablename__ = "metric_point"
    __table_args__ = (
        Index("ix_metric_point_run_name_step", "run_id", "name", "step"),
        Index("ix_metric_point_run_seq", "run_id", "seq"),
    )
    # BIGINT on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    run_id: int = Field(foreign_key="run.id")
    seq: int  # the ingest sequence number of the event that carried it
    epoch: int
    step: int  # global step for batch_loss, the epoch for per-epoch metrics
    name: str = Field(max_length=64)
    value: float | None  # None where the worker measured NaN or infinity
    time: float  # seconds since the Unix epoch, when the worker measured it


class StreamEvent(SQLModel, table=True):
    """Append-only log that SSE clients replay from (Last-Event-ID) and follow live."""

    __tablename__ = "stream_event"
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    run_id: int = Field(index=True)
    kind: str = Field(max_length=16)  # status | progress | metrics | deleted
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


# ---- API shapes ---------------------------------------------------------------------------


class RunCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    preset: str = Field(max_length=16, schema_extra={"examples": ["4a"]})
    overrides: dict[str, Any] = Field(
        default_factory=dict, schema_extra={"examples": [{"lr": 0.001, "epochs": 5}]}
    )
    name: str | None = Field(default=None, min_length=1, max_length=200)
    tags: list[str] = Field(default_factory=list)
    notes: str = Field(default="", max_length=20_000)

    _tags = field_validator("tags")(_check_tags)
    _text = field_validator("name", "notes")(_refuse_nul)


class RunClone(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    overrides: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    tags: list[str] | None = None

    _tags = field_validator("tags")(lambda tags: None if tags is None else _check_tags(tags))
    _text = field_validator("name")(_refuse_nul)


class RunUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    name: str | None = Field(default=None, min_length=1, max_length=200)
    tags: list[str] | None = None
    notes: str | None = Field(default=None, max_length=20_000)

    _tags = field_validator("tags")(lambda tags: None if tags is None else _check_tags(tags))
    _text = field_validator("name", "notes")(_refuse_nul)


class RunPublic(RunFields):
    id: int


class RunDetail(RunPublic):
    result: dict[str, Any] | None


class RunList(SQLModel):
    items: list[RunPublic]
    total: int
    offset: int
    limit: int


class GroupCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    name: str = Field(min_length=1, max_length=200)
    runs: list[RunCreate] = Field(default_factory=list, max_length=64)
    seeds: list[int] | None = Field(
        default=None, max_length=64, description="replicate runs[0] once per seed"
    )
    tags: list[str] = Field(default_factory=list)

    _tags = field_validator("tags")(_check_tags)
    _text = field_validator("name")(_refuse_nul)


class GroupPublic(SQLModel):
    id: int
    name: str
    created_at: datetime
    runs: list[RunPublic]
