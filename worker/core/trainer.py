"""Train one run: `train(config, on_event, should_stop, ...) -> RunResult`.

The story: pick the device and precision, load the data onto it, build the model, resume
from the last epoch checkpoint if there is one, then for each epoch train, evaluate on the
whole test split, report, checkpoint. The host waits on the device only at report points
(batch-loss events, the end of an epoch); `should_stop` is polled every step, so a cancel
takes effect within one step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from worker.core import checkpoint, runtime, steering
from worker.core.data import LoadedData, load_dataset
from worker.core.models import build_model, model_parameter_count
from worker.core.pipelines import Batches, make_batches, memory_format
from worker.core.steplog import StepLog
from worker.schema.cifar_meta import NUM_CLASSES
from worker.schema.events import Batch, Epoch, Finished, RunResult, Started, TrainerEvent
from worker.schema.runconfig import RunConfig

EventSink = Callable[[TrainerEvent], None]
StopCheck = Callable[[], bool]


@dataclass
class EpochStats:
    """Sums kept on the device during an epoch; read (one sync) at its end."""

    loss_sum: torch.Tensor
    correct: torch.Tensor
    seen: int = 0
    steps: int = 0
    stopped: bool = False


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Batches,
    epoch: int,
    device: torch.device,
    precision: runtime.Precision,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
    should_stop: StopCheck | None = None,
    max_steps: int | None = None,
    sync_each_step: bool = False,
) -> EpochStats:
    """One pass over `batches`; `sync_each_step` reproduces the template's loss.item()."""
    model.train()
    stats = EpochStats(
        torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long)
    )
    for step, (images, labels) in enumerate(batches.epoch(epoch), start=1):
        with runtime.autocast(device, precision):
            logits = model(images)  # (B, 100)
            loss = F.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        stats.loss_sum += loss.detach() * labels.shape[0]
        stats.correct += (logits.detach().argmax(1) == labels).sum()
        stats.seen += labels.shape[0]
        stats.steps = step
        if sync_each_step:
            loss.item()
        if on_step is not None:
            on_step(step, loss)
        if should_stop is not None and should_stop():
            stats.stopped = True
            break
        if max_steps is not None and step >= max_steps:
            break
    return stats


