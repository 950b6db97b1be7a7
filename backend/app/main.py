"""The FastAPI application: the API's routers, error shapes, the watchdog, the dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session
from starlette.exceptions import HTTPException

from backend.app import crud
from backend.app.api.auth import auth_mode
from backend.app.api.main import api_router
from backend.app.api.openapi import allowed_methods, build_openapi
from backend.app.body_limit import RunboardAPI
from backend.app.core.bus import EventBus, make_relay
from backend.app.core.config import AuthMode, Settings, get_settings
from backend.app.core.db import make_engine, migrate
from backend.app.core.webhook import Webhook, attach
from backend.app.dispatch import CeleryDispatcher, Dispatcher
from backend.app.frontend import mount_frontend
from backend.app.watchdog import watch_heartbeats
from worker.schema.broker import broker_url
from worker.schema.presets import UnknownPresetError
from worker.schema.runconfig import ConfigError

log = logging.getLogger("runboard.api")


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.bus.bind(asyncio.get_running_loop())
    watchdog = asyncio.create_task(watch_heartbeats(app))
    try:
        yield
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
        if app.state.webhook is not None:
            await asyncio.to_thread(app.state.webhook.close)  # sends what is queued, briefly
        app.state.bus.close()
        app.state.engine.dispose()


def _field_errors(errors: list[tuple[str, str]], where: str) -> list[dict[str, object]]:
    return [
        {"loc": [where, *field.split(".")], "msg": message, "type": "value_error"}
        for field, message in errors
    ]


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            # Starlette names the methods of the first route on the path only.
            methods = allowed_methods(app, request.url.path)
            if methods is not None:
                headers = {**(exc.headers or {}), "Allow": ", ".join(methods)}
                exc = HTTPException(exc.status_code, exc.detail, headers)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's 422, with list indices as strings like the rest of `loc`: the errors of
        a group's run read `["body", "runs", "1", ...]` whichever check found them."""
        for error in exc.errors():
            error["loc"] = tuple(str(part) for part in error["loc"])
        return await request_validation_exception_handler(request, exc)

    @app.exception_handler(crud.NotFound)
    async def not_found(request: Request, exc: crud.NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(crud.Conflict)
    async def conflict(request: Request, exc: crud.Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(ConfigError)
    async def bad_config(request: Request, exc: ConfigError) -> JSONResponse:
        detail = _field_errors(exc.errors, "body")
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(UnknownPresetError)
    async def unknown_preset(request: Request, exc: UnknownPresetError) -> JSONResponse:
        detail = [{"loc": ["body", "preset"], "msg": str(exc), "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)


def current_mode(app: FastAPI) -> AuthMode:
    with Session(app.state.engine) as session:
        return auth_mode(app.state.settings, session)


def default_dispatcher(settings: Settings) -> Dispatcher:
    return CeleryDispatcher(broker_url(settings.broker_url, settings.broker_db))


def create_app(settings: Settings | None = None, dispatcher: Dispatcher | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = RunboardAPI(
        title="runboard",
        summary="Launch, watch and compare CIFAR-100 homework training runs.",
        version="0.1.0",
        lifespan=_lifespan,
        max_body_size=settings.max_body_bytes,
        generate_unique_id_function=lambda route: route.name,  # operationId: create_run
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    migrate(app.state.engine)
    app.state.bus = EventBus(make_relay(settings.database_url, settings.broker_url))
    app.state.webhook = None
    if settings.webhook_url:
        app.state.webhook = Webhook(settings.webhook_url, settings.dashboard_url)
        attach(app.state.engine, app.state.webhook)
    app.state.dispatcher = dispatcher or default_dispatcher(settings)
    _add_error_handlers(app)

    app.include_router(api_router)
    app.openapi = lambda: build_openapi(app, current_mode(app))  # type: ignore[method-assign]

    mount_frontend(app, settings.frontend_dir)  # after the API: /api/* is never shadowed
    return app
