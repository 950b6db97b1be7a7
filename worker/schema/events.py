"""The worker-to-API protocol: one set of pydantic models that both sides import.

The trainer emits event objects (`Started`, `Batch`, `RecoveredSteps`, `Epoch`, `Finished`)
to its `on_event` callback; the worker's reporter adds `StatusChange`, `Heartbeat`,
`Failed` and `Released`, numbers them and posts them (worker.schema.messages) to the API,
which validates them with the same models. Torch-free.
"""

from __future__ import annotations

import enum
import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from worker.schema.status import RunStatus


class EventKind(enum.StrEnum):
    started = "started"  # training began (or resumed) on a device
    batch = "batch"  # one step's loss (the trainer's; the reporter folds them into batches)
    batches = "batches"  # many steps' losses as columns
    recovered_batches = "recovered_batches"  # steps a killed attempt checkpointed, again
    epoch = "epoch"  # one epoch's metrics
    finished = "finished"  # the run ended succeeded or cancelled, with its result
    status = "status"  # the worker took the run: it is running
    heartbeat = "heartbeat"  # nothing else to say, still alive
    failed = "failed"  # the run ended failed
    released = "released"  # the worker is shutting down and hands the run back
    resources = "resources"  # the worker process's CPU, memory and GPU, sampled


EPOCH_METRICS = (
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "epoch_seconds",
    "images_per_second",
    "lr",
)
# What the worker samples every few seconds (worker/resources.py); each only where present.
RESOURCE_METRICS = (
    "cpu_percent",  # of one core: 200 is two cores busy
    "rss_mb",  # resident memory of the worker process, MiB
    "cuda_allocated_mb",  # torch.cuda tensors now, MiB
    "cuda_reserved_mb",  # held by PyTorch's caching allocator, MiB
    "cuda_peak_mb",  # the most allocated so far, MiB
    "gpu_util_percent",  # NVML: the GPU's busy time
    "gpu_power_w",  # NVML: board power, watts
    "gpu_temp_c",  # NVML: core temperature, Celsius
)
STEP_COLUMNS = ("epoch", "step", "global_step", "loss", "time")  # see `Steps`
MAX_STEPS_PER_EVENT = 100_000  # steps in one `batches`/`recovered_batches` event

EpochNumber = Annotated[int, Field(ge=1, le=100_000)]  # 1-based
Step = Annotated[int, Field(ge=1, le=2**31 - 1)]  # 1-based
Seconds = Annotated[float, Field(ge=0, le=1e11)]  # Unix seconds or a duration
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]


def finite(value: float) -> float | None:
    """JSON has no NaN or infinity: a diverged loss is stored as a gap."""
    return value if math.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """`value` with every NaN and infinity replaced by None, nested lists and dicts too."""
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    return value


def replace_nul(text: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: a worker's report has it replaced, not refused."""
    return None if text is None else text.replace("\x00", "\ufffd")


class EventData(BaseModel):
    """The `data` of one event kind. Unknown fields are ignored, so a newer worker may say
    more than this API stores."""

    model_config = ConfigDict(extra="ignore")
    kind: ClassVar[EventKind]


# ---- what the trainer emits -----------------------------------------------------------


class Started(EventData):
    kind = EventKind.started
    start_epoch: EpochNumber  # > 1 when resumed from a checkpoint
    epochs: EpochNumber
    steps_per_epoch: Count
    device: str = Field(max_length=64)  # e.g. "cuda:0"
    device_name: str = Field(max_length=255)
    precision: str = Field(max_length=128)
    parameters: Count
    dataset: str = Field(max_length=255)  # e.g. "synthetic (seed 0, 5000/1000 images)"
    train_size: Count | None = None  # images
    test_size: Count | None = None

    _text = field_validator("device", "device_name")(replace_nul)


class Batch(EventData):
    """One reported training step."""

    kind = EventKind.batch
    epoch: EpochNumber
    step: Step  # within the epoch
    global_step: Step  # since the start of training
    loss: float  # mean cross-entropy of the step; NaN or infinity when it diverged


class Steps(EventData):
    """Many reported steps as columns of equal length (STEP_COLUMNS): one event per step
    would cost the API far more to parse and validate than a number in a list."""

    model_config = ConfigDict(extra="forbid")
    kind = EventKind.batches
    epoch: list[EpochNumber] = Field(min_length=1, max_length=MAX_STEPS_PER_EVENT)
    step: list[Step] = Field(min_length=1, max_length=MAX_STEPS_PER_EVENT)
    global_step: list[Step] = Field(min_length=1, max_length=MAX_STEPS_PER_EVENT)
    loss: list[float] = Field(min_length=1, max_length=MAX_STEPS_PER_EVENT)
    time: list[Seconds] = Field(min_length=1, max_length=MAX_STEPS_PER_EVENT)  # first reported

    @model_validator(mode="after")
    def _same_lengths(self) -> Steps:
        if len({len(getattr(self, name)) for name in STEP_COLUMNS}) != 1:
            raise ValueError(f"{', '.join(STEP_COLUMNS)} need the same length")
        return self


class RecoveredSteps(Steps):
    """The reported steps of the epochs a resumed attempt skips. A worker killed after an
    epoch's checkpoint but before its events reached the API takes those batch losses with
    it; the checkpoint keeps them, the next attempt sends them again, and the API stores
    only the steps it does not have."""

    kind = EventKind.recovered_batches


class Epoch(EventData):
    kind = EventKind.epoch
    epoch: EpochNumber
    metrics: dict[str, float] = Field(  # accuracies are fractions 0..1
        json_schema_extra={"propertyNames": {"enum": list(EPOCH_METRICS)}}  # _known_metrics
    )

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, metrics: dict[str, float]) -> dict[str, float]:
        unknown = set(metrics) - set(EPOCH_METRICS)
        if unknown:
            raise ValueError(f"unknown metric names: {', '.join(sorted(unknown))}")
        return metrics


