"""`runboard bench trainer`: training images/s, runboard's way against the template's.

For each preset, three variants train the same model on the same device at the same batch
size, measured in alternating rounds so that drift in the machine's speed hits all alike:
- runboard: resident pipeline, auto precision, channels_last, fused Adam, no per-step sync;
- template: torchvision pipeline (PIL, DataLoader workers), fp32, NCHW, foreach Adam and
  `loss.item()` every step, as the homework's starter code trains;
- torchvision: runboard's settings but the torchvision pipeline, for the pipeline-only ratio.
The timed window excludes start-up (DataLoader workers, first-step allocation): each
measurement runs `warmup` untimed steps, then times `steps` steps of the same epoch.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch

from runboard.bench.record import banner, describe, save
from worker.core import runtime
from worker.core.data import synthetic_dataset
from worker.core.models import build_model
from worker.core.pipelines import make_batches, memory_format
from worker.core.trainer import train_epoch
from worker.schema.presets import get_preset
from worker.schema.runconfig import RunConfig


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: dict[str, Any]
    fused_optimizer: bool
    sync_each_step: bool


VARIANTS = (
    Variant("runboard", {"pipeline": "resident"}, fused_optimizer=True, sync_each_step=False),
    Variant(
        "template",
        {"pipeline": "torchvision", "precision": "fp32", "channels_last": False},
        fused_optimizer=False,
        sync_each_step=True,
    ),
    Variant("torchvision", {"pipeline": "torchvision"}, fused_optimizer=True, sync_each_step=False),
)


def measure(config: RunConfig, variant: Variant, data_split: Any, warmup: int, steps: int) -> float:
    """Training images per second over `steps` steps after `warmup` untimed ones."""
    config = config.with_overrides(variant.overrides)
    device = runtime.resolve_device(config.device)
    precision = runtime.resolve_precision(config.precision, device)
    torch.manual_seed(config.seed)
    model = build_model(config).to(device).to(memory_format=memory_format(config))
    optimizer = runtime.make_optimizer(config, model, device, fused=variant.fused_optimizer)
    batches = make_batches(data_split, config, device, True, config.batch_size)
    marks: dict[str, float] = {}

    def on_step(step: int, loss: torch.Tensor) -> None:
        if step == warmup:
            loss.item()  # wait for the warm-up steps to finish before starting the clock
            marks["start"] = time.perf_counter()

    stats = train_epoch(
        model, optimizer, batches, 1, device, precision, on_step=on_step,
        max_steps=warmup + steps, sync_each_step=variant.sync_each_step,
    )  # fmt: skip
    float(stats.loss_sum)  # one sync: the last step has finished
    elapsed = time.perf_counter() - marks["start"]
    return (stats.steps - warmup) * config.batch_size / elapsed


def run_trainer_bench(args: argparse.Namespace) -> int:
    preset_ids = [p.strip() for p in args.presets.split(",") if p.strip()]
    device = runtime.resolve_device(args.device)
    print(banner(describe()), flush=True)
    figures: dict[str, Any] = {}
    for preset_id in preset_ids:
        overrides: dict[str, Any] = {"device": str(device), "dataset": "synthetic"}
        if args.batch_size:
            overrides["batch_size"] = args.batch_size
        config = get_preset(preset_id).config.with_overrides(overrides)
        images_needed = config.batch_size * (args.warmup + args.steps)
        data = synthetic_dataset(config.seed, max(images_needed, 1000), 100)
        samples: dict[str, list[float]] = {v.name: [] for v in VARIANTS}
        for round_index in range(args.rounds):
            for variant in VARIANTS:
                rate = measure(config, variant, data.train, args.warmup, args.steps)
                samples[variant.name].append(rate)
                print(
                    f"preset {preset_id:<4} round {round_index + 1}/{args.rounds} "
                    f"{variant.name:<12} {rate:9.1f} img/s",
                    flush=True,
                )
        median = {name: statistics.median(rates) for name, rates in samples.items()}
        figures[preset_id] = {
            "batch_size": config.batch_size,
            "images_per_second": samples,
            "median_images_per_second": median,
            "end_to_end_ratio": median["runboard"] / median["template"],
            "pipeline_only_ratio": median["runboard"] / median["torchvision"],
        }
    report = {
        "benchmark": "trainer",
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {
            **describe(),
            "device": str(device),
            "device_name": runtime.device_name(device),
            "precision_auto": runtime.resolve_precision("auto", device).name,
            "torch_threads": torch.get_num_threads(),
            **runtime.versions(),
        },
        "settings": {"steps": args.steps, "warmup": args.warmup, "rounds": args.rounds},
        "data": "synthetic (CIFAR-shaped); speed does not depend on the pixel values",
        "presets": figures,
    }
    print()
    print(f"{'preset':<7} {'batch':>5} {'runboard':>10} {'template':>10} {'end-to-end':>11} "
          f"{'torchvision':>12} {'pipeline-only':>14}")  # fmt: skip
    for preset_id, row in figures.items():
        median = row["median_images_per_second"]
        print(
            f"{preset_id:<7} {row['batch_size']:>5} {median['runboard']:>10.1f} "
            f"{median['template']:>10.1f} {row['end_to_end_ratio']:>10.2f}x "
            f"{median['torchvision']:>12.1f} {row['pipeline_only_ratio']:>13.2f}x"
        )
    out = save(report, args.out, "trainer")
    print(f"\nimages/s are medians of {args.rounds} alternating rounds; figures saved to {out}")
    return 0
