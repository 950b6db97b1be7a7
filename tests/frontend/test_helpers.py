"""The frontend's pure helpers, run in the same Chromium the browser tests use: each module
is imported into a page served by the real server and called there (no node needed)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page


def call(page: Page, module: str, body: str) -> Any:
    """Evaluates `body` (an expression over `m`, the imported module) in the dashboard page."""
    if not page.url.startswith("http"):
        page.goto("/#/launch")
    return page.evaluate(
        f"async () => {{ const m = await import('/js/{module}'); return {body}; }}"
    )


def test_durations_percentages_and_progress_read_as_people_write_them(page: Page) -> None:
    durations = "[m.duration(5), m.duration(125), m.duration(7260), m.duration(null)]"
    assert call(page, "format.js", durations) == ["5 s", "2 min 05 s", "2 h 01 min", "–"]
    assert call(page, "format.js", "[m.percent(0.2934), m.percent(null), m.integer(43444.4)]") == [
        "29.3%", "–", "43,444",
    ]  # fmt: skip
    run = "{status: 'running', epoch: 2, epochs: 4, step: 5, steps_per_epoch: 10}"
    assert call(page, "format.js", f"m.progressFraction({run})") == 0.375
    assert call(page, "format.js", f"m.progressLabel({run})") == "epoch 2/4 · step 5/10"


def test_time_left_extrapolates_the_elapsed_time_over_the_fraction_done(page: Page) -> None:
    started = "2026-01-01T00:00:00Z"
    run = (
        "{status: 'running', epoch: 2, epochs: 4, step: 0, steps_per_epoch: 10,"
        f" started_at: '{started}'}}"
    )
    now = "Date.parse('2026-01-01T00:01:00Z')"  # a quarter done after 60 s: 180 s to go
    assert call(page, "format.js", f"m.timeLeftSeconds({run}, {now})") == 180
    finished = run.replace("'running'", "'succeeded'")
    assert call(page, "format.js", f"m.timeLeftSeconds({finished}, {now})") is None


def test_text_for_plotly_is_escaped_and_422_details_map_to_their_fields(page: Page) -> None:
    assert call(page, "format.js", "m.plotlyText('<img src=x onerror=\"a&b\">')") == (
        '&lt;img src=x onerror="a&amp;b"&gt;'
    )
    detail = (
        "[{loc: ['body', 'overrides', 'lr'], msg: 'Input should be greater than 0'},"
        " {loc: ['body', 'overrides', 'widths', '0'], msg: 'bad width'},"
        " {loc: ['body'], msg: 'broken'}]"
    )
    assert call(page, "format.js", f"m.fieldErrors({detail}, ['lr', 'widths'])") == {
        "lr": "Input should be greater than 0",
        "widths": "bad width",
        "_form": "broken",
    }


def test_metrics_events_merge_in_the_columnar_and_the_older_point_list_shape(page: Page) -> None:
    result = call(
        page,
        "series.js",
        """(() => {
          const store = {};
          m.mergeEvent(store, {run_id: 1, series: {
            test_acc: {seq: [3, 3], epoch: [1, 2], step: [1, 2], value: [0.1, null],
                       time: [10, 20]},
            batch_loss: {seq: [2], epoch: [1], step: [4], value: [4.5], time: [9]}}});
          m.mergeEvent(store, {run_id: 1, points: [
            {seq: 4, epoch: 3, step: 3, name: 'test_acc', value: 0.3, time: 30},
            {seq: 4, epoch: 2, step: 2, name: 'test_acc', value: 0.2, time: 25},
            {seq: 4, epoch: 1, step: 2, name: 'batch_loss', value: 4.6, time: 8}]});
          return store;
        })()""",
    )
    # Each step once, in step order; a resent step replaces the old value (null = a gap).
    assert result["test_acc"] == {
        "step": [1, 2, 3], "epoch": [1, 2, 3], "value": [0.1, 0.2, 0.3], "time": [10, 25, 30],
    }  # fmt: skip
    assert result["batch_loss"]["step"] == [2, 4]
    assert result["batch_loss"]["value"] == [4.6, 4.5]


def test_smoothing_gap_current_epoch_and_wall_time_are_derived_from_the_series(page: Page) -> None:
    assert call(page, "series.js", "m.ema([1, 1, null, 1], 0.5)") == [1, 1, None, 1]
    smoothed = call(page, "series.js", "m.ema([0, 10], 0.5)")
    assert smoothed[0] == 0 and 6 < smoothed[1] < 7  # bias-corrected: (0.5*0 + 5)/0.75
    gap = call(
        page,
        "series.js",
        "m.generalisationGap({train_acc: {epoch: [1, 2], value: [0.5, 0.9]},"
        " test_acc: {epoch: [1, 2], value: [0.25, 0.4]}})",
    )
    assert gap == {"epoch": [1, 2], "value": [0.25, 0.5]}
    batches = call(
        page,
        "series.js",
        "m.currentEpochBatches({batch_loss: {step: [1, 2, 3, 4], epoch: [1, 1, 2, 2],"
        " value: [4, 3, 2, 1]}}, 2)",
    )
    assert batches == {"epoch": 2, "x": [1, 2], "y": [2, 1]}
    assert call(page, "series.js", "m.cumulativeMinutes([30, 30, null])") == [0.5, 1, None]
    assert call(page, "series.js", "m.extremes([0.5, 0.9, 0.1, 0.7], 2)") == {
        "best": [1, 3], "worst": [2, 0],
    }  # fmt: skip


def test_legend_names_say_what_differs_from_the_first_run(page: Page) -> None:
    runs = """[
      {id: 1, name: 'point 3a',
       config: {widths: [128, 128, 128, 256], batch_norm: false, lr: 0.0001}},
      {id: 2, name: 'wide', config: {widths: [256, 256, 256, 512], batch_norm: false, lr: 0.0001}},
      {id: 3, name: 'bn', config: {widths: [128, 128, 128, 256], batch_norm: true, lr: 0.0001}},
      {id: 4, name: 'again', config: {widths: [128, 128, 128, 256], batch_norm: false, lr: 0.0001}},
      {id: 5, name: 'aug', config: {widths: [128, 128, 128, 256], batch_norm: false, lr: 0.001,
                                    augmentations: ['flip']}}]"""
    assert call(page, "legend.js", f"m.legendNames({runs})") == [
        "#1 point 3a",
        "#2 widths 256/256/256/512",
        "#3 +BN",
        "#4 again",
        "#5 +flip, lr 0.001",
    ]
    assert call(page, "legend.js", "m.configDiff([{a: 1, b: [1]}, {a: 1, b: [2]}])") == ["b"]
    assert call(page, "legend.js", "m.configsFromDiff({lr: [0.1, 0.2]}, 2)") == [
        {"lr": 0.1}, {"lr": 0.2},
    ]  # fmt: skip
    assert call(page, "legend.js", "new Set([...Array(10).keys()].map(m.colour)).size") == 10


def test_routes_round_trip_through_the_url_hash(page: Page) -> None:
    assert call(page, "router.js", "m.parseHash('#/compare?ids=3,5&x=time')") == {
        "view": "compare", "args": [], "params": {"ids": "3,5", "x": "time"},
    }  # fmt: skip
    assert call(page, "router.js", "m.parseHash('#/run/7')") == {
        "view": "run", "args": ["7"], "params": {},
    }  # fmt: skip
    assert call(page, "router.js", "m.parseHash('')")["view"] == "runs"
    assert call(page, "router.js", "m.buildHash('compare', [], {ids: '3,5', x: ''})") == (
        "#/compare?ids=3,5"
    )
    assert call(page, "router.js", "m.parseIds('3, 5,,x,5 8')") == [3, 5, 8]


def test_form_text_becomes_config_values_and_only_changed_fields_are_sent(page: Page) -> None:
    result = call(
        page,
        "fields.js",
        """(() => {
          const f = (key) => m.FIELDS.find((x) => x.key === key);
          return {
            widths: m.fromFormValue(f('widths'), '64/64, 64/128'),
            lr: m.fromFormValue(f('lr'), '-1'),
            bad: m.fromFormValue(f('epochs'), 'three'),
            subset: m.fromFormValue(f('train_subset'), ''),
            shown: m.toFormValue(f('widths'), [32, 32, 32, 64]),
            overrides: m.overridesFrom({lr: '0.001', epochs: '20', augmentations: ['flip']},
                                       {lr: 0.0001, epochs: 20, augmentations: []}),
            tags: m.parseTags(' a, b ,,c'),
          };
        })()""",
    )
    assert result == {
        "widths": [64, 64, 64, 128],
        "lr": -1,
        "bad": "three",  # sent as typed, so that the API's 422 names the field
        "subset": None,
        "shown": "32/32/32/64",
        "overrides": {"lr": 0.001, "augmentations": ["flip"]},
        "tags": ["a", "b", "c"],
    }
    filters = "{status: 'running', preset: '', tag: 'lr'}"
    assert call(page, "views/runs.js", f"m.matches({{status: 'running', tags: ['lr']}}, {filters})")
    assert not call(page, "views/runs.js", f"m.matches({{status: 'running', tags: []}}, {filters})")


def test_replicate_statistics_agree_with_the_apis_by_hand_values(page: Page) -> None:
    # mean 0.32; squares 0.0004 + 0 + 0.0004 over n - 1 = 2: std 0.02 (as test_stats.py)
    s = call(page, "stats.js", "m.summarize([0.30, 0.32, null, 0.34])")
    assert abs(s["mean"] - 0.32) < 1e-12 and abs(s["std"] - 0.02) < 1e-12 and s["n"] == 3
    assert call(page, "stats.js", "m.summarize([0.5]).std") is None
    b = call(page, "stats.js", "m.band([[0.1, 0.2], [0.3, null, 0.5]])")
    assert b["n"] == [2, 1, 1] and abs(b["std"][0] - 0.02**0.5) < 1e-12 and b["std"][1] is None
    assert call(page, "stats.js", "m.edges(m.band([[1, 2], [3, 2]]), 'minmax')") == {
        "lower": [1, 2], "upper": [3, 2],
    }  # fmt: skip
    assert call(page, "stats.js", "m.meanStd({mean: 0.312, std: 0.008, n: 3})") == (
        "31.2 ± 0.8 % (n=3)"
    )
    assert call(page, "stats.js", "m.meanStd({mean: 0.312, std: null, n: 1})") == "31.2 %"
    values = "[0.1, 0.4, 0.3, null]"
    picks = ", ".join(
        f"m.valueAt({values}, {mode})" for mode in ("'best'", "'final'", "'epoch', 2")
    )
    picks = f"[{picks}]"
    assert call(page, "stats.js", picks) == [0.4, 0.3, 0.4]
    assert call(page, "stats.js", "m.timeToAccuracy({epoch: 2, seconds: 22.4})") == "epoch 2 · 22 s"
    effect = "{against: '1', difference_pp: 7.1, ci_low_pp: 5.9, ci_high_pp: 8.3}"
    assert call(page, "views/report.js", f"m.effectText({effect})") == "+7.1 pp [+5.9, +8.3] vs 1"


def test_the_whole_run_batch_loss_gets_epoch_lines_and_the_rules_read_as_words(
    page: Page,
) -> None:
    store = "{batch_loss: {step: [1, 2, 3], epoch: [1, 1, 2], value: [4, null, 2], time: []}}"
    whole = call(page, "series.js", f"m.wholeRunBatches({store}, 0.5)")
    assert whole["x"] == [1, 2, 3] and whole["y"] == [4, None, 2]
    assert whole["smooth"][1] is None and 2 < whole["smooth"][2] < 4  # EMA keeps gaps
    assert call(page, "series.js", "m.epochBoundaries(196, 3)") == [196.5, 392.5]
    config = "{patience: 3, min_delta: 0.01, target_accuracy: 0.5, guard_divergence: 10}"
    assert call(page, "format.js", f"m.rulesLabel({config})") == (
        "patience 3 epochs (min gain 1.0%), target 50.0%, guard NaN/inf, guard 10× first loss"
    )
    assert call(page, "format.js", "m.rulesLabel({guard_nonfinite: false})") == "none"
    stopped = "{stopped_by: 'patience', stopped_epoch: 5}"
    assert call(page, "format.js", f"m.stoppedLabel({stopped})") == "patience after epoch 5"
    field = "{kind: 'optfloat'}"
    assert call(
        page, "fields.js", f"[m.fromFormValue({field}, ''), m.fromFormValue({field}, '0.5')]"
    ) == [None, 0.5]
