"""`runboard bench soak`, short: a real server under fake workers starting and ending runs and
SSE clients coming and going for 75 s. Its memory must level off after a 30 s warm-up (a
leak of a few KiB per request or stream, thousands of them here, would not), and the
connections and threads of the clients that left must be gone. The 10-minute figures are in
docs/reliability.md (`runboard bench soak --minutes 10`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from runboard.bench.soak import Soak, run_soak, run_soak_bench
from runboard.cli.main import build_parser

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
MAX_GROWTH_MIB = 25.0  # after the warm-up; 10 minutes grew by 18 MiB, levelling off


def test_the_api_memory_levels_off_under_runs_and_sse_clients(tmp_path: Path) -> None:
    soak = Soak(minutes=1.25, workers=3, clients=12, sample_s=1.0, warmup_s=30.0, seed=1)
    report = run_soak(soak, tmp_path / "soak")

    traffic, rss, server = report["traffic"], report["rss_mib"], report["server"]
    print(f"\nsoak 75 s: {traffic['runs']}, {traffic['streams']} streams, RSS {rss}")
    assert traffic["errors"] == []
    assert sum(traffic["runs"].values()) >= 15  # runs really started and ended...
    assert set(traffic["runs"]) == {"succeeded", "failed", "cancelled"}
    assert traffic["streams"] >= 100 and traffic["sse_events"] >= 1000  # ...and were watched
    assert 0 < rss["after_warmup"] <= rss["max"]
    assert rss["growth_after_warmup"] < MAX_GROWTH_MIB, rss
    # What the clients opened was closed: hundreds of streams, a few dozen descriptors (the
    # database pool's), threads bounded by the thread pool's size, not by clients.
    assert server["after"]["fds"] - server["before"]["fds"] < 40 < traffic["streams"], server
    assert server["after"]["threads"] <= 64, server
    assert len(report["samples"]) >= 60


def test_bench_soak_is_a_command_that_saves_its_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(
        ["bench", "soak", "--minutes", "0.1", "--workers", "1", "--clients", "2",
         "--sample-s", "0.5", "--out", "soak.json"]
    )  # fmt: skip
    assert run_soak_bench(args) == 0

    report = json.loads((tmp_path / "soak.json").read_text())
    assert report["benchmark"] == "soak" and report["settings"]["minutes"] == 0.1
    assert report["settings"]["warmup_s"] == pytest.approx(1.2)  # a fifth, at most 60 s
    assert set(report["rss_mib"]) >= {"start", "after_warmup", "end", "max", "slope_mib_per_min"}
    assert "API RSS MiB: start" in capsys.readouterr().out
    assert not (tmp_path / "var" / "bench").exists() or not any(
        path.is_dir() for path in (tmp_path / "var" / "bench").iterdir()
    )  # the scratch database and broker are gone


def test_bench_soak_refuses_settings_it_cannot_run() -> None:
    from worker.schema.errors import InvalidInputError

    args = argparse.Namespace(minutes=0, workers=1, clients=1, sample_s=1, warmup=None, seed=0)
    with pytest.raises(InvalidInputError, match="--minutes"):
        run_soak_bench(args)