class RunResult(BaseModel):
    """What a run ends with. The trainer fills every field; the API stores those in
    STORED_RESULT_FIELDS (history and config it has already) and takes partial results."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["succeeded", "cancelled"] = "succeeded"
    config: dict[str, Any] = Field(default_factory=dict)
    dataset: str = ""
    epochs_completed: Count = 0
    history: list[dict[str, float | None]] = Field(default_factory=list)  # EPOCH_METRICS+epoch
    final_test_acc: float | None = None
    best_test_acc: float | None = None
    final_train_loss: float | None = None
    final_test_loss: float | None = None
    total_seconds: Seconds | None = None
    parameters: Count | None = None
    device: str = ""
    device_name: str = ""
    precision: str = ""
    versions: dict[str, str | None] = Field(default_factory=dict)
    classes: list[str] = Field(default_factory=list)
    coarse_classes: list[str] = Field(default_factory=list)
    per_class_accuracy: list[float | None] = Field(default_factory=list)  # fine classes, 0..1
    confusion: list[list[int]] = Field(default_factory=list)  # (100, 100): [true][predicted]
    confusion_coarse: list[list[int]] = Field(default_factory=list)  # (20, 20)
    resumed_from_epoch: int | None = None
    stopped_by: Literal["patience", "target"] | None = None  # the early-stop rule that fired
    stopped_epoch: int | None = None  # the epoch after which it fired

    @model_validator(mode="before")
    @classmethod
    def _no_nan(cls, data: Any) -> Any:
        return json_safe(data)  # JSON (and PostgreSQL's json type) has no NaN


STORED_RESULT_FIELDS = frozenset(RunResult.model_fields) - {
    "status", "config", "history", "final_test_acc", "best_test_acc", "final_train_loss",
    "final_test_loss", "parameters", "device",
}  # fmt: skip


class Finished(EventData):
    kind = EventKind.finished
    status: Literal["succeeded", "cancelled"]
    result: RunResult


TrainerEvent = Started | Batch | RecoveredSteps | Epoch | Finished


# ---- what the worker adds ---------------------------------------------------------------


class StatusChange(EventData):
    model_config = ConfigDict(extra="forbid")
    kind = EventKind.status
    status: Literal[RunStatus.running]
    worker_host: str | None = Field(default=None, max_length=255)

    _text = field_validator("worker_host")(replace_nul)


class Heartbeat(EventData):
    kind = EventKind.heartbeat


class Failed(EventData):
    model_config = ConfigDict(extra="forbid")
    kind = EventKind.failed
    error: str = Field(max_length=10_000)
    traceback: str | None = Field(default=None, max_length=200_000)
    user_error: bool = False  # something the user can fix (data, weights, device), no bug

    _text = field_validator("error", "traceback")(replace_nul)


class Released(EventData):
    """The worker is shutting down mid-run and hands the run back to the queue."""

    kind = EventKind.released


class Resources(EventData):
    """One sample of the worker's resources, at the latest reported step."""

    kind = EventKind.resources
    epoch: EpochNumber
    global_step: Step
    metrics: dict[str, float] = Field(
        json_schema_extra={"propertyNames": {"enum": list(RESOURCE_METRICS)}}  # _known_metrics
    )

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, metrics: dict[str, float]) -> dict[str, float]:
        unknown = set(metrics) - set(RESOURCE_METRICS)
        if unknown:
            raise ValueError(f"unknown metric names: {', '.join(sorted(unknown))}")
        return metrics


# ---- the live `metrics` stream event ----------------------------------------------------
# The API's `metrics` SSE event carries new points as columns per metric name:
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
