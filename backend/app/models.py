"""Tables and API shapes: runs, groups, metric points and the event log behind the streams.

Times are timezone-aware UTC (SQLModel stores them as UTC on SQLite and PostgreSQL alike).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from backend.app.contract import (
    EntityId,
    Name,
    Notes,
    Overrides,
    PresetId,
    Seeds,
    Tags,
    UserName,
    no_defaults,
)
from backend.app.core.config import AuthMode
from backend.app.core.stats import TimeToAccuracy
from worker.schema.status import FailureReason, RunStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


class RunBase(SQLModel):
    name: str = Field(max_length=200)
    preset: str | None = Field(default=None, max_length=16, index=True)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    notes: str = Field(default="", max_length=20_000, sa_column=Column(Text, nullable=False))


class Group(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str | None = Field(default=None, max_length=32)  # a user's name


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
    # Who: a user's name (names are never reused), None where auth was off.
    created_by: str | None = Field(default=None, max_length=32, index=True)
    cancelled_by: str | None = Field(default=None, max_length=32)
    # Steering: the early-stop rule that ended a succeeded run (patience | target) and after
    # which epoch; the worker's peak resident memory and CUDA memory (MiB) as sampled.
    stopped_by: str | None = Field(default=None, max_length=16)
    stopped_epoch: int | None = None
    peak_rss_mb: float | None = None
    peak_gpu_mb: float | None = None


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
    # Coalescing deletes a run's older `progress` rows on every ingest: found by this index.
    __table_args__ = (Index("ix_stream_event_run_kind", "run_id", "kind"),)
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    run_id: int = Field(index=True)
    kind: str = Field(max_length=16)  # status | progress | metrics | deleted
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class ReportPin(SQLModel, table=True):
    """The run or group that represents a homework point on the report card, for everyone.
    Deleting the run deletes its pin (the card falls back to the best finished run)."""

    __tablename__ = "report_pin"
    point: str = Field(primary_key=True, max_length=16)
    run_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("run.id", ondelete="CASCADE"), nullable=True),
    )
    group_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("group.id", ondelete="CASCADE"), nullable=True),
    )
    pinned_at: datetime = Field(default_factory=utcnow)


class StreamCompaction(SQLModel, table=True):
    """A finished run whose stream rows were compacted into one `status` row (`kept_id`):
    a client resuming before `through_id` missed deleted rows and gets a `reset` instead."""

    __tablename__ = "stream_compaction"
    run_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    through_id: int = Field(sa_type=BigInteger)  # the newest row deleted
    kept_id: int = Field(sa_type=BigInteger)  # the summary row left in their place


class WorkerBase(SQLModel):
    """What a worker says of itself in its hello, repeated as its heartbeat."""

    name: str = Field(max_length=255, unique=True)  # its Celery node name: one per process
    host: str = Field(max_length=255)
    device: str = Field(max_length=64)  # cuda:0 | mps | cpu
    gpu_name: str | None = Field(default=None, max_length=255)
    gpu_memory_mb: int | None = None
    datasets: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    weights: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    version: str = Field(max_length=64)
    run_id: int | None = None  # the run it trains now, if any


class Worker(WorkerBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(default_factory=utcnow)
    seen_at: datetime = Field(default_factory=utcnow, index=True)


# ---- API shapes ---------------------------------------------------------------------------


class RunCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    preset: PresetId = Field(schema_extra={"examples": ["4a"]})
    overrides: Overrides = Field(
        default_factory=dict, schema_extra={"examples": [{"lr": 0.001, "epochs": 5}]}
    )
    name: Name | None = Field(default=None, description="null or left out: named for the preset")
    tags: Tags = Field(default_factory=list)
    notes: Notes = ""


class RunClone(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    overrides: Overrides = Field(default_factory=dict)
    name: Name | None = Field(default=None, description="null or left out: the run's name (clone)")
    tags: Tags | None = Field(default=None, description="null or left out: the run's tags")


class RunUpdate(SQLModel):
    """Only the fields sent change; none may be null."""

    # Left out means unchanged, so the schema shows no `default: null` (nor a null type).
    model_config = ConfigDict(extra="forbid", json_schema_extra=no_defaults)  # type: ignore[assignment]

    name: Name = None  # type: ignore[assignment]
    tags: Tags = None  # type: ignore[assignment]
    notes: Notes = None  # type: ignore[assignment]


class RunPublic(RunFields):
    id: int


class RunDetail(RunPublic):
    result: dict[str, Any] | None


class RunListItem(RunPublic):
    """A listed run with what the list was asked to work out per run."""

    time_to_accuracy: TimeToAccuracy
    test_acc_at_epoch: float | None = Field(description="test accuracy at `epoch`, when asked")


class RunList(SQLModel):
    items: list[RunListItem]
    total: int
    offset: int
    limit: int


class GroupCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    name: Name
    runs: list[RunCreate] = Field(min_length=1, max_length=64)
    seeds: Seeds | None = Field(
        default=None, description="replicate runs[0] once per seed (each seed once)"
    )
    tags: Tags = Field(default_factory=list, description="added to every run's own tags")


class GroupPublic(SQLModel):
    id: int
    name: str
    created_at: datetime
    created_by: str | None
    runs: list[RunPublic]


# ---- users, their API tokens and dashboard sessions (see backend/app/crud/users.py) -------


class User(SQLModel, table=True):
    __tablename__ = "user_account"  # `user` is a reserved word in PostgreSQL
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=32, unique=True)
    admin: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None  # revoked users keep their name: never reused


class ApiToken(SQLModel, table=True):
    """One of a user's tokens (one per script, say); only its SHA-256 is stored."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)  # hex SHA-256 of the token
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class UserSession(SQLModel, table=True):
    """A dashboard sign-in: the cookie holds a random id, the table its SHA-256."""

    __tablename__ = "user_session"
    id: int | None = Field(default=None, primary_key=True)
    id_hash: str = Field(max_length=64, unique=True)
    user_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    token_id: int | None = Field(default=None, foreign_key="api_token.id")
    # SHA-256 of the token signed in with: a RUNBOARD_API_TOKEN session ends when it changes.
    source_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None


class SessionCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    token: str = Field(
        min_length=1, max_length=512, description="an API token (runboard users add / token)"
    )


class SessionInfo(SQLModel):
    auth: AuthMode = Field(description="what needs signing in: nothing, changes, or everything")
    user: str | None = Field(description="who is signed in; null: nobody")
    admin: bool
    expires_at: datetime | None = Field(description="when the dashboard session ends")


class UserCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    name: UserName
    admin: bool = False


class UserPublic(SQLModel):
    name: str
    admin: bool
    created_at: datetime
    revoked_at: datetime | None
    tokens: int = Field(description="API tokens in force")


class UserToken(SQLModel):
    name: str
    token: str = Field(description="shown once: only its hash is kept")


class PinRun(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    run_id: EntityId = Field(description="a run of this point", schema_extra={"examples": [1]})


class PinGroup(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    group_id: EntityId = Field(description="a group whose runs are all of this point")


class ReportPinPublic(SQLModel):
    point: str
    run_id: int | None
    group_id: int | None
    pinned_at: datetime


class WorkerPublic(WorkerBase):
    id: int
    started_at: datetime
    seen_at: datetime
    state: str = Field(description="busy (with run_id) | idle | lost (silent too long)")


class QueuedRun(SQLModel):
    id: int
    name: str
    preset: str | None
    created_at: datetime


class WorkerList(SQLModel):
    workers: list[WorkerPublic]
    queue: list[QueuedRun] = Field(description="queued runs in the order workers take them")
