"""Training runs end to end on synthetic data: learning, events, results, resume and cancel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from worker.core import checkpoint, runtime
from worker.core.trainer import train
from worker.schema.events import EPOCH_METRICS, RunResult, TrainerEvent
from worker.schema.presets import get_preset
from worker.schema.runconfig import RunConfig

CURVES = ("train_loss", "train_acc", "test_loss", "test_acc")

# A 4c-style network (batch norm and dropout) small enough to train in a second.
TINY = RunConfig(
    widths=(8, 8, 8, 16),
    fc_width=64,
    batch_norm=True,
    dropout=0.5,
    augmentations=("flip", "crop"),
    dataset="synthetic",
    train_subset=600,
    test_subset=200,
    batch_size=64,
    epochs=3,
    device="cpu",
    deterministic=True,
    report_every=1,
)
TINY_STEPS = 10  # ceil(600 / 64)


class Recorder:
    """Collects a run's events; with `stop_at_step=n`, should_stop is true from step n on."""

    def __init__(self, stop_at_step: int | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.stop_at_step = stop_at_step
        self.polls = 0
        self.batches_when_stopped: int | None = None

    def __call__(self, event: TrainerEvent) -> None:
        self.events.append({"kind": event.kind, **event.model_dump()})

    def should_stop(self) -> bool:
        self.polls += 1
        stop = self.stop_at_step is not None and self.polls >= self.stop_at_step
        if stop and self.batches_when_stopped is None:
            self.batches_when_stopped = len(self.of("batch"))
        return stop

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["kind"] == kind]


def curves(result: RunResult) -> list[tuple[float, ...]]:
    return [tuple(epoch[name] for name in ("epoch", *CURVES)) for epoch in result.history]


@pytest.mark.slow
def test_short_synthetic_training_of_point_2_beats_chance_and_reports_everything() -> None:
    config = get_preset("2").config.with_overrides(
        {
            "dataset": "synthetic-easy",  # learns within seconds; the hard set would not
            "train_subset": 3000,
            "test_subset": 500,
            "epochs": 3,
            "device": "cpu",
            "report_every": 4,
        }
    )
    recorder = Recorder()
    result = train(config, on_event=recorder)

    # Chance is 1%; this run reaches about 14%.
    assert result.status == "succeeded"
    assert result.final_test_acc is not None and result.final_test_acc >= 0.05
    assert result.best_test_acc == max(h["test_acc"] for h in result.history)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]

    kinds = [event["kind"] for event in recorder.events]
    assert kinds[0] == "started" and kinds.count("started") == 1
    assert kinds[-1] == "finished" and kinds.count("finished") == 1
    started = recorder.events[0]
    assert started["start_epoch"] == 1 and started["epochs"] == 3
    assert started["steps_per_epoch"] == 12  # ceil(3000 / 256)
    assert (started["train_size"], started["test_size"]) == (3000, 500)
    assert started["parameters"] == 4_647_524
    assert started["device"] == "cpu"
    assert "synthetic" in started["dataset"]

    epochs = recorder.of("epoch")
    assert [event["epoch"] for event in epochs] == [1, 2, 3]
    for event, history in zip(epochs, result.history, strict=True):
        assert set(event["metrics"]) == set(EPOCH_METRICS)
        for name in EPOCH_METRICS:
            assert event["metrics"][name] == history[name]
        assert 0 <= event["metrics"]["train_acc"] <= 1 and 0 <= event["metrics"]["test_acc"] <= 1
        assert event["metrics"]["lr"] == 1e-4
        assert event["metrics"]["images_per_second"] > 0

    batches = recorder.of("batch")
    steps = [event["global_step"] for event in batches]
    assert steps == [4, 8, 12, 16, 20, 24, 28, 32, 36]
    assert [event["step"] for event in batches[:3]] == [4, 8, 12]
    assert all(event["loss"] > 0 for event in batches)

    finished = recorder.events[-1]
    assert finished["status"] == "succeeded"
    assert finished["result"]["final_test_acc"] == result.final_test_acc
    assert finished["result"]["epochs_completed"] == 3

    assert len(result.per_class_accuracy) == 100
    assert all(0 <= accuracy <= 1 for accuracy in result.per_class_accuracy)
    assert len(result.confusion) == 100 and all(len(row) == 100 for row in result.confusion)
    assert sum(map(sum, result.confusion)) == 500
    trace = sum(result.confusion[i][i] for i in range(100))
    assert trace / 500 == pytest.approx(result.final_test_acc)
    assert len(result.confusion_coarse) == 20
    assert all(len(row) == 20 for row in result.confusion_coarse)
    assert sum(map(sum, result.confusion_coarse)) == 500
    coarse_trace = sum(result.confusion_coarse[i][i] for i in range(20))
    assert coarse_trace >= trace  # a right fine class is a right superclass
    assert result.epochs_completed == 3 and result.resumed_from_epoch is None


