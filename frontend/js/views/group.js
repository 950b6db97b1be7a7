// Group: replicates of one config (or point 3's widths), per epoch their mean with a shaded
// ± 1 std band (or min/max on request) and n, redrawn live as members report epochs.
import { api, follow } from "../api.js";
import { band, chartCard, drawLines, line, purge } from "../charts.js";
import { append, clear, h, setText } from "../dom.js";
import { duration, percent } from "../format.js";
import { replaceParams } from "../router.js";
import { edges, meanStd } from "../stats.js";

const C = { test: "#0072B2", train: "#E69F00", ref: "#7F7F7F" };

export async function groupView(main, route) {
  const id = Number(route.args[0]);
  const state = { spread: route.params.band === "minmax" ? "minmax" : "std" };
  const presets = await api.presets().catch(() => []);
  const title = h("h1", { id: "group-title" }, `Group #${id}`);
  const facts = h("p", { class: "muted", id: "group-facts" });
  const spread = h("select", { id: "group-band" }, h("option", { value: "std" }, "mean ± 1 std"),
    h("option", { value: "minmax" }, "min / max"));
  spread.value = state.spread;
  const compare = h("a", { class: "button", id: "group-compare" }, "Compare runs…");
  const acc = chartCard("Test accuracy (%) — mean and band", "group-accuracy", `group-${id}-accuracy`);
  const loss = chartCard("Train loss — mean and band", "group-loss", `group-${id}-loss`);
  const members = h("div", { class: "table-wrap", id: "group-runs" });
  append(main, [
    h("div", { class: "view-head" }, title,
      h("div", { class: "filters" }, h("label", { for: "group-band" }, "band"), spread, compare)),
    facts, h("section", { class: "charts two" }, acc.card, loss.card), h("h2", {}, "Runs"), members,
  ]);

  let data = null;
  let pending = null;
  function draw() {
    const reference = presets.find((p) => p.id === data.runs[0]?.preset)?.reference || {};
    const traces = (metric, factor, colour, refValues) => {
      const m = data.metrics[metric];
      const scaleAll = (values) => values.map((v) => (v === null ? null : v * factor));
      const { lower, upper } = edges(m, state.spread);
      const out = [...band(data.epochs, scaleAll(lower), scaleAll(upper), { color: colour, group: metric, name: `${metric} band` }),
        line(data.epochs, scaleAll(m.mean), { name: `mean of ${Math.max(0, ...m.n)} runs`, color: colour, markers: true })];
      if (refValues) out.push(line(refValues.map((_, i) => i + 1), refValues, { name: "report", color: C.ref, dash: "dash", width: 1.5 }));
      return out;
    };
    drawLines(acc.plot, traces("test_acc", 100, C.test, reference.accuracy), { xTitle: "epoch", yTitle: "accuracy (%)" });
    drawLines(loss.plot, traces("train_loss", 1, C.train, reference.loss), { xTitle: "epoch", yTitle: "cross-entropy" });
    acc.plot.dataset.n = JSON.stringify(data.metrics.test_acc.n);
    setText(title, `${data.name} (group #${id})`);
    const done = data.runs.filter((r) => r.status === "succeeded").length;
    setText(facts, `${data.runs.length} runs, ${done} finished · best test acc ${meanStd(data.best_test_acc)} · `
      + `final test acc ${meanStd(data.final_test_acc)} · n per epoch ${data.metrics.test_acc.n.join(", ") || "–"}`);
    compare.href = `#/compare?ids=${data.runs.map((r) => r.id).join(",")}&agg=1`;
    clear(members).append(h("table", { class: "summary" },
      h("thead", {}, h("tr", {}, ["Run", "Status", "Seed", "Best acc", "Final acc", "Duration"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, data.runs.map((run) => h("tr", { dataset: { runId: run.id } },
        h("th", { scope: "row" }, h("a", { href: `#/run/${run.id}` }, run.name), h("span", { class: "muted" }, ` #${run.id}`)),
        h("td", {}, h("span", { class: `status status-${run.status}` }, run.status)),
        [run.config.seed, percent(run.best_test_acc), percent(run.final_test_acc), duration(run.duration_s)]
          .map((t) => h("td", { class: "num" }, t)))))));
  }

  async function load() {
    clearTimeout(pending);
    pending = null;
    data = await api.groupSeries(id);
    draw();
  }
  // Pushed, not polled: an epoch or a status change of a member schedules one reload.
  const changed = (run) => {
    if (data && data.runs.some((r) => r.id === run.id) && !pending) pending = setTimeout(() => load().catch(() => {}), 300);
  };
  const stop = follow("/api/stream", { status: changed, progress: changed });
  spread.addEventListener("change", () => {
    state.spread = spread.value;
    replaceParams("group", [id], { band: state.spread === "minmax" ? "minmax" : "" });
    if (data) draw();
  });
  await load();
  return () => {
    stop();
    clearTimeout(pending);
    purge(acc.plot);
    purge(loss.plot);
  };
}
