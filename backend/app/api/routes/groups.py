"""Groups: several runs launched at once (point 3's widths, or one preset over seeds)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Path, status

from backend.app import crud
from backend.app.api.deps import BODY_ERRORS, BusDep, DispatcherDep, SessionDep, TokenDep, errors
from backend.app.api.routes.runs import launch
from backend.app.models import Group, GroupCreate, GroupPublic, Run, RunPublic

router = APIRouter(prefix="/groups", tags=["groups"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[TokenDep],
    responses=errors(401, *BODY_ERRORS),
)
def create_group(
    data: GroupCreate, session: SessionDep, dispatcher: DispatcherDep, bus: BusDep
) -> GroupPublic:
    """Queue every run of the group; with `seeds`, runs[0] once per seed."""
    group, runs = crud.create_group(session, data)
    launch(session, dispatcher, bus, runs)
    session.refresh(group)
    return _group_view(group, runs)


@router.get("/{group_id}", responses=errors(404))
def read_group(
    group_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: SessionDep
) -> GroupPublic:
    group, runs = crud.get_group(session, group_id)
    return _group_view(group, runs)


def _group_view(group: Group, runs: Sequence[Run]) -> GroupPublic:
    assert group.id is not None
    return GroupPublic(
        id=group.id,
        name=group.name,
        created_at=group.created_at,
        runs=[RunPublic.model_validate(run) for run in runs],
    )
