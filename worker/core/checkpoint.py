"""Epoch checkpoints: written atomically, the previous one kept as a fallback.

A checkpoint holds the model, the optimiser, every RNG state, the finished epoch and the
metric history, so that a resumed run continues exactly where the last epoch ended.
"""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"


def rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        # As a tensor, so the file loads with weights_only=True (no pickled code runs).
        "numpy": _numpy_state_as_tensors(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _numpy_state_as_tensors() -> tuple[Any, ...]:
    state: tuple[Any, ...] = np.random.get_state()  # type: ignore[assignment]
    name, keys, position, has_gauss, cached = state
    return (name, torch.from_numpy(keys.copy()), position, has_gauss, cached)


def restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    name, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy(), position, has_gauss, cached))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(directory: Path, state: dict[str, Any]) -> None:
    """Write `state` to directory/checkpoint.pt; a crash mid-write leaves the old one intact."""
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{CHECKPOINT}.{os.getpid()}.tmp"
    with open(temporary, "wb") as file:
        torch.save(state, file)
        file.flush()
        os.fsync(file.fileno())
    current = directory / CHECKPOINT
    if current.exists():
        os.replace(current, directory / PREVIOUS)
    os.replace(temporary, current)


def load_checkpoint(directory: Path) -> dict[str, Any] | None:
    """The newest readable checkpoint in `directory`, or None; a damaged file is skipped."""
    for name in (CHECKPOINT, PREVIOUS):
        path = directory / name
        if not path.is_file():
            continue
        try:
            state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        except (
            RuntimeError,
            EOFError,
            OSError,
            ValueError,
            pickle.UnpicklingError,
        ):  # truncated or corrupt
            continue
        if isinstance(state, dict) and "epoch" in state:
            return state
    return None
