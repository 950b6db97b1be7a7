"""The worker end to end: real `runboard serve` and `runboard worker` processes, the SQLite
broker or a real Redis, real (tiny) training, and the faults a deployment meets: killed
workers, a restarting API, a restarting broker, several workers, serve stopped and started.

"Nothing lost, nothing duplicated" is checked the same way everywhere: the run's metrics
hold each epoch metric exactly once per epoch and each reported training step exactly once.
"""

from __future__ import annotations

import signal
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.sse import SseEvent, SseReader, payload
from tests.worker.conftest import (
    LONGER,
    TINY,
    WAIT_S,
    Api,
    Stack,
    children_of,
    group_members,
    wait_for,
)
from worker.schema.events import (  # every epoch metric reported once per epoch
    EPOCH_METRICS,
    metric_points,
)

pytestmark = pytest.mark.slow

FINAL = {"succeeded", "failed", "cancelled"}
# uvicorn shuts down gracefully, then re-raises the signal: exit status 0 or -SIGTERM.
STOPPED = (0, -signal.SIGTERM)


def steps_per_epoch(config: dict[str, Any]) -> int:
    return -(-int(config["train_subset"]) // int(config["batch_size"]))


def epochs_of(series: dict[str, list[dict[str, Any]]], name: str) -> list[int]:
    return sorted(point["epoch"] for point in series.get(name, []))


def assert_each_epoch_once(series: dict[str, list[dict[str, Any]]], epochs: int) -> None:
    expected = list(range(1, epochs + 1))
    for name in EPOCH_METRICS:
        assert epochs_of(series, name) == expected, f"{name}: epochs {epochs_of(series, name)}"


def assert_each_step_once(series: dict[str, list[dict[str, Any]]], steps: int) -> None:
    reported = Counter(point["step"] for point in series.get("batch_loss", []))
    repeated = sorted(step for step, count in reported.items() if count > 1)
    missing = sorted(set(range(1, steps + 1)) - set(reported))
    assert not repeated and not missing, f"steps repeated {repeated}, missing {missing}"
    assert len(reported) == steps


def assert_complete(series: dict[str, list[dict[str, Any]]], config: dict[str, Any]) -> None:
    """Every epoch metric once per epoch, every training step's loss once."""
    assert_each_epoch_once(series, config["epochs"])
    assert_each_step_once(series, config["epochs"] * steps_per_epoch(config))


def carries_epoch_metrics(event: SseEvent) -> bool:
    return event.event == "metrics" and any(
        point["name"] == "test_acc" for point in metric_points(payload(event))
    )


def is_final_status(event: SseEvent) -> bool:
    return event.event == "status" and payload(event)["status"] in FINAL


def streamed_epochs(events: list[SseEvent]) -> list[int]:
    return sorted(
        point["epoch"]
        for event in events
        if event.event == "metrics"
        for point in metric_points(payload(event))
        if point["name"] == "test_acc"
    )


def stored_run(stack: Stack, run_id: int) -> dict[str, Any]:
    """The run's row read straight from the SQLite database (for when the API is down)."""
    with sqlite3.connect(stack.root / "runboard.db") as connection:
        connection.row_factory = sqlite3.Row
        row = connection.execute("SELECT * FROM run WHERE id = ?", (run_id,)).fetchone()
    assert row is not None, f"run {run_id} is not in the database"
    return dict(row)


def file_state(path: Path) -> tuple[int, int] | None:
    """Identifies one version of a file that is replaced atomically (inode, mtime)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def stop_api_until_an_epoch_ends(stack: Stack, api: Api, run_id: int) -> None:
    """Stops the API, then waits for the worker to checkpoint an epoch it cannot report."""
    checkpoint = stack.checkpoints / f"run-{run_id}" / "checkpoint.pt"
    assert api.stop() in STOPPED
    at_stop = file_state(checkpoint)
    wait_for(lambda: file_state(checkpoint) != at_stop, "an epoch to end while the API is down")


# ---- the happy path, on both brokers ----------------------------------------------------


@pytest.mark.parametrize("broker", ["sqlite", "redis"])
def test_a_submitted_run_trains_on_a_real_worker_and_its_epochs_stream_live_and_are_stored_once(
    stack: Stack, broker: str
) -> None:
    if broker == "redis":  # the scaled-out layout: API alone, workers elsewhere
        stack.start_redis()
        api = stack.api()
        stack.worker(api)
    else:  # one machine: serve runs its own worker on the SQLite broker
        api = stack.api(with_worker=True)
    config = {**LONGER, "epochs": 4}  # epochs long enough to watch them arrive one by one
    run = api.create_run(config)
    assert run["status"] == "queued"

    with SseReader(f"{api.url}/api/runs/{run['id']}/stream") as stream:
        until_first_epoch = stream.read_until(carries_epoch_metrics, timeout=WAIT_S)
        # The first epoch's metrics reached the client while the run still had epochs to go.
        meanwhile = api.run(run["id"])
        assert meanwhile["status"] == "running", meanwhile
        assert meanwhile["epoch"] < config["epochs"], meanwhile
        rest = stream.read_until(is_final_status, timeout=WAIT_S)

    final_event = payload(rest[-1])
    assert final_event["status"] == "succeeded", final_event
    assert not any(is_final_status(event) for event in until_first_epoch + rest[:-1])
    # Every epoch arrived on the stream, once, before the final status.
    assert streamed_epochs(until_first_epoch + rest) == list(range(1, config["epochs"] + 1))

    final = api.run(run["id"])
    assert final["status"] == "succeeded", final
    assert final["attempts"] == 1
    assert final["result"]["epochs_completed"] == config["epochs"]
    assert_complete(api.metrics(run["id"]), config)


# ---- cancel and fail ----------------------------------------------------------------------


def test_cancelling_a_running_run_stops_it_and_keeps_the_metrics_it_reported(stack: Stack) -> None:
    api = stack.api(with_worker=True)
    config = {**LONGER, "epochs": 8}
    run = api.create_run(config)
    api.wait_training(run["id"], epoch=2)
    before = api.metrics(run["id"])

    requested = api.cancel(run["id"])
    assert requested["status"] == "running" and requested["cancel_requested"]
    final = api.wait_status(run["id"], "cancelled")

    after = api.metrics(run["id"])
    for name, points in before.items():
        kept = {(point["seq"], point["step"]) for point in after.get(name, [])}
        lost = [point for point in points if (point["seq"], point["step"]) not in kept]
        assert not lost, f"{name}: points gone after the cancel: {lost}"
    completed = final["result"]["epochs_completed"]
    assert 1 <= completed < config["epochs"]
    assert_each_epoch_once(after, completed)
    assert final["attempts"] == 1


def test_cancelling_a_queued_run_cancels_it_at_once_and_the_worker_never_starts_it(
    stack: Stack,
) -> None:
    api = stack.api()  # no worker yet: everything stays queued
    doomed = api.create_run(TINY, name="cancelled while queued")
    cancelled = api.cancel(doomed["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["finished_at"] is not None
    later = api.create_run({**TINY, "epochs": 1}, name="queued after it")

    worker = stack.worker(api)
    api.wait_status(later["id"], "succeeded")
    # The worker took the cancelled run's task first (the queue is FIFO) and skipped it.
    wait_for(
        lambda: f"run {doomed['id']} not claimed" in worker.output(),
        "the worker to skip the cancelled run",
    )
    run = api.run(doomed["id"])
    assert run["status"] == "cancelled"
    assert run["attempts"] == 0 and run["started_at"] is None and run["worker_host"] is None
    assert api.metrics(doomed["id"]) == {}


def test_a_run_whose_data_is_missing_fails_with_an_error_naming_the_folder_and_the_file(
    stack: Stack,
) -> None:
    api = stack.api(with_worker=True)  # RUNBOARD_DATA_DIR is empty, downloads are off
    run = api.create_run({**TINY, "dataset": "cifar100"})
    final = api.wait_until(run["id"], lambda run: run["status"] in FINAL, "a final status")

    assert final["status"] == "failed", final
    error = final["error"]
    assert str(stack.data_dir.resolve()) in error, error
    assert "cifar-100-python.tar.gz" in error, error
    assert "RUNBOARD_DATA_DOWNLOAD=0" in error, error
    assert "Launch on the data set `synthetic` instead" in error, error  # the way on, offline
    assert "Traceback" not in error and "\n" not in error, error
    assert final["traceback"] is None


def test_a_run_built_to_diverge_is_failed_by_its_guard_naming_the_loss_and_the_step(
    stack: Stack,
) -> None:
    api = stack.api(with_worker=True)
    diverging = {"optimizer": "sgd", "lr": 10.0, "batch_norm": True, "guard_divergence": 3.0}
    run = api.create_run({**TINY, **diverging, "epochs": 5})
    final = api.wait_until(run["id"], lambda run: run["status"] in FINAL, "a final status")

    assert (final["status"], final["failure"]) == ("failed", "user_error"), final
    assert "guard: the loss" in final["error"] and " at step " in final["error"]
    assert final["traceback"] is None and final["epoch"] < 5  # not the rest of the epochs


# ---- faults -----------------------------------------------------------------------------


def test_a_run_whose_worker_is_killed_resumes_from_its_checkpoint_on_a_new_worker_exactly_once(
    stack: Stack,
) -> None:
    stack.env["RUNBOARD_HEARTBEAT_TIMEOUT_S"] = "12"  # the watchdog finds the lost run soon
    api = stack.api()
    first = stack.worker(api, "w1")
    config = LONGER
    run = api.create_run(config)
    api.wait_training(run["id"], epoch=2)  # epoch 1 is stored and checkpointed
    assert (stack.checkpoints / f"run-{run['id']}" / "checkpoint.pt").is_file()

    first.kill()  # SIGKILL mid-epoch: no release, no last words
    stack.worker(api, "w2")
    final = api.wait_status(run["id"], "succeeded")

    assert final["attempts"] == 2
    assert final["result"]["resumed_from_epoch"] >= 1  # epoch 1 was not trained again
    assert_complete(api.metrics(run["id"]), config)


def test_epochs_a_killed_worker_checkpointed_but_never_sent_are_stored_once_after_the_resume(
    stack: Stack,
) -> None:
    # The worker trains on through the API's downtime only within its lease (80 % of the
    # heartbeat timeout; then it stops, since the run is about to be handed on): long
    # enough here for an epoch to end meanwhile on a loaded machine.
    stack.env["RUNBOARD_HEARTBEAT_TIMEOUT_S"] = "40"
    api = stack.api()
    first = stack.worker(api, "w1")
    config = LONGER
    run = api.create_run(config)
    api.wait_training(run["id"], epoch=1)
    # An epoch is checkpointed while its metrics can only wait in the worker...
    stop_api_until_an_epoch_ends(stack, api, run["id"])
    first.kill()  # ...which dies with them; the next attempt resumes after that epoch.
    api.start()
    stack.worker(api, "w2")
    final = api.wait_status(run["id"], "succeeded")

    assert final["attempts"] == 2 and final["result"]["resumed_from_epoch"] >= 1
    # The lost epochs come from the history, their batch losses from the checkpoint.
    assert_complete(api.metrics(run["id"]), config)


def test_a_worker_keeps_its_events_while_the_api_restarts_and_delivers_them_afterwards(
    stack: Stack,
) -> None:
    api = stack.api()
    stack.worker(api)
    config = LONGER
    run = api.create_run(config)
    api.wait_training(run["id"], epoch=1)
    # An epoch ends while the API is down: its metrics can only wait in the worker.
    stop_api_until_an_epoch_ends(stack, api, run["id"])
    api.start()  # same port, same database

    final = api.wait_status(run["id"], "succeeded")
    assert final["attempts"] == 1  # the same attempt went on; nothing was handed over
    assert_complete(api.metrics(run["id"]), config)


def test_a_run_survives_a_redis_restart_and_later_runs_still_reach_the_worker(
    stack: Stack,
) -> None:
    broker = stack.start_redis()
    api = stack.api()
    worker = stack.worker(api)
    config = LONGER
    run = api.create_run(config)
    api.wait_training(run["id"], epoch=1)

    stack.stop_redis(broker)  # SHUTDOWN NOSAVE: the broker forgets everything
    epoch = api.run(run["id"])["epoch"]
    # Training goes on without the broker: the next epoch still reaches the API.
    api.wait_until(
        run["id"], lambda run: run["epoch"] > epoch or run["status"] in FINAL, "another epoch"
    )
    stack.start_redis()  # the same port, empty

    final = api.wait_status(run["id"], "succeeded")
    assert final["attempts"] == 1
    assert_complete(api.metrics(run["id"]), config)
    # Both the API (publishing) and the worker (consuming) found the new Redis.
    after = api.create_run({**TINY, "epochs": 1}, name="after the restart")
    assert api.wait_status(after["id"], "succeeded")["attempts"] == 1
    assert worker.alive()


# ---- several workers, serve's own worker ---------------------------------------------------


def test_two_workers_train_four_queued_runs_each_exactly_once(stack: Stack) -> None:
    api = stack.api()
    config = {**TINY, "epochs": 2}
    runs = [api.create_run({**config, "seed": seed}) for seed in range(4)]
    stack.worker(api, "w1")
    stack.worker(api, "w2")

    for run in runs:
        final = api.wait_status(run["id"], "succeeded")
        assert final["attempts"] == 1, final  # claimed once: no run was trained twice
        assert_complete(api.metrics(run["id"]), config)


def test_stopping_serve_stops_its_worker_too_and_a_restart_finishes_the_runs_left_queued(
    stack: Stack,
) -> None:
    api = stack.api(with_worker=True)
    assert api.process is not None
    serve = api.process
    worker_pids = wait_for(lambda: children_of(serve.pid), "serve's local worker")
    busy_config = LONGER
    busy = api.create_run(busy_config, name="busy")
    api.wait_training(busy["id"], epoch=2)
    waiting = api.create_run(TINY, name="queued behind it")
    assert api.run(waiting["id"])["status"] == "queued"

    assert api.stop() in STOPPED  # SIGTERM to serve alone
    assert group_members(serve.pid) == [], "processes of serve outlived it"
    assert not any(Path(f"/proc/{pid}").exists() for pid in worker_pids)
    # The worker handed its run back before the API went: both runs wait in the queue.
    assert stored_run(stack, busy["id"])["status"] == "queued"
    assert stored_run(stack, waiting["id"])["status"] == "queued"

    api.start()
    for run, config in ((busy, busy_config), (waiting, TINY)):
        api.wait_status(run["id"], "succeeded")
        assert_complete(api.metrics(run["id"]), config)
    resumed = api.run(busy["id"])
    assert resumed["attempts"] == 2
    assert resumed["result"]["resumed_from_epoch"] >= 1
    assert api.run(waiting["id"])["attempts"] == 1
