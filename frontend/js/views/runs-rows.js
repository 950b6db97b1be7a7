// The runs table's rows: one per run, and one per group of replicates that folds its runs
// (mean ± std of best and final test accuracy, n; expand to see the runs).
import { api } from "../api.js";
import { actionButton, clear, h, setText } from "../dom.js";
import {
  ACTIVE, FINISHED, duration, integer, percent, progressFraction, progressLabel,
  runDuration, stoppedLabel, timeLeftSeconds,
} from "../format.js";
import { navigate } from "../router.js";
import { meanStd, summarize, timeToAccuracy } from "../stats.js";

export const HEAD = ["", "Run", "By", "Preset", "Status", "Progress", "Best acc", "Final acc", "Value",
  "Time to acc", "Duration", "Images/s", "Actions"];
export const NUMERIC = new Set(["Best acc", "Final acc", "Value", "Time to acc", "Duration", "Images/s"]);

// The value the table's selector asks for: best, final, or the test accuracy at epoch k.
export function chosenValue(run, mode) {
  if (mode === "final") return run.final_test_acc;
  if (mode === "epoch") return run.test_acc_at_epoch ?? null;
  return run.best_test_acc;
}

export function buildRow(id, { onSelect, onDelete }) {
  const check = h("input", { type: "checkbox", "aria-label": `select run ${id}` });
  check.addEventListener("change", () => onSelect(id, check.checked));
  const cells = {
    name: h("a", { href: `#/run/${id}`, class: "run-name" }), tags: h("span", { class: "tags" }),
    by: h("td", { class: "by" }), preset: h("td", { class: "preset" }), status: h("span", { class: "status" }),
    rule: h("small", { class: "muted stopped-by" }),
    bar: h("progress", { max: 1, value: 0 }), progressText: h("span", { class: "progress-text" }),
    left: h("span", { class: "time-left" }), best: h("td", { class: "num best" }),
    final: h("td", { class: "num final" }), value: h("td", { class: "num value" }),
    tta: h("td", { class: "num tta" }), duration: h("td", { class: "num duration" }),
    ips: h("td", { class: "num ips" }),
    cancel: actionButton("Cancel", () => api.cancel(id), { class: "small cancel" }),
    clone: actionButton("Clone", async () => navigate("run", [(await api.clone(id)).id]), { class: "small clone" }),
  };
  cells.remove = actionButton("Delete", async (button) => {
    if (button.dataset.armed !== "1") {
      button.dataset.armed = "1";
      setText(button, "Confirm delete");
      return;
    }
    await api.remove(id);
    onDelete(id);
  }, { class: "small danger delete" });
  const tr = h("tr", { dataset: { runId: id } },
    h("td", {}, check), h("td", {}, cells.name, " ", h("span", { class: "muted" }, `#${id}`), cells.tags),
    cells.by, cells.preset, h("td", {}, cells.status, " ", cells.rule),
    h("td", { class: "progress-cell" }, cells.bar, h("div", { class: "progress-meta" }, cells.progressText, cells.left)),
    cells.best, cells.final, cells.value, cells.tta, cells.duration, cells.ips,
    h("td", { class: "actions" }, cells.cancel, cells.clone, cells.remove));
  return { tr, cells, check };
}

export function updateRow(row, run, mode) {
  const { cells } = row;
  setText(cells.name, run.name);
  clear(cells.tags).append(...(run.tags || []).map((t) => h("span", { class: "tag" }, t)));
  setText(cells.preset, run.preset ?? "–");
  setText(cells.by, run.created_by ?? "–");
  setText(cells.status, run.cancel_requested && run.status === "running" ? "cancelling" : run.status);
  cells.status.className = `status status-${run.status}`;
  setText(cells.rule, stoppedLabel(run)); // the early-stop rule that ended it
  cells.bar.value = progressFraction(run);
  setText(cells.progressText, progressLabel(run));
  const left = timeLeftSeconds(run);
  setText(cells.left, left === null ? "" : `${duration(left)} left`);
  setText(cells.best, percent(run.best_test_acc));
  setText(cells.final, percent(run.final_test_acc));
  setText(cells.value, percent(chosenValue(run, mode)));
  setText(cells.tta, timeToAccuracy(run.time_to_accuracy));
  setText(cells.duration, duration(runDuration(run)));
  setText(cells.ips, integer(run.images_per_second));
  cells.cancel.hidden = !ACTIVE.includes(run.status) || run.cancel_requested;
  cells.remove.hidden = !FINISHED.includes(run.status);
}

export function buildGroupRow(groupId, onToggle) {
  const expand = h("button", { type: "button", class: "small expand", "aria-expanded": "false",
    "aria-label": `show the runs of group ${groupId}` }, "▸");
  expand.addEventListener("click", () => {
    const open = expand.getAttribute("aria-expanded") !== "true";
    expand.setAttribute("aria-expanded", String(open));
    setText(expand, open ? "▾" : "▸");
    onToggle(groupId, open);
  });
  const cells = Object.fromEntries(["name", "by", "preset", "n", "progress", "best", "final", "value", "tta", "duration", "ips"]
    .map((key) => [key, h("td", { class: NUMERIC_KEYS.has(key) ? `num ${key}` : key })]));
  const label = h("a", { href: `#/group/${groupId}`, class: "group-name" }, `group #${groupId}`);
  api.group(groupId).then((g) => setText(label, `${g.name} (group #${groupId})`)).catch(() => {});
  const tr = h("tr", { class: "group-row", dataset: { groupId } }, h("td", {}, expand),
    cells.name, cells.by, cells.preset, cells.n, cells.progress, cells.best, cells.final, cells.value, cells.tta,
    cells.duration, cells.ips, h("td", { class: "actions" }, h("a", { href: `#/group/${groupId}`, class: "button small" }, "Group")));
  return { tr, cells, expand, label };
}
const NUMERIC_KEYS = new Set(["best", "final", "value", "tta", "duration", "ips"]);

export function updateGroupRow(row, runs, mode) {
  const { cells } = row;
  const done = runs.filter((r) => r.status === "succeeded");
  const stat = (pick) => summarize(done.map(pick));
  clear(cells.name).append(row.label, " ", h("span", { class: "muted" }, `${runs.length} runs`));
  setText(cells.preset, [...new Set(runs.map((r) => r.preset ?? "–"))].join(", "));
  setText(cells.by, [...new Set(runs.map((r) => r.created_by ?? "–"))].join(", "));
  setText(cells.n, `n=${done.length}`);
  setText(cells.progress, `${done.length}/${runs.length} finished`);
  setText(cells.best, meanStd(stat((r) => r.best_test_acc)));
  setText(cells.final, meanStd(stat((r) => r.final_test_acc)));
  setText(cells.value, meanStd(stat((r) => chosenValue(r, mode))));
  const reached = done.filter((r) => r.time_to_accuracy?.epoch);
  const seconds = summarize(reached.map((r) => r.time_to_accuracy.seconds));
  setText(cells.tta, reached.length ? `${meanStd(seconds, { scale: 1, digits: 0, unit: " s" })} · ${reached.length}/${done.length}` : "–");
  setText(cells.duration, duration(summarize(done.map((r) => r.duration_s)).mean));
  setText(cells.ips, integer(summarize(done.map((r) => r.images_per_second)).mean));
}
