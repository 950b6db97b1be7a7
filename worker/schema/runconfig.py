"""The run-config schema: one declarative description of a training run.

Torch-free on purpose: the API validates submitted runs with this very module and the worker
builds models, data and optimiser from it. Cross-field rules live in field validators (not a
model validator) so that every error names the field that is wrong.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from worker.schema.cifar_meta import CIFAR_CHANNELS, CIFAR_SIZE
from worker.schema.errors import InvalidInputError
from worker.schema.geometry import (
    CNN_WIDTH_COUNT,
    MLP_INPUTS,
    RESNET18_PARAMETERS,
    activations_per_image,
    cnn_parameters,
    mlp_parameters,
)

Architecture = Literal["mlp", "cnn", "resnet18"]
Activation = Literal["relu", "sigmoid", "tanh", "gelu"]
Augmentation = Literal["flip", "crop"]
OptimizerName = Literal["adam", "adamw", "sgd"]
DatasetName = Literal["cifar100", "synthetic", "synthetic-easy"]
PrecisionName = Literal["auto", "fp32", "bf16", "fp16"]
Pipeline = Literal["resident", "torchvision"]
Schedule = Literal["constant", "step", "cosine", "one-cycle"]

# Configs beyond these would not fit a GPU: refused up front (422, one CLI line), not an OOM.
MAX_PARAMETERS = 1_000_000_000  # fp32 weights, gradients and Adam's moments: 16 GB
MAX_ACTIVATIONS = 2**33  # layer outputs one batch keeps for the backward pass (8.6e9 values)
MAX_WIDTH = 8192  # channels of one conv
# ASCII digits only ("\d" also matches other scripts' digits, which JSON Schema's [0-9] does not)
DEVICE_PATTERN = "auto|cpu|cuda(:[0-9]+)?|mps"
_DEVICE_PATTERN = re.compile(DEVICE_PATTERN)


class RunConfig(BaseModel):
    """Everything that decides what a run trains and how; defaults are the template's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # What is trained.
    architecture: Architecture = "cnn"
    widths: tuple[int, ...] = Field(
        (32, 32, 32, 64),
        description="CNN conv channel counts: conv1, conv2, conv3, conv_final",
        # What _widths_fit_architecture checks, for the JSON Schema (the API's contract).
        json_schema_extra={
            "minItems": CNN_WIDTH_COUNT,
            "maxItems": CNN_WIDTH_COUNT,
            "items": {"type": "integer", "minimum": 1, "maximum": MAX_WIDTH},
        },
    )
    fc_width: int = Field(
        4096, ge=1, le=65536, validate_default=True, description="hidden fully connected width"
    )
    activation: Activation = "relu"
    batch_norm: bool = Field(False, description="CNN: BatchNorm after each conv, bn(relu(conv))")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout before the last FC layer")
    pretrained: bool = Field(False, description="ResNet-18: start from ImageNet weights")

    # What it sees.
    augmentations: tuple[Augmentation, ...] = Field(
        (),
        description="training-set augmentations: flip, crop (resize 40 then crop 32)",
        json_schema_extra={"uniqueItems": True},
    )
    image_size: int = Field(
        CIFAR_SIZE, ge=CIFAR_SIZE, le=512, validate_default=True, description="input side in pixels"
    )
    dataset: DatasetName = "cifar100"
    train_subset: int | None = Field(
        None, ge=1, le=1_000_000, description="train images used (synthetic: generated)"
    )
    test_subset: int | None = Field(
        None, ge=1, le=1_000_000, description="test images used (synthetic: generated)"
    )

    # How it learns.
    optimizer: OptimizerName = "adam"
    lr: float = Field(1e-4, gt=0.0, le=10.0, description="learning rate")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    batch_size: int = Field(256, ge=1, le=65536, validate_default=True)  # memory checked
    epochs: int = Field(20, ge=1, le=1000)
    seed: int = Field(0, ge=0, le=2**31 - 1)

    # Where and how fast.
    device: str = Field(
        "auto",
        description="auto (cuda, then cpu), cpu, cuda or cuda:N",
        json_schema_extra={"pattern": f"^({DEVICE_PATTERN})$"},
    )
    precision: PrecisionName = Field("auto", description="auto: bf16 autocast where supported")
    pipeline: Pipeline = Field("resident", description="resident tensors or torchvision loaders")
    channels_last: bool = True
    deterministic: bool = Field(False, description="deterministic kernels (bit-exact on CPU)")
    template_drop_last: bool = Field(
        False, description="the template's quirk: drop_last on train AND test loaders"
    )
    loader_workers: int = Field(4, ge=0, le=64, description="torchvision pipeline workers")
    report_every: int = Field(1, ge=1, le=100_000, description="batch-loss event every N steps")

    # The learning-rate schedule, stepped once an epoch (torch.optim.lr_scheduler).
    schedule: Schedule = Field(
        "constant", description="lr per epoch: constant, step, cosine or one-cycle"
    )
    warmup_epochs: int = Field(
        0, ge=0, le=1000, description="epochs of linear warm-up to lr (one-cycle: its rise)"
    )
    step_epochs: int = Field(10, ge=1, le=1000, description="step schedule: epochs per decay")
    step_gamma: float = Field(0.1, gt=0.0, le=1.0, description="step schedule: lr factor")

    # Rules that end a run early, checked between epochs; guards, between steps.
    patience: int | None = Field(
        None, ge=1, le=1000, description="stop after this many epochs without a better test acc"
    )
    min_delta: float = Field(
        0.0, ge=0.0, le=1.0, description="patience: the test acc gain (0..1) that counts"
    )
    target_accuracy: float | None = Field(
        None, gt=0.0, le=1.0, description="stop once test acc (0..1) reaches this"
    )
    guard_nonfinite: bool = Field(True, description="fail at once on a NaN or infinite loss")
    guard_divergence: float | None = Field(
        None, gt=1.0, le=1e6, description="fail once a step's loss exceeds k x the first one"
    )

    @field_validator("fc_width")
    @classmethod
    def _mlp_fits_memory(cls, fc_width: int, info: ValidationInfo) -> Any:
        if info.data.get("architecture") == "mlp":
            _check_parameters(mlp_parameters(fc_width), f"fc_width {fc_width}")
        return fc_width

    @field_validator("widths")
    @classmethod
    def _widths_fit_architecture(cls, widths: tuple[int, ...], info: ValidationInfo) -> Any:
        if len(widths) != CNN_WIDTH_COUNT:
            raise ValueError(
                f"needs exactly {CNN_WIDTH_COUNT} conv widths (conv1, conv2, conv3, conv_final), "
                f"got {len(widths)}"
            )
        for width in widths:
            if not 1 <= width <= MAX_WIDTH:
                raise ValueError(f"each width must be between 1 and {MAX_WIDTH}, got {width}")
        return widths

    @field_validator("activation")
    @classmethod
    def _activation_fits_architecture(cls, activation: str, info: ValidationInfo) -> Any:
        if info.data.get("architecture") == "resnet18" and activation != "relu":
            raise ValueError("ResNet-18 is built with ReLU; other activations are not available")
        return activation

    @field_validator("batch_norm")
    @classmethod
    def _batch_norm_fits_architecture(cls, batch_norm: bool, info: ValidationInfo) -> Any:
        if batch_norm and info.data.get("architecture") == "mlp":
            raise ValueError("the MLP has no conv layers to normalise; use the cnn architecture")
        return batch_norm

    @field_validator("pretrained")
    @classmethod
    def _pretrained_only_resnet(cls, pretrained: bool, info: ValidationInfo) -> Any:
        if pretrained and info.data.get("architecture") != "resnet18":
            raise ValueError("only resnet18 has pretrained (ImageNet) weights")
        return pretrained

    @field_validator("augmentations")
    @classmethod
    def _augmentations_unique(cls, augmentations: tuple[str, ...]) -> Any:
        if len(set(augmentations)) != len(augmentations):
            raise ValueError("each augmentation may appear once")
        return augmentations

    @field_validator("image_size")
    @classmethod
    def _image_size_fits_architecture(cls, image_size: int, info: ValidationInfo) -> Any:
        if info.data.get("architecture") == "mlp" and image_size != CIFAR_SIZE:
            raise ValueError(
                f"the MLP takes {CIFAR_CHANNELS}x{CIFAR_SIZE}x{CIFAR_SIZE} = {MLP_INPUTS} inputs; "
                f"image_size must be {CIFAR_SIZE}, got {image_size}"
            )
        data = info.data
        if data.get("architecture") == "cnn" and {"widths", "fc_width"} <= data.keys():
            count = cnn_parameters(
                data["widths"], data["fc_width"], image_size, data.get("batch_norm", False)
            )
            widths = "/".join(map(str, data["widths"]))
            _check_parameters(
                count, f"widths {widths}, fc_width {data['fc_width']}, image_size {image_size}"
            )
        return image_size

    @field_validator("batch_size")
    @classmethod
    def _batch_fits_memory(cls, batch_size: int, info: ValidationInfo) -> Any:
        data = info.data
        if not {"architecture", "widths", "fc_width", "image_size"} <= data.keys():
            return batch_size  # an earlier field is wrong and reported already
        per_image = activations_per_image(
            data["architecture"], data["widths"], data["fc_width"], data["image_size"]
        )
        if batch_size * per_image > MAX_ACTIVATIONS:
            raise ValueError(
                f"{batch_size:,} images of {data['image_size']} px would keep about "
                f"{batch_size * per_image:,} activation values for the backward pass, more "
                f"than the {MAX_ACTIVATIONS:,} that fit a GPU; use a smaller batch_size"
            )
        return batch_size

    @field_validator("warmup_epochs")
    @classmethod
    def _warmup_fits_epochs(cls, warmup_epochs: int, info: ValidationInfo) -> Any:
        epochs = info.data.get("epochs")
        if epochs is not None and warmup_epochs >= epochs:
            raise ValueError(f"must be fewer than the {epochs} epochs, got {warmup_epochs}")
        return warmup_epochs

    @field_validator("device")
    @classmethod
    def _device_known(cls, device: str) -> str:
        if not _DEVICE_PATTERN.fullmatch(device):  # match() would let "cpu\n" through
            raise ValueError(f"must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
        return device

    @property
    def is_convolutional(self) -> bool:
        return self.architecture != "mlp"

    def with_overrides(self, overrides: dict[str, Any]) -> RunConfig:
        """A new config with `overrides` applied and everything validated again."""
        return RunConfig.model_validate({**self.model_dump(), **overrides})


def parameter_count(config: RunConfig) -> int:
    """The parameters of the network `config` describes, exactly as the worker builds it."""
    if config.architecture == "mlp":
        return mlp_parameters(config.fc_width)
    if config.architecture == "cnn":
        return cnn_parameters(config.widths, config.fc_width, config.image_size, config.batch_norm)
    return RESNET18_PARAMETERS  # pretrained or not, with or without dropout (no parameters)


def _check_parameters(count: int, sizes: str) -> None:
    if count > MAX_PARAMETERS:
        raise ValueError(
            f"the network would have {count:,} parameters ({sizes}), more than the "
            f"{MAX_PARAMETERS:,} that fit a GPU with the optimiser's state"
        )


class ConfigError(InvalidInputError):
    """A run config was refused; `errors` lists (field, message) pairs, field first."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))


def field_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, message) pairs from a pydantic error, in words a user can act on."""
    pairs = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "config"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        pairs.append((field, message))
    return pairs


def validate_config(data: dict[str, Any]) -> RunConfig:
    """Validate raw data into a RunConfig, raising ConfigError that names each wrong field."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(field_errors(exc)) from None


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse one CLI `key=value` into a field name and a JSON-ish value.

    Values are read as JSON when they parse (numbers, booleans, lists), else as a string;
    commas or slashes make a list, so `widths=128/128/128/256` and `augmentations=flip,crop`
    both work.
    """
    import json

    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError([("--set", f"expected key=value, got {text!r}")])
    if key not in RunConfig.model_fields:
        raise ConfigError([(key, "unknown field")])
    raw = raw.strip()
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        pass
    annotation = str(RunConfig.model_fields[key].annotation)
    if "tuple" in annotation:
        parts = [p for p in re.split(r"[,/]", raw) if p]
        return key, [int(p) if p.isdigit() else p for p in parts]
    if raw.lower() in {"none", "null"}:
        return key, None
    return key, raw
