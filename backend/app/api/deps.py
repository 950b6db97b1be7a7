"""Shared dependencies: settings, sessions, the bearer-token checks, dispatch, the event bus."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from backend.app.core.bus import EventBus
from backend.app.core.config import Settings
from backend.app.crud.runs import get_run
from backend.app.dispatch import Dispatcher
from backend.app.models import Run

RunId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a run's id")]
bearer = HTTPBearer(auto_error=False, description="RUNBOARD_API_TOKEN, or a run's ingest token")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine) as session:
        yield session


def get_bus(request: Request) -> EventBus:
    bus: EventBus = request.app.state.bus
    return bus


def get_dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
BusDep = Annotated[EventBus, Depends(get_bus)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def invalid(loc: tuple[str, ...], message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the bad field."""
    detail = [{"loc": list(loc), "msg": message, "type": "value_error"}]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def require_token(settings: SettingsDep, credentials: Credentials) -> None:
    """Mutating routes: the API token, when RUNBOARD_API_TOKEN is set."""
    if settings.api_token is None:
        return
    if credentials is None:
        raise _unauthorized("missing bearer token")
    if not secrets.compare_digest(credentials.credentials, settings.api_token):
        raise _unauthorized("wrong bearer token")


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


TokenDep = Depends(require_token)
RunDep = Annotated[Run, Depends(run_or_404)]
IngestRunDep = Annotated[Run, Depends(run_for_ingest)]
