"""The OpenAPI document as the server enforces it: security per RUNBOARD_AUTH's mode, links.

FastAPI declares a bearer scheme as required wherever a route reads the header, whatever
the settings. Here each operation says what is in force in the mode of the moment (which,
unset, changes when the first user is added: one document per mode is kept): an API token
or the dashboard's session cookie where a sign-in is needed, optional where it is not, the
run's ingest token on the worker routes; and the 401 and 403 answers where they can happen.
Links say where a response's ids lead, so that clients and Schemathesis' stateful phase can
follow a run from its creation.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from backend.app.api.auth import (
    SESSION_COOKIE,
    require_admin,
    require_member,
    require_reader,
    require_stream_reader,
)
from backend.app.api.deps import ErrorMessage, errors, run_for_ingest
from backend.app.core.config import AuthMode

API_TOKEN = "ApiToken"
SESSION = "SessionCookie"
INGEST_TOKEN = "IngestToken"
SCHEMES = {
    API_TOKEN: {
        "type": "http",
        "scheme": "bearer",
        "description": "a user's API token (`runboard users add`) or RUNBOARD_API_TOKEN",
    },
    SESSION: {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "the dashboard's session (POST /api/session); changes made with it "
        "also need the X-Requested-With header and no foreign Origin",
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


Security = list[dict[str, list[str]]]
SIGNED_IN: Security = [{API_TOKEN: []}, {SESSION: []}]
OPTIONAL: Security = [{}, *SIGNED_IN]  # sent, it names who; wrong or missing, nothing is refused
# Routes that read credentials without needing them: who is signed in, signing out.
_OPTIONAL_ROUTES: dict[str, Security] = {"read_session": OPTIONAL, "sign_out": [{}, {SESSION: []}]}


def _security(route: APIRoute, mode: AuthMode) -> tuple[Security | None, tuple[int, ...]]:
    """What the operation needs in `mode`, and the auth errors it can then answer."""
    calls = _calls(route.dependant)
    if run_for_ingest in calls:
        return [{INGEST_TOKEN: []}], ()
    if require_admin in calls:
        return SIGNED_IN, (401, 403)
    if require_member in calls:
        return (OPTIONAL, ()) if mode == "off" else (SIGNED_IN, (401, 403))
    if calls & {require_reader, require_stream_reader} and mode == "all":
        return SIGNED_IN, (401,)
    return _OPTIONAL_ROUTES.get(route.name), ()


def build_openapi(app: FastAPI, mode: AuthMode) -> dict[str, Any]:
    if not hasattr(app.state, "openapi_documents"):
        app.state.openapi_documents = {}
    documents: dict[str, dict[str, Any]] = app.state.openapi_documents
    if mode in documents:
        return documents[mode]
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
            security, codes = _security(route, mode)
            if security is not None:
                operation["security"] = security
            for code, response in errors(*codes).items():
                operation["responses"].setdefault(str(code), response)
            for name, (target, parameters) in LINKS.get(route.name, {}).items():
                answer = next(code for code in operation["responses"] if code.startswith("2"))
                links = operation["responses"][answer].setdefault("links", {})
                links[name] = {"operationId": target, "parameters": parameters}
    documents[mode] = document
    return document


def allowed_methods(app: FastAPI, path: str) -> list[str] | None:
    """The methods the document lists for `path` (None: a path it does not list)."""
    for template, item in app.openapi()["paths"].items():
        pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return sorted(method.upper() for method in item)
    return None
