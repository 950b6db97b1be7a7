"""`runboard bench worker` at one round: both layouts are measured side by side, the server
and client of the `apart` layout keep off the training's CPU, and every figure is saved.

Nothing here asserts a speed: the targets and the measured figures live in
docs/benchmarks.md, never in tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runboard.cli.main import build_parser


def test_bench_worker_measures_both_layouts_and_saves_every_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runboard.bench.worker import run_worker_bench

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "worker.json"
    args = build_parser().parse_args(
        ["bench", "worker", "--rounds", "1", "--launches", "1", "--out", str(out)]
    )
    cpus = os.sched_getaffinity(0)

    assert run_worker_bench(args) == 0

    report = json.loads(out.read_text())
    assert report["benchmark"] == "worker" and report["cpus"] == sorted(cpus)
    tracking = report["tracking"]
    assert set(tracking) == ({"shared", "apart"} if len(cpus) > 1 else {"shared"})
    for layout in tracking.values():
        assert len(layout["off"]) == len(layout["on"]) == 1
        assert all(value > 0 for value in layout["off"] + layout["on"])
        assert layout["ratio"] == pytest.approx(layout["on"][0] / layout["off"][0])
    if "apart" in tracking:
        apart = tracking["apart"]
        assert apart["torch_threads"] == 1 and len(apart["train_cpus"]) == 1
        assert not set(apart["train_cpus"]) & set(apart["server_and_client_cpus"])
    assert os.sched_getaffinity(0) == cpus  # the bench gave this thread its CPUs back
    # Two reported runs (one a layout), 4 epochs of 16 steps each: every point was seen live.
    latency = report["live_latency_ms"]
    assert latency["all_points"]["count"] >= len(tracking) * 4 * (16 + 1)
    assert latency["epoch_points"]["count"] == len(tracking) * 4
    assert report["launch_latency_s"]["count"] == 1
