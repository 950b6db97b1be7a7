"""The Celery app: one task, late acknowledgement, one run at a time per worker.

The broker is Redis when RUNBOARD_BROKER_URL says so (workers on several machines), and by
default a SQLite file through Kombu's SQLAlchemy transport, so one machine needs no Redis;
both take the same code path.
"""

from __future__ import annotations

from celery import Celery

from worker import broker  # noqa: F401  (registers the embedded broker's URL scheme)
from worker.config import worker_settings
from worker.schema.broker import TRAIN_QUEUE
from worker.schema.broker import broker_url as resolve_broker_url


def broker_url() -> str:
    """RUNBOARD_BROKER_URL, else the embedded broker on the file RUNBOARD_BROKER_DB."""
    settings = worker_settings()
    return resolve_broker_url(settings.broker_url, settings.broker_db)


def make_celery(url: str | None = None) -> Celery:
    url = url or broker_url()
    app = Celery("runboard", broker=url, include=["worker.tasks"])
    app.conf.update(
        task_default_queue=TRAIN_QUEUE,
        task_acks_late=True,  # a task is acknowledged only when it has finished...
        task_reject_on_worker_lost=True,  # ...and requeued if its worker process dies
        worker_prefetch_multiplier=1,  # a worker holds one run at a time, no more
        task_ignore_result=True,  # results go to the API, not a result backend
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # ride out a broker restart
        worker_hijack_root_logger=False,
    )
    if url.startswith(("redis://", "rediss://")):
        # Redis redelivers unacknowledged tasks after this; the API's claim refuses a run
        # whose worker is still alive, so an early redelivery cannot train a run twice.
        app.conf.broker_transport_options = {"visibility_timeout": 3600}
    return app


celery_app = make_celery()
