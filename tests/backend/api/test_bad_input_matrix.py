"""Every public input, table-driven: each bad value gets a clear 4xx naming what is wrong,
and the database is unchanged afterwards (every table, compared row by row).

Complements test_bad_input.py (bodies, NUL text, state changes) with tables that are
complete by construction: one or more rows per run-config field (derived from the schema,
so a new field cannot go untested), per id-taking route (enumerated from the app), per
query parameter and per Last-Event-ID form. Worker ingest has its own table in
test_bad_ingest_matrix.py. Every table runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any

import annotated_types
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.backend.api.conftest import MakeClient
from tests.backend.api.helpers import app_engine, create_run, finished_run, running_run
from tests.backend.api.test_auth import fill, routes
from tests.backend.dbstate import dump, unchanged
from worker.schema.runconfig import RunConfig

WRONG_TYPE = {"an": "object"}  # no config field takes an object


@dataclass
class Row:
    """One bad request and what must come back; `loc` is the first error's location."""

    method: str
    url: str
    status: int
    loc: list[Any] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


def check(client: TestClient, rows: list[Row]) -> int:
    """Sends every row; collects every mismatch, so one table run reports them all."""
    problems = []
    for row in rows:
        with unchanged(app_engine(client), f"{row.method} {row.url}"):
            response = client.request(row.method, row.url, **row.kwargs)
        got = response.status_code
        detail = response.json().get("detail") if got < 500 else None
        if got != row.status:
            problems.append(f"{row.method} {row.url} {row.kwargs}: {got} {response.text[:200]}")
        elif row.loc is not None:
            assert isinstance(detail, list) and detail[0]["msg"], response.text
            if detail[0]["loc"][: len(row.loc)] != row.loc:
                problems.append(f"{row.method} {row.url} {row.kwargs}: loc {detail[0]['loc']}")
        else:
            assert detail, (row, response.text)  # every refusal says why
    assert not problems, "\n".join(problems)
    return len(rows)


def seed(client: TestClient) -> dict[str, int]:
    """Runs in every state and a group, so that bad requests have something to spoil."""
    queued = create_run(client, tags=["a"])["id"]
    running, _ = running_run(client)
    done, _ = finished_run(client, epochs=1)
    group = client.post("/api/groups", json={"name": "g", "runs": [{"preset": "2"}]})
    return {"queued": queued, "running": running, "done": done, "group": group.json()["id"]}


# ---- run configs ---------------------------------------------------------------------------


def _outside(constraint: Any) -> list[Any]:
    """Values just outside one numeric bound of a field."""
    bound: Any = None
    if isinstance(constraint, annotated_types.Ge):
        bound = constraint.ge
        return [bound - 1]
    if isinstance(constraint, annotated_types.Le):
        bound = constraint.le
        return [bound + 1]
    if isinstance(constraint, annotated_types.Gt | annotated_types.Lt):
        return [getattr(constraint, "gt", getattr(constraint, "lt", None))]
    return []


