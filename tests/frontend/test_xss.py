"""Text from the API is shown as text: markup in a run's name, notes and tags appears
literally in the runs table, the run view and the compare view (charts included), and
none of it runs."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.frontend.conftest import QUICK, RUN_WAIT_S, screenshot
from tests.support.live import http
from tests.worker.conftest import Api

pytestmark = pytest.mark.slow

NAME = '<img src=x onerror="window.__xss=1">'
NOTES = "<script>window.__xss=2</script><b>bold?</b> & <i>more</i>"
TAGS = ["<svg onload=window.__xss=3>", "<a href=javascript:window.__xss=4>x</a>"]


def assert_nothing_ran(page: Page) -> None:
    assert page.evaluate("typeof window.__xss") == "undefined"
    # No element was made from the payloads anywhere in the page (charts included).
    injected = "img[src=x], main script, svg[onload], a[href^=javascript], main b, main i"
    assert page.locator(injected).count() == 0


def test_markup_in_names_notes_and_tags_shows_as_literal_text_and_never_runs(
    page: Page, server: Api
) -> None:
    plain = server.create_run({**QUICK, "epochs": 1}, name="plain")
    run = server.create_run({**QUICK, "epochs": 2}, name=NAME)
    response = http.patch(f"{server.url}/api/runs/{run['id']}", json={"notes": NOTES, "tags": TAGS})
    assert response.status_code == 200, response.text
    server.wait_status(run["id"], "succeeded", RUN_WAIT_S)
    server.wait_status(plain["id"], "succeeded", RUN_WAIT_S)

    page.goto("/#/runs")
    row = page.locator(f'#runs-table tr[data-run-id="{run["id"]}"]')
    expect(row.locator(".run-name")).to_have_text(NAME)
    expect(row.locator(".tag")).to_have_text(TAGS)
    assert_nothing_ran(page)
    screenshot(page, "xss-runs")

    page.goto(f"/#/run/{run['id']}")
    expect(page.locator("#run-title")).to_have_text(f"{NAME} #{run['id']}")
    expect(page.locator("#run-notes")).to_have_text(NOTES)
    expect(page.locator("#run-tags .tag")).to_have_text(TAGS)
    expect(page.locator("#run-final")).to_be_visible()
    assert_nothing_ran(page)
    screenshot(page, "xss-run")

    page.goto(f"/#/compare?ids={run['id']},{plain['id']}")
    summary = page.locator(f'#compare-summary tr[data-run-id="{run["id"]}"]')
    expect(summary.locator(".muted")).to_have_text(NAME)
    expect(summary.locator("a").first).to_have_text(f"#{run['id']} {NAME}")
    # Plotly draws legend entries from the escaped names: the text reads as typed.
    legend = page.locator("#compare-accuracy .legendtext").first
    expect(legend).to_have_text(f"#{run['id']} {NAME}")
    assert_nothing_ran(page)
    screenshot(page, "xss-compare")
