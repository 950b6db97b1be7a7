"""The two synthetic data sets, generated from a seed in seconds with batched torch ops.

- `synthetic` (`hard_images`): made hard the way CIFAR-100 is. 100 classes in CIFAR's
  20 superclasses of 5; the 5 classes of a superclass share a body shape and a colour
  mosaic and differ in a part and a few of the mosaic's colours. Each image draws its
  object at a random position, scale, tilt, brightness and mirror image over a cluttered,
  noisy background (other classes' objects, faint); a fifth of the images (in both splits)
  show a class of their label's superclass, as CIFAR-100's ambiguous images do; and
  there are few training images per class, so that networks that memorise overfit,
  convolutions beat a fully connected network (the object moves), and flips and crops help
  (mirror images and shifts are part of the data's own variation). How far each holds is
  measured by `runboard bench story` (docs/benchmarks.md).
- `synthetic-easy` (`easy_images`): a smooth colour field and stripes per class,
  barely shifted: a small CNN reaches ~99% within a few epochs, for tests that need learning.

Train and test images come from separate generators seeded from the seed, so a split does
not depend on the other split's size. Every image is (3, 32, 32) uint8.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from worker.core.augment import crop_batch
from worker.schema.cifar_meta import CIFAR_CHANNELS, CIFAR_SIZE, FINE_TO_COARSE, NUM_CLASSES

SIDE = CIFAR_SIZE
CHUNK = 2048  # images rendered at once: bounds the float32 working memory (~100 MB)
# How each image varies (the hard set). Shifts and scales are of the 32-pixel frame.
SHIFT_PIXELS = 8.0  # object centre moves up to this many pixels each way
SCALE_RANGE = (0.6, 1.3)  # object size relative to its template (crops zoom in 1.25x)
TILT_RADIANS = 0.15  # rotation, each way
BRIGHTNESS = (0.75, 1.15)  # of the object's colours
NOISE_STD = 0.08  # per-pixel Gaussian noise, of the 0..1 range
BODY = (0.45, 0.3)  # body radius: base + how far the rim bends, of the half frame
MOSAIC = 4  # a body's colours: a MOSAIC x MOSAIC grid, smoothed
OWN_CELLS = 0.3  # the share of mosaic cells each class repaints in its own colours
CLUTTER_OBJECTS = 2  # other classes' objects behind the object
CLUTTER_SCALE = (0.4, 0.7)
CLUTTER_OPACITY = 0.5
# The share of images that show a sibling class of their label's superclass (any of its 5,
# their own class included), in both splits: CIFAR-100's own ambiguity. A network can fit
# these only by memorising them, which is what makes the wide CNNs' test accuracy stall
# while their training loss keeps falling; augmentation slows that memorising down.
AMBIGUOUS = 0.2


def hard_images(seed: int, train_size: int, test_size: int) -> tuple[torch.Tensor, ...]:
    """The hard set: (train images, train labels, test images, test labels)."""
    generator = torch.Generator().manual_seed(seed)
    masks, surfaces = _class_templates(generator)  # (100, 1 | 3, 32, 32), floats in [0, 1]
    train = _render_split(masks, surfaces, train_size, _split_generator(seed, 1))
    test = _render_split(masks, surfaces, test_size, _split_generator(seed, 2))
    return (*train, *test)


def easy_images(seed: int, train_size: int, test_size: int) -> tuple[torch.Tensor, ...]:
    """The easy set: (train images, train labels, test images, test labels).

    Each class has a prototype: a smooth random colour field (a 4x4 grid upsampled to 32x32)
    with a class-specific stripe orientation. A sample is its prototype shifted by up to 3
    pixels each way, scaled in brightness and covered in Gaussian noise."""
    generator = torch.Generator().manual_seed(seed)
    prototypes = _easy_prototypes(generator)  # (100, 3, 32, 32) float in [0, 1]
    train = _easy_split(prototypes, train_size, generator)
    test = _easy_split(prototypes, test_size, generator)
    return (*train, *test)


def _split_generator(seed: int, split: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + split)


def _balanced_labels(size: int, generator: torch.Generator) -> torch.Tensor:
    labels = torch.arange(size) % NUM_CLASSES
    return labels[torch.randperm(size, generator=generator)]


def _grid(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates in [-1, 1], (side, side) each: ys, xs."""
    axis = (torch.arange(side, dtype=torch.float32) + 0.5) / side * 2 - 1
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    return ys, xs


