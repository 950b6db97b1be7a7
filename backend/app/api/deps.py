"""Shared dependencies: settings, sessions, the ingest-token check, dispatch, the event bus
(who a user is: api/auth.py)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from backend.app.core.bus import EventBus
from backend.app.core.config import Settings
from backend.app.crud.runs import get_run
from backend.app.dispatch import Dispatcher
from backend.app.models import Run

RunId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a run's id", examples=[1])]
bearer = HTTPBearer(auto_error=False, description="an API token, or a run's ingest token")


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SPARE_CONNECTIONS = 5  # of the pool, for the streams' and the watchdog's short sessions


def _session_slots(app: FastAPI) -> asyncio.Semaphore | None:
    """How many requests may hold a session at once: fewer than the pool has connections.

    A request's session keeps its connection from its first query until the session closes,
    across the thread hops between its sync dependencies and its endpoint. Were there more
    such requests than connections, every thread of the pool could wait for a connection
    held by a request that waits for a thread: a deadlock, found with 100 concurrent
    POST /api/runs. Waiting for a slot takes no thread, and a slot's holder always finds a
    connection, so requests queue instead."""
    if not hasattr(app.state, "session_slots"):
        pool = app.state.engine.pool
        slots = None
        if isinstance(pool, QueuePool):
            capacity = pool.size() + max(getattr(pool, "_max_overflow", 0), 0)
            slots = asyncio.Semaphore(max(1, capacity - SPARE_CONNECTIONS))
        app.state.session_slots = slots
    semaphore: asyncio.Semaphore | None = app.state.session_slots
    return semaphore


async def get_session(request: Request) -> AsyncIterator[Session]:
    slots = _session_slots(request.app)
    async with slots or contextlib.nullcontext():
        session = Session(request.app.state.engine)
        try:
            yield session
        finally:
            await run_in_threadpool(session.close)


def get_bus(request: Request) -> EventBus:
    bus: EventBus = request.app.state.bus
    return bus


def get_dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


SettingsDep = Annotated[Settings, Depends(app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
BusDep = Annotated[EventBus, Depends(get_bus)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


class ErrorMessage(BaseModel):
    detail: str


_ERRORS = {
    400: "request body that is not UTF-8 text",
    401: "missing or wrong bearer token, or an ended session",
    403: "not allowed to this user, or a cross-site request",
    404: "no such run, group, preset or user",
    409: "not possible in the current state (a running run, a user that exists)",
    413: "request body larger than RUNBOARD_MAX_BODY_BYTES",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route can answer besides 422: JSON
    {"detail": ...}, also on stream routes (whose own media type is text/event-stream)."""
    # One named schema (build_openapi adds it), so generated clients get one error model.
    json = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorMessage"}}}
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        responses[code] = {"description": _ERRORS[code], "content": dict(json)}
    return responses


BODY_ERRORS = (400, 413)  # what any route that reads a JSON body can answer


def invalid(loc: tuple[str, ...], message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the bad field."""
    detail = [{"loc": list(loc), "msg": message, "type": "value_error"}]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def run_for_ingest(run_id: RunId, session: SessionDep, credentials: Credentials) -> Run:
    """Worker ingest: the run's own token, whatever the API token is."""
    run = get_run(session, run_id)
    if credentials is None:
        raise _unauthorized("missing the run's ingest token")
    if not secrets.compare_digest(credentials.credentials, run.ingest_token):
        raise _unauthorized("wrong ingest token for this run")
    return run


def run_or_404(run_id: RunId, session: SessionDep) -> Run:
    return get_run(session, run_id)


RunDep = Annotated[Run, Depends(run_or_404)]
IngestRunDep = Annotated[Run, Depends(run_for_ingest)]
