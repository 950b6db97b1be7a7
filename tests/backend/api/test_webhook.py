"""RUNBOARD_WEBHOOK_URL: every run's end is posted to a real local HTTP server, in the
format Slack and Discord accept, retried while the receiver fails, never blocking ingest."""

from __future__ import annotations

import time

from tests.backend.api.conftest import MakeClient
from tests.backend.api.helpers import failed, finished, running_run, training
from tests.support.webhook import WebhookReceiver


def test_a_run_that_ends_is_posted_with_its_status_accuracy_and_link(
    make_client: MakeClient,
) -> None:
    with WebhookReceiver() as receiver:
        client = make_client(webhook_url=receiver.url, public_url="http://board.example:8000/")
        run_id, worker = running_run(client, name="lr sweep")
        worker.ok(*training(2, 3)[1:], finished(stopped_by="patience", stopped_epoch=2))
        failed_id, other = running_run(client, name="doomed")
        other.ok(failed("guard: the loss was nan at step 7"))

        first, second = receiver.wait(2)

    assert first["run"] == run_id and first["status"] == "succeeded"
    assert first["link"] == f"http://board.example:8000/#/run/{run_id}"
    assert first["final_test_acc"] == 0.1 and first["stopped_by"] == "patience"
    assert first["text"] == first["content"]  # Slack reads `text`, Discord `content`
    assert "'lr sweep' succeeded, final test accuracy 10.0%" in first["text"]
    assert "stopped by patience after epoch 2" in first["text"] and first["link"] in first["text"]
    assert second["run"] == failed_id and second["status"] == "failed"
    assert "the loss was nan at step 7" in second["text"]


def test_a_failing_receiver_is_retried_until_it_takes_the_message_and_ingest_never_waits(
    make_client: MakeClient,
) -> None:
    with WebhookReceiver(failures=2) as receiver:
        client = make_client(webhook_url=receiver.url)
        run_id, worker = running_run(client)
        started = time.monotonic()
        worker.ok(finished())
        answered = time.monotonic() - started

        [body] = receiver.wait(1)

    assert receiver.requests == 3 and body["run"] == run_id  # two 500s, then taken
    assert answered < 1.0  # the retries' waits (0.5 s, then 1 s) were not the ingest's
