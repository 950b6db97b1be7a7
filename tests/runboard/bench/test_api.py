"""`runboard bench api` at a tiny scale: the machinery runs end to end and reports every figure.

Nothing here asserts a speed: the targets and the measured figures live in
docs/benchmarks.md, never in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.app.core.db import make_engine, migrate
from backend.app.models import MetricPoint, Run
from runboard.bench.api import Scale, populate, run_api_bench
from runboard.cli.main import build_parser

TINY = Scale(runs=12, epochs=3, batch_points=6, compare_runs=4, ingest_points=2_500)


def test_bench_api_reports_every_figure_as_json(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "api.json"
    args = argparse.Namespace(database_url=database_url, requests=3, out=str(out))

    assert run_api_bench(args, TINY) == 0

    report = json.loads(out.read_text())
    assert report["benchmark"] == "api"
    assert report["database"]["dialect"] == database_url.split(":")[0].split("+")[0]
    assert report["scale"]["runs"] == 12 and report["requests"] == 3
    assert set(report["targets"]) == set(report["passed"]) == {
        "list", "metrics", "compare", "ingest",
    }  # fmt: skip
    for name in ("list", "metrics", "compare"):
        figure = report["figures"][name]
        assert figure["requests"] == 3
        assert 0 < figure["median_ms"] <= figure["p95_ms"] <= figure["max_ms"]
    ingest = report["figures"]["ingest"]
    assert ingest["points"] == 2_500 and ingest["requests"] == 3
    assert ingest["seconds"] > 0 and ingest["points_per_second"] > 0


def test_the_default_database_is_a_scratch_file_removed_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(database_url=None, requests=1, out=None)

    assert run_api_bench(args, Scale(runs=3, epochs=2, batch_points=2, ingest_points=10)) == 0

    bench = tmp_path / "var" / "bench"
    assert [p.suffix for p in bench.iterdir()] == [".json"]  # the report; no database left


def test_populate_writes_runs_epoch_metrics_and_batch_points(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bench.db'}")
    migrate(engine)

    ids = populate(engine, TINY)

    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Run)).scalar_one() == 12
        points = connection.execute(select(func.count()).select_from(MetricPoint)).scalar_one()
    assert len(ids) == 12
    assert points == 12 * (3 * 6 + 6)  # 6 epoch metrics per epoch plus the batch points
    engine.dispose()


def test_cli_parses_bench_api_options() -> None:
    args = build_parser().parse_args(["bench", "api", "--requests", "5", "--out", "x.json"])

    assert (args.target, args.requests, args.out, args.database_url) == ("api", 5, "x.json", None)


def test_the_two_process_figures_come_from_two_api_processes_on_postgresql(
    postgres_server: str,
) -> None:
    from runboard.bench.scaleout import two_process_figures
    from tests.backend.conftest import _fresh_postgres_database

    with contextlib.contextmanager(_fresh_postgres_database)(postgres_server) as url:
        figures = two_process_figures(url, events=5, points=2_000, batch=1_000)
    for name in ("live_same_process", "live_across_processes"):
        assert figures[name]["events"] == 5 and figures[name]["median_ms"] > 0
        assert figures[name]["median_ms"] <= figures[name]["p95_ms"]
    assert figures["ingest_one_process"]["points"] == 2_000
    two = figures["ingest_two_processes"]
    assert two["processes"] == 2 and two["points"] == 4_000 and two["points_per_second"] > 0
