"""The homework's networks, built from a RunConfig with exactly the template's geometry."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from worker.schema.cifar_meta import CIFAR_CHANNELS, NUM_CLASSES
from worker.schema.errors import UserError
from worker.schema.geometry import CNN_CONVS, CNN_POOL, MLP_INPUTS, cnn_flat_side
from worker.schema.runconfig import RunConfig

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
        self.fc1 = nn.Linear(MLP_INPUTS, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, NUM_CLASSES)
        self.act = _ACTIVATIONS[activation]
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, 32, 32) -> (B, 100)
        x = x.flatten(1)  # (B, 3072)
        x = self.act(self.fc1(x))
        x = self.act(self.fc2(x))
        return self.fc3(self.drop(x))


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
        channels_in = (CIFAR_CHANNELS, w1, w2, w3)
        # conv1, conv2, conv3, conv_final with the schema's geometry, created in this order:
        # the order decides which random numbers each layer's initial weights get
        convs = [
            nn.Conv2d(c_in, c_out, conv.kernel, stride=conv.stride, padding=conv.padding)
            for conv, c_in, c_out in zip(CNN_CONVS, channels_in, widths, strict=True)
        ]
        self.conv1, self.conv2, self.conv3, self.conv_final = convs
        self.pool = nn.MaxPool2d(CNN_POOL, CNN_POOL)
        norm: Callable[[int], nn.Module] = nn.BatchNorm2d if batch_norm else lambda _: nn.Identity()
        self.bn1, self.bn2, self.bn3, self.bn_final = norm(w1), norm(w2), norm(w3), norm(w4)
        side = cnn_flat_side(image_size)
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
    head = nn.Linear(model.fc.in_features, NUM_CLASSES)  # 512 -> 100 replaces ImageNet's fc
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


def model_parameter_count(model: nn.Module) -> int:
    """`parameter_count(config)` measured on a built model (trainable or not, buffers not)."""
    return sum(p.numel() for p in model.parameters())
