"""Where a run computes and in what precision: the device, autocast and the optimiser."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torchvision
from torch import nn

from worker.schema.errors import UserError
from worker.schema.runconfig import RunConfig


class DeviceError(UserError, RuntimeError):
    """The config asks for a device this machine does not have."""


@dataclass(frozen=True)
class Precision:
    name: str  # "bf16", "fp16" or "fp32"
    dtype: torch.dtype | None  # autocast dtype; None runs in fp32
    reason: str  # why, for logs: "auto: this CPU has no native bf16"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device: {name} was asked for, but this machine has no CUDA GPU")
        if device.index is not None and device.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise DeviceError(f"device: {name} does not exist; this machine has {count} GPU(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("device: mps was asked for, but it is not available here")
    return device


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{_cpu_model()} ({torch.get_num_threads()} threads, {capability})"


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matrix work runs natively (fast) here rather than emulated (slow)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def resolve_precision(name: str, device: torch.device) -> Precision:
    if name == "fp32":
        return Precision("fp32", None, "asked for")
    if name == "bf16":
        return Precision("bf16", torch.bfloat16, "asked for")
    if name == "fp16":
        return Precision("fp16", torch.float16, "asked for")
    if native_bf16(device):
        return Precision("bf16", torch.bfloat16, f"auto: {device.type} has native bf16")
    return Precision("fp32", None, f"auto: this {device.type} has no native bf16")


@contextlib.contextmanager
def autocast(device: torch.device, precision: Precision) -> Iterator[None]:
    if precision.dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=precision.dtype):
        yield


def set_determinism(deterministic: bool, device: torch.device) -> None:
    if deterministic and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.benchmark = not deterministic


def make_optimizer(
    config: RunConfig, model: nn.Module, device: torch.device, fused: bool | None = None
) -> torch.optim.Optimizer:
    """The config's optimiser; fused kernels (one pass over all tensors) where available."""
    if fused is None:
        fused = device.type in {"cpu", "cuda"}
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            fused=fused,
        )
    optimizer = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return optimizer(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        runboard = version("runboard")
    except PackageNotFoundError:
        runboard = "unknown"
    return {
        "runboard": runboard,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda or "none",
    }