def _class_templates(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per class a soft object mask (100, 1, 32, 32) and surface colours (100, 3, 32, 32).

    A superclass's body is a blob: a disc whose rim is bent by smooth noise (lopsided, so
    its mirror image differs), painted with a mosaic of colours (a 4x4 grid, smoothed). Each
    class adds a part (a smaller disc on the rim at its own angle) and repaints a few of the
    mosaic's cells in colours of its own: classes of a superclass look alike."""
    supers = NUM_CLASSES // 5
    coarse = torch.tensor(FINE_TO_COARSE)  # (100,) superclass of each class
    ys, xs = _grid(SIDE)
    radius = torch.sqrt(xs**2 + ys**2)  # (32, 32)
    bend = F.interpolate(
        torch.rand(supers, 1, 5, 5, generator=generator), size=(SIDE, SIDE), mode="bicubic"
    )  # (20, 1, 32, 32): smooth noise that bends each body's rim
    body = torch.sigmoid((BODY[0] + BODY[1] * bend - radius) * 24)  # soft edge, ~1 pixel
    part_angle = torch.rand(NUM_CLASSES, generator=generator) * 2 * math.pi
    part_x = 0.6 * part_angle.cos()[:, None, None]
    part_y = 0.6 * part_angle.sin()[:, None, None]
    part_size = 0.15 + 0.1 * torch.rand(NUM_CLASSES, 1, 1, generator=generator)
    part_distance = torch.sqrt((xs - part_x) ** 2 + (ys - part_y) ** 2)  # (100, 32, 32)
    part = torch.sigmoid((part_size - part_distance) * 24)[:, None]
    masks = torch.maximum(body[coarse], part)  # (100, 1, 32, 32)
    mosaic = torch.rand(supers, 3, MOSAIC, MOSAIC, generator=generator)[coarse]
    own = torch.rand(NUM_CLASSES, 1, MOSAIC, MOSAIC, generator=generator) < OWN_CELLS
    mosaic = torch.where(own, torch.rand(mosaic.shape, generator=generator), mosaic)
    surfaces = F.interpolate(mosaic, size=(SIDE, SIDE), mode="bicubic").clamp(0, 1)
    return masks, surfaces


