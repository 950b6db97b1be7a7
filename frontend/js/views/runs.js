// Runs: every run, newest first, kept current by /api/stream; filters, selection, actions.
// A group of two or more runs folds into one expandable row (rows in runs-rows.js).
import { api, follow } from "../api.js";
import { append, clear, h, setText, toast } from "../dom.js";
import { navigate, replaceParams } from "../router.js";
import { currentUser } from "../session.js";
import { HEAD, NUMERIC, buildGroupRow, buildRow, updateGroupRow, updateRow } from "./runs-rows.js";

const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"];
const SETTLED = ["succeeded", "failed", "cancelled"];

export function matches(run, filters) {
  if (filters.status && run.status !== filters.status) return false;
  if (filters.preset && run.preset !== filters.preset) return false;
  if (filters.tag && !(run.tags || []).includes(filters.tag)) return false;
  if (filters.owner && run.created_by !== filters.owner) return false;
  return true;
}

function select(id, label, options, value) {
  const el = h("select", { id }, h("option", { value: "" }, `any ${label}`),
    options.map((o) => h("option", { value: o.value, selected: o.value === value }, o.label)));
  return [h("label", { for: id }, label), el];
}

export async function runsView(main, route) {
  const p = route.params;
  const filters = { status: p.status || "", preset: p.preset || "", tag: p.tag || "", owner: p.owner || "" };
  const shown = { value: ["final", "epoch"].includes(p.value) ? p.value : "best", epoch: Number(p.epoch) || 1,
    threshold: p.threshold || "" }; // threshold in percent; empty: the report's figure
  const runs = new Map(); // id -> latest snapshot
  const rows = new Map(); // id -> {tr, cells}
  const groups = new Map(); // group id -> {tr, cells, expand, open}
  const selected = new Set();
  const presets = await api.presets().catch(() => []);

  const [statusLabel, statusSelect] = select("filter-status", "status",
    STATUSES.map((s) => ({ value: s, label: s })), filters.status);
  const [presetLabel, presetSelect] = select("filter-preset", "preset",
    presets.map((x) => ({ value: x.id, label: `${x.id}: ${x.title}` })), filters.preset);
  const tagInput = h("input", { id: "filter-tag", type: "search", value: filters.tag, placeholder: "any tag" });
  const mine = h("input", { id: "filter-mine", type: "checkbox", checked: Boolean(filters.owner) && filters.owner === currentUser() });
  const valueSelect = h("select", { id: "runs-value" }, ["best", "final", "epoch"].map((v) =>
    h("option", { value: v, selected: v === shown.value }, v === "epoch" ? "at epoch k" : v)));
  const epochInput = h("input", { id: "runs-epoch", type: "number", min: 1, value: shown.epoch, class: "small-number", "aria-label": "epoch k" });
  const thresholdInput = h("input", { id: "runs-threshold", type: "number", min: 0, max: 100, step: 1, value: shown.threshold,
    class: "small-number", placeholder: "report", "aria-label": "time to accuracy threshold (%)" });
  const compareButton = h("button", { type: "button", id: "compare-selected", disabled: true }, "Compare selected");
  compareButton.addEventListener("click", () => navigate("compare", [], { ids: [...selected].join(",") }));
  const tbody = h("tbody");
  const empty = h("div", { class: "empty", id: "runs-empty", hidden: true });
  const table = h("table", { class: "runs", id: "runs-table" },
    h("thead", {}, h("tr", {}, HEAD.map((t) => h("th", { scope: "col", class: NUMERIC.has(t) ? "num" : "" }, t)))), tbody);
  append(main, [
    h("div", { class: "view-head" }, h("h1", {}, "Runs"),
      h("div", { class: "filters", role: "search" }, statusLabel, statusSelect, presetLabel, presetSelect,
        h("label", { for: "filter-tag" }, "tag"), tagInput, currentUser() ? [mine, h("label", { for: "filter-mine" }, "mine")] : null,
        h("label", { for: "runs-value" }, "value"), valueSelect, epochInput,
        h("label", { for: "runs-threshold" }, "time to acc (%)"), thresholdInput, compareButton)),
    h("div", { class: "table-wrap" }, table), empty,
  ]);

  function updateCompareButton() {
    compareButton.disabled = selected.size === 0;
    setText(compareButton, selected.size ? `Compare selected (${selected.size})` : "Compare selected");
  }
  const onSelect = (id, on) => { (on ? selected.add(id) : selected.delete(id)); updateCompareButton(); };
  const members = (gid) => [...runs.values()].filter((r) => r.group_id === gid).sort((a, b) => b.id - a.id);
  const folded = (run) => run.group_id !== null && run.group_id !== undefined && members(run.group_id).length > 1;

  // Newest first; a folded group sits where its newest run would, its runs right below it.
  function reorder() {
    const placed = new Set();
    const order = [];
    for (const run of [...runs.values()].sort((a, b) => b.id - a.id)) {
      if (!folded(run)) order.push(rows.get(run.id).tr);
      else if (!placed.has(run.group_id)) {
        placed.add(run.group_id);
        const group = groupRow(run.group_id);
        order.push(group.tr);
        for (const member of members(run.group_id)) {
          const tr = rows.get(member.id).tr;
          tr.classList.add("group-member");
          tr.hidden = !group.open;
          order.push(tr);
        }
      }
    }
    for (const [gid, group] of groups) if (!placed.has(gid)) { group.tr.remove(); groups.delete(gid); }
    for (const run of runs.values()) if (!folded(run)) { rows.get(run.id).tr.classList.remove("group-member"); rows.get(run.id).tr.hidden = false; }
    tbody.append(...order);
  }
  function groupRow(gid) {
    if (!groups.has(gid)) {
      const row = buildGroupRow(gid, (id, open) => { groups.get(id).open = open; reorder(); });
      groups.set(gid, { ...row, open: false });
    }
    return groups.get(gid);
  }
  function refreshGroup(gid) {
    if (groups.has(gid)) updateGroupRow(groups.get(gid), members(gid), shown.value);
  }

  function upsert(run) {
    if (!matches(run, filters)) {
      if (rows.has(run.id)) dropRow(run.id);
      return;
    }
    const before = runs.get(run.id);
    runs.set(run.id, { ...(before || {}), ...run });
    let row = rows.get(run.id);
    if (!row) {
      row = buildRow(run.id, { onSelect, onDelete: dropRow });
      rows.set(run.id, row);
      reorder();
    }
    const current = runs.get(run.id);
    updateRow(row, current, shown.value);
    refreshGroup(current.group_id);
    if (before && !SETTLED.includes(before.status) && SETTLED.includes(current.status)) scheduleLoad();
    showEmpty();
  }

  function dropRow(id) {
    const gid = runs.get(id)?.group_id;
    rows.get(id)?.tr.remove();
    rows.delete(id);
    runs.delete(id);
    selected.delete(id);
    reorder();
    refreshGroup(gid);
    updateCompareButton();
    showEmpty();
  }

  function showEmpty() {
    const none = rows.size === 0;
    empty.hidden = !none;
    table.hidden = none;
    const filtered = filters.status || filters.preset || filters.tag || filters.owner;
    clear(empty).append(none && filtered ? "No runs match these filters."
      : h("span", {}, "No runs yet: ", h("a", { href: "#/launch?preset=2" }, "launch point 2"),
        " (the template's CNN) to get started."));
  }

  let loaded = false;
  let pending = null; // a reload for time to accuracy once a run has settled
  function scheduleLoad() {
    if (!pending) pending = setTimeout(load, 500);
  }
  async function load() {
    clearTimeout(pending);
    pending = null;
    try {
      const query = { ...filters, epoch: shown.value === "epoch" ? shown.epoch : "",
        threshold: shown.threshold === "" ? "" : Number(shown.threshold) / 100 };
      const list = await api.listRuns(query);
      loaded = true;
      const ids = new Set(list.items.map((r) => r.id));
      for (const id of [...rows.keys()]) if (!ids.has(id)) dropRow(id);
      for (const run of list.items.slice().reverse()) upsert(run);
      for (const gid of groups.keys()) refreshGroup(gid);
      showEmpty();
    } catch (error) {
      toast(`Could not list the runs: ${error.message}`, "error");
    }
  }

  function applyFilters() {
    filters.status = statusSelect.value;
    filters.preset = presetSelect.value;
    filters.tag = tagInput.value.trim();
    filters.owner = mine.checked ? currentUser() || "" : "";
    shown.value = valueSelect.value;
    shown.epoch = Math.max(1, Number(epochInput.value) || 1);
    shown.threshold = thresholdInput.value.trim();
    epochInput.hidden = shown.value !== "epoch";
    replaceParams("runs", [], { ...filters, value: shown.value === "best" ? "" : shown.value,
      epoch: shown.value === "epoch" ? shown.epoch : "", threshold: shown.threshold });
    load();
  }
  for (const el of [statusSelect, presetSelect, tagInput, mine, valueSelect, epochInput, thresholdInput]) el.addEventListener("change", applyFilters);
  epochInput.hidden = shown.value !== "epoch";

  // The stream's `ready` marks the point after which every change arrives: list after it.
  const stop = follow("/api/stream", { ready: load, reset: load, status: upsert, progress: upsert, deleted: (d) => dropRow(d.id ?? d.run_id) });
  const fallback = setTimeout(() => loaded || load(), 3000);
  const ticker = setInterval(() => {
    for (const [id, run] of runs) if (run.status === "running" && rows.has(id)) updateRow(rows.get(id), run, shown.value);
  }, 1000);
  return () => {
    stop();
    clearTimeout(fallback);
    clearTimeout(pending);
    clearInterval(ticker);
  };
}
