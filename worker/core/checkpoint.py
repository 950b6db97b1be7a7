"""Epoch checkpoints: written atomically, the previous one kept as a fallback.

A checkpoint holds the model, the optimiser, every RNG state, the finished epoch, the
metric history and the reported batch losses (core/steplog.py), so that a resumed run
continues exactly where the last epoch ended and can resend what a crash kept from the API.

A write goes to a temporary file first (`.checkpoint.pt.<pid>.tmp`, flushed and fsynced),
then the current checkpoint becomes the previous one and the temporary file the current
one, by renames. A process killed at any point leaves a loadable checkpoint.pt or (killed
between the two renames) checkpoint.prev.pt; a damaged file is skipped when loading, and the
temporary file a killed writer leaves is never loaded and is deleted by the next attempt.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worker.schema.runconfig import RunConfig

log = logging.getLogger("runboard.worker")
CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
TEMPORARY_GLOB = f".{CHECKPOINT}.*.tmp"


# Fields that may change between attempts without invalidating a checkpoint: more epochs
# continue training, the others only change how progress is reported or when a run stops.
RESUME_FREE_FIELDS = {
    "epochs", "report_every", "loader_workers",
    "patience", "min_delta", "target_accuracy", "guard_nonfinite", "guard_divergence",
}  # fmt: skip


_DEFAULTS = RunConfig().model_dump(mode="json")


def continues(saved: dict[str, Any], config: dict[str, Any]) -> bool:
    """Whether a checkpoint continues this run config (as JSON): the same run, and no
    further than its epochs."""
    if saved["epoch"] > config["epochs"]:
        return False
    fixed = (name for name in config if name not in RESUME_FREE_FIELDS)
    # A field newer than the checkpoint counts as its default (a constant lr schedule).
    before = {**_DEFAULTS, **saved["config"]}
    return all(before.get(name) == config[name] for name in fixed)


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
    _fsync_directory(directory)  # the renames survive a power cut, not only a killed process


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # a platform or file system without directory handles
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def remove_partial_writes(directory: Path) -> list[Path]:
    """Delete the temporary files of writers killed mid-write (never loaded, but as large as
    a checkpoint each); the removed paths. Called when an attempt starts: a writer still
    running elsewhere (an attempt fenced out by a newer claim) fails its rename, harmlessly."""
    removed = []
    for path in directory.glob(TEMPORARY_GLOB) if directory.is_dir() else ():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


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
        ) as exc:  # truncated or corrupt
            log.warning("skipping the damaged checkpoint %s: %s", path, str(exc)[:200])
            continue
        if isinstance(state, dict) and "epoch" in state:
            return state
        log.warning("skipping %s: not a checkpoint (no epoch)", path)
    return None
