"""Every REST route under /api, assembled; the routes themselves live in api/routes/."""

from fastapi import APIRouter

from backend.app.api.routes import (
    groups,
    health,
    ingest,
    metrics,
    presets,
    runs,
    stream,
    workers,
)

api_router = APIRouter(prefix="/api")
for module in (presets, runs, groups, metrics, stream, ingest, workers, health):
    api_router.include_router(module.router)
