"""The homework presets: configs, descriptions and the report's reference curves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from backend.app.api.auth import ReaderDep
from backend.app.api.deps import errors
from backend.app.contract import PRESET_IDS
from backend.app.crud.errors import NotFound
from worker.schema.presets import UnknownPresetError, all_presets, get_preset

router = APIRouter(prefix="/presets", tags=["presets"], dependencies=[ReaderDep])


@router.get("")
def list_presets() -> list[dict[str, Any]]:
    """Every homework point in the report's order."""
    return [preset.to_dict() for preset in all_presets().values()]


@router.get("/{preset_id}", responses=errors(404))
def read_preset(
    preset_id: Annotated[str, Path(json_schema_extra={"enum": PRESET_IDS}, examples=["4a"])],
) -> dict[str, Any]:
    try:
        return get_preset(preset_id).to_dict()
    except UnknownPresetError as exc:
        raise NotFound(str(exc)) from None
