"""The homework presets: ids, configs that follow the report, and the report's curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from worker.schema.presets import UnknownPresetError, all_presets, get_preset

REFERENCE = Path("/work/shared/reference/homework3.json")
PACKAGED = Path(__file__).parents[3] / "worker" / "schema" / "homework3.json"
IDS = ["1", "2", "3a", "3b", "3c", "4a", "4b", "4c", "5a", "5b", "6", "free"]
WIDE = (128, 128, 128, 256)


def reference_points() -> dict[str, Any]:
    source = REFERENCE if REFERENCE.is_file() else PACKAGED
    points: dict[str, Any] = json.loads(source.read_text("utf-8"))["points"]
    return points


def test_all_twelve_homework_points_come_in_the_reports_order() -> None:
    assert list(all_presets()) == IDS
    assert [preset.id for preset in all_presets().values()] == IDS


def test_points_one_to_five_follow_the_assignment() -> None:
    presets = all_presets()
    assert presets["1"].config.architecture == "mlp"
    assert presets["1"].config.activation == "sigmoid"
    assert presets["2"].config.widths == (32, 32, 32, 64)
    assert presets["3a"].config.widths == WIDE
    assert presets["3b"].config.widths == (256, 256, 256, 512)
    assert presets["3c"].config.widths == (512, 512, 512, 1024)
    assert presets["4a"].config.batch_norm and presets["4a"].config.widths == WIDE
    assert presets["4b"].config.fc_width == 8192
    assert presets["4c"].config.dropout == 0.5 and presets["4c"].config.batch_norm
    assert presets["5a"].config.augmentations == ("flip",)
    assert not presets["5a"].config.batch_norm
    assert presets["5b"].config.augmentations == ("crop",)
    for preset_id in ["1", "2", "3a", "3b", "3c", "4a", "4c", "5a", "5b"]:
        config = presets[preset_id].config
        assert (config.batch_size, config.epochs, config.lr) == (256, 20, 1e-4), preset_id
        assert config.image_size == 32 and config.optimizer == "adam"


@pytest.mark.parametrize("preset_id", ["4b", "6", "free"])
def test_points_the_report_ran_at_batch_128_say_so(preset_id: str) -> None:
    preset = get_preset(preset_id)
    assert preset.config.batch_size == 128
    assert "batch size 128" in preset.description.lower()


def test_point_six_fine_tunes_a_pretrained_resnet_at_224_with_crops() -> None:
    config = get_preset("6").config
    assert config.architecture == "resnet18"
    assert config.pretrained
    assert config.epochs == 10
    assert config.image_size == 224
    assert config.augmentations == ("crop",)


def test_free_point_is_the_reports_best_cnn() -> None:
    config = get_preset("free").config
    assert config.lr == 1e-3 and config.dropout == 0.8 and config.batch_norm
    assert config.augmentations == ("flip",)
    assert config.epochs == 20


@pytest.mark.parametrize("preset_id", IDS)
def test_reference_curves_equal_the_reports_figures_with_gaps_kept(preset_id: str) -> None:
    point = reference_points()[preset_id]
    reference = get_preset(preset_id).reference
    assert reference.loss == point["loss"]
    assert reference.accuracy == point["accuracy"]
    assert reference.final_accuracy == point["final"]["accuracy"]
    assert reference.final_loss == point["final"]["loss"]
    assert reference.minutes == point["final"]["minutes"]
    assert get_preset(preset_id).title == point["title"]
    for curve in (reference.loss, reference.accuracy):
        assert curve is None or len(curve) == get_preset(preset_id).config.epochs


def test_illegible_report_values_stay_none() -> None:
    assert get_preset("5b").reference.loss is not None
    assert get_preset("5b").reference.loss[6] is None
    assert get_preset("5b").reference.accuracy is not None
    assert get_preset("5b").reference.accuracy[6] is None
    assert get_preset("3b").reference.loss is None
    assert get_preset("3b").reference.accuracy is None
    assert get_preset("3b").reference.final_accuracy == 34


def test_overrides_are_exactly_what_differs_from_the_defaults() -> None:
    for preset in all_presets().values():
        rebuilt = type(preset.config).model_validate(preset.overrides)
        assert rebuilt == preset.config, preset.id


def test_to_dict_is_json_with_the_config_and_curves() -> None:
    data = json.loads(json.dumps(get_preset("5b").to_dict()))
    assert data["id"] == "5b"
    assert data["config"]["augmentations"] == ["crop"]
    assert data["config"]["widths"] == list(WIDE)
    assert data["reference"]["loss"][6] is None
    assert data["reference"]["final_accuracy"] == 38


def test_unknown_preset_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(UnknownPresetError) as caught:
        get_preset("7")
    assert isinstance(caught.value, KeyError)
    message = str(caught.value)
    assert "'7'" in message
    assert "1, 2, 3a, 3b, 3c, 4a, 4b, 4c, 5a, 5b, 6, free" in message
