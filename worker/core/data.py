"""Data sets as uint8 tensors: torchvision's CIFAR-100 and a learnable synthetic stand-in.

Both come back as `LoadedData`: two `Split`s holding every image as one (N, 3, 32, 32) uint8
tensor on the CPU; the pipelines (`pipelines.py`) turn them into training batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from worker.core.augment import crop_batch
from worker.schema.cifar_meta import (
    CIFAR_CHANNELS,
    CIFAR_SIZE,
    COARSE_CLASSES,
    FINE_CLASSES,
    FINE_TO_COARSE,
    NUM_CLASSES,
)
from worker.schema.errors import UserError
from worker.schema.runconfig import RunConfig

CIFAR_ARCHIVE = "cifar-100-python.tar.gz"
CIFAR_FOLDER = "cifar-100-python"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
SYNTHETIC_TRAIN_SIZE = 10_000  # default sizes of the synthetic set; subsets override them
SYNTHETIC_TEST_SIZE = 2_000


class DataNotFoundError(UserError, RuntimeError):
    """The data set is missing and cannot be downloaded; the message says what to do."""


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # (N, 3, 32, 32) uint8, CPU
    labels: torch.Tensor  # (N,) int64, CPU

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, size: int | None, seed: int) -> Split:
        """A seeded random subset of `size` images (the whole split when None or larger)."""
        if size is None or size >= len(self):
            return self
        generator = torch.Generator().manual_seed(seed)
        keep = torch.randperm(len(self), generator=generator)[:size].sort().values
        return Split(self.images[keep].contiguous(), self.labels[keep].contiguous())


@dataclass(frozen=True)
class LoadedData:
    name: str  # says "synthetic" for the synthetic set, always
    train: Split
    test: Split
    classes: tuple[str, ...] = FINE_CLASSES
    coarse_classes: tuple[str, ...] = COARSE_CLASSES
    fine_to_coarse: tuple[int, ...] = FINE_TO_COARSE


_CACHE: dict[tuple[object, ...], LoadedData] = {}


def load_dataset(config: RunConfig, root: Path | None = None, download: bool = False) -> LoadedData:
    """The config's data set, subsets applied; loaded sets stay cached for later runs.

    CIFAR-100 is read from the folder `root` (the worker's RUNBOARD_DATA_DIR) and, with
    `download`, fetched there when missing; the synthetic set needs neither."""
    if config.dataset in ("synthetic", "synthetic-easy"):
        train_size = config.train_subset or SYNTHETIC_TRAIN_SIZE
        test_size = config.test_subset or SYNTHETIC_TEST_SIZE
        key: tuple[object, ...] = (config.dataset, config.seed, train_size, test_size)
        if key not in _CACHE:
            _CACHE[key] = synthetic_dataset(config.seed, train_size, test_size)
        return _CACHE[key]
    if root is None:
        raise DataNotFoundError(
            "CIFAR-100 needs a data folder and none was given (set RUNBOARD_DATA_DIR)"
        )
    key = ("cifar100", str(root.resolve()))
    if key not in _CACHE:
        _CACHE[key] = cifar100_dataset(root, download)
    full = _CACHE[key]
    if config.train_subset is None and config.test_subset is None:
        return full
    return LoadedData(
        name=f"{full.name} (subset {config.train_subset or 'all'}/{config.test_subset or 'all'})",
        train=full.train.subset(config.train_subset, config.seed),
        test=full.test.subset(config.test_subset, config.seed + 1),
    )


def clear_cache() -> None:
    _CACHE.clear()


def cifar100_dataset(root: Path, download: bool) -> LoadedData:
    """torchvision's CIFAR100 under `root`, downloaded when allowed and missing."""
    from torchvision.datasets import CIFAR100

    has_archive = (root / CIFAR_ARCHIVE).is_file()
    # With the archive present, torchvision's "download" only verifies and extracts it.
    fetch = download or has_archive
    try:
        if fetch:
            root.mkdir(parents=True, exist_ok=True)
        train = CIFAR100(str(root), train=True, download=fetch)
        test = CIFAR100(str(root), train=False, download=fetch)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        why = (
            "downloading is off: RUNBOARD_DATA_DOWNLOAD=0"
            if not fetch
            else f"download failed: {exc}"
        )
        raise DataNotFoundError(
            f"CIFAR-100 is not in {root.resolve()} ({why}); put "
            f"{CIFAR_ARCHIVE} (from {CIFAR_URL}) or its extracted folder {CIFAR_FOLDER}/ there, "
            f"or set RUNBOARD_DATA_DIR to where it is"
        ) from None
    return LoadedData(
        name="cifar100",
        train=_split_from_hwc(train.data, train.targets),
        test=_split_from_hwc(test.data, test.targets),
    )


def _split_from_hwc(images: object, labels: list[int]) -> Split:
    array = torch.as_tensor(images)  # (N, 32, 32, 3) uint8, as the pickles store it
    return Split(array.permute(0, 3, 1, 2).contiguous(), torch.tensor(labels, dtype=torch.int64))


def synthetic_dataset(seed: int, train_size: int, test_size: int) -> LoadedData:
    """A deterministic, learnable, CIFAR-shaped 100-class set generated from `seed`.

    Each class has a prototype: a smooth random colour field (a 4x4 grid upsampled to 32x32)
    with a class-specific stripe orientation. A sample is its prototype shifted by up to 3
    pixels each way, scaled in brightness and covered in Gaussian noise, so the classes
    overlap enough that accuracy grows over epochs yet a small CNN beats chance in seconds.
    """
    generator = torch.Generator().manual_seed(seed)
    prototypes = _class_prototypes(generator)  # (100, 3, 32, 32) float in [0, 1]
    train = _synthetic_split(prototypes, train_size, generator)
    test = _synthetic_split(prototypes, test_size, generator)
    return LoadedData(
        name=f"synthetic (seed {seed}, {train_size}/{test_size})", train=train, test=test
    )


def _class_prototypes(generator: torch.Generator) -> torch.Tensor:
    classes, side = NUM_CLASSES, CIFAR_SIZE
    coarse = torch.rand(classes, CIFAR_CHANNELS, 4, 4, generator=generator)  # (100, 3, 4, 4)
    fields = F.interpolate(coarse, size=(side, side), mode="bicubic", align_corners=False)
    angle = torch.rand(classes, generator=generator) * torch.pi  # stripe direction per class
    frequency = 0.3 + 0.5 * torch.rand(classes, generator=generator)  # radians per pixel
    ys, xs = torch.meshgrid(torch.arange(float(side)), torch.arange(float(side)), indexing="ij")
    phase = xs[None] * angle.cos()[:, None, None] + ys[None] * angle.sin()[:, None, None]
    stripes = torch.sin(phase * frequency[:, None, None])[:, None]  # (100, 1, 32, 32)
    return (0.65 * fields + 0.2 * stripes + 0.1).clamp(0, 1)


def _synthetic_split(prototypes: torch.Tensor, size: int, generator: torch.Generator) -> Split:
    classes = prototypes.shape[0]
    labels = torch.arange(size) % classes  # balanced classes
    labels = labels[torch.randperm(size, generator=generator)]
    side = CIFAR_SIZE
    images = torch.empty(size, CIFAR_CHANNELS, side, side, dtype=torch.uint8)
    for start in range(0, size, 4096):  # chunks bound the float32 working memory
        chunk = labels[start : start + 4096]
        n = chunk.shape[0]
        padded = F.pad(prototypes[chunk], (3, 3, 3, 3), mode="replicate")  # (n, 3, 38, 38)
        top, left = torch.randint(0, 7, (2, n), generator=generator)  # shifts of -3..3 pixels
        base = crop_batch(padded, top, left, side)  # (n, 3, 32, 32)
        brightness = 0.8 + 0.4 * torch.rand(n, 1, 1, 1, generator=generator)
        noise = 0.25 * torch.randn(n, CIFAR_CHANNELS, side, side, generator=generator)
        pixels = (base * brightness + noise).clamp(0, 1) * 255
        images[start : start + n] = pixels.round().to(torch.uint8)
    return Split(images, labels.to(torch.int64))
