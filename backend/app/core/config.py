"""All settings of the API, read once from RUNBOARD_* environment variables."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.schema.broker import DEFAULT_BROKER_DB

AuthMode = Literal["off", "writes", "all"]  # what needs signing in: nothing, changes, all


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUNBOARD_", extra="ignore")

    database_url: str = Field(
        "sqlite:///./var/runboard.db", description="SQLAlchemy URL: sqlite:/// or postgresql://"
    )
    host: str = Field("127.0.0.1", description="bind address; loopback unless exposed on purpose")
    port: int = Field(8000, ge=1, le=65535)
    api_token: str | None = Field(
        None, description="the bootstrap admin's bearer token (and sign-in token)"
    )
    auth: AuthMode | None = Field(
        None, description="off | writes | all; default: writes once a user or the token exists"
    )
    session_ttl_s: float = Field(
        7 * 24 * 3600.0, gt=0, le=366 * 24 * 3600, description="dashboard sign-in lifetime"
    )
    broker_url: str | None = Field(
        None, description="redis://... to scale out; default the SQLite file broker_db"
    )
    broker_db: Path = Field(DEFAULT_BROKER_DB, description="the embedded broker's SQLite file")
    max_attempts: int = Field(3, ge=1, le=100, description="claims before a lost run stays failed")
    heartbeat_timeout_s: float = Field(120.0, gt=0, description="silence before 'worker lost'")
    heartbeat_check_s: float = Field(5.0, gt=0, description="how often runs are checked for it")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="larger bodies get 413")
    sse_keepalive_s: float = Field(15.0, gt=0, description="comment lines on idle streams")
    max_metric_points: int = Field(5000, ge=4, description="cap per series when downsampling")
    event_retention: timedelta = Field(
        timedelta(days=7),
        description="how long a finished run's stream rows are kept before compaction: "
        "seconds, 90s, 30m, 12h, 7d or an ISO 8601 duration (P7D)",
    )
    webhook_url: str | None = Field(
        None, description="POST a JSON message (Slack and Discord format) when a run ends"
    )
    public_url: str | None = Field(
        None, description="the dashboard's address in notification links; default host:port"
    )
    frontend_dir: Path | None = Field(
        None, description="the dashboard's static files; default: those installed with runboard"
    )

    @field_validator("event_retention", mode="before")
    @classmethod
    def _duration_words(cls, value: Any) -> Any:
        """`90s`, `30m`, `12h`, `7d` besides what pydantic reads (seconds, P7D, HH:MM:SS)."""
        if isinstance(value, str):
            match = DURATION.fullmatch(value.strip())
            if match:
                return timedelta(seconds=float(match[1]) * UNIT_S[match[2]])
        return value

    @property
    def dashboard_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@cache
def get_settings() -> Settings:
    return Settings()
