"""`runboard serve`: the API under uvicorn, bound to loopback unless told otherwise."""

from __future__ import annotations

import uvicorn

from backend.app.core.config import get_settings
from backend.app.main import create_app


def serve(host: str | None = None, port: int | None = None) -> int:
    settings = get_settings()
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        timeout_graceful_shutdown=5,  # open SSE streams would otherwise hold shutdown
    )
    return 0
