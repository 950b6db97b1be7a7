"""Batched image ops on the training device: the template's transforms without PIL.

Each op takes a whole batch (B, C, H, W) and a torch.Generator on the batch's device, so
one kernel launch transforms every image and the run's randomness stays reproducible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from worker.schema.cifar_meta import CIFAR_SIZE

CROP_RESIZE = 40  # 5b: Resize((40, 40)) then RandomCrop(32)
CROP_SIZE = CIFAR_SIZE  # the crop gives back CIFAR's side
# The template's Normalize((0.5,) * 3, (0.5,) * 3) after ToTensor: every channel alike.
NORMALIZE_MEAN = 0.5
NORMALIZE_STD = 0.5


def crop_batch(
    images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int
) -> torch.Tensor:
    """Crop image i at (top[i], left[i]) to size x size; (B, C, H, W) -> (B, C, size, size)."""
    batch, channels = images.shape[:2]
    offsets = torch.arange(size, device=images.device)
    rows = (top[:, None] + offsets)[:, None, :, None]  # (B, 1, size, 1)
    cols = (left[:, None] + offsets)[:, None, None, :]  # (B, 1, 1, size)
    b = torch.arange(batch, device=images.device)[:, None, None, None]
    c = torch.arange(channels, device=images.device)[None, :, None, None]
    return images[b, c, rows, cols]


def random_crop(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """torchvision's RandomCrop(size): a uniform offset per image, both ends included."""
    batch, _, height, width = images.shape
    top = torch.randint(0, height - size + 1, (batch,), device=images.device, generator=generator)
    left = torch.randint(0, width - size + 1, (batch,), device=images.device, generator=generator)
    return crop_batch(images, top, left, size)


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """torchvision's RandomHorizontalFlip(0.5), drawn per image."""
    flip = torch.rand(images.shape[0], device=images.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize to size x size, antialiased when shrinking (as PIL does)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    shrinking = images.shape[-1] > size
    return F.interpolate(
        images, size=(size, size), mode="bilinear", align_corners=False, antialias=shrinking
    )


def normalize(images: torch.Tensor) -> torch.Tensor:
    """ToTensor + Normalize(NORMALIZE_MEAN, NORMALIZE_STD) on 0..255 values: to [-1, 1].

    One multiply-add; with mean = std = 0.5 the constants are exactly 2 / 255 and 1.
    """
    return images * (1.0 / (255.0 * NORMALIZE_STD)) - NORMALIZE_MEAN / NORMALIZE_STD


def augment(
    images: torch.Tensor, augmentations: tuple[str, ...], generator: torch.Generator
) -> torch.Tensor:
    """The training-set augmentations at CIFAR's 32x32, in the template's order (crop, flip)."""
    if "crop" in augmentations:
        images = random_crop(resize(images, CROP_RESIZE), CROP_SIZE, generator)
    if "flip" in augmentations:
        images = random_flip(images, generator)
    return images
