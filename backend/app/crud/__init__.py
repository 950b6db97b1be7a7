"""Database operations; routes call these, these use models."""

from backend.app.crud.attempts import claim, mark_lost_runs
from backend.app.crud.classes import class_differences
from backend.app.crud.errors import Conflict, NotFound
from backend.app.crud.ingest import ingest
from backend.app.crud.metrics import compare, csv_rows, downsampled_series, series
from backend.app.crud.replicas import group_difference, group_series, run_extras
from backend.app.crud.report import pin as pin_point
from backend.app.crud.report import report_card
from backend.app.crud.report import unpin as unpin_point
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
from backend.app.crud.users import Principal
from backend.app.crud.workers import hello as worker_hello
from backend.app.crud.workers import list_workers
from backend.app.crud.workers import public as worker_public

__all__ = [
    "Conflict",
    "NotFound",
    "Principal",
    "SortKey",
    "cancel_run",
    "claim",
    "class_differences",
    "clone_run",
    "compact_finished",
    "compare",
    "create_group",
    "create_run",
    "csv_rows",
    "delete_run",
    "downsampled_series",
    "events_after",
    "get_group",
    "get_run",
    "group_difference",
    "group_series",
    "ingest",
    "latest_event_id",
    "list_runs",
    "list_workers",
    "mark_lost_runs",
    "missed_compaction",
    "pin_point",
    "report_card",
    "run_extras",
    "series",
    "unpin_point",
    "update_run",
    "worker_hello",
    "worker_public",
]
