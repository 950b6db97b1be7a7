"""`runboard train`: one run in this process, a progress bar and the template's epoch lines."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from tqdm import tqdm

from worker.config import worker_settings
from worker.schema.events import Batch, Epoch, Finished, Started, TrainerEvent
from worker.schema.presets import get_preset
from worker.schema.runconfig import RunConfig, parse_assignment, validate_config


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The preset's config with --dataset, --epochs and every --set applied, validated once."""
    preset = get_preset(args.preset)
    overrides: dict[str, Any] = {}
    if args.dataset:
        overrides["dataset"] = args.dataset
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    for assignment in args.overrides:
        key, value = parse_assignment(assignment)
        overrides[key] = value
    return validate_config({**preset.config.model_dump(), **overrides})


def epoch_line(epoch: int, steps: int, metrics: dict[str, float]) -> str:
    """The template's `[epoch, step] loss` and whole-percent accuracy, then the extras."""
    template = (
        f"[{epoch}, {steps}] loss: {metrics['train_loss']:.3f}  "
        f"Accuracy of the network on the test set: {int(metrics['test_acc'] * 100)} %"
    )
    extras = (
        f"train acc {metrics['train_acc']:.2%}  test loss {metrics['test_loss']:.3f}  "
        f"test acc {metrics['test_acc']:.2%}  {metrics['images_per_second']:,.0f} img/s  "
        f"{metrics['epoch_seconds']:.1f} s"
    )
    return f"{template}  | {extras}"


class ConsoleReporter:
    """Turns trainer events into a tqdm bar per epoch and one printed line per epoch."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: tqdm[Any] | None = None
        self.steps = 0
        self.done = 0

    def __call__(self, event: TrainerEvent) -> None:
        if isinstance(event, Started):
            self.steps = event.steps_per_epoch
            print(
                f"training on {event.dataset} ({event.train_size or 0:,} train / "
                f"{event.test_size or 0:,} test images), {event.parameters:,} parameters, "
                f"{event.device_name}, {event.precision}"
            )
            if event.start_epoch > 1:
                print(f"resuming from the checkpoint after epoch {event.start_epoch - 1}")
        elif isinstance(event, Batch):
            if self.bar is None and not self.quiet:
                self.bar = tqdm(total=self.steps, desc=f"epoch {event.epoch}", leave=False)
            if self.bar is not None:
                self.bar.update(event.step - self.bar.n)
                self.bar.set_postfix(loss=f"{event.loss:.3f}")
        elif isinstance(event, Epoch):
            self._close_bar()
            tqdm.write(epoch_line(event.epoch, self.steps, event.metrics))
        elif isinstance(event, Finished):
            self._close_bar()

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run_training(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    settings = worker_settings()  # a bad RUNBOARD_* value is refused before torch loads
    from worker.core.trainer import train  # torch loads only once the config is known good

    out = Path(args.out) if args.out else default_out_dir(args.preset, config)
    stop_requested = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        if stop_requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        stop_requested = True
        print("\nstopping after this step (Ctrl-C again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        result = train(
            config,
            on_event=ConsoleReporter(args.quiet),
            should_stop=lambda: stop_requested,
            checkpoint_dir=out,
            data_dir=settings.data_dir,
            download=settings.data_download,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    result_path = out / "result.json"
    result_path.write_text(json.dumps({"preset": args.preset, **result.model_dump()}, indent=1))
    best = f"{result.best_test_acc:.2%}" if result.best_test_acc is not None else "-"
    if result.stopped_by:
        print(f"stopped early by {result.stopped_by} after epoch {result.stopped_epoch}")
    print(
        f"{result.status}: {result.epochs_completed}/{config.epochs} epochs, best test accuracy "
        f"{best}, {result.total_seconds:.1f} s; result in {result_path}"
    )
    return 0 if result.status == "succeeded" else 130


def default_out_dir(preset: str, config: RunConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("var") / "runs" / f"{preset}-{config.dataset}-{stamp}"
