"""Runs: launch from a preset plus overrides, list, read, edit, cancel, clone, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response, status

from backend.app import crud
from backend.app.api.auth import MemberDep, ReaderDep, by, check_owner
from backend.app.api.deps import (
    BODY_ERRORS,
    BusDep,
    DispatcherDep,
    RunDep,
    SessionDep,
    errors,
)
from backend.app.contract import NO_NUL, USER_NAME, cross_field_description
from backend.app.models import (
    Run,
    RunClone,
    RunCreate,
    RunDetail,
    RunList,
    RunListItem,
    RunPublic,
    RunUpdate,
)
from worker.schema.status import RunStatus

router = APIRouter(prefix="/runs", tags=["runs"])

RUN_EXAMPLE = {
    "point 4a at a higher learning rate": {
        "value": {"preset": "4a", "overrides": {"lr": 0.001}, "name": "4a lr 1e-3", "tags": ["lr"]}
    },
    "point 2 on the synthetic set": {
        "value": {"preset": "2", "overrides": {"dataset": "synthetic", "epochs": 3}}
    },
}
UPDATE_EXAMPLE = {
    "rename and retag": {"value": {"name": "4a, second try", "tags": ["lr", "again"]}},
    "annotate": {"value": {"notes": "loss still falling at the last epoch"}},
}
CLONE_EXAMPLE = {
    "the same config": {"value": {}},
    "with more epochs": {"value": {"overrides": {"epochs": 30}, "name": "longer", "tags": []}},
}
THRESHOLD = (
    "test accuracy (a fraction) for time_to_accuracy; left out: the report's final "
    "accuracy of each run's point"
)
EPOCH = "also give each run's test accuracy at this epoch (test_acc_at_epoch)"


def launch(session: SessionDep, dispatcher: DispatcherDep, bus: BusDep, runs: list[Run]) -> None:
    """Commit new runs, then hand them to the workers and wake the streams."""
    session.commit()
    for run in runs:
        session.refresh(run)
        assert run.id is not None
        dispatcher.enqueue(run.id, run.config, run.ingest_token)
    bus.notify()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=errors(*BODY_ERRORS),
    description="Queue a run: the preset's config with `overrides` applied and validated.\n\n"
    + cross_field_description("overrides."),
)
def create_run(
    data: Annotated[RunCreate, Body(openapi_examples=RUN_EXAMPLE)],
    session: SessionDep,
    dispatcher: DispatcherDep,
    bus: BusDep,
    principal: MemberDep,
) -> RunDetail:
    """Queue a run: the preset's config with `overrides` applied and validated."""
    run = crud.create_run(session, data, created_by=by(principal))
    launch(session, dispatcher, bus, [run])
    return RunDetail.model_validate(run)


@router.get("", dependencies=[ReaderDep])
def list_runs(
    session: SessionDep,
    status: Annotated[list[RunStatus] | None, Query(examples=[["running", "queued"]])] = None,
    preset: Annotated[str | None, Query(max_length=16, pattern=NO_NUL)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="text in name or notes")
    ] = None,
    group_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    owner: Annotated[
        str | None, Query(max_length=32, pattern=USER_NAME, description="who launched them")
    ] = None,
    sort: crud.SortKey = "created_at",
    order: Literal["asc", "desc"] = "desc",
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    threshold: Annotated[float | None, Query(ge=0, le=1, description=THRESHOLD)] = None,
    epoch: Annotated[int | None, Query(ge=1, le=100_000, description=EPOCH)] = None,
) -> RunList:
    items, total = crud.list_runs(
        session,
        status=status or (),
        preset=preset,
        tag=tag,
        text=q,
        group_id=group_id,
        owner=owner,
        sort=sort,
        descending=order == "desc",
        offset=offset,
        limit=limit,
    )
    extras = crud.run_extras(session, items, threshold, epoch)
    listed = [
        RunListItem.model_validate(
            {
                **RunPublic.model_validate(run).model_dump(),
                "time_to_accuracy": extras[run.id][0],
                "test_acc_at_epoch": extras[run.id][1],
            }
        )
        for run in items
        if run.id is not None
    ]
    return RunList(items=listed, total=total, offset=offset, limit=limit)


@router.get("/{run_id}", dependencies=[ReaderDep], responses=errors(404))
def read_run(run: RunDep) -> RunDetail:
    return RunDetail.model_validate(run)


@router.patch("/{run_id}", responses=errors(404, *BODY_ERRORS))
def update_run(
    data: Annotated[RunUpdate, Body(openapi_examples=UPDATE_EXAMPLE)],
    principal: MemberDep,
    run: RunDep,
    session: SessionDep,
    bus: BusDep,
) -> RunDetail:
    """Rename, retag or annotate a run (its owner, or an admin); nothing else changes."""
    check_owner(principal, run, "edit")
    crud.update_run(session, run, data)
    session.commit()
    bus.notify()
    session.refresh(run)
    return RunDetail.model_validate(run)


@router.post("/{run_id}/cancel", responses=errors(404, 409))
def cancel_run(principal: MemberDep, run: RunDep, session: SessionDep, bus: BusDep) -> RunDetail:
    """Queued: cancelled now. Running: cancellation requested; the worker confirms. Its
    owner's or an admin's to do."""
    check_owner(principal, run, "cancel")
    crud.cancel_run(session, run, cancelled_by=by(principal))
    session.commit()
    bus.notify()
    session.refresh(run)
    return RunDetail.model_validate(run)


@router.post(
    "/{run_id}/clone",
    status_code=status.HTTP_201_CREATED,
    responses=errors(404, *BODY_ERRORS),
    description="Queue a copy of a run's config with `overrides` applied; no body: an exact "
    "copy.\n\n" + cross_field_description("overrides."),
)
def clone_run(
    principal: MemberDep,
    run: RunDep,
    session: SessionDep,
    dispatcher: DispatcherDep,
    bus: BusDep,
    data: Annotated[RunClone | None, Body(openapi_examples=CLONE_EXAMPLE)] = None,
) -> RunDetail:
    """Queue a copy of a run's config with `overrides` applied."""
    clone = crud.clone_run(session, run, data or RunClone(), created_by=by(principal))
    launch(session, dispatcher, bus, [clone])
    return RunDetail.model_validate(clone)


@router.delete(
    "/{run_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(404, 409),
)
def delete_run(principal: MemberDep, run: RunDep, session: SessionDep, bus: BusDep) -> Response:
    """Delete a run and its metrics (its owner, or an admin); refused with 409 while it runs."""
    check_owner(principal, run, "delete")
    crud.delete_run(session, run)
    session.commit()
    bus.notify()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