def test_resumed_run_repeats_the_uninterrupted_curve_exactly(tmp_path: Path) -> None:
    uninterrupted = train(TINY, checkpoint_dir=tmp_path / "a")
    assert uninterrupted.status == "succeeded"
    assert [h["epoch"] for h in uninterrupted.history] == [1.0, 2.0, 3.0]

    crashed = Recorder(stop_at_step=TINY_STEPS + 5)  # halfway through epoch 2
    first = train(
        TINY, on_event=crashed, should_stop=crashed.should_stop, checkpoint_dir=tmp_path / "b"
    )
    assert first.status == "cancelled"
    assert first.epochs_completed == 1
    assert crashed.of("batch")[-1]["epoch"] == 2

    resumed = Recorder()
    second = train(TINY, on_event=resumed, checkpoint_dir=tmp_path / "b")
    started = resumed.of("started")[0]
    assert started["start_epoch"] == 2
    assert second.resumed_from_epoch == 1
    assert [event["epoch"] for event in resumed.of("epoch")] == [2, 3]
    assert resumed.of("batch")[0]["global_step"] == TINY_STEPS + 1
    # The checkpointed epoch's batch losses go out again, in case the crash took them.
    [recovered] = resumed.of("recovered_batches")
    sent_first = [e for e in crashed.of("batch") if e["epoch"] == 1]
    assert recovered["global_step"] == [e["global_step"] for e in sent_first]
    assert recovered["loss"] == [e["loss"] for e in sent_first]
    assert resumed.events.index(recovered) == resumed.events.index(started) + 1

    assert second.status == "succeeded"
    assert [h["epoch"] for h in second.history] == [1.0, 2.0, 3.0]
    assert curves(second) == curves(uninterrupted)  # bit for bit, not approximately
    assert second.confusion == uninterrupted.confusion
    assert second.total_seconds >= first.total_seconds


def test_a_checkpoint_truncated_by_a_crash_is_skipped_and_the_run_resumes_from_the_one_before(
    tmp_path: Path,
) -> None:
    """The newest checkpoint cut short (as a crash mid-write would leave a non-atomic write)
    and a half-written temporary file next to it: the run resumes after the epoch before,
    repeats the uninterrupted curve bit for bit, and the temporary file is cleared away."""
    uninterrupted = train(TINY, checkpoint_dir=tmp_path / "a")
    crashed = Recorder(stop_at_step=2 * TINY_STEPS + 5)  # halfway through epoch 3
    first = train(
        TINY, on_event=crashed, should_stop=crashed.should_stop, checkpoint_dir=tmp_path / "b"
    )
    assert first.epochs_completed == 2
    newest = tmp_path / "b" / checkpoint.CHECKPOINT
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    partial = tmp_path / "b" / f".{checkpoint.CHECKPOINT}.999999.tmp"
    partial.write_bytes(newest.read_bytes()[:4096])

    resumed = Recorder()
    second = train(TINY, on_event=resumed, checkpoint_dir=tmp_path / "b")
    assert resumed.of("started")[0]["start_epoch"] == 2  # epoch 2's checkpoint was unreadable
    assert second.resumed_from_epoch == 1
    assert [event["epoch"] for event in resumed.of("epoch")] == [2, 3]
    assert curves(second) == curves(uninterrupted)
    assert second.confusion == uninterrupted.confusion
    assert not partial.exists()
    saved = checkpoint.load_checkpoint(tmp_path / "b")
    assert saved is not None and saved["epoch"] == 3


