"""Two ways from a Split to training batches; both yield normalised (x, y) on the device.

- `ResidentBatches` (the default): the whole split lives on the training device as one uint8
  tensor; shuffling is a randperm and every transform is a batched tensor op there.
- `TorchvisionBatches`: the template's pipeline, PIL transforms in 4 DataLoader workers. It is
  kept honest as the benchmarks' baseline and for users who want the template's behaviour.
Both draw their randomness from (seed, epoch), so an epoch's batches do not depend on what
ran before it, and a resumed run sees the same data as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from worker.core.augment import (
    CROP_RESIZE,
    CROP_SIZE,
    NORMALIZE_MEAN,
    NORMALIZE_STD,
    augment,
    normalize,
    resize,
)
from worker.core.data import Split
from worker.schema.cifar_meta import CIFAR_CHANNELS
from worker.schema.runconfig import RunConfig

ImageBatch = tuple[torch.Tensor, torch.Tensor]  # x (B, 3, S, S) float, y (B,) int64


class Batches(Protocol):
    def __len__(self) -> int: ...
    def epoch(self, epoch: int) -> Iterator[ImageBatch]: ...


def memory_format(config: RunConfig) -> torch.memory_format:
    """channels_last for conv nets (faster kernels); the MLP just flattens its input."""
    if config.channels_last and config.is_convolutional:
        return torch.channels_last
    return torch.contiguous_format


def batch_count(images: int, batch_size: int, drop_last: bool) -> int:
    """Batches in one epoch: the last, short one is dropped with `drop_last`."""
    return images // batch_size if drop_last else -(-images // batch_size)


def epoch_seed(seed: int, epoch: int, train: bool) -> int:
    return (seed * 1_000_003 + epoch * 2 + int(train)) % (2**63)


def make_batches(
    split: Split, config: RunConfig, device: torch.device, train: bool, batch_size: int
) -> Batches:
    """The config's pipeline over `split`: augmented and shuffled when `train`."""
    if config.pipeline == "torchvision":
        return TorchvisionBatches(split, config, device, train, batch_size)
    return ResidentBatches(split, config, device, train, batch_size)


class ResidentBatches:
    def __init__(
        self, split: Split, config: RunConfig, device: torch.device, train: bool, batch_size: int
    ) -> None:
        self.images = split.images.to(device)  # (N, 3, 32, 32) uint8, moved once
        self.labels = split.labels.to(device)  # (N,) int64
        self.device = device
        self.train = train
        self.batch_size = batch_size
        self.seed = config.seed
        self.augmentations = config.augmentations if train else ()
        self.image_size = config.image_size
        self.memory_format = memory_format(config)
        self.drop_last = config.template_drop_last

    def __len__(self) -> int:
        return batch_count(len(self.labels), self.batch_size, self.drop_last)

    def epoch(self, epoch: int) -> Iterator[ImageBatch]:
        generator = torch.Generator(device=self.device)
        generator.manual_seed(epoch_seed(self.seed, epoch, self.train))
        count = len(self.labels)
        if self.train:
            order = torch.randperm(count, device=self.device, generator=generator)
        else:
            order = torch.arange(count, device=self.device)
        for step in range(len(self)):
            index = order[step * self.batch_size : (step + 1) * self.batch_size]
            images = self.images[index].float()  # (B, 3, 32, 32), 0..255
            images = augment(images, self.augmentations, generator)
            images = normalize(resize(images, self.image_size))  # (B, 3, S, S), [-1, 1]
            yield images.contiguous(memory_format=self.memory_format), self.labels[index]


class _ArrayDataset(Dataset[tuple[torch.Tensor, int]]):
    """torchvision's CIFAR100.__getitem__ over our arrays: a PIL image, then the transform."""

    def __init__(self, split: Split, transform: transforms.Compose) -> None:
        self.images = split.images.permute(0, 2, 3, 1).numpy()  # (N, 32, 32, 3) uint8, as CIFAR
        self.labels = split.labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = Image.fromarray(np.ascontiguousarray(self.images[index]))
        return self.transform(image), self.labels[index]


def template_transform(config: RunConfig, train: bool) -> transforms.Compose:
    """The template's transforms: Resize, (train-only augmentations), ToTensor, Normalize."""
    steps: list[object] = []
    if train and "crop" in config.augmentations:
        steps += [transforms.Resize((CROP_RESIZE, CROP_RESIZE)), transforms.RandomCrop(CROP_SIZE)]
    if train and "flip" in config.augmentations:
        steps.append(transforms.RandomHorizontalFlip())
    steps.append(transforms.Resize((config.image_size, config.image_size)))
    mean, std = (NORMALIZE_MEAN,) * CIFAR_CHANNELS, (NORMALIZE_STD,) * CIFAR_CHANNELS
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    return transforms.Compose(steps)


class TorchvisionBatches:
    def __init__(
        self, split: Split, config: RunConfig, device: torch.device, train: bool, batch_size: int
    ) -> None:
        self.dataset = _ArrayDataset(split, template_transform(config, train))
        self.config = config
        self.device = device
        self.train = train
        self.batch_size = batch_size
        self.memory_format = memory_format(config)

    def __len__(self) -> int:
        return batch_count(len(self.dataset), self.batch_size, self.config.template_drop_last)

    def epoch(self, epoch: int) -> Iterator[ImageBatch]:
        generator = torch.Generator().manual_seed(epoch_seed(self.config.seed, epoch, self.train))
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            shuffle=self.train,
            num_workers=self.config.loader_workers,
            drop_last=self.config.template_drop_last,
            generator=generator,
            pin_memory=self.device.type == "cuda",
        )
        for images, labels in loader:
            images = images.to(self.device, non_blocking=True)
            yield images.contiguous(memory_format=self.memory_format), labels.to(self.device)
