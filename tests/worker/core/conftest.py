"""Core tests run offline: no data download, an empty data directory, a fresh data cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from worker.core import data


@pytest.fixture(autouse=True)
def offline_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty data folder; the core reads no environment, tests pass it where needed."""
    directory = tmp_path_factory.mktemp("data")
    data.clear_cache()
    deterministic = torch.are_deterministic_algorithms_enabled()
    yield directory
    data.clear_cache()
    torch.use_deterministic_algorithms(deterministic)  # train() sets it globally
