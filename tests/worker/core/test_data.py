"""Data sets: the synthetic stand-in and the offline CIFAR-100 message."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from worker.core.data import (
    CIFAR_ARCHIVE,
    DataNotFoundError,
    Split,
    load_dataset,
    synthetic_dataset,
)
from worker.schema.runconfig import RunConfig


def test_synthetic_set_is_cifar_shaped_uint8_with_balanced_labels() -> None:
    data = synthetic_dataset(0, 500, 300)
    assert "synthetic" in data.name
    assert data.train.images.shape == (500, 3, 32, 32)
    assert data.test.images.shape == (300, 3, 32, 32)
    assert data.train.images.dtype == torch.uint8
    assert data.train.labels.dtype == torch.int64
    assert torch.equal(torch.bincount(data.train.labels, minlength=100), torch.full((100,), 5))
    assert torch.equal(torch.bincount(data.test.labels, minlength=100), torch.full((100,), 3))
    assert len(data.classes) == 100 and len(data.coarse_classes) == 20
    assert int(data.train.images.min()) < 30 and int(data.train.images.max()) > 225


def test_synthetic_set_is_deterministic_per_seed() -> None:
    first, again, other = (
        synthetic_dataset(3, 200, 100),
        synthetic_dataset(3, 200, 100),
        synthetic_dataset(4, 200, 100),
    )
    for split in ("train", "test"):
        a, b, c = getattr(first, split), getattr(again, split), getattr(other, split)
        assert torch.equal(a.images, b.images)
        assert torch.equal(a.labels, b.labels)
        assert not torch.equal(a.images, c.images)
        assert not torch.equal(a.labels, c.labels)


def test_synthetic_classes_differ_more_between_than_within() -> None:
    data = synthetic_dataset(0, 2000, 100)
    images, labels = data.train.images.float(), data.train.labels
    means = torch.stack([images[labels == c].mean(0) for c in range(100)])  # (100, 3, 32, 32)
    within = (images - means[labels]).pow(2).mean()
    between = (means - means.mean(0)).pow(2).mean()
    assert float(between) > 0.25 * float(within)  # learnable: a class signal above the noise


def test_load_dataset_uses_the_subsets_as_synthetic_sizes_and_caches() -> None:
    config = RunConfig(dataset="synthetic", train_subset=300, test_subset=200, seed=5)
    data = load_dataset(config)
    assert (len(data.train), len(data.test)) == (300, 200)
    assert "synthetic" in data.name
    assert load_dataset(config) is data
    assert torch.equal(data.train.images, synthetic_dataset(5, 300, 200).train.images)


def test_load_dataset_synthetic_defaults_to_ten_thousand_and_two_thousand() -> None:
    data = load_dataset(RunConfig(dataset="synthetic", test_subset=100))
    assert (len(data.train), len(data.test)) == (10_000, 100)


def test_split_subset_is_a_seeded_subset_of_the_split() -> None:
    split = Split(torch.arange(50, dtype=torch.uint8)[:, None, None, None], torch.arange(50))
    part = split.subset(20, seed=1)
    assert len(part) == 20
    assert torch.equal(part.labels, part.labels.sort().values)  # original order kept
    assert torch.equal(part.images.flatten().long(), part.labels)  # images stay with labels
    assert torch.equal(split.subset(20, seed=1).labels, part.labels)
    assert not torch.equal(split.subset(20, seed=2).labels, part.labels)
    assert split.subset(None, seed=1) is split and split.subset(50, seed=1) is split


def test_missing_cifar_without_download_names_the_directory_and_archive(
    offline_data: Path,
) -> None:
    with pytest.raises(DataNotFoundError) as caught:
        load_dataset(RunConfig(dataset="cifar100"), root=offline_data, download=False)
    message = str(caught.value)
    assert str(offline_data.resolve()) in message
    assert CIFAR_ARCHIVE == "cifar-100-python.tar.gz"
    assert CIFAR_ARCHIVE in message
    assert "RUNBOARD_DATA_DOWNLOAD=0" in message
    assert list(offline_data.iterdir()) == []  # nothing written, nothing fetched


def test_missing_cifar_under_an_explicit_relative_root_names_its_resolved_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataNotFoundError) as caught:
        load_dataset(RunConfig(dataset="cifar100", train_subset=10), root=Path("nowhere"))
    assert str(tmp_path.resolve() / "nowhere") in str(caught.value)
