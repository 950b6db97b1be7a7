"""Replicates and the report card in a real browser against `runboard serve` and its worker:
a 3-seed group launched from the form, its band growing live in the group view, pinned on
the report card, and the card downloaded as Markdown and as HTML that opens offline."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.frontend.conftest import RUN_WAIT_S, screenshot, wait_js
from tests.worker.conftest import Api

pytestmark = pytest.mark.slow

FORM = {  # tiny: three seeds train in seconds on the CPU, on the set that learns at once
    "#f-train_subset": "512", "#f-test_subset": "128", "#f-widths": "8/8/8/16",
    "#f-fc_width": "64", "#f-batch_size": "64", "#f-epochs": "2", "#f-device": "cpu",
    "#f-name": "point 2 replicas", "#f-seeds": "3",
}  # fmt: skip


# Traces of runs in the compare accuracy chart; 0 while any band is still drawn.
PER_RUN_TRACES = """(() => { const d = document.getElementById('compare-accuracy')?.data || [];
  if (d.some((t) => t.meta?.band)) return 0;
  return d.filter((t) => !(t.meta?.rawName || '').startsWith('report')).length; })()"""


def band_state(page: Page) -> dict[str, Any]:
    """Runs counted per epoch and the band's drawn points in the group's accuracy chart."""
    state: dict[str, Any] = page.evaluate(
        """() => { const el = document.getElementById('group-accuracy');
             const bands = (el?.data || []).filter((t) => t.meta?.band);
             return { n: JSON.parse(el?.dataset.n || '[]'),
                      band: bands.map((t) => (t.y || []).filter((v) => v !== null).length) }; }"""
    )
    return state


def test_a_three_seed_group_grows_its_band_live_is_pinned_and_the_card_downloads(
    page: Page, server: Api, browser: Browser, tmp_path: Path
) -> None:
    page.goto("/#/launch?preset=2")
    page.select_option("#f-dataset", "synthetic-easy")
    for selector, value in FORM.items():
        page.fill(selector, value)
    page.click("#launch-seeds")
    expect(page).to_have_url(re.compile(r"#/group/\d+$"))
    group_id = int(page.url.rsplit("/", 1)[1])
    group = json.loads(page.evaluate(f"fetch('/api/groups/{group_id}').then(r => r.text())"))
    assert [run["config"]["seed"] for run in group["runs"]] == [0, 1, 2]
    assert {run["config"]["dataset"] for run in group["runs"]} == {"synthetic-easy"}

    seen: list[tuple[int, ...]] = []  # runs counted per epoch, as the chart showed them
    deadline = time.monotonic() + RUN_WAIT_S
    while time.monotonic() < deadline:
        state = band_state(page)
        if not seen or tuple(state["n"]) != seen[-1]:
            seen.append(tuple(state["n"]))
        if state["n"] == [3, 3] and state["band"] == [2, 2]:
            break
        time.sleep(0.1)
    assert seen[-1] == (3, 3), seen
    assert len(seen) >= 3, f"the band did not grow live: {seen}"  # e.g. (), (1,), ..., (3, 3)
    expect(page.locator("#group-facts")).to_contain_text("3 runs, 3 finished")
    expect(page.locator("#group-facts")).to_contain_text("(n=3)")
    screenshot(page, "group")

    page.click("#group-compare")  # compare aggregates the replicas: one mean, one band
    expect(page).to_have_url(re.compile(r"agg=1"))
    expect(page.locator("#compare-agg")).to_be_checked()
    names = wait_js(page, "(document.getElementById('compare-accuracy')?.data || [])"
                    ".filter((t) => !t.meta?.band).map((t) => t.meta?.rawName)")  # fmt: skip
    assert f"group #{group_id} (n=3)" in names and len([n for n in names if "#" in n]) == 2
    expect(page.locator("#compare-summary tbody tr")).to_have_count(3)
    page.uncheck("#compare-agg")  # one trace per run again (test and train), no band
    per_run = wait_js(page, PER_RUN_TRACES)
    assert per_run == 6
    # Time to accuracy at a threshold typed in: 0% is reached at each run's first epoch.
    page.fill("#compare-threshold", "0")
    page.locator("#compare-threshold").dispatch_event("change")
    first = page.locator("#compare-summary tbody tr").first.locator("td").nth(4)
    expect(first).to_contain_text("epoch 1 ·")
    assert "threshold=0" in page.url

    page.goto("/#/runs")  # the runs table folds the group into one row that expands
    folded = page.locator(f'#runs-table tr[data-group-id="{group_id}"]')
    expect(folded.locator(".n")).to_have_text("n=3")
    expect(folded.locator(".best")).to_contain_text("(n=3)")
    members = [page.locator(f'#runs-table tr[data-run-id="{run["id"]}"]') for run in group["runs"]]
    expect(members[0]).to_be_hidden()
    folded.get_by_role("button").click()
    for member in members:
        expect(member).to_be_visible()
    screenshot(page, "runs-group")

    page.goto("/#/report")
    row = page.locator('#report-table tr[data-point="2"]')
    page.select_option("#pin-kind-2", "group")
    page.fill("#pin-id-2", str(group_id))
    page.click("#pin-2")
    expect(row.locator(".represented")).to_contain_text(f"group #{group_id}")
    expect(row.locator(".represented .pinned")).to_have_text("pinned")
    expect(row.locator(".represented .synthetic")).to_have_text("synthetic-easy")
    expect(row.locator(".final")).to_contain_text("(n=3)")
    page.select_option("#pin-kind-3a", "group")
    page.fill("#pin-id-3a", str(group_id))
    page.click("#pin-3a")  # a group of point 2 cannot stand for 3a: the API says why
    expect(page.locator("#report-error")).to_contain_text("group_id")
    screenshot(page, "report")

    with page.expect_download() as markdown:
        page.click("#report-md")
    text = Path(markdown.value.path()).read_text("utf-8")
    assert re.search(rf"\| 2 \| Convolutional neural network \| 29 % \|.*group #{group_id}", text)
    assert text.count("data:image/png;base64,") == 12
    with page.expect_download() as page_download:
        page.click("#report-html")
    html = tmp_path / "report.html"
    page_download.value.save_as(html)
    assert f"group #{group_id}" in html.read_text("utf-8")

    offline = browser.new_context()  # a fresh browser with no network opens the file
    offline.set_offline(True)
    try:
        tab = offline.new_page()
        tab.goto(html.as_uri())
        expect(tab.locator("h1")).to_have_text("Homework 3: the report card")
        loaded = tab.evaluate("[...document.images].map((i) => i.complete && i.naturalWidth > 0)")
        assert loaded == [True] * 12
    finally:
        offline.close()
