"""Data sets as uint8 tensors: torchvision's CIFAR-100 and two synthetic stand-ins.

Both come back as `LoadedData`: two `Split`s holding every image as one (N, 3, 32, 32) uint8
tensor on the CPU; the pipelines (`pipelines.py`) turn them into training batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from worker.core.synthetic import easy_images, hard_images
from worker.schema.cifar_meta import COARSE_CLASSES, FINE_CLASSES, FINE_TO_COARSE
from worker.schema.errors import UserError
from worker.schema.runconfig import RunConfig

CIFAR_ARCHIVE = "cifar-100-python.tar.gz"
CIFAR_FOLDER = "cifar-100-python"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
SyntheticName = Literal["synthetic", "synthetic-easy"]
# Default (train, test) sizes of the synthetic sets; subsets override them. The hard set has
# few training images per class on purpose (50, CIFAR-100 has 500), for wide networks to
# overfit, and 5,000 test images so that an accuracy is known to ~0.7 points (one std).
SYNTHETIC_SIZES: dict[str, tuple[int, int]] = {
    "synthetic": (5_000, 5_000),
    "synthetic-easy": (10_000, 2_000),
}


# The last sentence of every missing-CIFAR message: what works with no download at all.
OFFLINE_HINT = (
    "Offline? Launch on the data set `synthetic` instead (dataset=synthetic): a CIFAR-like "
    "100-class set generated here, no download needed"
)


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
    name: str  # starts with "synthetic" for both synthetic sets, always
    train: Split
    test: Split
    classes: tuple[str, ...] = FINE_CLASSES
    coarse_classes: tuple[str, ...] = COARSE_CLASSES
    fine_to_coarse: tuple[int, ...] = FINE_TO_COARSE


_CACHE: dict[tuple[object, ...], LoadedData] = {}


def load_dataset(config: RunConfig, root: Path | None = None, download: bool = False) -> LoadedData:
    """The config's data set, subsets applied; loaded sets stay cached for later runs.

    CIFAR-100 is read from the folder `root` (the worker's RUNBOARD_DATA_DIR) and, with
    `download`, fetched there when missing; the synthetic sets need neither."""
    if config.dataset in ("synthetic", "synthetic-easy"):
        train_default, test_default = SYNTHETIC_SIZES[config.dataset]
        train_size = config.train_subset or train_default
        test_size = config.test_subset or test_default
        key: tuple[object, ...] = (config.dataset, config.seed, train_size, test_size)
        if key not in _CACHE:
            _CACHE[key] = synthetic_dataset(config.seed, train_size, test_size, config.dataset)
        return _CACHE[key]
    if root is None:
        raise DataNotFoundError(
            "CIFAR-100 needs a data folder and none was given (set RUNBOARD_DATA_DIR). "
            + OFFLINE_HINT
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
            f"or set RUNBOARD_DATA_DIR to where it is. {OFFLINE_HINT}"
        ) from None
    return LoadedData(
        name="cifar100",
        train=_split_from_hwc(train.data, train.targets),
        test=_split_from_hwc(test.data, test.targets),
    )


def _split_from_hwc(images: object, labels: list[int]) -> Split:
    array = torch.as_tensor(images)  # (N, 32, 32, 3) uint8, as the pickles store it
    return Split(array.permute(0, 3, 1, 2).contiguous(), torch.tensor(labels, dtype=torch.int64))


def synthetic_dataset(
    seed: int, train_size: int, test_size: int, name: SyntheticName = "synthetic"
) -> LoadedData:
    """A deterministic CIFAR-shaped 100-class set generated from `seed` (see synthetic.py).

    `synthetic` is hard the way CIFAR-100 is; `synthetic-easy` is learnt within seconds."""
    render = easy_images if name == "synthetic-easy" else hard_images
    train_images, train_labels, test_images, test_labels = render(seed, train_size, test_size)
    return LoadedData(
        name=f"{name} (seed {seed}, {train_size}/{test_size})",
        train=Split(train_images, train_labels),
        test=Split(test_images, test_labels),
    )
