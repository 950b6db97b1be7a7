// Compare's traces (one per run, or one mean with its ± 1 std band per group of replicates)
// and its per-class section: the classes and superclasses that gained or lost most.
import { api } from "../api.js";
import { band as bandTraces, line } from "../charts.js";
import { clear, h } from "../dom.js";
import { colour } from "../legend.js";
import { ema, scale } from "../series.js";
import { band, edges } from "../stats.js";

// Units drawn: a run, or (aggregating) a group of two or more compared runs.
export function units(runs, names, aggregate) {
  const counts = {};
  for (const run of runs) if (run.group_id) counts[run.group_id] = (counts[run.group_id] || 0) + 1;
  const out = [];
  const seen = new Set();
  runs.forEach((run, i) => {
    if (aggregate && counts[run.group_id] > 1) {
      if (seen.has(run.group_id)) return;
      seen.add(run.group_id);
      const members = runs.filter((r) => r.group_id === run.group_id);
      out.push({ key: `group-${run.group_id}`, name: `group #${run.group_id} (n=${members.length})`, runs: members, index: i });
    } else out.push({ key: `run-${run.id}`, name: names[i], runs: [run], index: i });
  });
  return out;
}

// Accuracy and loss traces for each unit: test solid, train dotted; groups with a band.
export function traces(unitList, state, xsOf) {
  const acc = [];
  const loss = [];
  for (const unit of unitList) {
    const color = colour(unit.index);
    const x = xsOf(unit.runs[0]);
    const add = (out, key, factor, dash, suffix) => {
      const series = unit.runs.map((run) => ema(scale(run.series[key] || [], factor), state.smooth));
      const b = band(series);
      const style = { name: `${unit.name}${suffix}`, color, dash, group: unit.key, legend: !suffix };
      if (unit.runs.length > 1 && !suffix) {
        const { lower, upper } = edges(b, "std");
        out.push(...bandTraces(x, lower, upper, { color, group: unit.key, name: `${unit.name} band` }));
      }
      out.push(line(x, b.mean, suffix ? { ...style, width: 1.5 } : style));
    };
    add(acc, "test_acc", 100, "solid", "");
    add(acc, "train_acc", 100, "dot", " (train)");
    add(loss, "test_loss", 1, "solid", "");
    add(loss, "train_loss", 1, "dot", " (train)");
  }
  return { acc, loss };
}

const pp = (v) => `${v >= 0 ? "+" : ""}${v.toFixed(1)} pp`;

function changeTable(title, id, changes) {
  return h("section", { class: "card" }, h("h3", {}, title),
    changes.length ? h("table", { class: "summary", id },
      h("tbody", {}, changes.map((c) => h("tr", {}, h("th", { scope: "row" }, c.name),
        h("td", { class: "num" }, pp(c.change_pp))))))
      : h("p", { class: "muted" }, "none"));
}

// Per-class gains and losses of each finished run against the first finished one.
export async function drawClasses(box, runs) {
  const finished = runs.filter((r) => r.status === "succeeded").map((r) => r.id);
  if (finished.length < 2) {
    clear(box).append(h("p", { class: "muted" }, "Per-class differences need two or more finished runs."));
    return;
  }
  let data;
  try {
    data = await api.classes(finished);
  } catch (error) {
    clear(box).append(h("p", { class: "error-box", role: "alert" }, error.message));
    return;
  }
  clear(box).append(...data.comparisons.map((c) => h("div", { class: "class-compare", dataset: { runId: c.run_id } },
    h("h3", {}, `#${c.run_id} against #${c.baseline_id}`),
    h("div", { class: "class-diff" },
      changeTable("Classes gained most", `classes-gained-${c.run_id}`, c.classes_gained),
      changeTable("Classes lost most", `classes-lost-${c.run_id}`, c.classes_lost),
      changeTable("Superclasses gained most", `superclasses-gained-${c.run_id}`, c.superclasses_gained),
      changeTable("Superclasses lost most", `superclasses-lost-${c.run_id}`, c.superclasses_lost)))));
}
