"""Data sets: the two synthetic stand-ins and the offline CIFAR-100 message."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from worker.core.data import (
    CIFAR_ARCHIVE,
    OFFLINE_HINT,
    DataNotFoundError,
    Split,
    SyntheticName,
    load_dataset,
    synthetic_dataset,
)
from worker.core.synthetic import AMBIGUOUS, _ambiguous
from worker.schema.cifar_meta import FINE_TO_COARSE
from worker.schema.runconfig import RunConfig

SYNTHETIC_SETS = ("synthetic", "synthetic-easy")


@pytest.mark.parametrize("name", SYNTHETIC_SETS)
def test_synthetic_set_is_cifar_shaped_uint8_with_balanced_labels(name: SyntheticName) -> None:
    data = synthetic_dataset(0, 500, 300, name)
    assert data.name == f"{name} (seed 0, 500/300)"
    assert data.train.images.shape == (500, 3, 32, 32)
    assert data.test.images.shape == (300, 3, 32, 32)
    assert data.train.images.dtype == torch.uint8
    assert data.train.labels.dtype == torch.int64
    assert torch.equal(torch.bincount(data.train.labels, minlength=100), torch.full((100,), 5))
    assert torch.equal(torch.bincount(data.test.labels, minlength=100), torch.full((100,), 3))
    assert len(data.classes) == 100 and len(data.coarse_classes) == 20
    assert int(data.train.images.min()) < 30 and int(data.train.images.max()) > 225


@pytest.mark.parametrize("name", SYNTHETIC_SETS)
def test_synthetic_set_is_deterministic_per_seed(name: SyntheticName) -> None:
    first, again, other = (
        synthetic_dataset(3, 200, 100, name),
        synthetic_dataset(3, 200, 100, name),
        synthetic_dataset(4, 200, 100, name),
    )
    for split in ("train", "test"):
        a, b, c = getattr(first, split), getattr(again, split), getattr(other, split)
        assert torch.equal(a.images, b.images)
        assert torch.equal(a.labels, b.labels)
        assert not torch.equal(a.images, c.images)
        assert not torch.equal(a.labels, c.labels)


def test_hard_synthetic_test_split_does_not_depend_on_the_train_size() -> None:
    small, large = synthetic_dataset(7, 100, 200), synthetic_dataset(7, 300, 200)
    assert torch.equal(small.test.images, large.test.images)


def test_hard_synthetic_classes_of_a_superclass_look_alike() -> None:
    # Class means over 30 images each: a superclass's five share body shape and colours, so
    # its classes' means lie closer together than those of classes of other superclasses.
    data = synthetic_dataset(0, 3000, 1)
    images, labels = data.train.images.float(), data.train.labels
    means = torch.stack([images[labels == c].mean(0).flatten() for c in range(100)])
    distances = torch.cdist(means, means)  # (100, 100)
    coarse = torch.tensor(FINE_TO_COARSE)
    same = coarse[:, None] == coarse[None, :]
    off_diagonal = ~torch.eye(100, dtype=torch.bool)
    within = distances[same & off_diagonal].mean()
    between = distances[~same].mean()
    assert float(within) < 0.8 * float(between)


def test_hard_synthetic_images_show_a_sibling_class_in_a_share_never_another_superclass() -> None:
    labels = torch.arange(20_000) % 100
    shown = _ambiguous(labels, torch.Generator().manual_seed(0))
    coarse = torch.tensor(FINE_TO_COARSE)
    assert torch.equal(coarse[shown], coarse[labels])  # the superclass always shows
    # The AMBIGUOUS share draws any of the 5 classes, its own included: 4/5 of it differ.
    swapped = float((shown != labels).float().mean())
    assert swapped == pytest.approx(AMBIGUOUS * 4 / 5, abs=0.01)
    assert len(set(shown[labels == 0].tolist())) == 5  # every sibling of class 0 turns up


def test_easy_synthetic_classes_differ_more_between_than_within() -> None:
    data = synthetic_dataset(0, 2000, 100, "synthetic-easy")
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


def test_load_dataset_synthetic_defaults_to_few_images_per_class_and_easy_to_more() -> None:
    hard = load_dataset(RunConfig(dataset="synthetic", test_subset=100))
    assert (len(hard.train), len(hard.test)) == (5_000, 100)  # 50 a class
    easy = load_dataset(RunConfig(dataset="synthetic-easy", test_subset=100))
    assert (len(easy.train), len(easy.test)) == (10_000, 100)
    assert easy.name.startswith("synthetic-easy") and not hard.name.startswith("synthetic-easy")


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
    assert "\n" not in message  # stored as a run's one-line error
    assert message.endswith(OFFLINE_HINT)  # the way on without any download
    assert "data set `synthetic`" in OFFLINE_HINT
    assert list(offline_data.iterdir()) == []  # nothing written, nothing fetched


def test_missing_cifar_under_an_explicit_relative_root_names_its_resolved_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataNotFoundError) as caught:
        load_dataset(RunConfig(dataset="cifar100", train_subset=10), root=Path("nowhere"))
    assert str(tmp_path.resolve() / "nowhere") in str(caught.value)
