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
)

api_router = APIRouter(prefix="/api")
for module in (presets, runs, groups, metrics, report, stream, ingest, session, users, health):
    api_router.include_router(module.router)
