"""Steering in a real browser: a run's whole-run batch-loss chart grows live, a patience rule
stops it (shown on the run view and in the table), and its resource chart is drawn."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from tests.frontend.conftest import QUICK, RUN_WAIT_S, screenshot
from tests.frontend.test_dashboard import chart_traces, row
from tests.worker.conftest import Api

pytestmark = pytest.mark.slow

# 32 steps an epoch; no gain can reach min_delta 1.0, so patience 2 stops it after epoch 3.
PATIENT = {**QUICK, "dataset": "synthetic-easy", "train_subset": 2048, "epochs": 40,
           "patience": 2, "min_delta": 1.0}  # fmt: skip
STEPS = 32


def test_a_run_stopped_by_patience_grows_its_whole_run_loss_chart_live_and_shows_resources(
    page: Page, server: Api
) -> None:
    run = server.create_run(PATIENT, name="patient")
    page.goto(f"/#/run/{run['id']}")
    expect(page.locator('[data-fact="rules"]')).to_contain_text("patience 2 epochs")

    drawn: list[tuple[str, int]] = []  # (status shown, batch-loss points drawn)
    deadline = time.monotonic() + RUN_WAIT_S
    while time.monotonic() < deadline:
        status = page.locator("#run-status").inner_text()
        traces = {t["name"]: t["points"] for t in chart_traces(page, "chart-batch")}
        drawn.append((status, traces.get("batch loss", 0)))
        if status == "succeeded":
            break
        time.sleep(0.1)
    running = [points for status, points in drawn if status == "running"]
    assert drawn[-1][0] == "succeeded", drawn[-10:]
    assert running and max(running) > min(running), "the chart did not grow while running"

    expect(page.locator('[data-fact="stopped"]')).to_have_text("patience after epoch 3")
    page.wait_for_timeout(400)  # the last redraw (150 ms debounce)
    steps = page.evaluate("() => document.getElementById('chart-batch').data[0].x")
    assert len(steps) == 3 * STEPS and steps[-1] == 3 * STEPS  # the whole run, global steps
    shapes = page.evaluate("() => document.getElementById('chart-batch').layout.shapes.length")
    assert shapes == 2  # a dotted line where epochs 2 and 3 began
    assert {t["name"] for t in chart_traces(page, "chart-batch")} == {"batch loss", "EMA 0.60"}
    expect(page.locator("#batch-downsampled")).to_be_hidden()  # 96 points: all drawn

    resources = {t["name"]: t["points"] for t in chart_traces(page, "chart-resources")}
    assert resources["resident memory (MiB)"] >= 1 and resources["CPU (% of a core)"] >= 1
    expect(page.locator('[data-fact="peak"]')).to_contain_text("MiB RSS")
    lrs = page.evaluate("() => document.getElementById('chart-lr').data[0]")
    assert lrs["x"] == [1, 2, 3] and lrs["y"] == [1e-4] * 3
    shown = page.evaluate("() => document.getElementById('chart-lr')._fullLayout.xaxis.range")
    assert shown[0] <= 1 and shown[1] >= 3  # every epoch in view
    screenshot(page, "run-stopped-by-patience")

    page.goto("/#/runs")
    expect(row(page, run["id"])).to_be_visible(timeout=30_000)
    screenshot(page, "runs-stopped-by")
    expect(row(page, run["id"]).locator(".stopped-by")).to_have_text("patience after epoch 3")
