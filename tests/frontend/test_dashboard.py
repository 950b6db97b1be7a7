"""The dashboard in a real browser against a real `runboard serve` and its worker: the empty
state, launching from the form with live curves, cancelling from the runs table, comparing
finished runs, exporting, the API's 422 next to its field, and the stream's state."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.frontend.conftest import QUICK, RUN_WAIT_S, screenshot, wait_js
from tests.worker.conftest import Api

pytestmark = pytest.mark.slow


def row(page: Page, run_id: int) -> Any:
    return page.locator(f'#runs-table tr[data-run-id="{run_id}"]')


def chart_traces(page: Page, chart_id: str) -> list[dict[str, Any]]:
    """Name, dash and point count of each trace Plotly holds for the chart."""
    traces: list[dict[str, Any]] = page.evaluate(
        """(id) => (document.getElementById(id)?.data || []).map((t) => ({
             name: t.meta?.rawName ?? t.name, dash: t.line?.dash,
             points: (t.y || []).filter((v) => v !== null).length}))""",
        chart_id,
    )
    return traces


@pytest.fixture(scope="module")
def finished_pair(server: Api) -> tuple[int, int]:
    """Two finished runs that differ only in their widths."""
    narrow = server.create_run({**QUICK, "widths": [8, 8, 8, 16]}, name="narrow")
    wider = server.create_run({**QUICK, "widths": [8, 8, 8, 32]}, name="wider")
    for run in (narrow, wider):
        server.wait_status(run["id"], "succeeded", RUN_WAIT_S)
    return narrow["id"], wider["id"]


def test_an_empty_database_shows_an_invitation_to_launch_point_2(page: Page) -> None:
    # The first test of the session's fresh database (the modules that make runs come later).
    page.goto("/")
    empty = page.locator("#runs-empty")
    expect(empty).to_contain_text("No runs yet: launch point 2")
    expect(page.locator("#connection")).to_have_text("live")
    empty.get_by_role("link", name="launch point 2").click()
    expect(page).to_have_url(re.compile(r"#/launch\?preset=2$"))
    expect(page.locator("#preset-2")).to_be_checked()
    screenshot(page, "runs-empty")


def test_point_2_launched_from_the_form_draws_its_accuracy_live_beside_the_dashed_report_curve(
    page: Page, server: Api
) -> None:
    page.goto("/#/launch?preset=2")
    expect(page.locator("label[for=preset-2]")).to_contain_text("Convolutional neural network")
    expect(page.locator("label[for=preset-2]")).to_contain_text("The template's CNN")
    expect(page.locator("#f-widths")).to_have_value("32/32/32/64")  # the preset filled it
    page.select_option("#f-dataset", "synthetic")
    page.fill("#f-train_subset", "6144")  # about two seconds an epoch on this CPU
    page.fill("#f-test_subset", "512")
    page.fill("#f-device", "cpu")
    page.fill("#f-epochs", "3")
    page.fill("#f-name", "point 2 from the form")
    screenshot(page, "launch-form")
    page.click("#launch")
    expect(page).to_have_url(re.compile(r"#/run/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])
    assert server.run(run_id)["config"]["epochs"] == 3

    samples: list[tuple[str, int]] = []  # (status shown, test-accuracy points drawn)
    deadline = time.monotonic() + RUN_WAIT_S
    shot = False
    while time.monotonic() < deadline:
        status = page.locator("#run-status").inner_text()
        drawn = {t["name"]: t["points"] for t in chart_traces(page, "chart-accuracy")}
        samples.append((status, drawn.get("test accuracy", 0)))
        if status == "running" and samples[-1][1] >= 1 and not shot:
            screenshot(page, "run-live")
            shot = True
        if status == "succeeded" and samples[-1][1] == 3:
            break
        time.sleep(0.1)
    assert samples[-1] == ("succeeded", 3), samples[-20:]
    # Points arrived while the run was still running, without a reload, and kept coming.
    live = [i for i, (status, points) in enumerate(samples) if status == "running" and points >= 1]
    assert live, f"no point drawn while running: {sorted(set(samples))}"
    assert any(points > samples[live[0]][1] for _, points in samples[live[0] :])

    dashed = [t for t in chart_traces(page, "chart-accuracy") if t["dash"] == "dash"]
    assert dashed == [{"name": "report: test accuracy", "dash": "dash", "points": 20}]
    assert any(t["dash"] == "dash" for t in chart_traces(page, "chart-loss"))
    assert chart_traces(page, "chart-batch")[0]["points"] > 0
    # The end of the run: per-class accuracy, the superclass confusion matrix, the gap.
    expect(page.locator("#run-final")).to_be_visible()
    expect(page.locator("#chart-confusion .main-svg").first).to_be_attached()
    expect(page.locator("#chart-worst-classes .main-svg").first).to_be_attached()
    assert chart_traces(page, "chart-gap")[0]["points"] == 3
    expect(page.locator('[data-fact="device"]')).to_contain_text("cpu")
    page.wait_for_timeout(300)  # Plotly's transitions settle before the picture
    screenshot(page, "run-finished")


def test_a_second_run_is_cancelled_from_its_row_while_the_table_follows_it_live(
    page: Page, server: Api
) -> None:
    run = server.create_run({**QUICK, "epochs": 200}, name="to be cancelled")
    page.goto("/#/runs")
    status = row(page, run["id"]).locator(".status")
    expect(status).to_have_text("running", timeout=RUN_WAIT_S * 1000)  # was queued: live
    expect(row(page, run["id"]).locator(".progress-text")).to_contain_text("epoch")
    screenshot(page, "runs-live")
    row(page, run["id"]).get_by_role("button", name="Cancel").click()
    expect(status).to_have_text("cancelled", timeout=RUN_WAIT_S * 1000)
    expect(row(page, run["id"]).get_by_role("button", name="Cancel")).to_be_hidden()
    assert server.run(run["id"])["status"] == "cancelled"
    page.set_viewport_size({"width": 1920, "height": 1080})
    screenshot(page, "runs-1920")


def test_the_runs_table_filters_by_status_and_clones_a_run_from_its_row(
    page: Page, server: Api
) -> None:
    run = server.create_run({**QUICK, "epochs": 200}, name="filtered and cloned")
    server.cancel(run["id"])  # queued or running: cancelled now or within a step
    server.wait_status(run["id"], "cancelled", RUN_WAIT_S)
    page.goto("/#/runs")
    expect(row(page, run["id"])).to_be_visible()
    page.select_option("#filter-status", "succeeded")
    expect(row(page, run["id"])).to_have_count(0)
    expect(page).to_have_url(re.compile(r"status=succeeded"))
    page.select_option("#filter-status", "cancelled")
    expect(row(page, run["id"]).locator(".status")).to_have_text("cancelled")
    statuses = page.locator("#runs-table tbody .status").all_inner_texts()
    assert statuses and set(statuses) == {"cancelled"}, statuses
    row(page, run["id"]).get_by_role("button", name="Clone").click()
    expect(page).to_have_url(re.compile(r"#/run/\d+$"))
    clone_id = int(page.url.rsplit("/", 1)[1])
    server.cancel(clone_id)  # free the worker for the other tests
    assert clone_id != run["id"]
    assert server.run(clone_id)["config"] == server.run(run["id"])["config"]


def test_two_finished_runs_compare_by_their_difference_and_the_selection_lives_in_the_url(
    page: Page, finished_pair: tuple[int, int]
) -> None:
    narrow, wider = finished_pair
    page.goto("/#/runs")
    for run_id in (narrow, wider):
        row(page, run_id).get_by_role("checkbox").check()
    page.click("#compare-selected")
    expect(page).to_have_url(re.compile(rf"#/compare\?ids={narrow},{wider}$"))

    diff = page.locator("#config-diff tbody tr")
    expect(diff).to_have_count(1)  # only the widths differ
    expect(diff.first.locator("th")).to_have_text("widths")
    expect(diff.first.locator("td")).to_have_text(["8/8/8/16", "8/8/8/32"])
    expect(page.locator("#compare-summary tbody tr")).to_have_count(2)
    wait_js(page, "document.getElementById('compare-accuracy')?.data?.length > 0")
    names = [t["name"] for t in chart_traces(page, "compare-accuracy")]
    assert f"#{narrow} narrow" in names and f"#{wider} widths 8/8/8/32" in names, names
    assert "report 2: test" in names  # the reference curve, on by default
    screenshot(page, "compare")

    page.uncheck("#compare-ref")
    page.select_option("#compare-x", "time")
    expect(page).to_have_url(re.compile(r"x=time"))
    expect(page).to_have_url(re.compile(r"ref=0"))
    page.reload()  # a shared link shows the same comparison
    expect(page.locator("#compare-x")).to_have_value("time")
    expect(page.locator("#compare-ref")).not_to_be_checked()
    wait_js(page, "document.getElementById('compare-accuracy')?.data?.length > 0")
    names = [t["name"] for t in chart_traces(page, "compare-accuracy")]
    assert not any(name.startswith("report") for name in names), names
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.wait_for_timeout(300)
    screenshot(page, "compare-by-time-1920")


def test_charts_export_as_png_and_each_runs_metrics_as_csv(
    page: Page, finished_pair: tuple[int, int]
) -> None:
    narrow, _ = finished_pair
    page.goto(f"/#/run/{narrow}")
    wait_js(page, "document.getElementById('chart-accuracy')?.data?.[1]?.x?.length === 3")
    with page.expect_download() as png:
        card = page.locator(".chart-card", has=page.locator("#chart-accuracy"))
        card.locator("button.png").click()
    assert png.value.suggested_filename == f"run-{narrow}-accuracy.png"
    assert png.value.path().read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as csv:
        page.click("#run-csv")
    lines = csv.value.path().read_text().splitlines()
    assert lines[0] == "seq,epoch,step,name,value,time"
    assert sum(",test_acc," in line for line in lines) == 3


def test_a_refused_learning_rate_shows_the_apis_message_next_to_the_lr_field(page: Page) -> None:
    page.goto("/#/launch?preset=2")
    page.fill("#f-lr", "-1")
    page.click("#launch")
    error = page.locator('.field[data-field="lr"] .field-error')
    expect(error).to_have_text(re.compile("greater than 0"))
    expect(page.locator("#f-lr")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-lr")).to_be_focused()
    assert page.locator(".field-error:not(:empty)").count() == 1  # only the field it names
    assert "#/launch" in page.url  # nothing was launched
    screenshot(page, "launch-422")


def test_the_preset_picker_works_from_the_keyboard_and_point_3_launches_as_one_group(
    page: Page, server: Api
) -> None:
    page.goto("/#/launch?preset=2")
    expect(page.locator("#launch-group")).to_be_hidden()
    page.focus("#preset-2")
    page.keyboard.press("ArrowDown")  # radio groups move with the arrow keys
    expect(page.locator("#preset-3a")).to_be_checked()
    expect(page.locator("#f-widths")).to_have_value("128/128/128/256")
    expect(page.locator("#launch-group")).to_be_visible()
    page.select_option("#f-dataset", "synthetic")
    for field, value in (("train_subset", "64"), ("test_subset", "32"), ("epochs", "1")):
        page.fill(f"#f-{field}", value)
    page.fill("#f-device", "cpu")
    page.focus("#launch-group")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#/compare\?ids=\d+,\d+,\d+$"))
    ids = [int(i) for i in page.url.rsplit("=", 1)[1].split(",")]
    runs = [server.run(run_id) for run_id in ids]
    for run in runs:  # free the worker for the other tests
        if run["status"] in ("queued", "running"):
            server.cancel(run["id"])
    assert [run["preset"] for run in runs] == ["3a", "3b", "3c"]
    assert [run["config"]["widths"][0] for run in runs] == [128, 256, 512]
    assert {run["group_id"] for run in runs} != {None} and len({r["group_id"] for r in runs}) == 1
    assert all(run["config"]["train_subset"] == 64 for run in runs)
    expect(page.locator('#config-diff tr[data-field="widths"] td')).to_have_count(3)


def test_a_comparison_follows_a_running_run_live_without_reloading(
    page: Page, server: Api, finished_pair: tuple[int, int]
) -> None:
    narrow, _ = finished_pair
    run = server.create_run({**QUICK, "epochs": 200}, name="compared while running")
    page.goto(f"/#/compare?ids={narrow},{run['id']}")
    live_row = page.locator("#compare-summary tbody tr").nth(1)
    expect(live_row).to_contain_text("running", timeout=RUN_WAIT_S * 1000)

    def test_points() -> int:  # the running run's test-accuracy trace (solid, its 2nd run)
        return int(chart_traces(page, "compare-accuracy")[2]["points"])

    before = test_points()
    wait_js(page, f"(document.getElementById('compare-accuracy')?.data?.[2]?.y || [])"
                  f".filter((v) => v !== null).length > {before}")  # fmt: skip
    server.cancel(run["id"])
    expect(live_row).to_contain_text("cancelled", timeout=RUN_WAIT_S * 1000)
    assert test_points() > before


def test_the_header_shows_when_the_stream_drops_and_when_it_has_reconnected(
    page: Page, server: Api
) -> None:
    """The server goes away and comes back on the same port: EventSource reconnects by
    itself (with Last-Event-ID), and the header says so all along."""
    page.goto("/#/runs")
    badge = page.locator("#connection")
    expect(badge).to_have_text("live")
    server.stop()
    try:
        expect(badge).to_have_text("reconnecting…")
        expect(badge).to_have_attribute("data-state", "reconnecting")
        screenshot(page, "runs-reconnecting")
    finally:
        server.start()
    expect(badge).to_have_text("live")
    # Changes made after the reconnection still reach the table, without a reload.
    run = server.create_run({**QUICK, "epochs": 1}, name="after the reconnection")
    expect(row(page, run["id"]).locator(".run-name")).to_have_text("after the reconnection")


def test_a_failed_run_shows_its_error_message_in_the_run_view(page: Page, server: Api) -> None:
    run = server.create_run({**QUICK, "device": "mps"}, name="no such device")  # Linux: no MPS
    page.goto(f"/#/run/{run['id']}")
    expect(page.locator("#run-status")).to_have_text("failed", timeout=RUN_WAIT_S * 1000)
    expect(page.locator("#run-error")).to_be_visible()
    expect(page.locator("#run-error")).to_contain_text("mps")
    expect(page.locator("#run-cancel")).to_be_hidden()
    expect(page.locator("#run-final")).to_be_hidden()  # no epoch ran: no results to draw
    screenshot(page, "run-failed")
