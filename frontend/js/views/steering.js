// The run view's whole-run charts: every batch loss against the global step (epoch lines,
// EMA slider, downsampled by the API past CHART_POINTS), the lr per epoch and the worker's
// resources (CPU, memory, GPU) under the curves.
import { api } from "../api.js";
import { chartCard, drawLines, line, purge } from "../charts.js";
import { h, setText } from "../dom.js";
import { integer } from "../format.js";
import { ema, epochBoundaries, minutesSinceStart, wholeRunBatches } from "../series.js";

const CHART_POINTS = 4000; // more batch losses than this: the API downsamples them
const FETCH_EVERY_MS = 5000; // how often a downsampled series is fetched again while live
const C = { raw: "#009E73", smooth: "#006B4F", lr: "#56B4E9", cpu: "#E69F00", rss: "#0072B2", gpu: "#CC79A7" };
const GPU_SERIES = [["gpu_util_percent", "GPU utilisation (%)"], ["gpu_power_w", "power (W)"], ["gpu_temp_c", "temperature (°C)"]];
const CUDA_SERIES = [["cuda_allocated_mb", "allocated"], ["cuda_reserved_mb", "reserved"], ["cuda_peak_mb", "peak"]];

export function steeringCharts(id) {
  const batch = chartCard("Batch loss, whole run", "chart-batch", `run-${id}-batch-loss`);
  const slider = h("input", { type: "range", id: "batch-smoothing", min: 0, max: 0.99, step: 0.01, value: 0.6,
    "aria-label": "EMA smoothing of the batch loss" });
  const sliderText = h("output", { for: "batch-smoothing", id: "batch-smoothing-value" }, "0.60");
  const sampled = h("p", { class: "muted", id: "batch-downsampled", hidden: true });
  batch.card.append(h("div", { class: "chart-tools" }, h("label", { for: "batch-smoothing" }, "smoothing "), slider, " ", sliderText), sampled);
  const lr = chartCard("Learning rate per epoch", "chart-lr", `run-${id}-lr`);
  const resources = chartCard("Worker: CPU and memory", "chart-resources", `run-${id}-resources`);
  const gpu = chartCard("Worker: GPU", "chart-gpu", `run-${id}-gpu`);
  gpu.card.hidden = true;
  const cards = [batch, lr, resources, gpu];
  let fetched = null; // {series, total, at}: the API's downsampled batch losses
  let fetching = false;

  async function refetch(redraw) {
    if (fetching) return;
    fetching = true;
    try {
      const reply = await api.metrics(id, { names: ["batch_loss"], maxPoints: CHART_POINTS / 2 });
      const points = reply.series.batch_loss || [];
      fetched = { x: points.map((p) => p.step), y: points.map((p) => p.value), total: reply.downsampled.batch_loss, at: Date.now() };
      redraw();
    } catch {
      fetched = null; // drawn from the stream's points until the next try
    } finally {
      fetching = false;
    }
  }

  function drawBatch(store, run, redraw) {
    const weight = Number(slider.value);
    setText(sliderText, weight.toFixed(2));
    let data = wholeRunBatches(store, weight);
    const count = data.x.length;
    if (count > CHART_POINTS) {
      const live = run.status === "running" || run.status === "queued";
      if (!fetched || (live && Date.now() - fetched.at > FETCH_EVERY_MS)) refetch(redraw);
      if (fetched) data = { x: fetched.x, y: fetched.y, smooth: ema(fetched.y, weight) };
    }
    const cut = count > CHART_POINTS && fetched?.total;
    sampled.hidden = !cut;
    setText(sampled, cut ? `Downsampled by the API: ${integer(data.x.length)} of ${integer(fetched.total)} points, each bucket's first, lowest, highest and last kept.` : "");
    const traces = [line(data.x, data.y, { name: "batch loss", color: C.raw, width: 1, opacity: weight ? 0.35 : 1, uid: "batch-raw" })];
    if (weight) traces.push(line(data.x, data.smooth, { name: `EMA ${weight.toFixed(2)}`, color: C.smooth, uid: "batch-ema" }));
    drawLines(batch.plot, traces, { xTitle: "global step (dotted: epochs)", yTitle: "loss",
      vlines: epochBoundaries(run.steps_per_epoch, run.epoch) }); // the epochs begun so far
  }

  function drawResources(store) {
    const cpu = store.cpu_percent;
    const rss = store.rss_mb;
    resources.card.hidden = !cpu && !rss;
    if (!resources.card.hidden) {
      const traces = [];
      if (rss) traces.push(line(minutesSinceStart(rss.time), rss.value, { name: "resident memory (MiB)", color: C.rss, uid: "rss_mb" }));
      for (const [name, label] of CUDA_SERIES) {
        if (store[name]) traces.push(line(minutesSinceStart(store[name].time), store[name].value, { name: `CUDA ${label} (MiB)`, color: C.gpu, dash: name === "cuda_peak_mb" ? "dot" : "solid", uid: name }));
      }
      if (cpu) traces.push(line(minutesSinceStart(cpu.time), cpu.value, { name: "CPU (% of a core)", color: C.cpu, axis: "y2", uid: "cpu_percent" }));
      drawLines(resources.plot, traces, { xTitle: "minutes", yTitle: "MiB", y2Title: "CPU %" });
    }
    const present = GPU_SERIES.filter(([name]) => store[name]);
    gpu.card.hidden = !present.length;
    if (present.length) {
      drawLines(gpu.plot, present.map(([name, label], i) => line(minutesSinceStart(store[name].time), store[name].value,
        { name: label, color: [C.gpu, C.cpu, C.rss][i], uid: name })), { xTitle: "minutes", yTitle: "" });
    }
  }

  return {
    cards: cards.map((c) => c.card),
    draw(store, run, redraw) {
      drawBatch(store, run, redraw);
      const lrs = store.lr;
      lr.card.hidden = !lrs;
      if (lrs) drawLines(lr.plot, [line(lrs.epoch, lrs.value, { name: "lr", color: C.lr, markers: true })], { xTitle: "epoch", yTitle: "lr", showlegend: false,
        xaxis: { dtick: 1, range: [0.5, Math.max(...lrs.epoch) + 0.5] }, yaxis: { exponentformat: "e", rangemode: "tozero" } });
      drawResources(store);
    },
    onSmoothing(handler) { slider.addEventListener("input", handler); },
    purge() { for (const card of cards) purge(card.plot); },
  };
}
