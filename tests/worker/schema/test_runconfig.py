"""The run-config schema: bad configs are refused naming the field, CLI assignments parse."""

from __future__ import annotations

from typing import Any

import pytest

from worker.schema.runconfig import ConfigError, RunConfig, parse_assignment, validate_config


def test_defaults_are_the_template_protocol() -> None:
    config = validate_config({})
    assert config.architecture == "cnn"
    assert config.widths == (32, 32, 32, 64)
    assert config.fc_width == 4096
    assert (config.optimizer, config.lr, config.batch_size, config.epochs) == (
        "adam",
        1e-4,
        256,
        20,
    )
    assert config.image_size == 32
    assert config.augmentations == ()


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"lr": -0.1}, "lr", []),
        ({"lr": 0}, "lr", []),
        ({"widths": [32, 32, 64]}, "widths", ["exactly 4"]),
        ({"widths": [32, 32, 32, 32, 64]}, "widths", ["exactly 4"]),
        ({"widths": [32, 0, 32, 64]}, "widths", ["between 1 and 8192"]),
        ({"batch_size": 0}, "batch_size", []),
        ({"augmentations": ["rotate"]}, "augmentations", ["'flip'", "'crop'"]),
        ({"augmentations": ["flip", "flip"]}, "augmentations", ["once"]),
        ({"architecture": "mlp", "image_size": 224}, "image_size", ["3072"]),
        ({"learning_rate": 0.1}, "learning_rate", ["unknown field"]),
        ({"dropout": 1.0}, "dropout", []),
        ({"epochs": 0}, "epochs", []),
        ({"pretrained": True}, "pretrained", ["resnet18"]),
        ({"architecture": "mlp", "pretrained": True}, "pretrained", []),
        ({"architecture": "mlp", "batch_norm": True}, "batch_norm", ["MLP"]),
        ({"architecture": "resnet18", "activation": "sigmoid"}, "activation", ["ReLU"]),
        ({"device": "gpu"}, "device", ["'gpu'"]),
        ({"device": "cuda:x"}, "device", []),
        ({"dataset": "imagenet"}, "dataset", []),
    ],
)
def test_bad_config_is_refused_with_a_message_naming_the_field(
    data: dict[str, Any], field: str, words: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(data)
    # A list item's error names the field and the item's index: "augmentations.0".
    fields = [name.split(".")[0] for name, _ in caught.value.errors]
    assert fields == [field], caught.value.errors
    message = caught.value.errors[0][1]
    for word in words:
        assert word in message
    assert str(caught.value).startswith(field)


def test_every_wrong_field_is_reported_not_just_the_first() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config({"lr": -1, "batch_size": 0, "colour": "red"})
    assert sorted(name for name, _ in caught.value.errors) == ["batch_size", "colour", "lr"]


@pytest.mark.parametrize(
    "data",
    [
        {"architecture": "resnet18", "pretrained": True, "image_size": 224},
        {"architecture": "mlp", "activation": "sigmoid"},
        {"device": "cuda:1"},
        {"device": "cpu", "dropout": 0.99, "augmentations": ["crop", "flip"]},
    ],
)
def test_valid_configs_are_accepted(data: dict[str, Any]) -> None:
    config = validate_config(data)
    for key, value in data.items():
        expected = tuple(value) if isinstance(value, list) else value
        assert getattr(config, key) == expected


def test_with_overrides_validates_again() -> None:
    config = RunConfig()
    assert config.with_overrides({"widths": [8, 8, 8, 16]}).widths == (8, 8, 8, 16)
    with pytest.raises(ValueError, match="widths"):
        config.with_overrides({"widths": [8, 8]})


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("widths=128/128/128/256", "widths", [128, 128, 128, 256]),
        ("widths=8,8,8,16", "widths", [8, 8, 8, 16]),
        ("augmentations=flip,crop", "augmentations", ["flip", "crop"]),
        ("augmentations=flip", "augmentations", ["flip"]),
        ("lr=0.001", "lr", 0.001),
        ("batch_size=128", "batch_size", 128),
        ("batch_norm=true", "batch_norm", True),
        ("device=cuda:0", "device", "cuda:0"),
        ("train_subset=null", "train_subset", None),
        (" epochs = 3 ", "epochs", 3),
    ],
)
def test_parse_assignment_reads_cli_values(text: str, key: str, value: object) -> None:
    parsed_key, parsed = parse_assignment(text)
    assert parsed_key == key
    assert parsed == value
    assert type(parsed) is type(value)
    validate_config({key: parsed})  # and the value is one the schema accepts


def test_parse_assignment_refuses_an_unknown_key_naming_it() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_assignment("learning_rate=0.1")
    assert caught.value.errors == [("learning_rate", "unknown field")]


def test_parse_assignment_refuses_text_without_equals() -> None:
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_assignment("lr")
