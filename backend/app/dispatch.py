"""How a queued run reaches a worker: one small interface, chosen when the app starts.

The API enqueues by task name only, so it needs no worker code (and no torch). Tests and
an API running alone use `LeaveQueued`: runs wait in `queued` until a worker takes them.
"""

from __future__ import annotations

from typing import Any, Protocol

TRAIN_TASK = "runboard.train_run"


class Dispatcher(Protocol):
    def enqueue(self, run_id: int, config: dict[str, Any], ingest_token: str) -> None:
        """Hand a committed, queued run to the workers."""


class LeaveQueued:
    """No broker: runs stay queued (the API alone, or a worker that lists queued runs)."""

    def enqueue(self, run_id: int, config: dict[str, Any], ingest_token: str) -> None:
        return None
