"""Loaded by `st run` (SCHEMATHESIS_HOOKS): the one check that knows the API's cross-field rules.

Schemathesis' positive_data_acceptance wants a 2xx for every schema-valid request. A run's
overrides are checked together with the preset's (or the cloned run's) config, and rules
across fields are not something a JSON Schema can say: the operations list them in their
descriptions (backend.app.contract.CROSS_FIELD_RULES) and answer a 422 naming the field;
so do a worker's batches (INGEST_CROSS_FIELD_RULES: consecutive numbers, equal columns).
This check is positive_data_acceptance itself, except that such a documented 422 passes;
any other refusal of valid data still fails it.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

from backend.app.contract import CROSS_FIELD_RULES, INGEST_CROSS_FIELD_RULES


def _names_a_cross_field_rule(error: dict[str, Any]) -> bool:
    loc = [str(part) for part in error.get("loc", [])]
    if loc[:2] == ["body", "events"]:  # a worker's batch: the rules are in its description
        return any(message in str(error.get("msg")) for message in INGEST_CROSS_FIELD_RULES)
    if loc[:1] != ["body"] or len(loc) < 3:
        return False
    if loc[1] == "runs":  # a group's run: body.runs.N.overrides.field
        loc = loc[2:]
    return loc[-2:-1] == ["overrides"] and loc[-1] in CROSS_FIELD_RULES


def only_cross_field_rules(body: bytes) -> bool:
    try:
        detail = json.loads(body)["detail"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(detail, list) and bool(detail) and all(map(_names_a_cross_field_rule, detail))


@schemathesis.check
def positive_data_acceptance_within_cross_field_rules(
    ctx: Any, response: Any, case: Any
) -> bool | None:
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if response.status_code == 422 and only_cross_field_rules(response.content):
            return None
        raise