def _place(
    templates: torch.Tensor, scale: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Templates (n, C, 32, 32) drawn at `scale` (n,), a random shift, tilt and mirror image."""
    n = templates.shape[0]
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (SHIFT_PIXELS * 2 / SIDE)
    tilt = (torch.rand(n, generator=generator) * 2 - 1) * TILT_RADIANS
    mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = tilt.cos() / scale, tilt.sin() / scale
    # theta maps output coordinates to template coordinates: mirror * rotate / scale, shifted
    linear = torch.stack(
        [torch.stack([mirror * cos, mirror * -sin], 1), torch.stack([sin, cos], 1)], 1
    )  # (n, 2, 2)
    offset = -(linear @ shift[:, :, None])  # (n, 2, 1)
    grid = F.affine_grid(torch.cat([linear, offset], 2), [n, 1, SIDE, SIDE], align_corners=False)
    return F.grid_sample(
        templates, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _render_split(
    masks: torch.Tensor, surfaces: torch.Tensor, size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    labels = _balanced_labels(size, generator)
    shown = _ambiguous(labels, generator)  # (size,) the class each image draws
    images = torch.empty(size, CIFAR_CHANNELS, SIDE, SIDE, dtype=torch.uint8)
    for start in range(0, size, CHUNK):
        chunk = shown[start : start + CHUNK]
        n = chunk.shape[0]
        canvas = _background(n, generator)  # (n, 3, 32, 32)
        for _ in range(CLUTTER_OBJECTS):  # other classes' objects, small and faint, behind
            other = torch.randint(0, NUM_CLASSES, (n,), generator=generator)
            scale = _uniform(n, *CLUTTER_SCALE, generator)
            canvas = _paint(
                canvas, masks[other], surfaces[other], scale, CLUTTER_OPACITY, generator
            )
        scale = _uniform(n, *SCALE_RANGE, generator)
        canvas = _paint(canvas, masks[chunk], surfaces[chunk], scale, 1.0, generator)
        noise = NOISE_STD * torch.randn(n, CIFAR_CHANNELS, SIDE, SIDE, generator=generator)
        images[start : start + n] = ((canvas + noise).clamp(0, 1) * 255).round().to(torch.uint8)
    return images, labels


def _ambiguous(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The class each image shows: its label, or for an AMBIGUOUS share of them a class of
    the label's superclass drawn at random (the label's own among the 5)."""
    coarse = torch.tensor(FINE_TO_COARSE)
    siblings = torch.stack([torch.nonzero(coarse == c).flatten() for c in range(20)])  # (20, 5)
    pick = torch.randint(0, siblings.shape[1], labels.shape, generator=generator)
    swap = torch.rand(labels.shape, generator=generator) < AMBIGUOUS
    return torch.where(swap, siblings[coarse[labels], pick], labels)


def _background(n: int, generator: torch.Generator) -> torch.Tensor:
    """Smooth random colour fields with fine blotches, half-saturated: (n, 3, 32, 32)."""
    broad = F.interpolate(
        torch.rand(n, 3, 3, 3, generator=generator), size=(SIDE, SIDE), mode="bicubic"
    )
    blotches = F.interpolate(
        torch.rand(n, 3, 8, 8, generator=generator), size=(SIDE, SIDE), mode="bilinear"
    )
    fields = (0.7 * broad + 0.3 * blotches).clamp(0, 1)
    return 0.5 * fields + 0.5 * fields.mean(1, keepdim=True)


def _paint(
    canvas: torch.Tensor,
    masks: torch.Tensor,
    surfaces: torch.Tensor,
    scale: torch.Tensor,
    opacity: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Objects painted over `canvas` (n, 3, 32, 32) at a random brightness."""
    placed = _place(torch.cat([masks, surfaces], 1), scale, generator)  # (n, 4, 32, 32)
    mask, surface = placed[:, :1] * opacity, placed[:, 1:]
    n = canvas.shape[0]
    brightness = _uniform(n, *BRIGHTNESS, generator)[:, None, None, None]
    return canvas * (1 - mask) + (surface * brightness).clamp(0, 1) * mask


def _easy_prototypes(generator: torch.Generator) -> torch.Tensor:
    classes = NUM_CLASSES
    coarse = torch.rand(classes, CIFAR_CHANNELS, 4, 4, generator=generator)  # (100, 3, 4, 4)
    fields = F.interpolate(coarse, size=(SIDE, SIDE), mode="bicubic", align_corners=False)
    angle = torch.rand(classes, generator=generator) * torch.pi  # stripe direction per class
    frequency = 0.3 + 0.5 * torch.rand(classes, generator=generator)  # radians per pixel
    ys, xs = torch.meshgrid(torch.arange(float(SIDE)), torch.arange(float(SIDE)), indexing="ij")
    phase = xs[None] * angle.cos()[:, None, None] + ys[None] * angle.sin()[:, None, None]
    stripes = torch.sin(phase * frequency[:, None, None])[:, None]  # (100, 1, 32, 32)
    return (0.65 * fields + 0.2 * stripes + 0.1).clamp(0, 1)


def _easy_split(
    prototypes: torch.Tensor, size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    labels = _balanced_labels(size, generator)
    images = torch.empty(size, CIFAR_CHANNELS, SIDE, SIDE, dtype=torch.uint8)
    for start in range(0, size, 4096):  # today's chunking: it decides the random draws
        chunk = labels[start : start + 4096]
        n = chunk.shape[0]
        padded = F.pad(prototypes[chunk], (3, 3, 3, 3), mode="replicate")  # (n, 3, 38, 38)
        top, left = torch.randint(0, 7, (2, n), generator=generator)  # shifts of -3..3 pixels
        base = crop_batch(padded, top, left, SIDE)  # (n, 3, 32, 32)
        brightness = 0.8 + 0.4 * torch.rand(n, 1, 1, 1, generator=generator)
        noise = 0.25 * torch.randn(n, CIFAR_CHANNELS, SIDE, SIDE, generator=generator)
        pixels = (base * brightness + noise).clamp(0, 1) * 255
        images[start : start + n] = pixels.round().to(torch.uint8)
    return images, labels.to(torch.int64)
