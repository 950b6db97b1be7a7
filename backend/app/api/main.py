"""Every REST route under /api, assembled; the routes themselves live in api/routes/."""

from fastapi import APIRouter

from backend.app.api.routes import (
    groups,
    health,
    ingest,
    metrics,
    presets,
    report,
    runs,
    session,
    stream,
    users,
    workers,
)

api_router = APIRouter(prefix="/api")
routers = (presets, runs, groups, metrics, report, stream, ingest, workers, session, users, health)
for module in routers:
    api_router.include_router(module.router)
