"""Batched augmentations on images whose pixels say where they came from."""

from __future__ import annotations

import torch

from worker.core.augment import (
    CROP_RESIZE,
    augment,
    crop_batch,
    normalize,
    random_crop,
    random_flip,
    resize,
)


def bright_left_column(batch: int) -> torch.Tensor:
    """(batch, 3, 8, 8) identical images, dark but for a bright left column: flips show."""
    image = torch.zeros(3, 8, 8)
    image[:, :, 0] = 255.0
    image[1, 2, 3] = 100.0  # and an off-centre dot
    return image.expand(batch, 3, 8, 8).clone()


def position_coded(batch: int, side: int) -> torch.Tensor:
    """(batch, 3, side, side): channel 0 holds the row, channel 1 the column, channel 2 both."""
    rows = torch.arange(side, dtype=torch.float32)[:, None].expand(side, side)
    cols = torch.arange(side, dtype=torch.float32)[None, :].expand(side, side)
    image = torch.stack([rows, cols, rows * side + cols])
    return image.expand(batch, 3, side, side).clone()


def test_random_flip_yields_the_image_or_its_exact_mirror_and_both_occur() -> None:
    images = bright_left_column(64)
    original, mirror = images[0], images[0].flip(2)
    out = random_flip(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    is_original = torch.tensor([torch.equal(image, original) for image in out])
    is_mirror = torch.tensor([torch.equal(image, mirror) for image in out])
    assert bool((is_original ^ is_mirror).all())
    assert 10 < int(is_mirror.sum()) < 54  # p = 0.5 over 64 images
    assert torch.equal(mirror[:, :, 7], original[:, :, 0])  # the mirror is a horizontal flip


def test_random_flip_is_reproducible_from_the_generator_seed() -> None:
    images = bright_left_column(32)
    first = random_flip(images, torch.Generator().manual_seed(7))
    second = random_flip(images, torch.Generator().manual_seed(7))
    other = random_flip(images, torch.Generator().manual_seed(8))
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_random_crop_returns_contiguous_windows_with_offsets_from_0_to_8() -> None:
    images = position_coded(2000, 40)
    out = random_crop(images, 32, torch.Generator().manual_seed(1))
    assert out.shape == (2000, 3, 32, 32)
    top = out[:, 0, 0, 0].long()
    left = out[:, 1, 0, 0].long()
    assert int(top.min()) == 0 and int(top.max()) == 8
    assert int(left.min()) == 0 and int(left.max()) == 8
    steps = torch.arange(32, dtype=torch.float32)
    expected_rows = top[:, None, None].float() + steps[None, :, None]
    expected_cols = left[:, None, None].float() + steps[None, None, :]
    assert torch.equal(out[:, 0], expected_rows.expand(2000, 32, 32))
    assert torch.equal(out[:, 1], expected_cols.expand(2000, 32, 32))
    assert torch.equal(out[:, 2], out[:, 0] * 40 + out[:, 1])
    assert len(set(zip(top.tolist(), left.tolist(), strict=True))) > 70  # of 81 offsets


def test_crop_batch_cuts_each_image_at_its_own_offset() -> None:
    images = torch.randn(5, 3, 12, 10)
    top = torch.tensor([0, 1, 2, 4, 4])
    left = torch.tensor([0, 3, 1, 2, 0])
    out = crop_batch(images, top, left, 6)
    assert out.shape == (5, 3, 6, 6)
    for i in range(5):
        t, ll = int(top[i]), int(left[i])
        assert torch.equal(out[i], images[i, :, t : t + 6, ll : ll + 6])


def test_normalize_maps_0_to_minus_1_and_255_to_1() -> None:
    values = torch.tensor([0.0, 127.5, 255.0])
    torch.testing.assert_close(normalize(values), torch.tensor([-1.0, 0.0, 1.0]))


def test_resize_to_224_upsamples_the_batch_and_keeps_size_32_untouched() -> None:
    images = torch.rand(2, 3, 32, 32) * 255
    assert resize(images, 224).shape == (2, 3, 224, 224)
    assert resize(images, 32) is images
    flat = torch.full((2, 3, 32, 32), 77.0)
    torch.testing.assert_close(resize(flat, 224), torch.full((2, 3, 224, 224), 77.0))
    torch.testing.assert_close(resize(flat, 24), torch.full((2, 3, 24, 24), 77.0))


def test_augment_with_no_augmentations_returns_the_images_unchanged() -> None:
    images = torch.rand(4, 3, 32, 32)
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    assert augment(images, (), generator) is images
    assert torch.equal(generator.get_state(), state)  # and draws no random numbers


def test_augment_crop_resizes_to_40_then_crops_back_to_32() -> None:
    images = position_coded(16, 32) * 0 + torch.linspace(0, 255, 32)[None, None, None, :]
    out = augment(images, ("crop",), torch.Generator().manual_seed(3))
    assert out.shape == (16, 3, 32, 32)
    grown = resize(images, CROP_RESIZE)
    for image in out:  # every output is a 32x32 window of the 40x40 resize
        windows = [grown[0, :, t : t + 32, ll : ll + 32] for t in range(9) for ll in range(9)]
        assert any(torch.equal(image, window) for window in windows)


def test_augment_flip_only_mirrors() -> None:
    images = bright_left_column(32)
    out = augment(images, ("flip",), torch.Generator().manual_seed(4))
    assert out.shape == images.shape
    assert all(torch.equal(o, images[0]) or torch.equal(o, images[0].flip(2)) for o in out)
