"""The OpenAPI document says what the server checks: generated overrides, enums, bounds,
security as configured, Allow on every 405, and examples that are themselves accepted."""

from __future__ import annotations

import itertools
import json
from typing import Any

from fastapi.testclient import TestClient

from backend.app.contract import CROSS_FIELD_RULES, PRESET_IDS, RunOverrides
from tests.backend.api.conftest import MakeClient
from tests.backend.api.helpers import (
    Worker,
    create_run,
    finished,
    ingest_token,
    status_running,
    training,
)
from worker.schema.presets import all_presets
from worker.schema.runconfig import RunConfig

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"}


def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def operations(schema: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        operation["operationId"]: (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


def component(schema: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = schema["components"]["schemas"][name]
    return found


def test_the_overrides_are_the_run_config_with_every_field_optional(client: TestClient) -> None:
    schema = document(client)
    overrides = component(schema, "RunOverrides")
    config = RunConfig.model_json_schema()["properties"]

    assert overrides["additionalProperties"] is False
    assert "required" not in overrides
    assert set(overrides["properties"]) == set(RunConfig.model_fields)
    for name, field in config.items():
        expected = {key: value for key, value in field.items() if key != "default"}
        assert overrides["properties"][name] == expected, name
    for model in ("RunCreate", "RunClone"):
        properties = component(schema, model)["properties"]
        assert properties["overrides"]["$ref"] == "#/components/schemas/RunOverrides"
    assert RunOverrides.model_json_schema()["properties"] == overrides["properties"]


def test_presets_tags_lists_and_ids_state_their_choices_and_bounds(client: TestClient) -> None:
    schema = document(client)
    create = component(schema, "RunCreate")["properties"]
    group = component(schema, "GroupCreate")["properties"]
    update = component(schema, "RunUpdate")["properties"]

    assert create["preset"]["enum"] == PRESET_IDS == list(all_presets())
    assert create["tags"]["maxItems"] == 32 and create["tags"]["items"]["maxLength"] == 64
    assert (group["runs"]["minItems"], group["runs"]["maxItems"]) == (1, 64)
    seeds = group["seeds"]["anyOf"][0]
    assert (seeds["minItems"], seeds["maxItems"], seeds["uniqueItems"]) == (1, 64, True)
    assert seeds["items"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
    events = component(schema, "IngestBatch")["properties"]["events"]
    assert (events["minItems"], events["maxItems"]) >= (1, 1)
    for field in ("name", "tags", "notes"):  # left out: unchanged; null: refused
        assert "anyOf" not in update[field] and "default" not in update[field], field
    _, _, compare = operations(schema)["compare_runs"]
    parameters = {parameter["name"]: parameter for parameter in compare["parameters"]}
    ids = parameters["ids"]
    assert (ids["style"], ids["explode"], ids["schema"]["type"]) == ("form", False, "array")
    threshold = parameters["threshold"]["schema"]["anyOf"][0]
    assert (threshold["minimum"], threshold["maximum"]) == (0, 1)
    _, _, classes = operations(schema)["compare_classes"]
    assert classes["parameters"][0]["schema"]["minItems"] == 2
    _, _, pin = operations(schema)["pin_report_point"]
    assert pin["parameters"][0]["schema"]["enum"] == PRESET_IDS
    _, _, preset = operations(schema)["read_preset"]
    assert preset["parameters"][0]["schema"]["enum"] == PRESET_IDS


def test_cross_field_rules_are_in_the_descriptions_and_get_a_422_naming_the_field(
    client: TestClient,
) -> None:
    ops = operations(document(client))
    for operation_id in ("create_run", "clone_run", "create_group"):
        description = ops[operation_id][2]["description"]
        assert all(f"overrides.{field}`" in description for field in CROSS_FIELD_RULES)

    response = client.post("/api/runs", json={"preset": "1", "overrides": {"batch_norm": True}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "overrides", "batch_norm"]


def test_schema_valid_nulls_are_accepted_and_refused_ones_are_not_in_the_schema(
    client: TestClient,
) -> None:
    run = create_run(client, tags=["keep"])
    clone = client.post(f"/api/runs/{run['id']}/clone", json={"tags": None, "name": None})
    assert clone.status_code == 201 and clone.json()["tags"] == ["keep"]
    for body in ({"tags": None}, {"name": None}, {"runs": []}):
        url = "/api/groups" if "runs" in body else "/api/runs"
        refused = client.post(url, json={"preset": "2", "name": "g", **body})
        assert (refused.status_code == 422) == (body != {"name": None}), (body, refused.text)


SIGNED_IN = [{"ApiToken": []}, {"SessionCookie": []}]
OPEN_ROUTES = {"health", "sign_in", "read_session", "sign_out"}  # never need a sign-in


def test_security_and_auth_errors_are_declared_as_each_mode_enforces_them(
    make_client: MakeClient,
) -> None:
    modes = {"off": {}, "writes": {"api_token": "s3cret"}, "all": {"auth": "all"}}
    for mode, changes in modes.items():
        ops = operations(document(make_client(**changes)))
        for operation_id, (method, path, operation) in ops.items():
            security, codes = operation.get("security"), set(operation["responses"])
            where = (mode, operation_id)
            if path.endswith(("/events", "/claim")):
                assert security == [{"IngestToken": []}], where
            elif path.startswith("/api/users"):  # admins only, whatever the mode
                assert security == SIGNED_IN and {"401", "403"} <= codes, where
            elif operation_id in OPEN_ROUTES:
                assert security is None or {} in security, where
            elif method != "GET":
                if mode == "off":
                    assert security == [{}, *SIGNED_IN] and not {"401", "403"} & codes, where
                else:
                    assert security == SIGNED_IN and {"401", "403"} <= codes, where
            elif mode == "all":
                assert security == SIGNED_IN and "401" in codes, where
            else:
                assert security is None and "401" not in codes, where


def test_every_path_answers_a_405_with_every_method_it_has(client: TestClient) -> None:
    for path, item in document(client)["paths"].items():
        url = path.replace("{run_id}", "1").replace("{group_id}", "1")
        url = url.replace("{preset_id}", "2").replace("{point}", "2")
        documented = {method.upper() for method in item}
        for method in sorted(METHODS - documented):
            response = client.request(method, url)
            assert response.status_code == 405, (method, url)
            allowed = {part.strip() for part in response.headers["allow"].split(",")}
            assert allowed == documented, (method, url, response.headers["allow"])


def _example_value(parameter: dict[str, Any]) -> Any:
    if "example" in parameter:
        return parameter["example"]
    examples = parameter["schema"].get("examples") or [
        arm["examples"][0] for arm in parameter["schema"].get("anyOf", []) if "examples" in arm
    ]
    return examples[0] if examples else None


def _query(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    query = {}
    for parameter in parameters:
        value = _example_value(parameter)
        if parameter["in"] == "query" and value is not None:
            explode = parameter.get("explode", True)
            query[parameter["name"]] = value if explode else ",".join(map(str, value))
    return query


EXAMPLE_ADMIN = "example-admin-token"


def test_every_example_in_the_document_is_accepted(make_client: MakeClient) -> None:
    """Each body example of each operation, with the parameters' examples (run 1, group 1,
    user ada), gets a 2xx, sent with the admin's token (the sign-in example's placeholder
    replaced by it); the worker routes' on a fresh run, with its token, claim first."""
    client = make_client(api_token=EXAMPLE_ADMIN)
    client.headers["Authorization"] = f"Bearer {EXAMPLE_ADMIN}"
    client.headers["X-Requested-With"] = "runboard"  # signing out with the cookie sign_in set
    first = create_run(client)
    assert first["id"] == 1  # what the path parameters' examples name
    group = client.post(
        "/api/groups", json={"name": "g", "runs": [{"preset": "2"}], "seeds": [0, 1]}
    )
    assert group.json()["id"] == 1
    for replicate in group.json()["runs"]:  # runs 2 and 3 finished: the statistics' examples
        per_class = {"per_class_accuracy": [0.5] * 100, "confusion_coarse": [[1] * 20] * 20}
        Worker(client, replicate["id"]).ok(status_running(), *training(2, 3), finished(**per_class))
    ops = operations(document(client))
    # After the claim, and after the user is made; then the end.
    last = ("create_token", "revoke_user", "ingest_events", "cancel_run", "delete_run")
    order = sorted(ops, key=lambda op: last.index(op) if op in last else -1)
    worker_run = create_run(client)["id"]
    sent = 0
    for operation_id in order:
        method, path, operation = ops[operation_id]
        if path.endswith("/stream"):
            continue  # an endless answer: test_stream.py reads them
        headers: dict[str, str] = {}
        run_id = 1
        if path.endswith(("/events", "/claim")):
            run_id = worker_run
            headers = {"Authorization": f"Bearer {ingest_token(client, run_id)}"}
        url = path.replace("{run_id}", str(run_id)).replace("{group_id}", "1")
        url = url.replace("{preset_id}", "4a").replace("{name}", "ada").replace("{point}", "2")
        query = _query(operation.get("parameters", []))
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        bodies = [example["value"] for example in (content or {}).get("examples", {}).values()]
        assert bodies or not content, f"{operation_id} has a body but no example"
        if operation_id == "sign_in":
            bodies = [{"token": EXAMPLE_ADMIN}]
        for body in bodies or [None]:
            response = client.request(method, url, params=query, json=body, headers=headers)
            assert response.is_success, (operation_id, body, response.text)
            sent += 1
    assert sent > len(ops) - 2  # every operation but the streams, some with two examples


def test_the_document_is_plain_json_with_operation_ids_named_for_their_routes(
    client: TestClient,
) -> None:
    schema = document(client)
    ids = list(operations(schema))
    assert len(ids) == len(set(ids)) and "create_run" in ids and "read_run" in ids
    json.dumps(schema)  # nothing that only Python can encode
    links = schema["paths"]["/api/runs"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} <= set(ids)
    assert list(itertools.chain.from_iterable(link["parameters"] for link in links.values()))
