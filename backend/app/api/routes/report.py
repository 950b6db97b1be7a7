"""The report card: one row per homework point against the report, its pins and its files."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Response, status

from backend.app import crud
from backend.app.api.auth import MemberDep, ReaderDep
from backend.app.api.deps import BODY_ERRORS, BusDep, SessionDep, errors, invalid
from backend.app.contract import PRESET_IDS
from backend.app.crud.report_export import csv_text, data_uri, figure_png, html_page, markdown
from backend.app.crud.report_models import ReportCard
from backend.app.models import PinGroup, PinRun, ReportPinPublic

router = APIRouter(prefix="/report", tags=["report"], dependencies=[ReaderDep])


POINT_ENUM: dict[str, Any] = {"enum": PRESET_IDS}


def _point(
    point: Annotated[
        str,
        Path(
            description="a homework point", examples=["2"], json_schema_extra={"enum": PRESET_IDS}
        ),
    ],
) -> str:
    if point not in PRESET_IDS:
        raise invalid(("path", "point"), f"unknown point; known points are {', '.join(PRESET_IDS)}")
    return point


Point = Annotated[str, Depends(_point)]
PIN_EXAMPLE = {
    "a run": {"value": {"run_id": 1}},
    "a group of replicates": {"value": {"group_id": 1}},
}
_FILES: dict[str, Any] = {"content": {"text/markdown": {}}}


@router.get("")
def read_report(session: SessionDep) -> ReportCard:
    """Each point: the report's figures, what represents it here (pinned, else the best
    finished run or group on CIFAR-100, else on a synthetic set), its final and best test
    accuracy (mean ± std, n), the difference to the report and a verdict (within ± 3 pp,
    above, below, not run), time to the report's accuracy, images/s, and the effect of
    its change against the point it modifies with Welch's 95% interval."""
    return crud.report_card(session)


def _attachment(text: str, media_type: str, filename: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(text, media_type=media_type, headers=headers)


@router.get(".md", response_class=Response, responses={200: _FILES})
def read_report_markdown(session: SessionDep) -> Response:
    """The card as one Markdown file, its figures (matplotlib PNGs) inline as data URIs."""
    card = crud.report_card(session)
    text = markdown(card, lambda row: data_uri(figure_png(row)))
    return _attachment(text, "text/markdown; charset=utf-8", "report.md")


@router.get(".html", response_class=Response, responses={200: {"content": {"text/html": {}}}})
def read_report_html(session: SessionDep) -> Response:
    """The card as one self-contained HTML file (inline CSS and figures): opens offline."""
    return _attachment(html_page(crud.report_card(session)), "text/html; charset=utf-8",
                       "report.html")  # fmt: skip


@router.get(".csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def read_report_csv(session: SessionDep) -> Response:
    """The card's table as CSV, one row per point."""
    return _attachment(csv_text(crud.report_card(session)), "text/csv; charset=utf-8",
                       "report.csv")  # fmt: skip


@router.put(
    "/pins/{point}",
    responses=errors(404, 409, *BODY_ERRORS),
    description="Pin a run or a group to the point, for everyone; it replaces any pin. "
    "A run of another point, or a group with a run of another point, gets a 409 naming "
    "`run_id` or `group_id`.",
)
def pin_report_point(
    point: Point,
    data: Annotated[PinRun | PinGroup, Body(openapi_examples=PIN_EXAMPLE)],
    session: SessionDep,
    bus: BusDep,
    _: MemberDep,
) -> ReportPinPublic:
    run_id = data.run_id if isinstance(data, PinRun) else None
    group_id = data.group_id if isinstance(data, PinGroup) else None
    pin = crud.pin_point(session, point, run_id, group_id)
    session.commit()
    session.refresh(pin)
    bus.notify()
    return ReportPinPublic.model_validate(pin)


@router.delete(
    "/pins/{point}",
    status_code=status.HTTP_204_NO_CONTENT,
)
def unpin_report_point(point: Point, session: SessionDep, _: MemberDep) -> Response:
    """Remove the point's pin (if any): the card falls back to the best finished run."""
    crud.unpin_point(session, point)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
