"""A worker's hello: what it is and holds, said when it starts and every HELLO_INTERVAL_S
after as its heartbeat, with the run it trains (the API's Workers page lists them).

What it holds is looked up on each hello: a CIFAR-100 put into the data folder, or weights
into torch's cache, show up within one interval.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import get_args

from worker.client import ApiClient, ApiError
from worker.config import worker_settings
from worker.schema.messages import WorkerHello
from worker.schema.runconfig import DatasetName

log = logging.getLogger("runboard.worker")
HELLO_INTERVAL_S = 5.0
# What torchvision's CIFAR100 and ResNet-18 weights are stored as (worker/core/data.py and
# torchvision's weights API): their presence is looked up without importing the trainer.
CIFAR_NAMES = ("cifar-100-python", "cifar-100-python.tar.gz")
WEIGHTS = {"resnet18": "resnet18-f37072fd.pth"}
MB = 1024 * 1024

_current_run: int | None = None
_stopping = threading.Event()


def worker_name() -> str:
    return f"runboard-{os.getpid()}@{socket.gethostname()}"


def busy_with(run_id: int | None) -> None:
    """The run this worker trains now (None: idle), said in the next hello."""
    global _current_run
    _current_run = run_id


def _device() -> tuple[str, str | None, int | None]:
    """(device, GPU name, GPU memory in MiB) of what this worker trains on."""
    try:
        import torch
    except ImportError:  # a machine without the [train] extra trains nothing: say cpu
        return "cpu", None, None
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        return "cuda:0", properties.name, int(properties.total_memory // MB)
    if torch.backends.mps.is_available():
        return "mps", None, None
    return "cpu", None, None


def _torch_hub() -> Path:
    """Where torch.hub keeps downloaded weights ($TORCH_HOME/hub/checkpoints)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "torch"
    return Path(os.environ.get("TORCH_HOME") or cache).expanduser() / "hub" / "checkpoints"


def describe(name: str, device: tuple[str, str | None, int | None] | None = None) -> WorkerHello:
    settings = worker_settings()
    kind, gpu_name, gpu_memory = device or _device()
    data_dir = settings.data_dir
    datasets = [name for name in get_args(DatasetName) if name != "cifar100"]
    if any((data_dir / entry).exists() for entry in CIFAR_NAMES):
        datasets.insert(0, "cifar100")
    weights = [model for model, file in WEIGHTS.items() if (_torch_hub() / file).is_file()]
    try:
        release = version("runboard")
    except PackageNotFoundError:
        release = "unknown"
    return WorkerHello(
        name=name[:255],
        host=socket.gethostname()[:255],
        device=kind,
        gpu_name=gpu_name,
        gpu_memory_mb=gpu_memory,
        datasets=datasets,
        weights=weights,
        version=release[:64],
        run_id=_current_run,
    )


def _say_hello_until_stopped(name: str) -> None:
    device = _device()  # once: torch's CUDA probe takes a while
    settings = worker_settings()
    with ApiClient(settings.api_url, settings.api_token, timeout_s=HELLO_INTERVAL_S) as api:
        while not _stopping.is_set():
            try:
                api.hello(describe(name, device))
            except ApiError as exc:  # the API is away or refuses: say it again next time
                log.debug("worker hello failed: %s", exc)
            _stopping.wait(HELLO_INTERVAL_S)


def start(name: str) -> threading.Thread:
    thread = threading.Thread(target=_say_hello_until_stopped, args=(name,), name="hello")
    thread.daemon = True
    thread.start()
    return thread


def stop() -> None:
    _stopping.set()
