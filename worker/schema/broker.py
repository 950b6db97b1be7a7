"""Where runs wait for workers: the task and queue names and the broker's address.

Torch-free and Celery-free: the API publishes by these names without importing any worker
code, and the worker registers its task under the same ones.
"""

from __future__ import annotations

from pathlib import Path

TRAIN_TASK = "runboard.train_run"  # worker/tasks.py registers the task under this name
TRAIN_QUEUE = "runboard"  # the default queue; `runboard worker --queues` consumes others
DEFAULT_BROKER_DB = Path("./var/broker.sqlite")  # the embedded broker's file (one machine)

# The embedded broker is Kombu's SQLAlchemy transport, subclassed to poll faster
# (worker/broker.py registers it under this scheme). Publishing needs no such subclass, so
# the API sends through Kombu's stock `sqla+` transport to the same tables.
EMBEDDED_SCHEME = "runboard-sqla"


def broker_url(configured: str | None, broker_db: Path = DEFAULT_BROKER_DB) -> str:
    """`configured` (RUNBOARD_BROKER_URL, e.g. redis://host:6379/0) or the embedded
    broker on the SQLite file `broker_db` (RUNBOARD_BROKER_DB), its folder created."""
    if configured:
        return configured
    path = broker_db.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"{EMBEDDED_SCHEME}+sqlite:///{path}"


def publisher_url(url: str) -> str:
    """The URL a publisher (the API) uses for `url`: the stock transport for the embedded one."""
    prefix = f"{EMBEDDED_SCHEME}+"
    return "sqla+" + url.removeprefix(prefix) if url.startswith(prefix) else url
