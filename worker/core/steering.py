"""What steers a run besides its optimiser: the lr schedule, early-stop rules and guards.

- The schedule is one of torch.optim.lr_scheduler's, stepped once an epoch after its
  training; its state travels in the checkpoint, so a resumed run follows the same curve.
- Stop rules (patience, target accuracy) are read from the metric history between epochs:
  the history is checkpointed, so a resumed run judges exactly as an uninterrupted one.
- Guards look at each step's loss and end the run at once (a user error: the config
  diverges), instead of burning the rest of its epochs.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch.optim import lr_scheduler

from worker.schema.errors import UserError
from worker.schema.runconfig import RunConfig

StopRule = Literal["patience", "target"]
ONE_CYCLE_DEFAULT_RISE = 0.3  # of the epochs, when no warm-up is given (PyTorch's default)


def make_scheduler(config: RunConfig, optimizer: torch.optim.Optimizer) -> lr_scheduler.LRScheduler:
    """The config's per-epoch schedule over `config.epochs`, warm-up included."""
    warmup, epochs = config.warmup_epochs, config.epochs
    if config.schedule == "one-cycle":  # its own rise from lr/25 to lr is the warm-up
        return lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=config.lr,
            total_steps=epochs,
            pct_start=warmup / epochs if warmup else ONE_CYCLE_DEFAULT_RISE,
            cycle_momentum=False,  # Adam's betas and SGD's momentum stay as configured
        )
    main: lr_scheduler.LRScheduler
    if config.schedule == "step":
        main = lr_scheduler.StepLR(optimizer, config.step_epochs, config.step_gamma)
    elif config.schedule == "cosine":
        main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs - warmup, 1))
    else:  # constant: the homework's way
        main = lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    if not warmup:
        return main
    rise = lr_scheduler.LinearLR(
        optimizer, start_factor=1 / (warmup + 1), end_factor=1.0, total_iters=warmup
    )
    return lr_scheduler.SequentialLR(optimizer, [rise, main], milestones=[warmup])


def stop_rule(config: RunConfig, test_accuracies: list[float]) -> StopRule | None:
    """The rule that ends the run after the latest epoch, given every epoch's test acc
    (fractions 0..1, oldest first), or None to go on."""
    if not test_accuracies:
        return None
    latest = test_accuracies[-1]
    if config.target_accuracy is not None and latest >= config.target_accuracy:
        return "target"
    if config.patience is not None:
        best, since_better = -math.inf, 0
        for accuracy in test_accuracies:
            if accuracy > best + config.min_delta:
                best, since_better = accuracy, 0
            else:
                since_better += 1
        if since_better >= config.patience:
            return "patience"
    return None


class GuardTripped(UserError):
    """A guard ended the run: the message says what loss was seen and at which step."""


class LossGuard:
    """Checks each step's loss against the config's guards; `first` is the run's first
    step loss (kept by the checkpoint, so that divergence means the same after a resume)."""

    def __init__(self, config: RunConfig, first: float | None = None) -> None:
        self.nonfinite = config.guard_nonfinite
        self.factor = config.guard_divergence
        self.first = first

    @property
    def active(self) -> bool:
        return self.nonfinite or self.factor is not None

    def check(self, loss: float, epoch: int, step: int, global_step: int) -> None:
        where = f"at step {global_step} (epoch {epoch}, step {step} of the epoch)"
        if not math.isfinite(loss):
            if self.nonfinite:
                raise GuardTripped(
                    f"guard: the loss was {loss} {where}; the run stopped there. "
                    "A lower lr (or warm-up) usually helps"
                )
            return
        if self.first is None:
            self.first = loss
            return
        if self.factor is not None and loss > self.factor * self.first:
            raise GuardTripped(
                f"guard: the loss reached {loss:.4g} {where}, above {self.factor:g} x its "
                f"first value {self.first:.4g}; the run diverged. A lower lr usually helps"
            )
