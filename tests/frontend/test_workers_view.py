"""The Workers page lists the local worker with what it holds, and the launch form warns
when no online worker can train what it asks for (CIFAR-100, a GPU)."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Page, expect

from tests.frontend.conftest import screenshot
from tests.support.live import http
from tests.worker.conftest import Api

HELLO_WAIT_S = 120.0  # the local worker says hello once Celery is ready (torch imported)


def online_workers(server: Api) -> list[dict[str, Any]]:
    """The workers not yet lost, newest first: a restart of the session's server (another
    test's) leaves its old worker listed as online until the heartbeat timeout."""
    deadline = time.monotonic() + HELLO_WAIT_S
    while True:
        workers = http.get(f"{server.url}/api/workers").json()["workers"]
        online = [w for w in workers if w["state"] != "lost" and not w["name"].endswith("@evil")]
        if online:
            return sorted(online, key=lambda w: w["started_at"], reverse=True)
        assert time.monotonic() < deadline, "the local worker never said hello"
        time.sleep(0.2)


def test_the_workers_page_lists_the_local_worker_with_its_device_and_data_sets(
    page: Page, server: Api
) -> None:
    online = online_workers(server)
    worker = online[0]  # the server's own local worker
    assert worker["device"] == "cpu" and "synthetic-easy" in worker["datasets"]
    page.goto("/#/workers")
    row = page.locator(f'#workers tr[data-worker="{worker["name"]}"]')
    expect(row).to_contain_text("cpu")
    expect(row).to_contain_text("synthetic-easy")
    expect(row.locator(".status")).to_have_text(worker["state"])
    expect(page.locator("#workers-summary")).to_contain_text(f"{len(online)} online")
    expect(page.locator('nav a[data-view="workers"]')).to_have_attribute("aria-current", "")
    screenshot(page, "workers")


def test_the_launch_form_warns_without_cifar_100_or_a_gpu_and_offers_synthetic(
    page: Page, server: Api
) -> None:
    worker = online_workers(server)[0]
    assert "cifar100" not in worker["datasets"]  # the test stack's data folder is empty
    page.goto("/#/launch?preset=2")  # point 2 trains on CIFAR-100
    notice = page.locator("#launch-notice")
    expect(notice.locator('[data-warning="cifar"]')).to_contain_text(
        "No online worker has CIFAR-100"
    )
    page.click("#use-synthetic")
    expect(page.locator("#f-dataset")).to_have_value("synthetic")
    expect(notice).to_be_hidden()
    page.fill("#f-device", "cuda:0")
    page.locator("#f-device").dispatch_event("change")
    expect(notice.locator('[data-warning="gpu"]')).to_contain_text("no online worker has a GPU")
    screenshot(page, "launch-notice")


def test_a_workers_hostile_hello_is_shown_as_text(page: Page, server: Api) -> None:
    hostile = '<img src=x onerror="window.pwned=1">'
    hello = {"name": f"{hostile}@evil", "host": hostile, "device": "cpu", "version": hostile,
             "datasets": [hostile], "weights": []}  # fmt: skip
    assert http.post(f"{server.url}/api/workers", json=hello).status_code == 200
    page.goto("/#/workers")
    row = page.locator("#workers tr", has_text="@evil")
    expect(row).to_contain_text(hostile)
    assert page.locator("#workers img").count() == 0
    assert page.evaluate("() => window.pwned") is None
