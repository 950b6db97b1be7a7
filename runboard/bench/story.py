"""`runboard bench story`: does the hard synthetic set tell the homework's story?

Trains each homework point with its own config (widths, batch size, lr, augmentations as
the preset has them) on the `synthetic` set, with the epochs cut and the test split's size
CPU-friendly, then prints per point the final train and test accuracy and their gap and
checks the orderings that CIFAR-100 shows in the report:
- the MLP (1) ends clearly below the CNN (2);
- the wide CNNs (3a-c) fit the training set far better than the test set, their test
  accuracy stalling over the last epochs while their training loss keeps falling;
- BatchNorm (4a) learns faster (higher test accuracy early) and ends higher than 3a;
- flips (5a) and crops (5b) narrow 3a's generalisation gap and end higher than 3a;
- no point ends near 100% or near chance (1%).
Train accuracy is the trainer's own: measured during the epoch, on augmented images.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from runboard.bench.record import banner, describe, save
from worker.core import runtime
from worker.core.data import load_dataset
from worker.core.trainer import train
from worker.schema.errors import InvalidInputError
from worker.schema.events import Epoch, TrainerEvent
from worker.schema.presets import all_presets, get_preset

CLEARLY = 0.03  # "clearly below": at least 3 points of test accuracy
FAR_BETTER = 0.25  # "far better": train accuracy at least 25 points above test accuracy
STALL = 0.03  # test accuracy gains less than this over the last third of the epochs...
STILL_FALLING = 0.8  # ...while the training loss falls below this share of its value then
NEAR_CHANCE = 0.05  # 5x chance
NEAR_PERFECT = 0.9


@dataclass(frozen=True)
class Outcome:
    """One point's curves: per epoch train loss, train accuracy and test accuracy."""

    preset: str
    train_loss: list[float]
    train_acc: list[float]
    test_acc: list[float]
    seconds: float

    @property
    def final_train(self) -> float:
        return self.train_acc[-1]

    @property
    def final_test(self) -> float:
        return self.test_acc[-1]

    @property
    def gap(self) -> float:
        return self.final_train - self.final_test


def _point_order(point: str) -> int:
    return list(all_presets()).index(point)


def _limit_threads(threads: int) -> None:
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class Check:
    name: str
    holds: bool
    detail: str


def train_point(preset_id: str, overrides: dict[str, Any]) -> Outcome:
    """One homework point on the synthetic set: its own config plus `overrides`."""
    config = get_preset(preset_id).config.with_overrides({"dataset": "synthetic", **overrides})
    rows: list[dict[str, float]] = []

    def on_event(event: TrainerEvent) -> None:
        if isinstance(event, Epoch):
            rows.append(event.metrics)

    started = time.perf_counter()
    train(config, on_event, data=load_dataset(config))
    return Outcome(
        preset=preset_id,
        train_loss=[row["train_loss"] for row in rows],
        train_acc=[row["train_acc"] for row in rows],
        test_acc=[row["test_acc"] for row in rows],
        seconds=time.perf_counter() - started,
    )


