"""Request field types whose JSON Schema says exactly what the server accepts.

The OpenAPI document is the API's contract: a client generated from it must send nothing
the server refuses for a reason the document could have said, and the server must refuse
whatever the document rules out. So the types here refuse what pydantic's lax mode would
coerce (true for 1, "5" for 5), and the run config's overrides are a model generated from
RunConfig itself: every field optional, with its type, bounds, choices and description.
Rules across fields (an MLP has no batch norm, a network must fit a GPU) cannot be said
by a schema; they are listed in CROSS_FIELD_RULES and answered with a 422 naming the field.
"""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
)
from pydantic.fields import FieldInfo

from worker.schema.presets import UnknownPresetError, all_presets, get_preset
from worker.schema.runconfig import RunConfig

INT32_MAX = 2**31 - 1


def _json_number(value: Any) -> Any:
    """JSON Schema's integer and number exclude booleans and strings; so does the server."""
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON number")
    return value


json_number = BeforeValidator(_json_number)  # after a number's bounds (the schema shows them)

# Python's str.strip() removes exactly these; JSON Schema's \\s is a different set, so the
# patterns below spell the characters out and every validator reads them alike.
_SPACES = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())  # U+3000 is the last
_SPACE_CLASS = "".join(f"\\u{ord(c):04x}" for c in _SPACES)
NOT_BLANK = f"[^{_SPACE_CLASS}]"  # somewhere a character that strip() keeps
NO_NUL = "^[^\\u0000]*$"  # PostgreSQL text cannot hold NUL: refused, on SQLite too

MAX_TAGS = 32
MAX_TAG_LENGTH = 64


def _refuse_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("may not contain NUL characters")
    return text


TAG_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LENGTH, "pattern": NOT_BLANK}


def _check_tags(tags: list[str]) -> list[str]:
    """Each tag stripped, repeats dropped; errors name `tags`, not one of its items."""
    cleaned = []
    for tag in tags:
        if len(tag) > MAX_TAG_LENGTH or not tag.strip():  # the length as sent, as TAG_SCHEMA
            raise ValueError(f"each tag needs 1 to {MAX_TAG_LENGTH} characters")
        if tag.strip() not in cleaned:
            cleaned.append(tag.strip())
    return cleaned


Tags = Annotated[
    list[str],
    Field(
        max_length=MAX_TAGS,
        description=f"at most {MAX_TAGS}, each stripped; repeats count once",
        json_schema_extra={"items": TAG_SCHEMA},
    ),
    AfterValidator(_check_tags),
]

Seed = Annotated[int, Field(ge=0, le=INT32_MAX), json_number]  # RunConfig.seed's range
EntityId = Annotated[int, Field(ge=1, le=INT32_MAX), json_number]  # a run's or group's id
Seeds = Annotated[
    list[Seed], Field(min_length=1, max_length=64, json_schema_extra={"uniqueItems": True})
]

# Text the database stores: no NUL characters (the pattern says so, the validator checks).
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=NO_NUL),
    AfterValidator(_refuse_nul),
]
# A user's name: short, lower case, safe in a URL path and a shell ("admin" is the bootstrap's).
USER_NAME = "^[a-z0-9][a-z0-9._-]{0,31}$"
UserName = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=USER_NAME)]
Notes = Annotated[
    str, StringConstraints(max_length=20_000, pattern=NO_NUL), AfterValidator(_refuse_nul)
]


def _known_preset(preset_id: str) -> str:
    try:
        get_preset(preset_id)
    except UnknownPresetError as exc:
        raise ValueError(str(exc)) from None
    return preset_id


PRESET_IDS = list(all_presets())
PresetId = Annotated[
    str,
    Field(json_schema_extra={"enum": PRESET_IDS}, description="a homework point's id"),
    AfterValidator(_known_preset),
]


# ---- the overrides: RunConfig with every field optional ---------------------------------


def _as_json(annotation: Any, bounds: tuple[Any, ...] = ()) -> Any:
    """`annotation` with its scalars as JSON types and `bounds` (a field's ge, le, ...) on
    its number; RunConfig's tuples are all `T, ...` and its unions `T | None`."""
    if annotation in (int, float):  # the bounds before the check, so the schema shows them
        return Annotated[annotation, *bounds, json_number]
    if annotation is bool:
        return StrictBool
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is tuple:
        return tuple[_as_json(args[0]), ...]  # type: ignore[misc]
    if origin in (Union, types.UnionType):
        return Union[tuple(_as_json(arg, bounds) for arg in args)]  # noqa: UP007
    return annotation  # Literal choices and free text validate alike in either mode


def no_defaults(schema: dict[str, Any]) -> None:
    """For models whose omitted fields keep a value from elsewhere (an override: the preset's
    value, not RunConfig's default; an update: the run's): no `default` shown."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


def _optional(info: FieldInfo) -> tuple[Any, FieldInfo]:
    """The same field, not required (the default is never validated nor shown)."""
    copy = FieldInfo.merge_field_infos(info, default=None)
    copy.annotation = _as_json(info.annotation, tuple(info.metadata))
    copy.metadata = []  # moved onto the number above
    copy.validate_default = False
    return copy.annotation, copy


RunOverrides: type[BaseModel] = create_model(
    "RunOverrides",
    __config__=ConfigDict(
        extra="forbid",
        json_schema_extra=no_defaults,
        title="RunOverrides",
    ),
    __doc__="Run config fields that differ from the preset's (or the cloned run's).",
    **{name: _optional(info) for name, info in RunConfig.model_fields.items()},  # type: ignore[call-overload]
)


def _keep_as_sent(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validated field by field as RunOverrides (errors name overrides.<field>), then
    kept as the client sent it: the whole config is validated again with the preset's."""
    handler(value)
    return value


if TYPE_CHECKING:
    Overrides = dict[str, Any]
else:
    Overrides = Annotated[RunOverrides, WrapValidator(_keep_as_sent)]

# Field -> the rule across fields that a schema cannot state; broken, a 422 names the field.
CROSS_FIELD_RULES = {
    "activation": "ResNet-18 is built with ReLU only",
    "batch_norm": "the MLP has no conv layers to normalise",
    "pretrained": "only resnet18 has pretrained weights",
    "image_size": "the MLP takes 32 px only; a CNN's parameters must fit a GPU (1e9)",
    "fc_width": "an MLP's parameters must fit a GPU (1e9)",
    "batch_size": "one batch's activations must fit a GPU (2^33 values)",
    "warmup_epochs": "fewer than the run's epochs",
}


# What a worker's batch must also satisfy (worker.schema.messages and events): message -> rule.
INGEST_CROSS_FIELD_RULES = {
    "sequence numbers must be consecutive": "`events`: each seq is the one before plus 1",
    "need the same length": "`events.N.data` of batches and recovered_batches: "
    "epoch, step, global_step, loss and time columns of one length",
}


def ingest_description() -> str:
    rules = "\n".join(f"- {rule}" for rule in INGEST_CROSS_FIELD_RULES.values())
    return "Rules across fields that the schema cannot state, answered with a 422:\n" + rules


def cross_field_description(where: str) -> str:
    """The rules above as Markdown for an operation's description."""
    rules = "\n".join(f"- `{where}{field}`: {rule}" for field, rule in CROSS_FIELD_RULES.items())
    return (
        "The overrides are checked with the preset's (or cloned run's) config; rules across "
        "fields that the schema cannot state are answered with a 422 naming the field:\n" + rules
    )
