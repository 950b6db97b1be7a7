"""All settings of a worker and of the CLI's API calls, read once from RUNBOARD_* variables.

The API has its own (backend/app/core/config.py, `get_settings()`); the two share only the
broker's address. The training core reads none of these: the worker passes it paths and
options as arguments.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.schema.broker import DEFAULT_BROKER_DB
from worker.schema.errors import InvalidInputError

MIN_ORPHAN_SWEEP_S = 0.5  # a shorter interval is raised to this, not refused
NO_WORDS = frozenset({"0", "false", "no"})  # RUNBOARD_DATA_DOWNLOAD values meaning "off"


class SettingsError(InvalidInputError):
    """A RUNBOARD_* variable holds a value the worker cannot use."""


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUNBOARD_", extra="ignore")

    api_url: str = Field(
        "http://127.0.0.1:8000",
        description="the API's base URL, without /api; a trailing slash is dropped",
    )
    api_token: str | None = Field(
        None, description="bearer token for the API's mutating routes (`runboard submit`)"
    )
    checkpoint_dir: Path = Field(
        Path("./var/checkpoints"), description="folder of the runs' checkpoint folders (run-<id>)"
    )
    data_dir: Path = Field(
        Path("./var/data"), description="folder holding (or receiving) CIFAR-100"
    )
    data_download: bool = Field(
        True, description="download CIFAR-100 when missing; 0, false or no turn it off"
    )
    broker_url: str | None = Field(
        None, description="redis://... to share a queue between machines; default broker_db"
    )
    broker_db: Path = Field(DEFAULT_BROKER_DB, description="the embedded broker's SQLite file")
    orphan_sweep_s: float = Field(
        60.0,
        description="seconds between sweeps for tasks hidden by killed workers (at least 0.5)",
    )

    @field_validator("api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("data_download", mode="before")
    @classmethod
    def _download_words(cls, value: Any) -> Any:
        # Any other text means "on", as it always has: only these three switch it off.
        return value.lower() not in NO_WORDS if isinstance(value, str) else value

    @field_validator("orphan_sweep_s")
    @classmethod
    def _sweep_floor(cls, value: float) -> float:
        return max(value, MIN_ORPHAN_SWEEP_S)


@cache
def worker_settings() -> WorkerSettings:
    """The settings of this process, read from the environment on first use."""
    try:
        return WorkerSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"RUNBOARD_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        raise SettingsError(problems) from None
