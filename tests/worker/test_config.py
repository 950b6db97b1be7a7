"""WorkerSettings: every RUNBOARD_* value the worker and the CLI's API calls read, parsed once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.config import SettingsError, WorkerSettings, worker_settings
from worker.schema.broker import DEFAULT_BROKER_DB


@pytest.fixture(autouse=True)
def no_runboard_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No RUNBOARD_* setting of the developer's own, and a fresh cache before and after."""
    for key in list(os.environ):
        if key.startswith("RUNBOARD_"):
            monkeypatch.delenv(key)
    worker_settings.cache_clear()
    yield
    worker_settings.cache_clear()


def test_defaults_are_the_local_api_and_var_folders() -> None:
    settings = WorkerSettings()
    assert settings.api_url == "http://127.0.0.1:8000"
    assert settings.api_token is None
    assert settings.checkpoint_dir == Path("./var/checkpoints")
    assert settings.data_dir == Path("./var/data")
    assert settings.data_download is True
    assert settings.broker_url is None
    assert settings.broker_db == DEFAULT_BROKER_DB
    assert settings.orphan_sweep_s == 60.0


def test_every_field_is_read_from_its_runboard_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "RUNBOARD_API_URL": "http://api.example:9000/",
        "RUNBOARD_API_TOKEN": "s3cret",
        "RUNBOARD_CHECKPOINT_DIR": "/scratch/checkpoints",
        "RUNBOARD_DATA_DIR": "/datasets",
        "RUNBOARD_DATA_DOWNLOAD": "0",
        "RUNBOARD_BROKER_URL": "redis://queue:6379/0",
        "RUNBOARD_BROKER_DB": "/tmp/broker.sqlite",
        "RUNBOARD_ORPHAN_SWEEP_S": "2.5",
        "RUNBOARD_DATABASE_URL": "sqlite:///x.db",  # the API's: ignored here
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings = worker_settings()
    assert settings.api_url == "http://api.example:9000"  # trailing slash dropped
    assert settings.api_token == "s3cret"
    assert settings.checkpoint_dir == Path("/scratch/checkpoints")
    assert settings.data_dir == Path("/datasets")
    assert settings.data_download is False
    assert settings.broker_url == "redis://queue:6379/0"
    assert settings.broker_db == Path("/tmp/broker.sqlite")
    assert settings.orphan_sweep_s == 2.5
    assert worker_settings() is settings  # read once


@pytest.mark.parametrize(
    ("value", "download"),
    [
        ("0", False), ("false", False), ("no", False), ("FALSE", False), ("No", False),
        ("1", True), ("true", True), ("yes", True), ("off", True), ("", True),
    ],
)  # fmt: skip
def test_only_0_false_and_no_turn_the_download_off(
    monkeypatch: pytest.MonkeyPatch, value: str, download: bool
) -> None:
    monkeypatch.setenv("RUNBOARD_DATA_DOWNLOAD", value)
    assert WorkerSettings().data_download is download


@pytest.mark.parametrize(("value", "seconds"), [("0.1", 0.5), ("0", 0.5), ("2", 2.0)])
def test_the_orphan_sweep_interval_is_at_least_half_a_second(
    monkeypatch: pytest.MonkeyPatch, value: str, seconds: float
) -> None:
    monkeypatch.setenv("RUNBOARD_ORPHAN_SWEEP_S", value)
    assert WorkerSettings().orphan_sweep_s == seconds


def test_a_value_of_the_wrong_type_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNBOARD_ORPHAN_SWEEP_S", "soon")
    with pytest.raises(SettingsError) as caught:
        worker_settings()
    message = str(caught.value)
    assert message.startswith("RUNBOARD_ORPHAN_SWEEP_S: ") and "\n" not in message
    assert caught.value.exit_code == 2
