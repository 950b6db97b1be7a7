// Run: one run live over SSE: curves with the report's dashed reference, state, and at the
// end per-class accuracy, the superclass confusion matrix and the generalisation gap.
import { api, follow } from "../api.js";
import { chartCard, drawBars, drawHeatmap, drawLines, line, purge } from "../charts.js";
import { notifyButton, notifyEnd } from "../notify.js";
import { steeringCharts } from "./steering.js";
import { actionButton, append, clear, h, setText, toast } from "../dom.js";
import {
  ACTIVE, FINISHED, duration, elapsedSeconds, integer, percent, progressFraction,
  progressLabel, rulesLabel, scheduleLabel, stoppedLabel, timeLeftSeconds,
} from "../format.js";
import { navigate } from "../router.js";
import { extremes, generalisationGap, mergeEvent, mergePoints, scale } from "../series.js";

const C = { train: "#E69F00", test: "#0072B2", ref: "#7F7F7F", batch: "#009E73", gap: "#CC79A7" };

function fact(label, key) {
  const value = h("dd", { dataset: { fact: key } });
  return { el: h("div", { class: "fact" }, h("dt", {}, label), value), value };
}

export async function runView(main, route) {
  const id = Number(route.args[0]);
  let run = await api.run(id);
  const presets = await api.presets().catch(() => []);
  const reference = presets.find((p) => p.id === run.preset)?.reference || {};
  const store = {};

  const title = h("h1", { id: "run-title" });
  const status = h("span", { id: "run-status", class: "status" });
  const tags = h("span", { class: "tags", id: "run-tags" });
  const notes = h("p", { class: "notes", id: "run-notes" });
  const error = h("pre", { class: "error-box", id: "run-error", role: "alert", hidden: true });
  const facts = Object.fromEntries([["preset", "preset"], ["device", "device"], ["progress", "progress"],
    ["elapsed", "elapsed"], ["left", "time left"], ["ips", "images/s"], ["best", "best test acc"],
    ["final", "final test acc"], ["params", "parameters"], ["schedule", "lr schedule"], ["rules", "stop rules"],
    ["stopped", "stopped by"], ["peak", "peak memory"], ["by", "launched by"]].map(([k, label]) => [k, fact(label, k)]));
  const bar = h("progress", { max: 1, value: 0, id: "run-progress", "aria-label": "progress" });
  const cancel = actionButton("Cancel", async () => { run = { ...run, ...(await api.cancel(id)) }; update(); }, { id: "run-cancel" });
  const clone = actionButton("Clone", async () => navigate("run", [(await api.clone(id)).id]), { id: "run-clone" });
  const csv = h("a", { class: "button", href: api.csvUrl(id), download: `run-${id}-metrics.csv`, id: "run-csv" }, "Metrics CSV");
  const compare = h("a", { class: "button", href: `#/compare?ids=${id}` }, "Compare…");

  const acc = chartCard("Accuracy per epoch (%)", "chart-accuracy", `run-${id}-accuracy`);
  const loss = chartCard("Loss per epoch", "chart-loss", `run-${id}-loss`);
  const steering = steeringCharts(id);
  const gap = chartCard("Generalisation gap: train − test accuracy (points)", "chart-gap", `run-${id}-gap`);
  const best = chartCard("Best classes (test accuracy %)", "chart-best-classes", `run-${id}-best-classes`);
  const worst = chartCard("Worst classes (test accuracy %)", "chart-worst-classes", `run-${id}-worst-classes`);
  const confusion = chartCard("Confusion matrix, 20 superclasses", "chart-confusion", `run-${id}-confusion`);
  const final = h("section", { id: "run-final", class: "charts", hidden: true, "aria-label": "results" },
    gap.card, best.card, worst.card, confusion.card);
  const note = reference.note ? h("p", { class: "muted" }, `Report: ${reference.note}`) : null;

  append(main, [
    h("div", { class: "view-head" }, h("div", {}, title, " ", status, " ", tags),
      h("div", { class: "buttons" }, notifyButton(), cancel, clone, csv, compare)),
    notes, error, bar, h("dl", { class: "facts" }, Object.values(facts).map((f) => f.el)), note,
    h("section", { class: "charts", "aria-label": "live curves" }, acc.card, loss.card, ...steering.cards), final,
  ]);

  function update() {
    setText(title, `${run.name} #${run.id}`);
    setText(status, run.cancel_requested && run.status === "running" ? "cancelling" : run.status);
    status.className = `status status-${run.status}`;
    clear(tags).append(...(run.tags || []).map((t) => h("span", { class: "tag" }, t)));
    if (run.notes !== undefined) setText(notes, run.notes);
    error.hidden = !run.error;
    setText(error, run.error || "");
    bar.value = progressFraction(run);
    const left = timeLeftSeconds(run);
    const values = {
      preset: run.preset ?? "–", device: run.device || "–", progress: progressLabel(run) || "–",
      elapsed: duration(run.duration_s ?? elapsedSeconds(run)), left: left === null ? "–" : duration(left),
      ips: integer(run.images_per_second), best: percent(run.best_test_acc),
      final: percent(run.final_test_acc), params: integer(run.parameters),
      by: (run.created_by ?? "–") + (run.cancelled_by ? `, cancelled by ${run.cancelled_by}` : ""),
      schedule: scheduleLabel(run.config), rules: rulesLabel(run.config), stopped: stoppedLabel(run) || "–",
      peak: run.peak_rss_mb ? `${integer(run.peak_rss_mb)} MiB RSS${run.peak_gpu_mb ? `, ${integer(run.peak_gpu_mb)} MiB CUDA` : ""}` : "–",
    };
    for (const [key, text] of Object.entries(values)) setText(facts[key].value, text);
    cancel.hidden = !ACTIVE.includes(run.status) || run.cancel_requested;
  }

  const epochs = (name) => store[name]?.epoch || [];
  const pct = (name) => scale(store[name]?.value || [], 100);
  const refX = (values) => values.map((_, i) => i + 1);
  function drawCurves() {
    const accTraces = [
      line(epochs("train_acc"), pct("train_acc"), { name: "train accuracy", color: C.train, markers: true }),
      line(epochs("test_acc"), pct("test_acc"), { name: "test accuracy", color: C.test, markers: true }),
    ];
    if (reference.accuracy) accTraces.push(line(refX(reference.accuracy), reference.accuracy, { name: "report: test accuracy", color: C.ref, dash: "dash" }));
    drawLines(acc.plot, accTraces, { xTitle: "epoch", yTitle: "accuracy (%)" });
    const lossTraces = [
      line(epochs("train_loss"), store.train_loss?.value || [], { name: "train loss", color: C.train, markers: true }),
      line(epochs("test_loss"), store.test_loss?.value || [], { name: "test loss", color: C.test, markers: true }),
    ];
    if (reference.loss) lossTraces.push(line(refX(reference.loss), reference.loss, { name: "report: train loss", color: C.ref, dash: "dash" }));
    drawLines(loss.plot, lossTraces, { xTitle: "epoch", yTitle: "cross-entropy" });
    steering.draw(store, run, schedule);
  }

  function drawFinal() {
    if (!FINISHED.includes(run.status)) return;
    const g = generalisationGap(store);
    const result = run.result || {};
    // A run that failed before its first epoch has nothing to show here.
    final.hidden = !(g.epoch.length || result.per_class_accuracy?.length);
    gap.card.hidden = !g.epoch.length;
    drawLines(gap.plot, [line(g.epoch, scale(g.value, 100), { name: "train − test accuracy", color: C.gap, markers: true })],
      { xTitle: "epoch", yTitle: "points", showlegend: false });
    const perClass = result.per_class_accuracy || [];
    const classes = result.classes || perClass.map((_, i) => `class ${i}`);
    best.card.hidden = worst.card.hidden = !perClass.length;
    if (perClass.length) {
      const ends = extremes(perClass, 10);
      drawBars(best.plot, ends.best.map((i) => classes[i]), ends.best.map((i) => perClass[i] * 100), { xTitle: "accuracy (%)", color: C.batch });
      drawBars(worst.plot, ends.worst.map((i) => classes[i]), ends.worst.map((i) => perClass[i] * 100), { xTitle: "accuracy (%)", color: "#D55E00" });
    }
    const matrix = result.confusion_coarse || [];
    confusion.card.hidden = !matrix.length;
    if (matrix.length) drawHeatmap(confusion.plot, matrix, result.coarse_classes || matrix.map((_, i) => `${i}`), { xTitle: "predicted", yTitle: "true" });
  }

  let pending = null;
  let resultLoaded = false;
  function redraw() {
    pending = null;
    drawCurves();
    if (resultLoaded) drawFinal();
  }
  const schedule = () => { pending ||= setTimeout(redraw, 150); };
  steering.onSmoothing(schedule);
  async function loadResult() {
    run = await api.run(id).catch(() => run); // the result (per-class, confusion) is not streamed
    resultLoaded = true;
    update();
    schedule();
  }
  let detailsFetched = false;
  let notified = FINISHED.includes(run.status); // ended before the view opened: no notice
  function onSnapshot(snapshot) {
    const wasFinished = FINISHED.includes(run.status);
    run = { ...run, ...snapshot };
    if (!notified && FINISHED.includes(run.status)) notifyEnd(run); // a followed run ended
    notified ||= FINISHED.includes(run.status);
    update();
    if (run.parameters === null && run.steps_per_epoch && !detailsFetched) {
      detailsFetched = true; // the parameter count arrives with `started`, not in snapshots
      api.run(id).then((fresh) => { run.parameters = fresh.parameters; update(); }).catch(() => {});
    }
    if (FINISHED.includes(run.status) && !(wasFinished && resultLoaded)) loadResult();
  }
  // A run compacted after RUNBOARD_EVENT_RETENTION streams no points: read them by REST too
  // (merging keeps each step once), and again when the stream says `reset`.
  const reload = () => api.metrics(id).then((m) => { if (mergePoints(store, m.series).length) schedule(); }).catch(() => {});
  reload();
  const stop = follow(`/api/runs/${id}/stream`, {
    reset: () => { reload(); api.run(id).then(onSnapshot).catch(() => {}); },
    status: onSnapshot,
    progress: onSnapshot,
    metrics: (data) => { if (mergeEvent(store, data).length) schedule(); },
    deleted: () => { toast(`Run ${id} was deleted`, "error"); setText(status, "deleted"); },
  });
  const ticker = setInterval(() => run.status === "running" && update(), 1000);
  update();
  drawCurves();
  if (FINISHED.includes(run.status)) loadResult();
  return () => {
    stop();
    clearInterval(ticker);
    clearTimeout(pending);
    steering.purge();
    for (const card of [acc, loss, gap, best, worst, confusion]) purge(card.plot);
  };
}
