"""Database operations; routes call these, these use models."""

from backend.app.crud.attempts import claim, mark_lost_runs
from backend.app.crud.errors import Conflict, NotFound
from backend.app.crud.ingest import ingest
from backend.app.crud.metrics import compare, csv_rows, downsampled_series, series
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
from backend.app.crud.stream import events_after, latest_event_id

__all__ = [
    "Conflict",
    "NotFound",
    "SortKey",
    "cancel_run",
    "claim",
    "clone_run",
    "compare",
    "create_group",
    "create_run",
    "csv_rows",
    "delete_run",
    "downsampled_series",
    "events_after",
    "get_group",
    "get_run",
    "ingest",
    "latest_event_id",
    "list_runs",
    "mark_lost_runs",
    "series",
    "update_run",
]
