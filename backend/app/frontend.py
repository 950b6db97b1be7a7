"""The browser dashboard: `frontend/` served as static files, Plotly from its Python package.

No build step and no CDN: the HTML, CSS and ES modules are served as they are in the
repository, and Plotly's JavaScript comes from the installed `plotly` package (found without
importing it, which would load far more than the one file needed).
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import logging
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

log = logging.getLogger("runboard.api")
PLOTLY_PATH = "/vendor/plotly.min.js"
# `frontend/` as package data: in a checkout `backend/frontend` links to it, the wheel
# carries a copy of it there (pyproject.toml's package-data).
PACKAGE = "backend.frontend"


def packaged_frontend() -> Path | None:
    """The dashboard's folder as installed with the `backend` package, if it is there."""
    try:
        folder = importlib.resources.files(PACKAGE)
    except ModuleNotFoundError:
        return None
    # A namespace package (no __init__.py): its files live in a folder on disk, which is what
    # StaticFiles serves from.
    index = folder / "index.html"
    return index.parent if isinstance(index, Path) and index.is_file() else None


def find_frontend(configured: Path | None = None) -> Path | None:
    """The folder holding index.html: the configured one (RUNBOARD_FRONTEND_DIR), else the
    one installed with the package."""
    if configured is not None:
        return configured if (configured / "index.html").is_file() else None
    return packaged_frontend()


def find_plotly_js() -> Path | None:
    spec = importlib.util.find_spec("plotly")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    return None


def mount_frontend(app: FastAPI, configured: Path | None = None) -> None:
    """`/` is the dashboard; its assets live under /css, /js and /vendor.

    Only these prefixes are mounted (not a catch-all at `/`), so unknown /api paths keep
    their JSON 404 and 405 answers."""
    folder = find_frontend(configured)
    if folder is None:
        log.warning("no frontend folder found (set RUNBOARD_FRONTEND_DIR); / shows the API docs")

        @app.get("/", include_in_schema=False)
        def docs_home() -> RedirectResponse:
            return RedirectResponse("/docs")

        return

    index = folder / "index.html"
    # no-cache: browsers revalidate (ETag) so an upgraded server never runs stale modules.
    headers = {"Cache-Control": "no-cache"}

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def home() -> FileResponse:
        return FileResponse(index, headers=headers)

    @app.api_route(PLOTLY_PATH, methods=["GET", "HEAD"], include_in_schema=False)
    def plotly_js() -> FileResponse:
        path = find_plotly_js()
        if path is None:
            raise HTTPException(404, "the plotly package is not installed")
        return FileResponse(path, media_type="text/javascript", headers=headers)

    for prefix in ("css", "js"):
        if (folder / prefix).is_dir():
            app.mount(f"/{prefix}", StaticFiles(directory=folder / prefix), name=prefix)
