"""Database operations; routes call these, these use models."""

from backend.app.crud.attempts import claim, mark_lost_runs
from backend.app.crud.errors import Conflict, NotFound
from backend.app.crud.ingest import ingest
from backend.app.crud.metrics import compare, csv_rows, series
from backend.app.crud.runs import (
    SortKey,
    cancel_run,
    clone_run,
    create_group,
    create_run,
    delete_run,
    get_group,
    get_run,
    list_runs,
    update_run,
)
from backend.app.crud.stream import (
    compact_finished,
    events_after,
    latest_event_id,
    missed_compaction,
)
from backend.app.crud.workers import hello as worker_hello
from backend.app.crud.workers import list_workers
from backend.app.crud.workers import public as worker_public

__all__ = [
    "Conflict",
    "NotFound",
    "SortKey",
    "cancel_run",
    "claim",
    "clone_run",
    "compact_finished",
    "compare",
    "create_group",
    "create_run",
    "csv_rows",
    "delete_run",
    "events_after",
    "get_group",
    "get_run",
    "ingest",
    "latest_event_id",
    "list_runs",
    "list_workers",
    "mark_lost_runs",
    "missed_compaction",
    "series",
    "update_run",
    "worker_hello",
    "worker_public",
]
