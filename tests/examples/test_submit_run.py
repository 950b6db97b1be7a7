"""examples/submit_run.py, run as a user would, against a real server and a simulated worker."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live import Worker, clean_env, http, read_line

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "submit_run.py"
pytestmark = pytest.mark.timeout(90)


def test_submit_run_example_queues_a_run_and_prints_each_epochs_test_accuracy_live(
    live_server: str, database_url: str
) -> None:
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE), live_server],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        queued = re.fullmatch(r"run (\d+) queued\n", read_line(process))
        assert queued, "the example did not print the run id"
        run_id = int(queued[1])
        run = http.get(f"{live_server}/api/runs/{run_id}").json()
        assert run["preset"] == "2" and run["tags"] == ["example"]
        assert (run["config"]["dataset"], run["config"]["epochs"]) == ("synthetic", 3)

        worker = Worker(live_server, database_url, run_id, epochs=3)
        worker.start()
        for epoch, accuracy in ((1, 0.1), (2, 0.2), (3, 0.355)):
            worker.epoch(epoch, accuracy)  # each line is printed before the next epoch ends
            assert read_line(process) == f"epoch {epoch}: test accuracy {accuracy:.1%}\n"
        worker.finish()
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)

    assert process.returncode == 0, stderr
    assert stdout == f"run {run_id} succeeded\n"
    assert stderr == ""
