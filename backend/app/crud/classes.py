"""Per-class differences between finished runs: which classes and superclasses gained or
lost most, from the per-class accuracy and the 20x20 confusion matrix each run stores."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from sqlmodel import Session, col, select

from backend.app.crud.errors import Conflict, NotFound
from backend.app.models import Run
from worker.schema.cifar_meta import COARSE_CLASSES, FINE_CLASSES
from worker.schema.status import RunStatus

TOP = 10  # classes listed each way


class ClassChange(BaseModel):
    name: str
    baseline_pct: float | None  # accuracy of the first run, percent
    value_pct: float | None
    change_pp: float


class ClassComparison(BaseModel):
    """One run against the first (the baseline): top gains and losses, largest first."""

    run_id: int
    baseline_id: int
    classes_gained: list[ClassChange]
    classes_lost: list[ClassChange]
    superclasses_gained: list[ClassChange]
    superclasses_lost: list[ClassChange]


class ClassDifferences(BaseModel):
    baseline_id: int
    comparisons: list[ClassComparison]


def superclass_accuracy(confusion: Sequence[Sequence[int]]) -> list[float | None]:
    """Row i of the matrix is true superclass i: its diagonal over its sum (None if empty)."""
    return [row[i] / sum(row) if sum(row) else None for i, row in enumerate(confusion)]


def _changes(
    names: Sequence[str], base: Sequence[float | None], other: Sequence[float | None]
) -> tuple[list[ClassChange], list[ClassChange]]:
    changes = [
        ClassChange(name=name, baseline_pct=100 * b, value_pct=100 * o, change_pp=100 * (o - b))
        for name, b, o in zip(names, base, other, strict=False)
        if b is not None and o is not None
    ]
    gained = sorted((c for c in changes if c.change_pp > 0), key=lambda c: -c.change_pp)
    lost = sorted((c for c in changes if c.change_pp < 0), key=lambda c: c.change_pp)
    return gained[:TOP], lost[:TOP]


def class_differences(session: Session, run_ids: Sequence[int]) -> ClassDifferences:
    runs = {run.id: run for run in session.exec(select(Run).where(col(Run.id).in_(run_ids)))}
    missing = [i for i in run_ids if i not in runs]
    if missing:
        raise NotFound(f"runs {', '.join(map(str, missing))} do not exist")
    for run_id in run_ids:
        run = runs[run_id]
        result = run.result or {}
        if run.status != RunStatus.succeeded or not result.get("per_class_accuracy"):
            raise Conflict(
                f"ids: run {run_id} is {run.status} and has no per-class accuracy; "
                "per-class differences need finished runs"
            )
    base = runs[run_ids[0]].result or {}
    comparisons = []
    for run_id in run_ids[1:]:
        other = runs[run_id].result or {}
        fine = _changes(
            base.get("classes") or FINE_CLASSES,
            base["per_class_accuracy"],
            other["per_class_accuracy"],
        )
        coarse = _changes(
            base.get("coarse_classes") or COARSE_CLASSES,
            superclass_accuracy(base.get("confusion_coarse") or []),
            superclass_accuracy(other.get("confusion_coarse") or []),
        )
        comparisons.append(
            ClassComparison(
                run_id=run_id,
                baseline_id=run_ids[0],
                classes_gained=fine[0],
                classes_lost=fine[1],
                superclasses_gained=coarse[0],
                superclasses_lost=coarse[1],
            )
        )
    return ClassDifferences(baseline_id=run_ids[0], comparisons=comparisons)
