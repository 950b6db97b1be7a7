"""The OpenAPI document as the server enforces it: security per the Settings, links.

FastAPI declares a bearer scheme as required wherever a route reads the header, whatever
the settings. Here each operation says what is in force: the API token where
RUNBOARD_API_TOKEN is set (optional where it is not), the run's ingest token on the worker
routes. Links say where a response's ids lead, so that clients and Schemathesis' stateful
phase can follow a run from its creation.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from backend.app.api.deps import ErrorMessage, require_token, run_for_ingest
from backend.app.core.config import Settings

API_TOKEN = "ApiToken"
INGEST_TOKEN = "IngestToken"
SCHEMES = {
    API_TOKEN: {
        "type": "http",
        "scheme": "bearer",
        "description": "RUNBOARD_API_TOKEN: needed by every change (runs, groups) when set",
    },
    INGEST_TOKEN: {
        "type": "http",
        "scheme": "bearer",
        "description": "the run's ingest token, which only the worker given the run knows",
    },
}

RUN_ID = {"run_id": "$response.body#/id"}
# operationId -> links of its 2xx answer: the operations its `id` is the run (group) of.
_RUN_LINKS = {
    "ReadRun": ("read_run", RUN_ID),
    "UpdateRun": ("update_run", RUN_ID),
    "CancelRun": ("cancel_run", RUN_ID),
    "CloneRun": ("clone_run", RUN_ID),
    "DeleteRun": ("delete_run", RUN_ID),
    "ReadMetrics": ("read_metrics", RUN_ID),
    "ReadMetricsCsv": ("read_metrics_csv", RUN_ID),
    "CompareRuns": ("compare_runs", {"ids": "$response.body#/id"}),
}
LINKS: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    "create_run": _RUN_LINKS,
    "clone_run": _RUN_LINKS,
    "update_run": _RUN_LINKS,
    "read_run": _RUN_LINKS,
    "create_group": {
        "ReadGroup": ("read_group", {"group_id": "$response.body#/id"}),
        "ReadGroupSeries": ("read_group_series", {"group_id": "$response.body#/id"}),
        "ReadGroupDifference": ("read_group_difference", {"group_id": "$response.body#/id"}),
        "ReadFirstRun": ("read_run", {"run_id": "$response.body#/runs/0/id"}),
    },
    "list_presets": {"ReadPreset": ("read_preset", {"preset_id": "$response.body#/0/id"})},
}


def _calls(dependant: Dependant) -> set[Any]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _security(route: APIRoute, settings: Settings) -> list[dict[str, list[str]]] | None:
    calls = _calls(route.dependant)
    if run_for_ingest in calls:
        return [{INGEST_TOKEN: []}]
    if require_token in calls:
        if settings.api_token is None:
            return [{}, {API_TOKEN: []}]  # optional: a token is sent but not checked
        return [{API_TOKEN: []}]
    return None


def build_openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    components["securitySchemes"] = SCHEMES
    components.setdefault("schemas", {})["ErrorMessage"] = ErrorMessage.model_json_schema()
    routes = {
        context.original_route.name: context.original_route
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    }
    for path_item in document["paths"].values():
        for operation in path_item.values():
            route = routes[operation["operationId"]]
            operation.pop("security", None)
            security = _security(route, settings)
            if security is not None:
                operation["security"] = security
            for name, (target, parameters) in LINKS.get(route.name, {}).items():
                answer = next(code for code in operation["responses"] if code.startswith("2"))
                links = operation["responses"][answer].setdefault("links", {})
                links[name] = {"operationId": target, "parameters": parameters}
    app.openapi_schema = document
    return document


def allowed_methods(app: FastAPI, path: str) -> list[str] | None:
    """The methods the document lists for `path` (None: a path it does not list)."""
    for template, item in app.openapi()["paths"].items():
        pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return sorted(method.upper() for method in item)
    return None
