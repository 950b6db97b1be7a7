"""What every benchmark records with its figures: the machine it ran on (printed and saved:
CPUs differ between machines, native bf16 and AMX on some, only AVX2 on others, and the
figures with them), and the JSON file the figures are saved to."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

# The instruction sets that change training and ingest speed, as /proc/cpuinfo names them.
FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16")


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


def describe() -> dict[str, Any]:
    """CPU model, the flags of interest it has, CPUs usable here, OS and Python."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    return {
        "cpu_model": info.get("model name") or platform.processor() or platform.machine(),
        "cpu_flags": [flag for flag in FLAGS_OF_INTEREST if flag in flags],
        "cpu_count": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def banner(machine: dict[str, Any]) -> str:
    """One line for the top of a benchmark's printout."""
    flags = " ".join(machine["cpu_flags"]) or "none of " + " ".join(FLAGS_OF_INTEREST)
    return f"machine: {machine['cpu_model']}, {machine['cpu_count']} CPUs, flags: {flags}"


def save(report: dict[str, Any], out: str | None, benchmark: str) -> Path:
    """`report` as JSON at `out`, or by default var/bench/BENCHMARK-YYYYmmdd-HHMMSS.json."""
    path = (
        Path(out)
        if out
        else Path("var/bench") / f"{benchmark}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    return path