def test_a_checkpoint_of_another_config_is_not_resumed(tmp_path: Path) -> None:
    short = TINY.with_overrides({"epochs": 1, "train_subset": 128, "augmentations": ()})
    train(short, checkpoint_dir=tmp_path)
    other = Recorder()
    result = train(short.with_overrides({"lr": 1e-3}), on_event=other, checkpoint_dir=tmp_path)
    assert other.of("started")[0]["start_epoch"] == 1
    assert result.resumed_from_epoch is None
    assert result.epochs_completed == 1


def test_a_finished_run_given_more_epochs_continues_the_same_curve(tmp_path: Path) -> None:
    short = TINY.with_overrides({"epochs": 2, "train_subset": 128})
    straight = train(short, checkpoint_dir=tmp_path / "straight")
    train(short.with_overrides({"epochs": 1}), checkpoint_dir=tmp_path / "extended")
    more = Recorder()
    extended = train(short, on_event=more, checkpoint_dir=tmp_path / "extended")
    assert more.of("started")[0]["start_epoch"] == 2
    assert extended.resumed_from_epoch == 1
    assert curves(extended) == curves(straight)


def test_a_checkpoint_past_the_configs_last_epoch_is_not_resumed(tmp_path: Path) -> None:
    short = TINY.with_overrides({"epochs": 2, "train_subset": 128})
    train(short, checkpoint_dir=tmp_path)
    fewer = Recorder()
    result = train(short.with_overrides({"epochs": 1}), on_event=fewer, checkpoint_dir=tmp_path)
    assert fewer.of("started")[0]["start_epoch"] == 1
    assert result.resumed_from_epoch is None
    assert [h["epoch"] for h in result.history] == [1.0]


def test_a_finished_run_resumed_again_trains_nothing_and_keeps_its_history(
    tmp_path: Path,
) -> None:
    short = TINY.with_overrides({"epochs": 1, "train_subset": 128})
    done = train(short, checkpoint_dir=tmp_path)
    again = Recorder()
    result = train(short, on_event=again, checkpoint_dir=tmp_path)
    assert again.of("batch") == [] and again.of("epoch") == []
    assert result.status == "succeeded"
    assert curves(result) == curves(done)
    assert result.confusion == done.confusion


def test_cancelled_run_stops_within_a_step_and_reports_cancelled() -> None:
    recorder = Recorder(stop_at_step=3)
    result = train(TINY, on_event=recorder, should_stop=recorder.should_stop)
    assert result.status == "cancelled"
    assert recorder.batches_when_stopped == 3
    assert len(recorder.of("batch")) <= recorder.batches_when_stopped + 1
    assert recorder.of("epoch") == []
    finished = recorder.events[-1]
    assert finished["kind"] == "finished" and finished["status"] == "cancelled"
    assert finished["result"]["status"] == "cancelled"
    assert result.epochs_completed == 0 and result.history == []
    assert result.final_test_acc is None and result.confusion == []


def test_train_refuses_a_cuda_device_on_a_cpu_only_machine() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(runtime.DeviceError, match="device"):
        train(TINY.with_overrides({"device": "cuda"}))
    with pytest.raises(runtime.DeviceError, match="device"):
        train(TINY.with_overrides({"device": "cuda:1"}))
