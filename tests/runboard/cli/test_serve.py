"""`runboard serve` starts its local worker as `python -P -m runboard worker`: a `worker/`
folder or `worker.py` of the user's own in the working directory (common in Celery projects)
is never imported in place of runboard's `worker` package."""

from __future__ import annotations

import pytest

from runboard.cli.serve import WORKER_COMMAND
from tests.worker.conftest import TINY, Stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
SHADOW = "raise ImportError(\"the working directory's {} was imported, not runboard's\")\n"


def test_the_worker_command_leaves_the_working_directory_off_sys_path() -> None:
    assert WORKER_COMMAND[1:] == ("-P", "-m", "runboard", "worker")


def test_serve_says_where_and_a_worker_package_in_the_cwd_does_not_shadow_runboards(
    stack: Stack,
) -> None:
    # serve and its worker run in stack.root: that is the user's project folder here.
    (stack.root / "worker.py").write_text(SHADOW.format("worker.py"))
    (stack.root / "worker").mkdir()
    (stack.root / "worker" / "__init__.py").write_text(SHADOW.format("worker/"))

    api = stack.api(with_worker=True)
    run = api.create_run({**TINY, "epochs": 1})

    done = api.wait_status(run["id"], "succeeded")
    assert done["epoch"] == 1 and done["worker_host"]
    output = stack.processes[0].output()
    assert "was imported, not runboard's" not in output
    # serve's first words: where the dashboard is and how to try it without CIFAR-100
    assert f"runboard: the dashboard is at http://127.0.0.1:{api.port}/" in output
    assert "no CIFAR-100 here? launch with data set `synthetic`" in output
