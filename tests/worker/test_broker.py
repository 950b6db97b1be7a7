"""The embedded SQLite broker after a worker is killed between taking a task and claiming
its run: the next worker to start finds the hidden task, trains the run, and later sweeps
away the delivered tasks of finished runs; a worker that keeps running finds such a task
at its next periodic sweep. Real processes, the real broker file."""

from __future__ import annotations

import sqlite3
import sys

import pytest

from tests.worker.conftest import LONGER, START_S, TINY, Stack, wait_for
from worker.broker import _run_id

pytestmark = pytest.mark.slow

# A worker's first half: take the next task from the real broker, then die by SIGKILL
# before it could claim the run or acknowledge the task.
TAKE_AND_DIE = """
import os, signal
from kombu import Connection
from worker.celery_app import broker_url
from worker.schema.broker import TRAIN_QUEUE
with Connection(broker_url()) as connection:
    message = connection.SimpleQueue(TRAIN_QUEUE).get(timeout=60)
    print("took", message.headers["task"], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def broker_rows(stack: Stack) -> list[tuple[int | None, bool]]:
    """(run id, visible) of every task row in the broker file."""
    with sqlite3.connect(stack.root / "broker.sqlite") as connection:
        rows = connection.execute("SELECT payload, visible FROM kombu_message").fetchall()
    return [(_run_id(payload), bool(visible)) for payload, visible in rows]


def test_a_task_taken_by_a_killed_worker_is_trained_by_the_next_and_then_swept(
    stack: Stack,
) -> None:
    api = stack.api()
    run = api.create_run({**TINY, "epochs": 1}, name="orphaned")
    taker = stack.spawn("taker", [sys.executable, "-c", TAKE_AND_DIE])
    assert taker.process.wait(START_S) == -9, taker.output()
    assert "took runboard.train_run" in taker.output()
    # What Kombu leaves: the task hidden for good, the run queued with nobody on it.
    assert broker_rows(stack) == [(run["id"], False)]
    assert api.run(run["id"])["status"] == "queued"

    worker = stack.worker(api)
    done = api.wait_status(run["id"], "succeeded")
    assert done["attempts"] == 1  # trained once, by the new worker
    assert f"queued again the runs of killed workers: [{run['id']}]" in worker.output()

    # The delivered task stays in the file (Kombu keeps them) until a sweep: the next one
    # of this worker is 60 s away, so a worker started now sweeps first.
    assert broker_rows(stack) == [(run["id"], False)]
    worker.terminate()
    later = stack.worker(api, name="w2")
    wait_for(lambda: broker_rows(stack) == [], "the finished run's task to be swept", START_S)
    # The sweep logs after it has deleted the rows: wait for the line, not only the rows.
    wait_for(lambda: "removed 1 delivered tasks" in later.output(), "the sweep's log", START_S)
    assert api.run(run["id"])["attempts"] == 1  # sweeping trained nothing again


def test_a_worker_that_keeps_running_trains_a_task_another_killed_worker_hid(
    stack: Stack,
) -> None:
    stack.env["RUNBOARD_ORPHAN_SWEEP_S"] = "2"
    api = stack.api()
    worker = stack.worker(api)
    # The live worker is busy (it holds one task at a time), so the taker gets the next one.
    busy = api.create_run({**LONGER, "epochs": 100}, name="busy")
    api.wait_training(busy["id"], epoch=1)
    run = api.create_run({**TINY, "epochs": 1}, name="orphaned")
    taker = stack.spawn("taker", [sys.executable, "-c", TAKE_AND_DIE])
    assert taker.process.wait(START_S) == -9, taker.output()
    assert (run["id"], False) in broker_rows(stack)
    api.cancel(busy["id"])
    api.wait_status(busy["id"], "cancelled")

    # No worker starts: the running one's periodic sweep shows the task again.
    done = api.wait_status(run["id"], "succeeded", timeout=120)
    assert done["attempts"] == 1
    assert f"queued again the runs of killed workers: [{run['id']}]" in worker.output()
    assert worker.alive
