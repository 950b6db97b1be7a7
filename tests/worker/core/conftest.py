"""Core tests run offline: no data download, an empty data directory, a fresh data cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from worker.core import data


@pytest.fixture(autouse=True)
def offline_data(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("RUNBOARD_DATA_DOWNLOAD", "0")
    monkeypatch.setenv("RUNBOARD_DATA_DIR", str(directory))
    data.clear_cache()
    deterministic = torch.are_deterministic_algorithms_enabled()
    yield directory
    data.clear_cache()
    torch.use_deterministic_algorithms(deterministic)  # train() sets it globally
