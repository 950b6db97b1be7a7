"""CIFAR-100's tables agree with each other and with the counts the networks are built from."""

from __future__ import annotations

from worker.schema.cifar_meta import (
    COARSE_CLASSES,
    FINE_CLASSES,
    FINE_TO_COARSE,
    NUM_CLASSES,
    NUM_SUPERCLASSES,
)


def test_every_fine_class_has_one_superclass_and_every_superclass_five_classes() -> None:
    assert (NUM_CLASSES, NUM_SUPERCLASSES) == (100, 20)
    assert len(set(FINE_CLASSES)) == len(FINE_TO_COARSE) == NUM_CLASSES
    assert len(set(COARSE_CLASSES)) == NUM_SUPERCLASSES
    assert sorted(set(FINE_TO_COARSE)) == list(range(NUM_SUPERCLASSES))
    assert all(FINE_TO_COARSE.count(coarse) == 5 for coarse in range(NUM_SUPERCLASSES))