@torch.inference_mode()
def evaluate(
    model: nn.Module, batches: Batches, device: torch.device, precision: runtime.Precision
) -> tuple[float, float, torch.Tensor]:
    """Mean loss, accuracy (0..1) and the (100, 100) confusion matrix over `batches`."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    confusion = torch.zeros(NUM_CLASSES * NUM_CLASSES, device=device, dtype=torch.long)
    for images, labels in batches.epoch(0):
        with runtime.autocast(device, precision):
            logits = model(images).float()  # (B, 100)
        loss_sum += F.cross_entropy(logits, labels, reduction="sum")
        pairs = labels * NUM_CLASSES + logits.argmax(1)  # (B,) true * 100 + predicted
        confusion += torch.bincount(pairs, minlength=NUM_CLASSES * NUM_CLASSES)
    matrix = confusion.view(NUM_CLASSES, NUM_CLASSES).cpu()
    seen = int(matrix.sum())
    return float(loss_sum) / max(seen, 1), float(matrix.trace()) / max(seen, 1), matrix


def coarse_confusion(matrix: torch.Tensor, fine_to_coarse: tuple[int, ...]) -> torch.Tensor:
    """Fold a (100, 100) confusion matrix into the (20, 20) superclass one."""
    groups = torch.tensor(fine_to_coarse)
    count = int(groups.max()) + 1
    rows = torch.zeros(count, NUM_CLASSES, dtype=matrix.dtype).index_add_(0, groups, matrix)
    return torch.zeros(count, count, dtype=matrix.dtype).index_add_(1, groups, rows)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(
    config: RunConfig,
    on_event: EventSink | None = None,
    should_stop: StopCheck | None = None,
    checkpoint_dir: Path | None = None,
    data: LoadedData | None = None,
    *,
    data_dir: Path | None = None,
    download: bool = False,
) -> RunResult:
    """Train `config` to the end (or until `should_stop`), resuming from `checkpoint_dir`.

    `data` skips loading; otherwise CIFAR-100 comes from the folder `data_dir`, downloaded
    there when missing if `download` (the synthetic set needs neither)."""
    emit: EventSink = on_event or (lambda event: None)
    device = runtime.resolve_device(config.device)
    precision = runtime.resolve_precision(config.precision, device)
    runtime.set_determinism(config.deterministic, device)
    torch.manual_seed(config.seed)

    data = data or load_dataset(config, data_dir, download)
    model = build_model(config).to(device).to(memory_format=memory_format(config))
    optimizer = runtime.make_optimizer(config, model, device)
    scheduler = steering.make_scheduler(config, optimizer)  # stepped after each epoch
    guard = steering.LossGuard(config)
    train_batches = make_batches(data.train, config, device, True, config.batch_size)
    eval_batch_size = (
        config.batch_size if config.template_drop_last else max(config.batch_size, 1000)
    )
    test_batches = make_batches(data.test, config, device, False, eval_batch_size)

    history: list[dict[str, float]] = []
    confusion: torch.Tensor | None = None  # (100, 100) of the latest evaluation
    spent_seconds = 0.0  # training time of earlier attempts, carried by the checkpoint
    start_epoch = 1
    step_log = StepLog()  # every reported batch loss, kept by the checkpoint
    saved = None
    if checkpoint_dir is not None:
        checkpoint.remove_partial_writes(checkpoint_dir)  # left by an attempt killed mid-write
        saved = checkpoint.load_checkpoint(checkpoint_dir)
    if saved is not None and checkpoint.continues(saved, config.model_dump(mode="json")):
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if "scheduler" in saved:  # absent in older checkpoints (constant lr then)
            scheduler.load_state_dict(saved["scheduler"])
        guard.first = saved.get("first_loss")
        checkpoint.restore_rng_states(saved["rng"])
        history, spent_seconds = saved["history"], saved["seconds"]
        confusion = saved["confusion"]
        start_epoch = saved["epoch"] + 1
        step_log = StepLog(saved.get("reported_steps"))  # absent in older checkpoints

    emit(
        Started(
            start_epoch=start_epoch,
            epochs=config.epochs,
            steps_per_epoch=len(train_batches),
            device=str(device),
            device_name=runtime.device_name(device),
            precision=f"{precision.name} ({precision.reason})",
            parameters=model_parameter_count(model),
            dataset=data.name,
            train_size=len(data.train),
            test_size=len(data.test),
        )
    )
    for recovered in step_log.recovered_events():  # those a killed attempt may not have sent
        emit(recovered)

    def report_batch(epoch: int) -> Callable[[int, torch.Tensor], None]:
        steps = len(train_batches)

        def on_step(step: int, loss: torch.Tensor) -> None:
            report = step % config.report_every == 0 or step == steps
            if not (report or guard.active):
                return  # no host sync for this step
            global_step, value = (epoch - 1) * steps + step, loss.item()
            if report:
                step_log.record(epoch, step, global_step, value)
                emit(Batch(epoch=epoch, step=step, global_step=global_step, loss=value))
            guard.check(value, epoch, step, global_step)  # raises GuardTripped

        return on_step

    status: Literal["succeeded", "cancelled"] = "succeeded"
    stopped_by: steering.StopRule | None = None
    stopped_epoch: int | None = None
    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs + 1):
        epoch_start = time.perf_counter()
        stats = train_epoch(
            model, optimizer, train_batches, epoch, device, precision,
            on_step=report_batch(epoch), should_stop=should_stop,
        )  # fmt: skip
        if stats.stopped:
            status = "cancelled"
            break
        _sync(device)
        train_seconds = time.perf_counter() - epoch_start
        test_loss, test_acc, confusion = evaluate(model, test_batches, device, precision)
        metrics = {
            "epoch": float(epoch),
            "train_loss": float(stats.loss_sum) / stats.seen,
            "train_acc": int(stats.correct) / stats.seen,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "epoch_seconds": time.perf_counter() - epoch_start,
            "images_per_second": stats.seen / train_seconds,
            "lr": float(optimizer.param_groups[0]["lr"]),  # the lr this epoch trained with
        }
        scheduler.step()  # the next epoch's lr
        history.append(metrics)
        emit(Epoch(epoch=epoch, metrics={k: v for k, v in metrics.items() if k != "epoch"}))
        if checkpoint_dir is not None:
            checkpoint.save_checkpoint(
                checkpoint_dir,
                {
                    "epoch": epoch,
                    "config": config.model_dump(mode="json"),
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "first_loss": guard.first,
                    "rng": checkpoint.rng_states(),
                    "history": history,
                    "reported_steps": step_log.state(),
                    "confusion": confusion,
                    "seconds": spent_seconds + time.perf_counter() - started,
                },
            )
        stopped_by = steering.stop_rule(config, [h["test_acc"] for h in history])
        if stopped_by is not None:  # a rule ended the run: it succeeded, early
            stopped_epoch = epoch
            break

    result = RunResult(
        status=status,
        config=config.model_dump(mode="json"),
        dataset=data.name,
        epochs_completed=len(history),
        history=history,
        final_test_acc=history[-1]["test_acc"] if history else None,
        best_test_acc=max(h["test_acc"] for h in history) if history else None,
        final_train_loss=history[-1]["train_loss"] if history else None,
        final_test_loss=history[-1]["test_loss"] if history else None,
        total_seconds=spent_seconds + time.perf_counter() - started,
        parameters=model_parameter_count(model),
        device=str(device),
        device_name=runtime.device_name(device),
        precision=precision.name,
        versions=runtime.versions(),
        classes=list(data.classes),
        coarse_classes=list(data.coarse_classes),
        resumed_from_epoch=start_epoch - 1 if start_epoch > 1 else None,
        stopped_by=stopped_by,
        stopped_epoch=stopped_epoch,
    )
    if confusion is not None:
        per_class = confusion.diagonal().float() / confusion.sum(1).clamp(min=1).float()
        result.per_class_accuracy = per_class.tolist()
        result.confusion = confusion.tolist()
        result.confusion_coarse = coarse_confusion(confusion, data.fine_to_coarse).tolist()
    emit(Finished(status=status, result=result))
    return result
