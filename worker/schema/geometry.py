"""The homework's networks as numbers, torch-free: layer geometry, parameters, activations.

The run-config schema refuses configs by these counts before any work starts, and the model
builder (`worker/core/models.py`) builds its layers from the same constants, so what the API
predicts is what the worker builds (a test compares the two for every architecture).
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.schema.cifar_meta import CIFAR_CHANNELS, CIFAR_SIZE, NUM_CLASSES

MLP_INPUTS = CIFAR_CHANNELS * CIFAR_SIZE * CIFAR_SIZE  # 3072: the MLP flattens one image
RESNET18_PARAMETERS = 11_227_812  # torchvision's ResNet-18 with its fc replaced by 512 -> 100


@dataclass(frozen=True)
class ConvGeometry:
    """One square convolution: kernel side, stride and zero padding, in pixels."""

    kernel: int
    stride: int = 1
    padding: int = 0

    def output_side(self, side: int) -> int:
        return (side + 2 * self.padding - self.kernel) // self.stride + 1

    def parameters(self, channels_in: int, channels_out: int) -> int:
        return (channels_in * self.kernel * self.kernel + 1) * channels_out  # weights + biases


# The template CNN's convs in order (conv1, conv2, conv3, conv_final), none padded: one 5x5
# stride 2, then three 3x3. Sides at 32 px: 32 -> 14 -> 12 -> 10 -> 8.
CNN_CONVS = (ConvGeometry(5, stride=2), ConvGeometry(3), ConvGeometry(3), ConvGeometry(3))
CNN_WIDTH_COUNT = len(CNN_CONVS)  # one channel count per conv in RunConfig.widths
CNN_POOL = 2  # a 2x2 max pool with stride 2 after conv_final: 8 -> 4 at 32 px


def cnn_conv_sides(image_size: int) -> list[int]:
    """Output side of each conv, in order: [14, 12, 10, 8] at 32 px."""
    sides = []
    side = image_size
    for conv in CNN_CONVS:
        side = conv.output_side(side)
        sides.append(side)
    return sides


def cnn_flat_side(image_size: int) -> int:
    """Side of the pooled conv_final output that fc1 flattens: 4 at 32 px, 8 at 48 px."""
    return cnn_conv_sides(image_size)[-1] // CNN_POOL


def mlp_parameters(fc_width: int) -> int:
    """The MLP's parameters: 3072 -> fc_width -> fc_width -> 100, with biases."""
    return (MLP_INPUTS + 1) * fc_width + (fc_width + 1) * fc_width + (fc_width + 1) * NUM_CLASSES


def cnn_parameters(
    widths: tuple[int, ...], fc_width: int, image_size: int, batch_norm: bool = False
) -> int:
    """The CNN's parameters; BatchNorm adds a weight and a bias per channel."""
    channels_in = (CIFAR_CHANNELS, *widths[:-1])
    convs = sum(
        conv.parameters(c_in, c_out)
        for conv, c_in, c_out in zip(CNN_CONVS, channels_in, widths, strict=True)
    )
    norms = 2 * sum(widths) if batch_norm else 0
    side = cnn_flat_side(image_size)
    return convs + norms + (widths[-1] * side * side + 1) * fc_width + (fc_width + 1) * NUM_CLASSES


def activations_per_image(
    architecture: str, widths: tuple[int, ...], fc_width: int, image_size: int
) -> int:
    """Layer outputs one image leaves for the backward pass, roughly (inputs included)."""
    pixels = image_size * image_size
    inputs = CIFAR_CHANNELS * pixels
    if architecture == "mlp":
        return inputs + 2 * fc_width + NUM_CLASSES
    if architecture == "resnet18":  # 64 ch at 1/2 side, then 64/128/256/512 at 1/4../1/32
        return inputs + 50 * pixels
    sides = cnn_conv_sides(image_size)
    convs = sum(width * side * side for width, side in zip(widths, sides, strict=True))
    return inputs + convs + fc_width + NUM_CLASSES
