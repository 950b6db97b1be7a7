"""Schedules, early-stop rules and guards: alone, and in real (tiny) training runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.worker.core.test_trainer import TINY, TINY_STEPS, Recorder
from worker.core.steering import GuardTripped, make_scheduler, stop_rule
from worker.core.trainer import train
from worker.schema.runconfig import RunConfig

EASY = TINY.with_overrides(
    {"dataset": "synthetic-easy", "epochs": 4, "dropout": 0.0, "augmentations": [], "lr": 3e-3}
)  # reaches about 3.5% test accuracy (chance: 1%) in its 4th epoch


def lr_curve(config: RunConfig) -> list[float]:
    """The lr of each epoch as the schedule gives it, on a throwaway optimiser."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    scheduler = make_scheduler(config, optimizer)
    curve = []
    for _ in range(config.epochs):
        curve.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return curve


def test_the_constant_schedule_keeps_the_lr_and_a_warm_up_rises_to_it_linearly() -> None:
    assert lr_curve(RunConfig(lr=0.1, epochs=3)) == [0.1, 0.1, 0.1]
    warm = lr_curve(RunConfig(lr=0.1, epochs=4, warmup_epochs=2))
    assert warm == pytest.approx([0.1 / 3, 0.2 / 3, 0.1, 0.1])


def test_step_cosine_and_one_cycle_shape_the_lr_per_epoch() -> None:
    step = lr_curve(RunConfig(lr=1.0, epochs=5, schedule="step", step_epochs=2, step_gamma=0.5))
    assert step == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25])
    cosine = lr_curve(RunConfig(lr=1.0, epochs=4, schedule="cosine"))
    assert cosine == pytest.approx([1.0, 0.8535534, 0.5, 0.1464466])
    cycle = lr_curve(RunConfig(lr=1.0, epochs=10, schedule="one-cycle", warmup_epochs=3))
    peak = cycle.index(max(cycle))
    assert cycle[0] == pytest.approx(1.0 / 25) and max(cycle) == pytest.approx(1.0)
    assert cycle[: peak + 1] == sorted(cycle[: peak + 1]) and peak == 2
    assert cycle[peak:] == sorted(cycle[peak:], reverse=True)


def test_a_warm_up_as_long_as_the_run_is_refused_naming_its_field() -> None:
    with pytest.raises(ValueError, match="warmup_epochs"):
        RunConfig(epochs=3, warmup_epochs=3)


def test_patience_fires_after_that_many_epochs_without_a_gain_of_min_delta() -> None:
    config = RunConfig(patience=2, min_delta=0.01)
    assert stop_rule(config, [0.10, 0.20, 0.205]) is None  # one epoch without a gain
    assert stop_rule(config, [0.10, 0.20, 0.205, 0.209]) == "patience"
    assert stop_rule(config, [0.10, 0.20, 0.205, 0.22]) is None  # a real gain resets it


def test_a_target_fires_once_reached_and_no_rule_fires_when_none_is_set() -> None:
    assert stop_rule(RunConfig(target_accuracy=0.5), [0.3, 0.5]) == "target"
    assert stop_rule(RunConfig(target_accuracy=0.5), [0.3, 0.49]) is None
    assert stop_rule(RunConfig(), [0.3, 0.3, 0.3, 0.3]) is None


@pytest.mark.slow
def test_a_run_stopped_by_its_target_succeeds_after_that_epoch() -> None:
    result = train(EASY.with_overrides({"target_accuracy": 0.02, "epochs": 8}))

    accuracies = [epoch["test_acc"] for epoch in result.history]
    assert result.status == "succeeded" and result.stopped_by == "target"
    assert result.stopped_epoch == result.epochs_completed == len(accuracies) < 8
    assert accuracies[-1] >= 0.02 and max(accuracies[:-1]) < 0.02


@pytest.mark.slow
def test_patience_stops_a_run_that_cannot_gain_and_spares_one_that_has_epochs_left() -> None:
    stuck = train(EASY.with_overrides({"patience": 1, "min_delta": 1.0}))  # no gain counts
    assert (stuck.stopped_by, stuck.stopped_epoch, len(stuck.history)) == ("patience", 2, 2)

    patient = train(EASY.with_overrides({"patience": 10, "epochs": 2}))
    assert (patient.stopped_by, patient.epochs_completed) == (None, 2)


@pytest.mark.slow
def test_a_resumed_run_follows_the_same_schedule_as_an_uninterrupted_one(tmp_path: Path) -> None:
    config = TINY.with_overrides({"schedule": "cosine", "warmup_epochs": 1, "epochs": 4})
    straight = train(config, checkpoint_dir=tmp_path / "a")
    crashed = Recorder(stop_at_step=2 * TINY_STEPS + 3)  # in epoch 3, after 2 checkpoints
    train(config, on_event=crashed, should_stop=crashed.should_stop, checkpoint_dir=tmp_path / "b")
    resumed = train(config, checkpoint_dir=tmp_path / "b")

    assert resumed.resumed_from_epoch == 2
    lrs = [epoch["lr"] for epoch in straight.history]
    assert [epoch["lr"] for epoch in resumed.history] == lrs
    assert lrs == pytest.approx(lr_curve(config)) and len(set(lrs)) == 4


@pytest.mark.slow
def test_a_config_built_to_diverge_is_stopped_by_the_nonfinite_guard_at_its_step() -> None:
    diverging = TINY.with_overrides({"optimizer": "sgd", "lr": 10.0, "momentum": 0.9})
    recorder = Recorder()
    with pytest.raises(GuardTripped, match=r"the loss was (nan|inf) at step \d+") as caught:
        train(diverging, on_event=recorder)

    steps = [event["global_step"] for event in recorder.of("batch")]
    assert f"at step {steps[-1]} " in str(caught.value)  # the last step reported is the one
    assert steps[-1] < diverging.epochs * TINY_STEPS and not recorder.of("finished")


@pytest.mark.slow
def test_the_divergence_guard_fails_a_loss_above_k_times_its_first_value() -> None:
    diverging = TINY.with_overrides(
        {"optimizer": "sgd", "lr": 10.0, "momentum": 0.9, "guard_divergence": 1.5}
    )
    with pytest.raises(GuardTripped, match=r"above 1.5 x its first value"):
        train(diverging)

    calm = train(TINY.with_overrides({"epochs": 1, "guard_divergence": 1.5}))
    assert calm.epochs_completed == 1
