// Compare: runs overlaid by epoch or wall time, smoothing, reference curves, summary and the
// config diff. Everything chosen here lives in the URL, so a comparison can be shared.
import { api, follow } from "../api.js";
import { chartCard, drawLines, line, purge } from "../charts.js";
import { append, clear, h } from "../dom.js";
import { duration, integer, number, percent } from "../format.js";
import { colour, configsFromDiff, displayValue, legendNames } from "../legend.js";
import { parseIds, replaceParams } from "../router.js";
import { cumulativeMinutes } from "../series.js";
import { timeToAccuracy } from "../stats.js";
import { drawClasses, traces, units } from "./compare-extra.js";

const REF = "#7F7F7F";

export async function compareView(main, route) {
  const state = {
    ids: parseIds(route.params.ids),
    x: route.params.x === "time" ? "time" : "epoch",
    smooth: Math.min(Math.max(Number(route.params.smooth) || 0, 0), 0.95),
    ref: route.params.ref !== "0",
    agg: route.params.agg === "1",
    value: ["final", "epoch"].includes(route.params.value) ? route.params.value : "best",
    epoch: Math.max(1, Number(route.params.epoch) || 1),
    threshold: route.params.threshold || "", // time to accuracy, in percent; empty: the report's
  };
  const idsInput = h("input", { id: "compare-ids", type: "text", value: state.ids.join(","), placeholder: "e.g. 3,5,8" });
  const xSelect = h("select", { id: "compare-x" }, h("option", { value: "epoch" }, "epoch"),
    h("option", { value: "time" }, "wall time (min)"));
  xSelect.value = state.x;
  const smooth = h("input", { id: "compare-smooth", type: "range", min: 0, max: 0.95, step: 0.05, value: state.smooth });
  const smoothValue = h("output", { for: "compare-smooth" }, state.smooth.toFixed(2));
  const ref = h("input", { id: "compare-ref", type: "checkbox", checked: state.ref });
  const agg = h("input", { id: "compare-agg", type: "checkbox", checked: state.agg });
  const valueSelect = h("select", { id: "compare-value" }, ["best", "final", "epoch"].map((v) =>
    h("option", { value: v, selected: v === state.value }, v === "epoch" ? "at epoch k" : v)));
  const epochInput = h("input", { id: "compare-epoch", type: "number", min: 1, value: state.epoch, class: "small-number", "aria-label": "epoch k" });
  const thresholdInput = h("input", { id: "compare-threshold", type: "number", min: 0, max: 100, step: 1, value: state.threshold,
    class: "small-number", placeholder: "report", "aria-label": "time to accuracy threshold (%)" });
  const form = h("form", { class: "filters", id: "compare-form" },
    h("label", { for: "compare-ids" }, "runs"), idsInput, h("button", { type: "submit" }, "Apply"),
    h("label", { for: "compare-x" }, "x axis"), xSelect,
    h("label", { for: "compare-smooth" }, "smoothing"), smooth, smoothValue,
    h("label", { for: "compare-ref", class: "inline" }, ref, " report curves"),
    h("label", { for: "compare-agg", class: "inline" }, agg, " aggregate replicas"),
    h("label", { for: "compare-value" }, "value"), valueSelect, epochInput,
    h("label", { for: "compare-threshold" }, "time to acc (%)"), thresholdInput);
  const acc = chartCard("Accuracy (%) — test solid, train dotted", "compare-accuracy", "compare-accuracy");
  const loss = chartCard("Loss — test solid, train dotted", "compare-loss", "compare-loss");
  const summary = h("div", { class: "table-wrap", id: "compare-summary" });
  const diff = h("div", { id: "compare-diff" });
  const classes = h("div", { id: "compare-classes" });
  const body = h("div", { id: "compare-body" });
  append(main, [h("div", { class: "view-head" }, h("h1", {}, "Compare runs"), form), body]);

  let data = null;
  let pending = null; // a reload scheduled by the stream
  let classesFor = null; // the finished runs the per-class section shows
  // Pushed, not polled: a status or progress event of a compared run (an epoch ended, the
  // run finished) schedules one reload; a burst of them coalesces into one request.
  const changed = (run) => {
    if (state.ids.includes(run.id) && !pending) pending = setTimeout(load, 300);
  };
  const stop = follow("/api/stream", { status: changed, progress: changed });
  const sync = () => replaceParams("compare", [], {
    ids: state.ids.join(","), x: state.x === "time" ? "time" : "", smooth: state.smooth || "", ref: state.ref ? "" : "0",
    agg: state.agg ? "1" : "", value: state.value === "best" ? "" : state.value, epoch: state.value === "epoch" ? state.epoch : "",
    threshold: state.threshold,
  });

  function xs(run) {
    if (state.x === "epoch") return data.epochs;
    return cumulativeMinutes(run.series.epoch_seconds || []);
  }
  function draw() {
    const names = legendNames(data.runs.map((r, i) => ({ ...r, config: configsFromDiff(data.config_diff, data.runs.length)[i] })));
    const { acc: accTraces, loss: lossTraces } = traces(units(data.runs, names, state.agg), state, xs);
    if (state.ref) {
      for (const [preset, reference] of Object.entries(data.references || {})) {
        const refX = (values) => values.map((_, i) => (state.x === "epoch" ? i + 1
          : reference.minutes ? (reference.minutes * (i + 1)) / values.length : null));
        if (state.x === "time" && !reference.minutes) continue;
        const opts = { color: REF, dash: "dash", width: 1.5 };
        if (reference.accuracy) accTraces.push(line(refX(reference.accuracy), reference.accuracy, { ...opts, name: `report ${preset}: test` }));
        if (reference.loss) lossTraces.push(line(refX(reference.loss), reference.loss, { ...opts, name: `report ${preset}: train` }));
      }
    }
    const xTitle = state.x === "epoch" ? "epoch" : "training time (min)";
    drawLines(acc.plot, accTraces, { xTitle, yTitle: "accuracy (%)", uirevision: state.x });
    drawLines(loss.plot, lossTraces, { xTitle, yTitle: "cross-entropy", uirevision: state.x });
    drawTables(names);
  }

  function drawTables(names) {
    const head = ["Run", "Status", "Final acc", "Best acc", state.value === "epoch" ? `Acc @ ${state.epoch}` : `Value (${state.value})`,
      "Time to acc", "Train loss", "Test loss", "Time", "Parameters", "Images/s", "CSV"];
    const chosen = (s) => (state.value === "final" ? s.final_test_acc : state.value === "epoch" ? s.test_acc_at_epoch : s.best_test_acc);
    clear(summary).append(h("table", { class: "summary" },
      h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, data.runs.map((run, i) => {
        const s = run.summary;
        return h("tr", { dataset: { runId: run.id } },
          h("th", { scope: "row" }, h("span", { class: "swatch", style: `background:${colour(i)}` }),
            h("a", { href: `#/run/${run.id}` }, names[i]), h("div", { class: "muted" }, run.name)),
          h("td", {}, h("span", { class: `status status-${run.status}` }, run.status)),
          [percent(s.final_test_acc), percent(s.best_test_acc), percent(chosen(s)), timeToAccuracy(s.time_to_accuracy),
            number(s.final_train_loss), number(s.final_test_loss),
            duration(s.duration_s), integer(s.parameters), integer(s.images_per_second)].map((t) => h("td", { class: "num" }, t)),
          h("td", {}, h("a", { href: api.csvUrl(run.id), download: `run-${run.id}-metrics.csv` }, "CSV")));
      }))));
    const fields = Object.keys(data.config_diff || {});
    clear(diff).append(h("h2", {}, "Config differences"), fields.length
      ? h("div", { class: "table-wrap" }, h("table", { class: "diff", id: "config-diff" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "field"), data.runs.map((r) => h("th", { scope: "col" }, `#${r.id}`)))),
        h("tbody", {}, fields.map((field) => h("tr", { dataset: { field } }, h("th", { scope: "row" }, field),
          data.config_diff[field].map((v) => h("td", {}, displayValue(v))))))))
      : h("p", { class: "muted" }, "The configs are identical."));
  }

  async function load() {
    clearTimeout(pending);
    pending = null;
    if (!state.ids.length) {
      clear(body).append(h("div", { class: "empty" }, "Nothing to compare yet: tick runs in the ",
        h("a", { href: "#/runs" }, "Runs"), " view, or enter their ids above."));
      return;
    }
    try {
      data = await api.compare(state.ids, { epoch: state.value === "epoch" ? state.epoch : "",
        threshold: state.threshold === "" ? "" : Number(state.threshold) / 100 });
    } catch (error) {
      clear(body).append(h("p", { class: "error-box", role: "alert" }, error.message));
      return;
    }
    if (!body.contains(acc.card)) {
      clear(body).append(h("section", { class: "charts two" }, acc.card, loss.card), h("h2", {}, "Summary"), summary, diff,
        h("h2", {}, "Per-class differences"), classes);
    }
    draw();
    const finished = data.runs.filter((r) => r.status === "succeeded").map((r) => r.id).join(",");
    if (finished !== classesFor) {
      classesFor = finished; // per-class data changes only when a run finishes
      drawClasses(classes, data.runs);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.ids = parseIds(idsInput.value);
    sync();
    load();
  });
  const redraw = () => { sync(); if (data) draw(); };
  xSelect.addEventListener("change", () => { state.x = xSelect.value; redraw(); });
  smooth.addEventListener("input", () => { state.smooth = Number(smooth.value); smoothValue.textContent = state.smooth.toFixed(2); redraw(); });
  ref.addEventListener("change", () => { state.ref = ref.checked; redraw(); });
  agg.addEventListener("change", () => { state.agg = agg.checked; redraw(); });
  const revalue = () => {
    state.value = valueSelect.value;
    state.epoch = Math.max(1, Number(epochInput.value) || 1);
    state.threshold = thresholdInput.value.trim();
    epochInput.hidden = state.value !== "epoch";
    sync();
    load();
  };
  valueSelect.addEventListener("change", revalue);
  epochInput.addEventListener("change", revalue);
  thresholdInput.addEventListener("change", revalue);
  epochInput.hidden = state.value !== "epoch";
  await load();
  return () => {
    stop();
    clearTimeout(pending);
    purge(acc.plot);
    purge(loss.plot);
  };
}
