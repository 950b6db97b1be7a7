"""How a queued run reaches a worker: one small interface, chosen when the app starts.

The API enqueues by task name only, so it needs no worker code (and no torch); tests of
the API alone pass their own implementation to `create_app`.
"""

from __future__ import annotations

from typing import Any, Protocol

from worker.schema.broker import TRAIN_QUEUE, TRAIN_TASK, publisher_url


class Dispatcher(Protocol):
    def enqueue(self, run_id: int, config: dict[str, Any], ingest_token: str) -> None:
        """Hand a committed, queued run to the workers."""


class CeleryDispatcher:
    """Publishes the training task by name to the broker (Redis or the SQLite default)."""

    def __init__(self, broker_url: str) -> None:
        from celery import Celery

        self.celery = Celery("runboard-api", broker=publisher_url(broker_url))
        self.celery.conf.update(broker_connection_retry_on_startup=True, task_ignore_result=True)

    def enqueue(self, run_id: int, config: dict[str, Any], ingest_token: str) -> None:
        self.celery.send_task(
            TRAIN_TASK,
            kwargs={"run_id": run_id, "config": config, "ingest_token": ingest_token},
            queue=TRAIN_QUEUE,
        )