def _stalls(outcome: Outcome) -> tuple[bool, str]:
    """Test accuracy stalls over the last third of the epochs while train loss falls."""
    start = len(outcome.test_acc) - max(2, len(outcome.test_acc) // 3)
    start = max(start, 0)
    gain = outcome.final_test - outcome.test_acc[start]
    loss_ratio = outcome.train_loss[-1] / outcome.train_loss[start]
    holds = gain < STALL and loss_ratio < STILL_FALLING
    return holds, f"from epoch {start + 1}: test {gain:+.1%}, train loss x{loss_ratio:.2f}"


def check_story(outcomes: dict[str, Outcome]) -> list[Check]:
    """Each ordering whose points were trained, and whether it holds."""
    checks: list[Check] = []

    def add(name: str, needs: tuple[str, ...], test: Callable[[], tuple[bool, str]]) -> None:
        if all(point in outcomes for point in needs):
            holds, detail = test()
            checks.append(Check(name, holds, detail))

    def mlp_below_cnn() -> tuple[bool, str]:
        mlp, cnn = outcomes["1"].final_test, outcomes["2"].final_test
        return cnn - mlp >= CLEARLY, f"test 1 {mlp:.1%} vs 2 {cnn:.1%}"

    add("MLP (1) clearly below CNN (2)", ("1", "2"), mlp_below_cnn)
    for wide in ("3a", "3b", "3c"):

        def overfits(wide: str = wide) -> tuple[bool, str]:
            outcome = outcomes[wide]
            stalls, how = _stalls(outcome)
            return outcome.gap >= FAR_BETTER and stalls, f"gap {outcome.gap:.1%}; {how}"

        add(f"{wide} fits train far better than test, test stalls", (wide,), overfits)

    def batch_norm() -> tuple[bool, str]:
        base, normed = outcomes["3a"], outcomes["4a"]
        early = max(0, len(base.test_acc) // 4 - 1)  # the end of the first quarter
        faster = normed.test_acc[early] > base.test_acc[early]
        higher = normed.final_test > base.final_test
        return faster and higher, (
            f"epoch {early + 1}: 4a {normed.test_acc[early]:.1%} vs 3a {base.test_acc[early]:.1%}"
            f"; final 4a {normed.final_test:.1%} vs 3a {base.final_test:.1%}"
        )

    add("BatchNorm (4a) learns faster and ends higher than 3a", ("3a", "4a"), batch_norm)
    for augmented, how in (("5a", "flips"), ("5b", "crops")):

        def augments(point: str = augmented) -> tuple[bool, str]:
            base, aug = outcomes["3a"], outcomes[point]
            holds = aug.gap < base.gap and aug.final_test > base.final_test
            return holds, (
                f"gap {aug.gap:.1%} vs 3a {base.gap:.1%}; "
                f"test {aug.final_test:.1%} vs 3a {base.final_test:.1%}"
            )

        add(f"{how} ({augmented}) narrow the gap and end higher than 3a", ("3a", augmented),
            augments)  # fmt: skip

    def no_extremes() -> tuple[bool, str]:
        finals = {point: outcome.final_test for point, outcome in outcomes.items()}
        low, high = min(finals.values()), max(finals.values())
        holds = low > NEAR_CHANCE and high < NEAR_PERFECT
        return holds, f"test accuracy from {low:.1%} to {high:.1%}"

    add(f"no point near chance (<{NEAR_CHANCE:.0%}) or 100% (>{NEAR_PERFECT:.0%})", (),
        no_extremes)  # fmt: skip
    return checks


def story_table(outcomes: dict[str, Outcome]) -> list[str]:
    lines = [f"{'point':<6} {'train acc':>9} {'test acc':>9} {'gap':>7} {'best test':>9} "
             f"{'epochs':>6} {'seconds':>8}"]  # fmt: skip
    for point, outcome in outcomes.items():
        lines.append(
            f"{point:<6} {outcome.final_train:>9.1%} {outcome.final_test:>9.1%} "
            f"{outcome.gap:>7.1%} {max(outcome.test_acc):>9.1%} "
            f"{len(outcome.test_acc):>6} {outcome.seconds:>8.0f}"
        )
    return lines


def merged_outcomes(paths: list[str], settings: dict[str, Any]) -> dict[str, Outcome]:
    """The points of earlier story runs' JSON files, refused unless trained alike."""
    outcomes: dict[str, Outcome] = {}
    for path in paths:
        report = json.loads(Path(path).read_text())
        theirs = {k: v for k, v in report["settings"].items() if k != "presets"}
        if theirs != settings:
            raise InvalidInputError(f"--merge {path}: trained with {theirs}, not {settings}")
        for point, row in report["points"].items():
            outcomes[point] = Outcome(
                point, row["train_loss"], row["train_acc"], row["test_acc"], row["seconds"]
            )
    return outcomes


def _print_point(outcome: Outcome) -> None:
    print(
        f"point {outcome.preset:<4} train {outcome.final_train:6.1%}  "
        f"test {outcome.final_test:6.1%}  ({outcome.seconds:.0f} s; test by epoch: "
        + " ".join(f"{acc:.0%}" for acc in outcome.test_acc) + ")",
        flush=True,
    )  # fmt: skip


def run_story_bench(args: argparse.Namespace) -> int:
    preset_ids = [p.strip() for p in args.presets.split(",") if p.strip()]
    overrides: dict[str, Any] = {"device": args.device, "epochs": args.epochs}
    if args.train_subset:
        overrides["train_subset"] = args.train_subset
    if args.test_subset:
        overrides["test_subset"] = args.test_subset
    print(banner(describe()), flush=True)
    outcomes = merged_outcomes(args.merge, overrides)
    if args.jobs == 1:
        for preset_id in preset_ids:
            outcomes[preset_id] = train_point(preset_id, overrides)
            _print_point(outcomes[preset_id])
    else:  # points in parallel processes, each with its share of the CPU threads
        threads = max(1, torch.get_num_threads() // args.jobs)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, context, _limit_threads, (threads,)) as pool:
            futures = {p: pool.submit(train_point, p, overrides) for p in preset_ids}
            for preset_id, future in futures.items():
                outcomes[preset_id] = future.result()
                _print_point(outcomes[preset_id])
    outcomes = {p: outcomes[p] for p in sorted(outcomes, key=_point_order)}
    checks = check_story(outcomes)
    print()
    print("\n".join(story_table(outcomes)))
    print()
    for check in checks:
        print(f"{'holds ' if check.holds else 'FAILS '} {check.name}: {check.detail}")
    device = runtime.resolve_device(args.device)
    report = {
        "benchmark": "story",
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {
            **describe(),
            "device": str(device),
            "device_name": runtime.device_name(device),
            "torch_threads": torch.get_num_threads(),
            **runtime.versions(),
        },
        "settings": {"presets": list(outcomes), **overrides},
        "points": {
            point: {
                "train_loss": outcome.train_loss,
                "train_acc": outcome.train_acc,
                "test_acc": outcome.test_acc,
                "gap": outcome.gap,
                "seconds": outcome.seconds,
            }
            for point, outcome in outcomes.items()
        },
        "checks": [{"name": c.name, "holds": c.holds, "detail": c.detail} for c in checks],
    }
    out = save(report, args.out, "story")
    held = sum(check.holds for check in checks)
    print(f"\n{held} of {len(checks)} orderings hold; figures saved to {out}")
    return 0 if held == len(checks) else 1
