"""The step log a checkpoint keeps: every reported batch loss, resent in bounded chunks."""

from __future__ import annotations

from worker.core.steplog import StepLog
from worker.schema.events import STEP_COLUMNS


def test_recorded_steps_come_back_from_the_saved_state_in_order() -> None:
    log = StepLog()
    for step in range(1, 6):
        log.record(epoch=1 + (step - 1) // 3, step=step, global_step=step, loss=1.0 / step)
    restored = StepLog(log.state())
    [event] = restored.recovered_events()
    assert event.kind == "recovered_batches"
    assert event.global_step == [1, 2, 3, 4, 5]
    assert event.epoch == [1, 1, 1, 2, 2]
    assert event.loss == [1.0, 0.5, 1.0 / 3, 0.25, 0.2]
    assert len(event.time) == 5


def test_many_steps_are_resent_in_chunks_that_cover_each_step_once() -> None:
    log = StepLog()
    for step in range(1, 26):
        log.record(epoch=1, step=step, global_step=step, loss=0.0)
    events = list(log.recovered_events(chunk=10))
    assert [len(event.step) for event in events] == [10, 10, 5]
    assert [s for event in events for s in event.global_step] == list(range(1, 26))


def test_an_empty_log_resends_nothing() -> None:
    assert list(StepLog().recovered_events()) == []


def test_a_saved_state_that_is_not_a_step_log_starts_an_empty_one() -> None:
    ragged = {name: [1] for name in STEP_COLUMNS} | {"loss": []}
    assert len(StepLog(ragged)) == 0
    assert len(StepLog({"epoch": [1]})) == 0
    assert len(StepLog(None)) == 0
