"""Groups: several runs launched at once (point 3's widths, or one preset over seeds)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, status

from backend.app import crud
from backend.app.api.auth import MemberDep, ReaderDep, by
from backend.app.api.deps import BODY_ERRORS, BusDep, DispatcherDep, SessionDep, errors
from backend.app.api.routes.runs import launch
from backend.app.contract import INT32_MAX, cross_field_description
from backend.app.core.stats import Difference
from backend.app.crud.replicas import GroupSeries
from backend.app.models import Group, GroupCreate, GroupPublic, Run, RunPublic

router = APIRouter(prefix="/groups", tags=["groups"])
GroupId = Annotated[int, Path(ge=1, le=INT32_MAX, description="a group's id", examples=[1])]
GROUP_EXAMPLE = {
    "point 3's widths": {
        "value": {
            "name": "point 3",
            "runs": [{"preset": "3a"}, {"preset": "3b"}, {"preset": "3c"}],
            "tags": ["widths"],
        }
    },
    "point 2 over three seeds": {
        "value": {"name": "point 2 seeds", "runs": [{"preset": "2"}], "seeds": [0, 1, 2]}
    },
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=errors(*BODY_ERRORS),
    description="Queue every run of the group; with `seeds`, runs[0] once per seed (the "
    "other runs are not queued).\n\n" + cross_field_description("runs.N.overrides."),
)
def create_group(
    data: Annotated[GroupCreate, Body(openapi_examples=GROUP_EXAMPLE)],
    session: SessionDep,
    dispatcher: DispatcherDep,
    bus: BusDep,
    principal: MemberDep,
) -> GroupPublic:
    group, runs = crud.create_group(session, data, created_by=by(principal))
    launch(session, dispatcher, bus, runs)
    session.refresh(group)
    return _group_view(group, runs)


@router.get("/{group_id}", dependencies=[ReaderDep], responses=errors(404))
def read_group(group_id: GroupId, session: SessionDep) -> GroupPublic:
    group, runs = crud.get_group(session, group_id)
    return _group_view(group, runs)


@router.get("/{group_id}/series", dependencies=[ReaderDep], responses=errors(404))
def read_group_series(group_id: GroupId, session: SessionDep) -> GroupSeries:
    """Per epoch metric over the group's runs (failed ones left out): mean, sample std
    (ddof=1), min, max and n; with the finished runs' best and final test accuracy."""
    return crud.group_series(session, group_id)


@router.get("/{group_id}/difference", dependencies=[ReaderDep], responses=errors(404, 409))
def read_group_difference(
    group_id: GroupId,
    session: SessionDep,
    baseline: Annotated[
        int, Query(ge=1, le=INT32_MAX, description="the group compared against", examples=[1])
    ],
) -> Difference:
    """Final test accuracy of this group minus `baseline`'s, in points, with Welch's t 95%
    interval; 409 naming `group_id` or `baseline` when one has fewer than 2 finished runs."""
    return crud.group_difference(session, group_id, baseline)


def _group_view(group: Group, runs: Sequence[Run]) -> GroupPublic:
    assert group.id is not None
    return GroupPublic(
        id=group.id,
        name=group.name,
        created_at=group.created_at,
        created_by=group.created_by,
        runs=[RunPublic.model_validate(run) for run in runs],
    )
