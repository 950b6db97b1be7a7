"""Live pushes over Server-Sent Events, replayable from any event id.

Each SSE event's `id` is its row in the event log, so a browser that reconnects sends
Last-Event-ID and receives exactly what it missed before the live events. A fresh client
of a run's stream gets the run's whole history; a fresh client of the global stream starts
at a `ready` event carrying the current id (list the runs after it, and nothing is missed).
A client resuming from before rows that were compacted away (crud.stream) first gets a
`reset` event carrying the current id: reload what it shows, then it continues live.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlmodel import Session

from backend.app import crud
from backend.app.api.auth import StreamReaderDep
from backend.app.api.deps import BusDep, RunId, SettingsDep, errors, invalid
from backend.app.models import StreamEvent

router = APIRouter(tags=["stream"])
BATCH = 500  # events read from the log at a time
RETRY_MS = 2000  # how soon browsers reconnect after a drop


def _start_id(
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
    since: Annotated[
        int | None, Query(ge=0, le=2**62, description="replay after this id", examples=[0])
    ] = None,
) -> int | None:
    """Where a stream resumes: Last-Event-ID (what browsers send) wins over ?since=.

    A dependency, not a call inside the endpoints: their bodies are generators that run only
    once the 200 response has started, too late for a 422."""
    if last_event_id is None:
        return since
    try:
        value = int(last_event_id.strip())
    except ValueError:
        raise invalid(("header", "last-event-id"), "must be a non-negative integer") from None
    if not 0 <= value < 2**62:
        raise invalid(("header", "last-event-id"), "must be a non-negative integer")
    return value


StartId = Annotated[int | None, Depends(_start_id)]


def _existing_run(run_id: RunId, request: Request) -> int:
    """The run's id, 404 when there is none; read in a session closed at once, since a
    request's session (RunDep) would hold a pooled connection for as long as the stream
    stays open: fifteen open streams then starved every other request on SQLite."""
    with Session(request.app.state.engine) as session:
        crud.get_run(session, run_id)
    return run_id


async def _follow(
    request: Request, bus: BusDep, keepalive_s: float, last_id: int, run_id: int | None
) -> AsyncIterator[ServerSentEvent]:
    engine = request.app.state.engine

    def fetch(after: int) -> Sequence[StreamEvent]:
        with Session(engine) as session:
            return crud.events_after(session, after, run_id=run_id, limit=BATCH)

    def resume_point(after: int) -> int | None:
        with Session(engine) as session:
            if after and crud.missed_compaction(session, after, run_id):
                return crud.latest_event_id(session)
            return None

    wake = bus.subscribe()
    try:
        reset_to = await run_in_threadpool(resume_point, last_id)
        if reset_to is not None:
            last_id = reset_to
            yield ServerSentEvent(data={"last_id": reset_to}, event="reset", id=str(reset_to))
        while not await request.is_disconnected():
            wake.clear()  # set again by any commit from here on, so nothing slips through
            events = await run_in_threadpool(fetch, last_id)
            for event in events:
                assert event.id is not None
                last_id = event.id
                yield ServerSentEvent(data=event.data, event=event.kind, id=str(event.id))
            if len(events) == BATCH:
                continue
            try:
                await asyncio.wait_for(wake.wait(), timeout=keepalive_s)
            except TimeoutError:
                yield ServerSentEvent(comment="keep-alive")
    finally:
        bus.unsubscribe(wake)


@router.get("/stream", response_class=EventSourceResponse, dependencies=[StreamReaderDep])
async def stream_all(
    request: Request,
    bus: BusDep,
    settings: SettingsDep,
    start: StartId,
) -> AsyncIterator[ServerSentEvent]:
    """Every run's status and progress changes, live."""
    if start is None:
        engine = request.app.state.engine

        def latest() -> int:
            with Session(engine) as session:
                return crud.latest_event_id(session)

        start = await run_in_threadpool(latest)
        yield ServerSentEvent(data={"last_id": start}, event="ready", id=str(start), retry=RETRY_MS)
    async for event in _follow(request, bus, settings.sse_keepalive_s, start, None):
        yield event


@router.get(
    "/runs/{run_id}/stream",
    response_class=EventSourceResponse,
    dependencies=[StreamReaderDep],
    responses=errors(404),
)
async def stream_run(
    request: Request,
    run_id: Annotated[int, Depends(_existing_run)],
    bus: BusDep,
    settings: SettingsDep,
    start: StartId,
) -> AsyncIterator[ServerSentEvent]:
    """One run's status, progress and new metric points: its history first, then live."""
    yield ServerSentEvent(comment="run stream", retry=RETRY_MS)
    async for event in _follow(request, bus, settings.sse_keepalive_s, start or 0, run_id):
        yield event
