"""The homework's networks, built from a RunConfig with exactly the template's geometry."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from worker.errors import UserError
from worker.schema.runconfig import RunConfig

NUM_CLASSES = 100

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "gelu": F.gelu,
}


class MissingWeightsError(UserError, RuntimeError):
    """Pretrained weights are neither cached nor downloadable; says where to put the file."""


class MLP(nn.Module):
    """The template's "old style NN": 3072 -> fc -> fc -> 100 (sigmoid by default)."""

    def __init__(self, hidden: int, activation: str, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3 * 32 * 32, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, NUM_CLASSES)
        self.act = _ACTIVATIONS[activation]
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, 32, 32) -> (B, 100)
        x = x.flatten(1)  # (B, 3072)
        x = self.act(self.fc1(x))
        x = self.act(self.fc2(x))
        return self.fc3(self.drop(x))


def _conv_output_side(image_size: int) -> int:
    """Side after conv1 (5x5 s2), three 3x3 convs and a 2x2 pool: 32 -> 14 -> 12 -> 10 -> 8 -> 4."""
    side = (image_size - 5) // 2 + 1
    side -= 2 * 3
    return side // 2


class CNN(nn.Module):
    """The template's CNN; batch norm as bn(relu(conv(x))) after each conv, dropout on fc1."""

    def __init__(
        self,
        widths: tuple[int, ...],
        fc_width: int,
        activation: str,
        batch_norm: bool,
        dropout: float,
        image_size: int,
    ) -> None:
        super().__init__()
        w1, w2, w3, w4 = widths
        self.conv1 = nn.Conv2d(3, w1, kernel_size=5, stride=2, padding=0)
        self.conv2 = nn.Conv2d(w1, w2, kernel_size=3, padding=0)
        self.conv3 = nn.Conv2d(w2, w3, kernel_size=3, padding=0)
        self.conv_final = nn.Conv2d(w3, w4, kernel_size=3, padding=0)
        self.pool = nn.MaxPool2d(2, 2)
        norm: Callable[[int], nn.Module] = nn.BatchNorm2d if batch_norm else lambda _: nn.Identity()
        self.bn1, self.bn2, self.bn3, self.bn_final = norm(w1), norm(w2), norm(w3), norm(w4)
        side = _conv_output_side(image_size)
        self.fc1 = nn.Linear(w4 * side * side, fc_width)
        self.fc2 = nn.Linear(fc_width, NUM_CLASSES)
        self.act = _ACTIVATIONS[activation]
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) -> (B, 100)
        x = self.bn1(self.act(self.conv1(x)))  # (B, w1, 14, 14) at S = 32
        x = self.bn2(self.act(self.conv2(x)))  # (B, w2, 12, 12)
        x = self.bn3(self.act(self.conv3(x)))  # (B, w3, 10, 10)
        x = self.bn_final(self.act(self.pool(self.conv_final(x))))  # (B, w4, 4, 4)
        x = self.act(self.fc1(x.flatten(1)))  # (B, fc_width)
        return self.fc2(self.drop(x))


def _resnet18(pretrained: bool, dropout: float) -> nn.Module:
    from torchvision.models import ResNet18_Weights, resnet18

    weights = ResNet18_Weights.IMAGENET1K_V1 if pretrained else None
    try:
        model = resnet18(weights=weights)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError: no network, no cache
        assert weights is not None
        file_name = os.path.basename(weights.url)
        hub_dir = torch.hub.get_dir()
        raise MissingWeightsError(
            f"pretrained ResNet-18 weights are not cached and could not be downloaded ({exc}); "
            f"put {file_name} into {os.path.join(hub_dir, 'checkpoints')} "
            f"(set TORCH_HOME to move it) or set pretrained=false"
        ) from None
    head = nn.Linear(512, NUM_CLASSES)  # replaces ImageNet's 1000-class fc
    model.fc = nn.Sequential(nn.Dropout(dropout), head) if dropout > 0 else head
    return model


def build_model(config: RunConfig) -> nn.Module:
    """The network a config describes, on the CPU in fp32 (the trainer moves it)."""
    if config.architecture == "mlp":
        return MLP(config.fc_width, config.activation, config.dropout)
    if config.architecture == "cnn":
        return CNN(
            config.widths,
            config.fc_width,
            config.activation,
            config.batch_norm,
            config.dropout,
            config.image_size,
        )
    return _resnet18(config.pretrained, config.dropout)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def parameter_count(config: RunConfig) -> int:
    """Parameters of a config's model, built on the meta device (no memory, no weights)."""
    with torch.device("meta"):
        model = build_model(config.model_copy(update={"pretrained": False}))
    return count_parameters(model)
