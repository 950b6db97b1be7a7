"""The report card: what represents each homework point here, against the report's figures.

A point is represented by its pinned run or group, else by its best finished candidate on
CIFAR-100, else on a synthetic set (labelled so). Candidates are finished runs of the point
and replicate groups (every run of the point): a replicate's runs count only as their
group, so one lucky seed does not stand for the point.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from backend.app.core.stats import WITHIN_PP, band, summarize, time_to_accuracy, verdict, welch
from backend.app.crud.errors import Conflict, NotFound
from backend.app.crud.replicas import EpochLists, epoch_lists
from backend.app.crud.report_models import (
    PARENTS,
    Effect,
    ReportCard,
    ReportCurve,
    ReportReference,
    ReportRow,
    Representative,
    TimeToReport,
)
from backend.app.models import Group, ReportPin, Run
from worker.schema.presets import Preset, all_presets
from worker.schema.status import RunStatus


@dataclass
class Candidate:
    kind: Literal["run", "group"]
    id: int
    name: str
    runs: list[Run]
    pinned: bool = False

    @property
    def counted(self) -> list[Run]:
        """The finished runs when any, else the live ones (a pinned group still training)."""
        done = [run for run in self.runs if run.status == RunStatus.succeeded]
        return done or [run for run in self.runs if run.status == RunStatus.running]

    @property
    def dataset(self) -> str:
        names = {str(run.config.get("dataset", "")) for run in self.runs}
        return names.pop() if len(names) == 1 else "mixed"

    @property
    def score(self) -> float:
        values = [run.final_test_acc for run in self.counted if run.final_test_acc is not None]
        return sum(values) / len(values) if values else -1.0


def _all_runs(session: Session) -> list[Run]:
    query = select(Run).where(col(Run.preset).is_not(None)).options(defer(Run.result))  # type: ignore[arg-type]
    return list(session.exec(query.order_by(col(Run.id))))


def _candidates(runs: Sequence[Run], groups: dict[int, str]) -> dict[str, list[Candidate]]:
    members: dict[int, list[Run]] = defaultdict(list)
    for run in runs:
        if run.group_id is not None:
            members[run.group_id].append(run)
    replicate = {gid for gid, rs in members.items() if len({r.preset for r in rs}) == 1}
    out: dict[str, list[Candidate]] = defaultdict(list)
    for gid in sorted(replicate):
        rs = members[gid]
        if any(r.status == RunStatus.succeeded for r in rs):
            out[rs[0].preset or ""].append(Candidate("group", gid, groups.get(gid, ""), rs))
    for run in runs:
        if run.status == RunStatus.succeeded and run.group_id not in replicate:
            assert run.id is not None
            out[run.preset or ""].append(Candidate("run", run.id, run.name, [run]))
    return out


def _best(candidates: list[Candidate]) -> Candidate | None:
    real = [c for c in candidates if c.dataset == "cifar100"]
    pool = real or candidates
    return max(pool, key=lambda c: (c.score, c.id), default=None)


def _pinned(pin: ReportPin, runs: Sequence[Run], groups: dict[int, str]) -> Candidate:
    if pin.group_id is not None:
        rs = [run for run in runs if run.group_id == pin.group_id]
        return Candidate("group", pin.group_id, groups.get(pin.group_id, ""), rs, pinned=True)
    run = next(run for run in runs if run.id == pin.run_id)
    return Candidate("run", run.id or 0, run.name, [run], pinned=True)


def _reference(preset: Preset) -> ReportReference:
    ref = preset.reference
    return ReportReference(
        final_accuracy_pct=ref.final_accuracy,
        final_train_loss=ref.final_loss,
        training_seconds=None if ref.minutes is None else ref.minutes * 60,
        accuracy_pct=ref.accuracy,
        train_loss=ref.loss,
    )


def _row(
    preset: Preset, chosen: Candidate | None, parent: Candidate | None, lists: dict[int, EpochLists]
) -> ReportRow:
    counted = chosen.counted if chosen else []
    series = [lists.get(run.id or 0, {}) for run in counted]
    final = summarize([run.final_test_acc for run in counted])
    reference = preset.reference.final_accuracy
    threshold = None if reference is None else reference / 100
    times = [
        time_to_accuracy(s.get("test_acc", []), s.get("epoch_seconds", []), threshold)
        for s in series
    ]
    reached = [t for t in times if t.epoch is not None]
    effect = None
    if parent_id := PARENTS.get(preset.id):
        mine = [run.final_test_acc for run in counted]
        theirs = [run.final_test_acc for run in (parent.counted if parent else [])]
        effect = Effect(against=parent_id, **welch(mine, theirs).model_dump())
    return ReportRow(
        point=preset.id,
        title=preset.title,
        reference=_reference(preset),
        representative=None
        if chosen is None
        else Representative(
            kind=chosen.kind,
            id=chosen.id,
            name=chosen.name,
            dataset=chosen.dataset,
            pinned=chosen.pinned,
            run_ids=[run.id or 0 for run in chosen.runs],
            counted_ids=[run.id or 0 for run in counted],
        ),
        final_test_acc=final,
        best_test_acc=summarize([run.best_test_acc for run in counted]),
        final_train_loss=summarize([run.final_train_loss for run in counted]),
        training_seconds=summarize([run.duration_s for run in counted]),
        images_per_second=summarize([run.images_per_second for run in counted]),
        difference_pp=None
        if final.mean is None or reference is None
        else 100 * final.mean - reference,
        verdict=verdict(final.mean, reference),
        time_to_report=TimeToReport(
            threshold=threshold,
            reached=len(reached),
            epochs=summarize([t.epoch for t in reached]),
            seconds=summarize([t.seconds for t in reached]),
        ),
        effect=effect,
        curve=ReportCurve(
            test_acc=[s.mean for s in band([s.get("test_acc", []) for s in series])],
            train_loss=[s.mean for s in band([s.get("train_loss", []) for s in series])],
        ),
    )


def report_card(session: Session) -> ReportCard:
    runs = _all_runs(session)
    groups = {g.id or 0: g.name for g in session.exec(select(Group))}
    pins = {pin.point: pin for pin in session.exec(select(ReportPin))}
    candidates = _candidates(runs, groups)
    chosen: dict[str, Candidate | None] = {}
    for point in all_presets():
        pin = pins.get(point)
        chosen[point] = _pinned(pin, runs, groups) if pin else _best(candidates.get(point, []))
    ids = {run.id or 0 for c in chosen.values() if c for run in c.counted}
    lists = epoch_lists(session, sorted(ids)) if ids else {}
    rows = [
        _row(preset, chosen[point], chosen.get(PARENTS.get(point, "")), lists)
        for point, preset in all_presets().items()
    ]
    return ReportCard(within_pp=WITHIN_PP, rows=rows)


def pin(session: Session, point: str, run_id: int | None, group_id: int | None) -> ReportPin:
    """Pin a run or a group to `point`; it must be of that point (409 naming the field)."""
    if run_id is not None:
        run = session.get(Run, run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist")
        if run.preset != point:
            raise Conflict(f"run_id: run {run_id} is of point {run.preset}, not {point}")
    else:
        if session.get(Group, group_id) is None:
            raise NotFound(f"group {group_id} does not exist")
        query = select(Run.preset).where(Run.group_id == group_id).distinct()
        presets = sorted(str(p) for p in session.exec(query))
        if presets != [point]:
            raise Conflict(
                f"group_id: group {group_id} has runs of point(s) {', '.join(presets)}; "
                f"a pin to point {point} needs every run to be of it"
            )
    row = session.get(ReportPin, point) or ReportPin(point=point)
    row.run_id, row.group_id = run_id, group_id
    row.pinned_at = ReportPin(point=point).pinned_at
    session.add(row)
    session.flush()
    return row


def unpin(session: Session, point: str) -> None:
    row = session.get(ReportPin, point)
    if row is not None:
        session.delete(row)
        session.flush()
