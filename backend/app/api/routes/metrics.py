"""Metric series of one run (JSON or CSV) and the comparison of several runs."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from backend.app import crud
from backend.app.api.auth import ReaderDep
from backend.app.api.deps import RunDep, SessionDep, SettingsDep, errors, invalid
from backend.app.contract import INT32_MAX, NO_NUL
from backend.app.crud.classes import ClassDifferences

router = APIRouter(tags=["metrics"], dependencies=[ReaderDep])


@router.get("/runs/{run_id}/metrics", responses=errors(404))
def read_metrics(
    run: RunDep,
    session: SessionDep,
    settings: SettingsDep,
    names: Annotated[
        str | None,
        Query(
            max_length=1000,
            pattern=NO_NUL,
            description="comma-separated",
            examples=["train_loss,test_acc"],
        ),
    ] = None,
    since_seq: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,  # as ingest numbers them
    max_points: Annotated[
        int | None, Query(ge=4, le=1_000_000, description="downsample each series to this")
    ] = None,
) -> dict[str, Any]:
    """Points per metric name; `since_seq` returns only what arrived after that sequence.
    With `max_points`, a longer series is downsampled in the database (per bucket its
    first, last, lowest and highest point) and `downsampled` names it with the number of
    points it holds."""
    assert run.id is not None
    wanted = [name.strip() for name in names.split(",") if name.strip()] if names else []
    downsampled: dict[str, int] = {}
    if max_points is None:
        data = crud.series(session, run.id, wanted, since_seq)
    else:
        max_points = min(max_points, settings.max_metric_points)
        data, downsampled = crud.downsampled_series(session, run.id, wanted, since_seq, max_points)
    return {
        "run_id": run.id,
        "last_seq": run.last_seq,
        "series": data,
        "downsampled": downsampled,
    }


@router.get(
    "/runs/{run_id}/metrics.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **errors(404)},
)
def read_metrics_csv(run: RunDep, session: SessionDep) -> StreamingResponse:
    """Every metric point of the run, one row each (a header alone when there are none)."""
    assert run.id is not None
    rows = list(crud.csv_rows(session, run.id))

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["seq", "epoch", "step", "name", "value", "time"])
        for row in rows:
            writer.writerow(["" if value is None else value for value in row])
            if buffer.tell() > 64_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    filename = f"run-{run.id}-metrics.csv"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return StreamingResponse(lines(), media_type="text/csv", headers=headers)


MAX_COMPARED = 50
# `ids=1,2,3`: an array in OpenAPI's form style, not exploded. FastAPI reads only exploded
# arrays (`ids=1&ids=2`), so it reads the text and the document states the array.
IDS_PARAMETER = {
    "name": "ids",
    "in": "query",
    "required": True,
    "style": "form",
    "explode": False,
    "description": f"1 to {MAX_COMPARED} run ids, comma-separated; repeats count once",
    "schema": {
        "type": "array",
        "items": {"type": "integer", "minimum": 1, "maximum": INT32_MAX},
        "minItems": 1,
        "maxItems": MAX_COMPARED,
    },
    "example": [1, 2],
}
_RUN_ID = re.compile(r" *[0-9]+ *")  # int() would also take "+1", "1_0" and other digits


def _run_ids(ids: str, least: int = 1) -> list[int]:
    parts = ids.split(",")
    if not all(_RUN_ID.fullmatch(part) for part in parts):
        raise invalid(("query", "ids"), "must be comma-separated run ids, e.g. 1,2,3")
    run_ids = [int(part) for part in parts]
    if not 1 <= len(run_ids) <= MAX_COMPARED or any(not 1 <= i <= INT32_MAX for i in run_ids):
        raise invalid(
            ("query", "ids"), f"must name 1 to {MAX_COMPARED} run ids between 1 and 2^31-1"
        )
    unique = list(dict.fromkeys(run_ids))
    if len(unique) < least:
        raise invalid(("query", "ids"), f"must name at least {least} different runs")
    return unique


THRESHOLD = (
    "test accuracy (a fraction) for time_to_accuracy; left out: the report's final accuracy "
    "of each run's point"
)


@router.get("/compare", responses=errors(404), openapi_extra={"parameters": [IDS_PARAMETER]})
def compare_runs(
    session: SessionDep,
    ids: Annotated[str, Query(max_length=2000, include_in_schema=False)],
    threshold: Annotated[
        float | None,
        Query(
            ge=0,
            le=1,
            description=THRESHOLD,
        ),
    ] = None,
    epoch: Annotated[
        int | None, Query(ge=1, le=100_000, description="also give test_acc_at_epoch")
    ] = None,
) -> dict[str, Any]:
    """Runs aligned by epoch, their summaries (with time to accuracy), reference curves
    and config differences."""
    return crud.compare(session, _run_ids(ids), threshold, epoch)


CLASS_IDS_PARAMETER = {
    **IDS_PARAMETER,
    "description": f"2 to {MAX_COMPARED} finished run ids, comma-separated; the first is the "
    "baseline; repeats count once",
    "schema": {**IDS_PARAMETER["schema"], "minItems": 2, "uniqueItems": True},  # type: ignore[dict-item]
    "example": [2, 3],
}


@router.get(
    "/compare/classes",
    responses=errors(404, 409),
    openapi_extra={"parameters": [CLASS_IDS_PARAMETER]},
)
def compare_classes(
    session: SessionDep,
    ids: Annotated[str, Query(max_length=2000, include_in_schema=False)],
) -> ClassDifferences:
    """Each run against the first: the 10 classes and superclasses that gained and lost
    most test accuracy, in points; 409 naming `ids` when a run has not finished."""
    return crud.class_differences(session, _run_ids(ids, least=2))
