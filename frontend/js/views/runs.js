// Runs: every run, newest first, kept current by /api/stream; filters, selection, actions.
import { api, follow } from "../api.js";
import { actionButton, append, clear, h, setText, toast } from "../dom.js";
import {
  ACTIVE, FINISHED, duration, integer, percent, progressFraction, progressLabel,
  runDuration, stoppedLabel, timeLeftSeconds,
} from "../format.js";
import { navigate } from "../router.js";

const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"];

export function matches(run, filters) {
  if (filters.status && run.status !== filters.status) return false;
  if (filters.preset && run.preset !== filters.preset) return false;
  if (filters.tag && !(run.tags || []).includes(filters.tag)) return false;
  return true;
}

function select(id, label, options, value) {
  const el = h("select", { id }, h("option", { value: "" }, `any ${label}`),
    options.map((o) => h("option", { value: o.value, selected: o.value === value }, o.label)));
  return [h("label", { for: id }, label), el];
}

export async function runsView(main, route) {
  const filters = { status: route.params.status || "", preset: route.params.preset || "", tag: route.params.tag || "" };
  const runs = new Map(); // id -> latest snapshot
  const rows = new Map(); // id -> {tr, cells}
  const selected = new Set();
  const presets = await api.presets().catch(() => []);

  const [statusLabel, statusSelect] = select("filter-status", "status",
    STATUSES.map((s) => ({ value: s, label: s })), filters.status);
  const [presetLabel, presetSelect] = select("filter-preset", "preset",
    presets.map((p) => ({ value: p.id, label: `${p.id}: ${p.title}` })), filters.preset);
  const tagInput = h("input", { id: "filter-tag", type: "search", value: filters.tag, placeholder: "any tag" });
  const compareButton = h("button", { type: "button", id: "compare-selected", disabled: true }, "Compare selected");
  compareButton.addEventListener("click", () => navigate("compare", [], { ids: [...selected].join(",") }));
  const tbody = h("tbody");
  const empty = h("div", { class: "empty", id: "runs-empty", hidden: true });
  const table = h("table", { class: "runs", id: "runs-table" },
    h("thead", {}, h("tr", {}, ["", "Run", "Preset", "Status", "Progress", "Best acc", "Final acc",
      "Duration", "Images/s", "Actions"].map((t, i) => h("th", { scope: "col", class: i >= 5 && i <= 8 ? "num" : "" }, t)))),
    tbody);
  append(main, [
    h("div", { class: "view-head" }, h("h1", {}, "Runs"),
      h("div", { class: "filters", role: "search" }, statusLabel, statusSelect, presetLabel, presetSelect,
        h("label", { for: "filter-tag" }, "tag"), tagInput, compareButton)),
    h("div", { class: "table-wrap" }, table), empty,
  ]);

  function updateCompareButton() {
    compareButton.disabled = selected.size === 0;
    setText(compareButton, selected.size ? `Compare selected (${selected.size})` : "Compare selected");
  }

  function buildRow(id) {
    const check = h("input", { type: "checkbox", "aria-label": `select run ${id}` });
    check.addEventListener("change", () => {
      if (check.checked) selected.add(id);
      else selected.delete(id);
      updateCompareButton();
    });
    const cells = {
      name: h("a", { href: `#/run/${id}`, class: "run-name" }), tags: h("span", { class: "tags" }),
      preset: h("td", { class: "preset" }), status: h("span", { class: "status" }),
      rule: h("small", { class: "muted stopped-by" }),
      bar: h("progress", { max: 1, value: 0 }), progressText: h("span", { class: "progress-text" }),
      left: h("span", { class: "time-left" }), best: h("td", { class: "num best" }),
      final: h("td", { class: "num final" }), duration: h("td", { class: "num duration" }),
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
      dropRow(id);
    }, { class: "small danger delete" });
    const tr = h("tr", { dataset: { runId: id } },
      h("td", {}, check), h("td", {}, cells.name, " ", h("span", { class: "muted" }, `#${id}`), cells.tags),
      cells.preset, h("td", {}, cells.status, " ", cells.rule),
      h("td", { class: "progress-cell" }, cells.bar, h("div", { class: "progress-meta" }, cells.progressText, cells.left)),
      cells.best, cells.final, cells.duration, cells.ips,
      h("td", { class: "actions" }, cells.cancel, cells.clone, cells.remove));
    return { tr, cells, check };
  }

  function updateRow(row, run) {
    const { cells } = row;
    setText(cells.name, run.name);
    clear(cells.tags).append(...(run.tags || []).map((t) => h("span", { class: "tag" }, t)));
    setText(cells.preset, run.preset ?? "–");
    setText(cells.status, run.cancel_requested && run.status === "running" ? "cancelling" : run.status);
    cells.status.className = `status status-${run.status}`;
    setText(cells.rule, stoppedLabel(run)); // the early-stop rule that ended it
    cells.bar.value = progressFraction(run);
    setText(cells.progressText, progressLabel(run));
    const left = timeLeftSeconds(run);
    setText(cells.left, left === null ? "" : `${duration(left)} left`);
    setText(cells.best, percent(run.best_test_acc));
    setText(cells.final, percent(run.final_test_acc));
    setText(cells.duration, duration(runDuration(run)));
    setText(cells.ips, integer(run.images_per_second));
    cells.cancel.hidden = !ACTIVE.includes(run.status) || run.cancel_requested;
    cells.remove.hidden = !FINISHED.includes(run.status);
  }

  function placeRow(id, row) {
    // Newest first: ids grow with creation time, so insert before the first smaller id.
    const after = [...tbody.children].find((tr) => Number(tr.dataset.runId) < id);
    tbody.insertBefore(row.tr, after || null);
  }

  function upsert(run) {
    if (!matches(run, filters)) {
      if (rows.has(run.id)) dropRow(run.id);
      return;
    }
    runs.set(run.id, { ...(runs.get(run.id) || {}), ...run });
    let row = rows.get(run.id);
    if (!row) {
      row = buildRow(run.id);
      rows.set(run.id, row);
      placeRow(run.id, row);
    }
    updateRow(row, runs.get(run.id));
    showEmpty();
  }

  function dropRow(id) {
    rows.get(id)?.tr.remove();
    rows.delete(id);
    runs.delete(id);
    selected.delete(id);
    updateCompareButton();
    showEmpty();
  }

  function showEmpty() {
    const none = rows.size === 0;
    empty.hidden = !none;
    table.hidden = none;
    const filtered = filters.status || filters.preset || filters.tag;
    clear(empty).append(none && filtered ? "No runs match these filters."
      : h("span", {}, "No runs yet: ", h("a", { href: "#/launch?preset=2" }, "launch point 2"),
        " (the template's CNN) to get started."));
  }

  let loaded = false;
  async function load() {
    try {
      const list = await api.listRuns(filters);
      loaded = true;
      for (const id of [...rows.keys()]) dropRow(id);
      for (const run of list.items.slice().reverse()) upsert(run);
      showEmpty();
    } catch (error) {
      toast(`Could not list the runs: ${error.message}`, "error");
    }
  }

  function applyFilters() {
    filters.status = statusSelect.value;
    filters.preset = presetSelect.value;
    filters.tag = tagInput.value.trim();
    window.history.replaceState(null, "", `#/runs?${new URLSearchParams(Object.entries(filters).filter(([, v]) => v))}`);
    load();
  }
  statusSelect.addEventListener("change", applyFilters);
  presetSelect.addEventListener("change", applyFilters);
  tagInput.addEventListener("change", applyFilters);

  // The stream's `ready` marks the point after which every change arrives: list after it.
  const stop = follow("/api/stream", { ready: load, status: upsert, progress: upsert, deleted: (d) => dropRow(d.id ?? d.run_id) });
  const fallback = setTimeout(() => loaded || load(), 3000);
  const ticker = setInterval(() => {
    for (const [id, run] of runs) if (run.status === "running" && rows.has(id)) updateRow(rows.get(id), run);
  }, 1000);
  return () => {
    stop();
    clearTimeout(fallback);
    clearInterval(ticker);
  };
}
