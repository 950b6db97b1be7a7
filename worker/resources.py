"""What the worker process uses while it trains, sampled on the reporter's thread.

Process CPU % and resident memory through psutil; on CUDA, PyTorch's allocated, reserved
and peak memory and, when NVML (nvidia-ml-py) can see the GPU, its utilisation, power and
temperature. Whatever is not there (no GPU, no driver, no torch loaded) is simply absent
from a sample: never an error, never a retry. A sample costs well under a millisecond and
is taken every SAMPLE_INTERVAL_S, off the training thread.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any

import psutil

log = logging.getLogger("runboard.worker")
SAMPLE_INTERVAL_S = 2.0
MIB = 1024 * 1024


class ResourceSampler:
    """`sample()` -> {metric name: value} in worker.schema.events.RESOURCE_METRICS terms."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only starts the measurement
        self._nvml: Any = None  # the pynvml module once initialised; False when unavailable
        self._handle: Any = None

    def sample(self) -> dict[str, float]:
        values = {
            "cpu_percent": self._process.cpu_percent(None),
            "rss_mb": self._process.memory_info().rss / MIB,
        }
        values.update(self._cuda())
        return values

    def _cuda(self) -> dict[str, float]:
        # Only a process that already trains on CUDA: sampling must never import torch
        # nor create a CUDA context of its own.
        torch = sys.modules.get("torch")
        if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return {}
        device = torch.cuda.current_device()
        values = {
            "cuda_allocated_mb": torch.cuda.memory_allocated(device) / MIB,
            "cuda_reserved_mb": torch.cuda.memory_reserved(device) / MIB,
            "cuda_peak_mb": torch.cuda.max_memory_allocated(device) / MIB,
        }
        values.update(self._nvml_values(device))
        return values

    def _nvml_values(self, device: int) -> dict[str, float]:
        if self._nvml is None:
            self._nvml = False
            try:
                import pynvml

                pynvml.nvmlInit()
                # The torch device index counts CUDA_VISIBLE_DEVICES, NVML every GPU.
                uuid = _visible_uuid(device)
                self._handle = (
                    pynvml.nvmlDeviceGetHandleByUUID(uuid)
                    if uuid
                    else pynvml.nvmlDeviceGetHandleByIndex(device)
                )
                self._nvml = pynvml
            except Exception as exc:  # no library, no driver, no permission: no NVML figures
                log.debug("NVML unavailable: %s", exc)
        if not self._nvml:
            return {}
        nvml, handle, values = self._nvml, self._handle, {}
        with contextlib.suppress(Exception):  # a GPU without a sensor leaves its figure out
            values["gpu_util_percent"] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        with contextlib.suppress(Exception):
            values["gpu_power_w"] = nvml.nvmlDeviceGetPowerUsage(handle) / 1000  # milliwatts
        with contextlib.suppress(Exception):
            temperature = nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
            values["gpu_temp_c"] = float(temperature)
        return values


def _visible_uuid(device: int) -> str | None:
    torch = sys.modules["torch"]
    with contextlib.suppress(Exception):
        uuid = str(torch.cuda.get_device_properties(device).uuid)
        return uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
    return None
