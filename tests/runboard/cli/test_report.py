"""`runboard report --out DIR` as a user runs it: a real process against a real server whose
runs a simulated worker finished; bad arguments and an unreachable API get one line."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from tests.support.live import RUNBOARD, ServerProcess, Worker, clean_env, create_run, free_port

pytestmark = pytest.mark.timeout(120)


def report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RUNBOARD, "report", *args], env=clean_env(), capture_output=True, text=True, timeout=90
    )


def test_report_writes_markdown_with_png_figures_csv_and_one_offline_html_file(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    run = create_run(shared_server.url, name="cli report run")
    worker = Worker(shared_server.url, shared_server.database_url, run["id"], epochs=2)
    worker.start()
    worker.epoch(1, 0.2)
    worker.epoch(2, 0.3)
    worker.finish()
    out = tmp_path / "card"

    done = report("--out", str(out), "--url", shared_server.url)

    assert done.returncode == 0, done.stderr
    markdown = (out / "report.md").read_text("utf-8")
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert len(figures) == 12 and "point-2.png" in figures
    assert (out / "figures" / "point-2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![point 2](figures/point-2.png)" in markdown
    rows = list(csv.reader((out / "report.csv").open(encoding="utf-8")))
    assert rows[0][:3] == ["point", "title", "report acc"] and len(rows) == 13
    point_2 = next(row for row in rows if row[0] == "2")
    assert "cli report run" in point_2[5] and point_2[10] == "within ± 3 pp"  # 30 % vs 29 %
    html = (out / "report.html").read_text("utf-8")
    assert html.count('src="data:image/png;base64,') == 12 and 'src="figures' not in html
    assert str(out / "report.md") in done.stdout


def test_report_refuses_an_unreachable_api_and_a_file_as_folder_in_one_line(
    tmp_path: Path,
) -> None:
    unreachable = report("--out", str(tmp_path / "x"), "--url", f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 1
    assert unreachable.stderr.count("\n") == 1 and "runboard serve" in unreachable.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    taken = report("--out", str(blocker), "--url", "http://127.0.0.1:1")
    assert taken.returncode == 1 and "--out:" in taken.stderr and "Traceback" not in taken.stderr
    missing = report()
    assert missing.returncode == 2 and "--out" in missing.stderr
