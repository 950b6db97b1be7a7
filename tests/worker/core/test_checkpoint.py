"""Epoch checkpoints: atomic writes, the previous one as a fallback, RNG states restored."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from worker.core import checkpoint
from worker.core.checkpoint import (
    CHECKPOINT,
    PREVIOUS,
    load_checkpoint,
    remove_partial_writes,
    restore_rng_states,
    rng_states,
    save_checkpoint,
)
from worker.schema.runconfig import RunConfig


def two_checkpoints(directory: Path) -> None:
    save_checkpoint(directory, {"epoch": 1, "weights": torch.full((3,), 1.0)})
    save_checkpoint(directory, {"epoch": 2, "weights": torch.full((3,), 2.0)})


def test_no_checkpoint_gives_none(tmp_path: Path) -> None:
    assert load_checkpoint(tmp_path) is None
    assert load_checkpoint(tmp_path / "missing") is None


def test_saving_keeps_the_previous_checkpoint_and_loads_the_newest(tmp_path: Path) -> None:
    two_checkpoints(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [PREVIOUS, CHECKPOINT]
    state = load_checkpoint(tmp_path)
    assert state is not None and state["epoch"] == 2
    assert torch.equal(state["weights"], torch.full((3,), 2.0))


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated mid-write
        lambda data: data[:10],
        lambda data: b"",
        lambda data: b"not a checkpoint at all" * 40,
    ],
    ids=["half", "ten-bytes", "empty", "garbage"],
)
def test_damaged_checkpoint_falls_back_to_the_previous_one(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    two_checkpoints(tmp_path)
    current = tmp_path / CHECKPOINT
    current.write_bytes(damage(current.read_bytes()))
    state = load_checkpoint(tmp_path)
    assert state is not None
    assert state["epoch"] == 1
    assert torch.equal(state["weights"], torch.full((3,), 1.0))


def test_both_checkpoints_damaged_gives_none(tmp_path: Path) -> None:
    two_checkpoints(tmp_path)
    for name in (CHECKPOINT, PREVIOUS):
        path = tmp_path / name
        path.write_bytes(path.read_bytes()[:100])
    assert load_checkpoint(tmp_path) is None


def test_a_file_without_an_epoch_is_not_a_checkpoint(tmp_path: Path) -> None:
    torch.save({"weights": torch.zeros(2)}, tmp_path / CHECKPOINT)
    assert load_checkpoint(tmp_path) is None


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "run", {"epoch": 1})
    assert [p.name for p in (tmp_path / "run").iterdir()] == [CHECKPOINT]


def test_restored_rng_states_repeat_every_random_stream(tmp_path: Path) -> None:
    torch.manual_seed(11)
    random.seed(11)
    np.random.seed(11)
    np.random.standard_normal()  # a cached Gaussian is part of numpy's state too
    save_checkpoint(tmp_path, {"epoch": 1, "rng": rng_states()})
    expected = (torch.rand(5), [random.random() for _ in range(5)], np.random.standard_normal(5))

    torch.manual_seed(99)
    random.seed(99)
    np.random.seed(99)
    state = load_checkpoint(tmp_path)  # loads with weights_only=True
    assert state is not None
    restore_rng_states(state["rng"])
    assert torch.equal(torch.rand(5), expected[0])
    assert [random.random() for _ in range(5)] == expected[1]
    assert np.array_equal(np.random.standard_normal(5), expected[2])


# ---- what a crash mid-write leaves behind ---------------------------------------------------


def a_third_checkpoint_bytes(tmp_path: Path) -> bytes:
    """The bytes save_checkpoint would write for epoch 3 (made in a scratch folder)."""
    scratch = tmp_path / "scratch"
    save_checkpoint(scratch, {"epoch": 3, "weights": torch.full((3,), 3.0)})
    return (scratch / CHECKPOINT).read_bytes()


def test_a_half_written_temporary_file_is_never_loaded(tmp_path: Path) -> None:
    """Killed mid-write: the temporary file is half there, checkpoint.pt is untouched."""
    run = tmp_path / "run"
    two_checkpoints(run)
    third = a_third_checkpoint_bytes(tmp_path)
    (run / f".{CHECKPOINT}.4242.tmp").write_bytes(third[: len(third) // 2])
    state = load_checkpoint(run)
    assert state is not None and state["epoch"] == 2


def test_killed_between_the_two_renames_the_previous_checkpoint_is_loaded(tmp_path: Path) -> None:
    """checkpoint.pt already moved to checkpoint.prev.pt, the complete new one still under its
    temporary name: the previous epoch loads (and is trained again), nothing is lost."""
    run = tmp_path / "run"
    two_checkpoints(run)
    (run / CHECKPOINT).replace(run / PREVIOUS)  # the first rename of the epoch-3 write
    (run / f".{CHECKPOINT}.4242.tmp").write_bytes(a_third_checkpoint_bytes(tmp_path))
    state = load_checkpoint(run)
    assert state is not None and state["epoch"] == 2
    assert torch.equal(state["weights"], torch.full((3,), 2.0))


def test_a_truncated_checkpoint_next_to_a_half_written_one_falls_back_to_the_previous(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    two_checkpoints(run)
    current = run / CHECKPOINT
    current.write_bytes(current.read_bytes()[:-100])  # truncated, as a non-atomic write would
    third = a_third_checkpoint_bytes(tmp_path)
    (run / f".{CHECKPOINT}.4242.tmp").write_bytes(third[:1000])
    state = load_checkpoint(run)
    assert state is not None and state["epoch"] == 1
    assert f"skipping the damaged checkpoint {current}" in caplog.text  # detected, and said


def test_the_temporary_files_of_killed_writers_are_removed_and_nothing_else(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    two_checkpoints(run)
    left = [run / f".{CHECKPOINT}.{pid}.tmp" for pid in (11, 12)]
    for path in left:
        path.write_bytes(b"half a checkpoint")
    (run / "notes.tmp").write_text("not ours")
    assert sorted(remove_partial_writes(run)) == sorted(left)
    assert sorted(p.name for p in run.iterdir()) == [PREVIOUS, CHECKPOINT, "notes.tmp"]
    assert remove_partial_writes(tmp_path / "missing") == []
    state = load_checkpoint(run)
    assert state is not None and state["epoch"] == 2


def test_a_checkpoint_from_before_the_steering_fields_continues_the_same_run() -> None:
    config = RunConfig(epochs=5).model_dump(mode="json")
    older = {k: v for k, v in config.items() if k not in {"schedule", "warmup_epochs", "patience"}}

    assert checkpoint.continues({"epoch": 2, "config": older}, config)
    cosine = {**config, "schedule": "cosine"}
    assert not checkpoint.continues({"epoch": 2, "config": older}, cosine)
