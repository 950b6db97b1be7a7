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
    stream,
)

api_router = APIRouter(prefix="/api")
for module in (presets, runs, groups, metrics, report, stream, ingest, health):
    api_router.include_router(module.router)
