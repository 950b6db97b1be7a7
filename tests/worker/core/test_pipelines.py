"""The resident and torchvision pipelines: same batches, the template's drop_last, seeded order."""

from __future__ import annotations

import pytest
import torch

from worker.core.data import Split, synthetic_dataset
from worker.core.pipelines import (
    ResidentBatches,
    TorchvisionBatches,
    make_batches,
    memory_format,
)
from worker.schema.runconfig import RunConfig

CPU = torch.device("cpu")
PIPELINES = ["resident", "torchvision"]


def config(**overrides: object) -> RunConfig:
    return RunConfig(dataset="synthetic", loader_workers=0).with_overrides(dict(overrides))


def numbered_split(size: int) -> Split:
    """Images whose every pixel is their index mod 256, labels their index: order shows."""
    index = torch.arange(size)
    images = (index % 256).to(torch.uint8)[:, None, None, None].expand(size, 3, 32, 32)
    return Split(images.contiguous(), index)


def labels_of(batches: object, epoch: int) -> torch.Tensor:
    assert isinstance(batches, ResidentBatches | TorchvisionBatches)
    return torch.cat([labels for _, labels in batches.epoch(epoch)])


def test_make_batches_picks_the_configured_pipeline() -> None:
    split = numbered_split(10)
    assert isinstance(make_batches(split, config(), CPU, True, 4), ResidentBatches)
    tv = make_batches(split, config(pipeline="torchvision"), CPU, True, 4)
    assert isinstance(tv, TorchvisionBatches)


