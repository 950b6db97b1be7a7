"""Runs and groups: create from a preset plus overrides, list, change, cancel, clone, delete."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import String, cast, delete, func, inspect, or_
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from backend.app.crud.errors import Conflict, NotFound
from backend.app.crud.status import announce, set_status
from backend.app.models import (
    Group,
    GroupCreate,
    MetricPoint,
    Run,
    RunClone,
    RunCreate,
    RunUpdate,
    StreamEvent,
)
from worker.schema.presets import UnknownPresetError, get_preset
from worker.schema.runconfig import ConfigError, RunConfig, validate_config
from worker.schema.status import RunStatus

SortKey = Literal[
    "created_at", "name", "status", "preset", "best_test_acc", "final_test_acc", "duration_s"
]


def resolve_config(base: dict[str, Any], overrides: dict[str, Any]) -> RunConfig:
    """`base` with `overrides` applied, validated; errors name fields under `overrides`."""
    try:
        return validate_config({**base, **overrides})
    except ConfigError as exc:
        errors = [(f"overrides.{field}", message) for field, message in exc.errors]
        raise ConfigError(errors) from None


def _default_name(preset: str, overrides: dict[str, Any]) -> str:
    changes = ", ".join(f"{key}={value}" for key, value in overrides.items())
    return f"point {preset}" + (f" ({changes})" if changes else "")[:180]


def _insert_run(
    session: Session,
    *,
    name: str,
    preset: str | None,
    config: RunConfig,
    tags: list[str],
    notes: str,
    group_id: int | None,
    created_by: str | None,
) -> Run:
    run = Run(
        name=name,
        preset=preset,
        tags=tags,
        notes=notes,
        config=config.model_dump(mode="json"),
        epochs=config.epochs,
        group_id=group_id,
        created_by=created_by,
        ingest_token=secrets.token_urlsafe(32),
    )
    session.add(run)
    session.flush()
    announce(session, run)
    return run


def create_run(
    session: Session, data: RunCreate, group_id: int | None = None, created_by: str | None = None
) -> Run:
    """A queued run; the caller commits and then dispatches it."""
    preset = get_preset(data.preset)
    config = resolve_config(preset.config.model_dump(mode="json"), data.overrides)
    name = data.name or _default_name(data.preset, data.overrides)
    return _insert_run(
        session,
        name=name,
        preset=data.preset,
        config=config,
        tags=data.tags,
        notes=data.notes,
        group_id=group_id,
        created_by=created_by,
    )


def _seed_name(base: str, seed: int) -> str:
    suffix = f" seed {seed}"
    return base[: max(0, 200 - len(suffix))] + suffix  # a run's name holds 200 characters


def create_group(
    session: Session, data: GroupCreate, created_by: str | None = None
) -> tuple[Group, list[Run]]:
    """Several runs launched together: explicit configs, or runs[0] once per seed."""
    if not data.runs:
        raise ConfigError([("runs", "a group needs at least one run")])
    requests = list(data.runs)
    if data.seeds is not None:
        if len(set(data.seeds)) != len(data.seeds):
            raise ConfigError([("seeds", "each seed may appear once")])
        first = requests[0]
        requests = [
            first.model_copy(
                update={
                    "overrides": {**first.overrides, "seed": seed},
                    "name": _seed_name(
                        first.name or _default_name(first.preset, first.overrides), seed
                    ),
                }
            )
            for seed in data.seeds
        ]
    group = Group(name=data.name, created_by=created_by)
    session.add(group)
    session.flush()
    runs = []
    for index, request in enumerate(requests):
        request = request.model_copy(update={"tags": list(dict.fromkeys(request.tags + data.tags))})
        try:
            runs.append(create_run(session, request, group.id, created_by))
        except ConfigError as exc:
            raise ConfigError([(f"runs.{index}.{f}", m) for f, m in exc.errors]) from None
        except UnknownPresetError as exc:  # name the group's run, not a top-level `preset`
            raise ConfigError([(f"runs.{index}.preset", str(exc))]) from None
    return group, runs


def get_run(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound(f"run {run_id} does not exist")
    return run


def get_group(session: Session, group_id: int) -> tuple[Group, Sequence[Run]]:
    group = session.get(Group, group_id)
    if group is None:
        raise NotFound(f"group {group_id} does not exist")
    runs = session.exec(select(Run).where(Run.group_id == group_id).order_by(col(Run.id))).all()
    return group, runs


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_runs(
    session: Session,
    *,
    status: Sequence[RunStatus] = (),
    preset: str | None = None,
    tag: str | None = None,
    text: str | None = None,
    group_id: int | None = None,
    owner: str | None = None,
    sort: SortKey = "created_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[Run], int]:
    query = select(Run)
    if status:
        query = query.where(col(Run.status).in_([s.value for s in status]))
    if preset:
        query = query.where(Run.preset == preset)
    if group_id is not None:
        query = query.where(Run.group_id == group_id)
    if owner is not None:
        query = query.where(Run.created_by == owner)
    if tag:
        # Tags are a JSON list; match the tag's JSON spelling, quotes included.
        pattern = _like_pattern(json.dumps(tag))
        query = query.where(cast(Run.tags, String).like(pattern, escape="\\"))
    if text:
        pattern = _like_pattern(text.lower())
        query = query.where(
            or_(
                func.lower(Run.name).like(pattern, escape="\\"),
                func.lower(Run.notes).like(pattern, escape="\\"),
            )
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    column = col(getattr(Run, sort))
    ordering = column.desc() if descending else column.asc()
    # NULLs last either way, then the id as a stable tie-breaker. The NULL term only where
    # the column has NULLs: it would keep the database from reading the page off the index.
    nulls_last = (column.is_(None),) if inspect(Run).columns[sort].nullable else ()
    query = query.order_by(*nulls_last, ordering, col(Run.id).desc())
    # The list shows no `result` (confusion matrices, tens of kB a run): leave it unread.
    query = query.options(defer(Run.result))  # type: ignore[arg-type]
    items = session.exec(query.offset(offset).limit(limit)).all()
    return items, total


def update_run(session: Session, run: Run, data: RunUpdate) -> Run:
    for field, value in data.model_dump(exclude_unset=True).items():
        if value is None:
            raise ConfigError([(field, "may not be null")])
        setattr(run, field, value)
    announce(session, run)
    return run


def cancel_run(session: Session, run: Run, cancelled_by: str | None = None) -> Run:
    """Queued: cancelled at once. Running: asked to stop; the worker confirms."""
    if run.status in (RunStatus.queued, RunStatus.running):
        run.cancelled_by = cancelled_by
    if run.status == RunStatus.queued:
        set_status(session, run, RunStatus.cancelled)
    elif run.status == RunStatus.running:
        run.cancel_requested = True
        announce(session, run)
    else:
        raise Conflict(
            f"run {run.id} is {run.status}; only queued or running runs can be cancelled"
        )
    return run


def clone_run(session: Session, run: Run, data: RunClone, created_by: str | None = None) -> Run:
    """A new queued run with `run`'s config plus `overrides`."""
    return _insert_run(
        session,
        name=data.name or f"{run.name} (clone)"[:200],
        preset=run.preset,
        config=resolve_config(run.config, data.overrides),
        tags=data.tags if data.tags is not None else list(run.tags),
        notes=run.notes,
        group_id=None,
        created_by=created_by,
    )


def delete_run(session: Session, run: Run) -> None:
    if run.status == RunStatus.running:
        raise Conflict(f"run {run.id} is running; cancel it first")
    run_id = run.id
    session.execute(delete(MetricPoint).where(col(MetricPoint.run_id) == run_id))
    session.execute(delete(StreamEvent).where(col(StreamEvent.run_id) == run_id))
    session.delete(run)
    session.flush()
    session.add(StreamEvent(run_id=run_id or 0, kind="deleted", data={"id": run_id}))