def _choices(annotation: object) -> list[Any]:
    """A value outside the choices of a Literal field (or of a tuple of Literals)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return ["bogus"]
    if typing.get_origin(annotation) is tuple and args and typing.get_origin(args[0]):
        return [["bogus"]]
    return []


def config_rows() -> list[tuple[str, dict[str, Any], str]]:
    """(preset, overrides, field named by the error): per field a wrong type, each bound
    overstepped, an unknown choice; then the cross-field rules and absurd sizes."""
    rows: list[tuple[str, dict[str, Any], str]] = []
    for name, info in RunConfig.model_fields.items():
        rows.append(("2", {name: WRONG_TYPE}, name))
        for constraint in info.metadata:
            rows += [("2", {name: value}, name) for value in _outside(constraint)]
        annotation = info.annotation
        if isinstance(annotation, types.UnionType):
            annotation = typing.get_args(annotation)[0]
        rows += [("2", {name: value}, name) for value in _choices(annotation)]
        if annotation in (int, float):
            rows.append(("2", {name: "ten"}, name))
    rows += [
        ("2", {"learning_rate": 0.1}, "learning_rate"),  # unknown field
        ("2", {"__import__": "os"}, "__import__"),
        ("1", {"image_size": 224}, "image_size"),  # the MLP takes 3072 inputs
        ("1", {"batch_norm": True}, "batch_norm"),
        ("2", {"pretrained": True}, "pretrained"),
        ("6", {"activation": "tanh"}, "activation"),
        ("2", {"widths": [32, 32, 32]}, "widths"),
        ("2", {"widths": [32, 32, 32, 64, 64]}, "widths"),
        ("2", {"widths": [32, 0, 32, 64]}, "widths"),
        ("2", {"widths": [32, 32, 32, 9000]}, "widths"),
        ("2", {"widths": "wide"}, "widths"),
        ("2", {"augmentations": ["flip", "flip"]}, "augmentations"),
        ("2", {"device": "cuda:x"}, "device"),
        ("2", {"device": "../../dev/nvidia0"}, "device"),
        ("2", {"dataset": "/etc/passwd"}, "dataset"),
        # Absurd sizes: refused before a worker runs out of memory on them.
        ("2", {"image_size": 512}, "image_size"),  # fc1 alone: 4.0e9 parameters
        ("3c", {"widths": [8192, 8192, 8192, 8192]}, "image_size"),  # 2.3e9 parameters
        ("1", {"fc_width": 65536}, "fc_width"),  # MLP 3072-65536-65536: 4.5e9 parameters
        ("6", {"image_size": 512, "batch_size": 4096}, "batch_size"),  # activations
        ("3c", {"batch_size": 65536}, "batch_size"),
    ]
    return rows


def test_config_rows_cover_every_field_of_the_run_config() -> None:
    named = {fields[0] for _, overrides, _ in config_rows() for fields in [list(overrides)]}
    assert set(RunConfig.model_fields) <= named
    assert len(config_rows()) >= 2 * len(RunConfig.model_fields)


def test_every_bad_run_config_gets_422_naming_the_override_wherever_it_is_sent(
    client: TestClient,
) -> None:
    ids = seed(client)
    rows = []
    for preset, overrides, name in config_rows():
        loc = ["body", "overrides", name]
        body = {"json": {"preset": preset, "overrides": overrides}}
        rows.append(Row("POST", "/api/runs", 422, loc, body))
        if preset == "2":  # the run cloned here is point 2
            clone = {"json": {"overrides": overrides}}
            rows.append(Row("POST", f"/api/runs/{ids['done']}/clone", 422, loc, clone))
        group = {"name": "g", "runs": [{"preset": preset, "overrides": overrides}]}
        rows.append(
            Row("POST", "/api/groups", 422, ["body", "runs", "0", *loc[1:]], {"json": group})
        )
    for preset in ("7", "", "2 ", "../2", "x" * 17):  # unknown presets
        rows.append(Row("POST", "/api/runs", 422, ["body", "preset"], {"json": {"preset": preset}}))

    assert check(client, rows) >= 250


# ---- ids, query parameters, Last-Event-ID, CSV -----------------------------------------------

BAD_INT_IDS = ["abc", "1.5", "0", "-1", "2147483648", "9" * 30, "1e3", "%20", "0x10"]


def test_every_route_with_an_id_refuses_malformed_ids_with_422_and_unknown_ones_with_404(
    client: TestClient,
) -> None:
    ids = seed(client)
    app: FastAPI = client.app  # type: ignore[assignment]
    rows = []
    for path, methods, _ in routes(app):
        if "{" not in path:
            continue
        for method in sorted(methods - {"HEAD"}):
            if "{preset_id}" in path:
                rows += [Row(method, path.format(preset_id=p), 404) for p in ("7", "x" * 300)]
                continue
            if "{name}" in path:
                continue  # a user's: admins only, the next test
            if "{point}" in path:  # a homework point: unknown ones are bad input, 422
                body = {"json": {"run_id": ids["done"]}}
                rows += [
                    Row(method, path.format(point=p), 422, ["path", "point"], body)
                    for p in ("7", "x" * 300, "3A")
                ]
                continue
            query = f"?baseline={ids['group']}" if path.endswith("/difference") else ""
            for bad in BAD_INT_IDS:
                url = fill(path, {}).replace("/1", f"/{bad}", 1)
                rows.append(Row(method, url + query, 422, ["path"], {"json": {}}))
            missing = {"run_id": 2**31 - 1, "group_id": 2**31 - 1}
            rows.append(Row(method, fill(path, missing) + query, 404, None, {"json": {}}))
    paths = {row.url for row in rows}
    assert any("/stream" in url for url in paths) and any("/groups/" in url for url in paths)
    assert ids and check(client, rows) >= 100


BAD_USER_NAMES = ["Ada", "a%20b", "-ada", ".ada", "a" * 33, "a%00", "ad%C3%A1", "_"]


def test_every_route_with_a_user_name_refuses_malformed_names_with_422_and_unknown_ones_with_404(
    make_client: MakeClient,
) -> None:
    client = make_client(api_token="matrix-admin")
    client.headers["Authorization"] = "Bearer matrix-admin"
    app: FastAPI = client.app  # type: ignore[assignment]
    rows = []
    for path, methods, _ in routes(app):
        for method in sorted(methods - {"HEAD"}) if "{name}" in path else []:
            for bad in BAD_USER_NAMES:
                rows.append(Row(method, path.replace("{name}", bad), 422, ["path", "name"]))
            rows.append(Row(method, path.replace("{name}", "nobody"), 404))
    assert check(client, rows) >= 2 * (len(BAD_USER_NAMES) + 1)


def test_bad_query_parameters_get_422_naming_the_parameter(client: TestClient) -> None:
    ids = seed(client)
    done = ids["done"]
    table = {
        "/api/runs": [
            "limit=0", "limit=501", "limit=ten", "offset=-1", f"offset={10**9 + 1}",
            "sort=bogus", "sort=ingest_token", "order=sideways", "status=bogus",
            "group_id=0", f"group_id={2**31}", f"q={'x' * 201}", f"preset={'x' * 17}",
            f"tag={'x' * 65}", "q=a%00b", "owner=Ada", f"owner={'x' * 33}", "threshold=1.5",
            "threshold=-0.01", "threshold=x", "epoch=0", "epoch=1.5",
        ],
        f"/api/runs/{done}/metrics": [
            "max_points=3", "max_points=1000001", "max_points=many", "since_seq=-1",
            f"since_seq={2**31}", f"since_seq={2**63}", f"names={'a,' * 600}", "names=a%00",
        ],
        "/api/compare": [
            "ids=abc", f"ids={done},abc", "ids=", "ids=,", "ids=0", "ids=-1", f"ids={2**31}",
            "ids=1.5", f"ids={done};{done}", "ids=" + ",".join(map(str, range(1, 52))),
            f"ids={done}&threshold=1.01", f"ids={done}&threshold=-1", f"ids={done}&epoch=0",
        ],
        "/api/stream": ["since=-1", f"since={2**62 + 1}", "since=abc"],
        f"/api/groups/{ids['group']}/difference": [
            "baseline=0", f"baseline={2**31}", "baseline=x", "baseline=1.5",
        ],
        "/api/compare/classes": [
            "ids=abc", f"ids={done}", f"ids={done},{done}", "ids=0,1", "ids=",
        ],
        f"/api/runs/{done}/stream": ["since=-1", "since=abc"],
    }  # fmt: skip
    rows = []
    for path, queries in table.items():
        for query in queries:
            parameter = query.rsplit("&", 1)[-1].split("=", 1)[0]
            rows.append(Row("GET", f"{path}?{query}", 422, ["query", parameter]))
    rows.append(Row("GET", "/api/compare", 422, ["query", "ids"]))
    rows.append(Row("GET", f"/api/compare?ids={done},{2**31 - 1}", 404))
    rows.append(Row("GET", f"/api/groups/{ids['group']}/difference", 422, ["query", "baseline"]))
    assert check(client, rows) == 60


LAST_EVENT_IDS = ["abc", "-1", "1.5", "1e3", "0x1f", "", str(2**62), "9" * 32, "1" * 33, "1 2"]


def test_malformed_last_event_ids_get_422_naming_the_header_on_both_streams(
    client: TestClient,
) -> None:
    ids = seed(client)
    rows = [
        Row("GET", path, 422, ["header", "last-event-id"], {"headers": {"Last-Event-ID": value}})
        for path in ("/api/stream", f"/api/runs/{ids['running']}/stream")
        for value in LAST_EVENT_IDS
    ]
    assert check(client, rows) == 2 * len(LAST_EVENT_IDS)


def test_csv_of_a_run_without_points_is_a_header_and_changes_nothing(client: TestClient) -> None:
    ids = seed(client)

    with unchanged(app_engine(client), "csv"):
        empty = client.get(f"/api/runs/{ids['queued']}/metrics.csv")
        missing = client.get("/api/runs/31337/metrics.csv")

    assert empty.status_code == 200 and empty.headers["content-type"].startswith("text/csv")
    assert empty.text.splitlines() == ["seq,epoch,step,name,value,time"]
    assert missing.status_code == 404 and "31337" in missing.json()["detail"]


def test_a_body_that_is_not_utf8_gets_a_400_that_says_so(client: TestClient) -> None:
    ids = seed(client)
    body = {"content": b"\xff\xfe{", "headers": {"Content-Type": "application/json"}}
    rows = [
        Row("POST", "/api/runs", 400, None, body),
        Row("PATCH", f"/api/runs/{ids['queued']}", 400, None, body),
        Row("POST", "/api/groups", 400, None, body),
        Row("POST", f"/api/runs/{ids['done']}/clone", 400, None, body),
    ]
    assert check(client, rows) == 4


def test_the_dump_compares_every_table_and_sees_any_change(client: TestClient) -> None:
    engine = app_engine(client)
    seed(client)
    before = dump(engine)
    assert {"run", "group", "metric_point", "stream_event", "alembic_version"} <= set(before)
    assert all(before[name] for name in ("run", "metric_point", "stream_event"))

    try:
        with unchanged(engine, "a change"), engine.begin() as connection:
            connection.execute(text("UPDATE run SET notes = 'changed' WHERE id = 1"))
    except AssertionError as error:
        assert "run" in str(error)
    else:
        raise AssertionError("the dump did not see the change")