@pytest.mark.parametrize(
    ("size", "batch", "train"), [(300, 64, True), (300, 64, False), (256, 64, True)]
)
def test_both_pipelines_have_the_same_number_of_batches(size: int, batch: int, train: bool) -> None:
    split = numbered_split(size)
    resident = make_batches(split, config(), CPU, train, batch)
    torchvision = make_batches(split, config(pipeline="torchvision"), CPU, train, batch)
    assert len(resident) == len(torchvision) == -(-size // batch)
    assert len(list(resident.epoch(1))) == len(list(torchvision.epoch(1))) == len(resident)


def test_unaugmented_test_batches_match_between_pipelines() -> None:
    split = synthetic_dataset(0, 100, 300).test
    resident = list(make_batches(split, config(), CPU, False, 64).epoch(0))
    torchvision = list(make_batches(split, config(pipeline="torchvision"), CPU, False, 64).epoch(0))
    assert [x.shape[0] for x, _ in resident] == [64, 64, 64, 64, 44]
    assert len(resident) == len(torchvision)
    for (x_res, y_res), (x_tv, y_tv) in zip(resident, torchvision, strict=True):
        assert x_res.dtype == x_tv.dtype == torch.float32
        assert x_res.shape == x_tv.shape
        torch.testing.assert_close(x_res, x_tv, rtol=0, atol=1e-6)
        assert torch.equal(y_res, y_tv)
    everything = torch.cat([x for x, _ in resident])
    assert float(everything.min()) >= -1 and float(everything.max()) <= 1
    torch.testing.assert_close(everything, split.images.float() / 127.5 - 1, rtol=0, atol=1e-6)


def test_unaugmented_test_batches_match_between_pipelines_at_224() -> None:
    split = synthetic_dataset(0, 100, 4).test
    sized = config(architecture="resnet18", image_size=224)
    ((x_res, _),) = make_batches(split, sized, CPU, False, 4).epoch(0)
    ((x_tv, _),) = make_batches(
        split, sized.with_overrides({"pipeline": "torchvision"}), CPU, False, 4
    ).epoch(0)
    assert x_res.shape == x_tv.shape == (4, 3, 224, 224)
    # Bilinear upsampling by torch and by PIL agree up to PIL's 8-bit rounding: one grey
    # level is 2 / 255 after normalising; measured, at most 0.86 levels, 0.27 on average.
    difference = (x_res - x_tv).abs() * 255 / 2
    assert float(difference.max()) <= 1.5
    assert float(difference.mean()) <= 0.5


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_template_drop_last_scores_only_whole_batches(pipeline: str) -> None:
    quirky = config(template_drop_last=True, pipeline=pipeline)
    full_test = numbered_split(10_000)
    assert len(make_batches(full_test, quirky, CPU, False, 256)) == 39
    assert len(make_batches(full_test, config(pipeline=pipeline), CPU, False, 256)) == 40
    split = numbered_split(1_000)
    for train in (True, False):
        batches = make_batches(split, quirky, CPU, train, 96)
        sizes = [x.shape[0] for x, _ in batches.epoch(1)]
        assert len(batches) == 10
        assert sizes == [96] * 10  # 960 of the 1,000 images


def test_resident_drop_last_on_the_full_cifar_test_size_scores_9984_images() -> None:
    batches = make_batches(numbered_split(10_000), config(template_drop_last=True), CPU, False, 256)
    labels = labels_of(batches, 0)
    assert labels.shape == (9_984,)
    assert torch.equal(labels, torch.arange(9_984))


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_the_same_seed_and_epoch_give_the_same_shuffle_and_another_epoch_another(
    pipeline: str,
) -> None:
    split = numbered_split(200)
    batches = make_batches(split, config(pipeline=pipeline, seed=3), CPU, True, 32)
    first = labels_of(batches, 1)
    assert torch.equal(first.sort().values, torch.arange(200))  # a permutation: all, once
    assert not torch.equal(first, torch.arange(200))
    assert torch.equal(labels_of(batches, 1), first)
    again = make_batches(split, config(pipeline=pipeline, seed=3), CPU, True, 32)
    assert torch.equal(labels_of(again, 1), first)  # the order depends on (seed, epoch) only
    assert not torch.equal(labels_of(batches, 2), first)
    other_seed = make_batches(split, config(pipeline=pipeline, seed=4), CPU, True, 32)
    assert not torch.equal(labels_of(other_seed, 1), first)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_images_stay_with_their_labels_through_the_shuffle(pipeline: str) -> None:
    split = numbered_split(100)
    for images, labels in make_batches(split, config(pipeline=pipeline), CPU, True, 16).epoch(5):
        expected = (labels % 256).float() / 127.5 - 1
        torch.testing.assert_close(images[:, 0, 0, 0], expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(images[:, 2, 31, 31], expected, rtol=0, atol=1e-6)


def test_test_split_is_never_shuffled_or_augmented() -> None:
    data = synthetic_dataset(2, 100, 100).test
    split = Split(data.images, torch.arange(100))
    augmented = config(augmentations=("flip", "crop"))
    for pipeline in PIPELINES:
        batches = make_batches(
            split, augmented.with_overrides({"pipeline": pipeline}), CPU, False, 30
        )
        assert torch.equal(labels_of(batches, 7), torch.arange(100))
        images = torch.cat([x for x, _ in batches.epoch(7)])
        torch.testing.assert_close(images, split.images.float() / 127.5 - 1, rtol=0, atol=1e-6)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_augmented_train_batches_are_reproducible_per_epoch(pipeline: str) -> None:
    split = synthetic_dataset(1, 64, 1).train
    # Loader workers are seeded from the epoch's generator; without workers, torchvision's
    # transforms would draw from the process-wide RNG instead.
    workers = 2 if pipeline == "torchvision" else 0
    augmented = config(augmentations=("crop", "flip"), pipeline=pipeline, loader_workers=workers)
    batches = make_batches(split, augmented, CPU, True, 64)
    ((x1, y1),) = batches.epoch(1)
    ((x1_again, y1_again),) = batches.epoch(1)
    ((x2, _),) = batches.epoch(2)
    assert x1.shape == (64, 3, 32, 32)
    assert torch.equal(x1, x1_again) and torch.equal(y1, y1_again)
    assert not torch.equal(x1, x2)
    plain = make_batches(split, config(pipeline=pipeline), CPU, True, 64)
    ((x_plain, y_plain),) = plain.epoch(1)
    assert torch.equal(y_plain, y1)  # same order: augmentation changes pixels only
    assert not torch.allclose(x_plain, x1)


def test_torchvision_pipeline_with_two_workers_yields_the_same_batches_as_with_none() -> None:
    split = numbered_split(96)
    with_workers = make_batches(
        split, config(pipeline="torchvision", loader_workers=2), CPU, True, 32
    )
    without = make_batches(split, config(pipeline="torchvision", loader_workers=0), CPU, True, 32)
    assert torch.equal(labels_of(with_workers, 1), labels_of(without, 1))
    first = torch.cat([x for x, _ in with_workers.epoch(1)])
    torch.testing.assert_close(first, torch.cat([x for x, _ in without.epoch(1)]))


def test_conv_nets_get_channels_last_batches_and_the_mlp_does_not() -> None:
    split = numbered_split(8)
    ((x_cnn, _),) = make_batches(split, config(), CPU, False, 8).epoch(0)
    assert memory_format(config()) == torch.channels_last
    assert x_cnn.is_contiguous(memory_format=torch.channels_last)
    mlp = config(architecture="mlp")
    assert memory_format(mlp) == torch.contiguous_format
    ((x_mlp, _),) = make_batches(split, mlp, CPU, False, 8).epoch(0)
    assert x_mlp.is_contiguous()
