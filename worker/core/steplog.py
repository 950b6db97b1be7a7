"""The batch losses a run has reported, kept in its checkpoint so that none is ever lost.

Events travel to the API a moment after they happen, so a worker killed just after an
epoch's checkpoint may take that epoch's last batch losses with it; the resumed attempt
starts after the epoch and would never report them again. The checkpoint therefore holds
every reported step as columns, and a resumed attempt sends them once more, in chunks,
for the API to store those it lacks (it deduplicates by global step).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from worker.schema.events import STEP_COLUMNS, RecoveredSteps

CHUNK = 10_000  # steps per recovered event: well under the API's body and column limits


class StepLog:
    """Reported steps as parallel lists (STEP_COLUMNS); 5 numbers per step, ~40 bytes saved."""

    def __init__(self, columns: dict[str, list[Any]] | None = None) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in STEP_COLUMNS}
        if columns and all(isinstance(columns.get(name), list) for name in STEP_COLUMNS):
            lengths = {len(columns[name]) for name in STEP_COLUMNS}
            if len(lengths) == 1:  # anything else is not ours: start empty, lose nothing new
                self.columns = {name: columns[name] for name in STEP_COLUMNS}  # fresh from load

    def __len__(self) -> int:
        return len(self.columns["step"])

    def record(self, epoch: int, step: int, global_step: int, loss: float) -> None:
        row = (epoch, step, global_step, loss, time.time())
        for name, value in zip(STEP_COLUMNS, row, strict=True):
            self.columns[name].append(value)

    def state(self) -> dict[str, list[Any]]:
        """What the checkpoint stores: plain lists (loadable with weights_only=True). Not a
        copy: torch.save serializes them before training appends to them again."""
        return self.columns

    def recovered_events(self, chunk: int = CHUNK) -> Iterator[RecoveredSteps]:
        for start in range(0, len(self), chunk):
            part = {name: values[start : start + chunk] for name, values in self.columns.items()}
            yield RecoveredSteps(**part)
