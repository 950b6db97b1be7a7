"""A resumed attempt's events: the partial epochs of the earlier attempt replaced, and the
steps a killed attempt checkpointed but never sent recovered, each stored once."""

from __future__ import annotations

from collections import Counter

from fastapi.testclient import TestClient

from tests.backend.api.helpers import (
    Worker,
    batch,
    create_run,
    get_run,
    recovered_batches,
    started,
    status_running,
    training,
)


def epoch_counts(client: TestClient, run_id: int) -> dict[str, Counter[int]]:
    series = client.get(f"/api/runs/{run_id}/metrics").json()["series"]
    return {name: Counter(p["step"] for p in points) for name, points in series.items()}


def test_a_resumed_attempt_replaces_the_partial_epochs_of_the_earlier_one(
    client: TestClient,
) -> None:
    run_id = create_run(client)["id"]
    worker = Worker(client, run_id)
    # First attempt: epoch 1 complete, epoch 2 complete but not checkpointed, epoch 3 partial.
    worker.ok(status_running(), *training(epochs=2, steps_per_epoch=3, loss0=9.0))
    worker.ok(batch(3, 1, 7, 9.0))
    # Second attempt resumes from the checkpoint of epoch 1.
    reply = worker.ok(
        status_running(), *training(epochs=3, steps_per_epoch=3, start_epoch=2, loss0=4.0)
    )

    assert reply["status"] == "running"
    counts = epoch_counts(client, run_id)
    assert counts["batch_loss"] == Counter(range(1, 10))  # global steps 1..9, once each
    for name in ("test_acc", "train_loss", "lr"):
        assert counts[name] == Counter({1: 1, 2: 1, 3: 1}), name
    series = client.get(f"/api/runs/{run_id}/metrics?names=batch_loss").json()["series"]
    values = {p["step"]: p["value"] for p in series["batch_loss"]}
    assert values[1] == 9.0 - 0.01  # epoch 1 kept from the first attempt
    assert values[4] == 4.0 - 0.04  # epoch 2 from the second attempt
    run = get_run(client, run_id)
    assert (run["epoch"], run["step"]) == (3, 3)


def test_a_resume_inside_one_batch_or_from_epoch_one_keeps_each_epoch_once(
    client: TestClient,
) -> None:
    run_id = create_run(client)["id"]
    restarted_id = create_run(client)["id"]
    restarted = Worker(client, restarted_id)
    restarted.ok(status_running(), *training(epochs=2, steps_per_epoch=2, loss0=9.0))

    Worker(client, run_id).ok(
        status_running(),
        *training(epochs=2, steps_per_epoch=2, loss0=9.0),
        *training(epochs=2, steps_per_epoch=2, start_epoch=2, loss0=4.0),
    )
    restarted.ok(*training(epochs=1, steps_per_epoch=2, loss0=4.0))

    counts = epoch_counts(client, run_id)
    assert counts["batch_loss"] == Counter(range(1, 5))
    assert counts["test_acc"] == Counter({1: 1, 2: 1})
    counts = epoch_counts(client, restarted_id)
    assert counts["batch_loss"] == Counter({1: 1, 2: 1})
    assert counts["test_acc"] == Counter({1: 1})


def test_recovered_steps_fill_what_a_killed_attempt_never_sent_and_nothing_else(
    client: TestClient,
) -> None:
    run_id = create_run(client)["id"]
    worker = Worker(client, run_id)
    # First attempt: epochs 1-2 checkpointed, but steps 5-6 and epoch 2 never arrived.
    first = training(epochs=2, steps_per_epoch=3, loss0=9.0)
    worker.ok(status_running(), *first[:5], first[5])  # started, steps 1-4 (4 = epoch 2)
    worker.ok(batch(3, 1, 7, 9.0))  # ... and a step of epoch 3 that the resume trains again
    # Second attempt: resumes after epoch 2 and resends the checkpoint's steps 1-6 (and a
    # step 7, as a confused worker might) before training epoch 3.
    reply = worker.ok(
        status_running(),
        started(start_epoch=3, epochs=3, steps_per_epoch=3),
        recovered_batches(3, [1, 2, 3, 4, 5, 6, 7], loss0=4.0),
        *training(epochs=3, steps_per_epoch=3, start_epoch=3, loss0=4.0)[1:],
    )

    assert reply["status"] == "running"
    series = client.get(f"/api/runs/{run_id}/metrics?names=batch_loss").json()["series"]
    values = Counter(p["step"] for p in series["batch_loss"])
    assert values == Counter(range(1, 10))  # global steps 1..9, once each
    by_step = {p["step"]: (p["epoch"], p["value"]) for p in series["batch_loss"]}
    assert by_step[4] == (2, 9.0 - 0.04)  # arrived before the kill: kept as it was
    assert by_step[5] == (2, 4.0 - 0.05)  # never arrived: recovered from the checkpoint
    assert by_step[7] == (3, 4.0 - 0.07)  # epoch 3 is the new attempt's, not recovered


def test_recovered_steps_sent_twice_are_stored_once(client: TestClient) -> None:
    run_id = create_run(client)["id"]
    worker = Worker(client, run_id)
    worker.ok(status_running(), started(start_epoch=3, epochs=3, steps_per_epoch=2))
    recovered = recovered_batches(2, [1, 2, 3, 4], loss0=4.0)
    worker.ok(recovered, recovered)

    series = client.get(f"/api/runs/{run_id}/metrics?names=batch_loss").json()["series"]
    assert Counter(p["step"] for p in series["batch_loss"]) == Counter(range(1, 5))
