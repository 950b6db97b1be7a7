"""All settings of the API, read once from RUNBOARD_* environment variables."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.schema.broker import DEFAULT_BROKER_DB


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUNBOARD_", extra="ignore")

    database_url: str = Field(
        "sqlite:///./var/runboard.db", description="SQLAlchemy URL: sqlite:/// or postgresql://"
    )
    host: str = Field("127.0.0.1", description="bind address; loopback unless exposed on purpose")
    port: int = Field(8000, ge=1, le=65535)
    api_token: str | None = Field(None, description="when set, mutating routes need this bearer")
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
    webhook_url: str | None = Field(
        None, description="POST a JSON message (Slack and Discord format) when a run ends"
    )
    public_url: str | None = Field(
        None, description="the dashboard's address in notification links; default host:port"
    )
    frontend_dir: Path | None = Field(
        None, description="the dashboard's static files; default: those installed with runboard"
    )

    @property
    def dashboard_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@cache
def get_settings() -> Settings:
    return Settings()
