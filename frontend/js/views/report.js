// Report card: each homework point against the report: what represents it (pinned, else the
// best finished run or group), its accuracy (mean ± std, n), verdict, time to the report's
// accuracy, the effect of its change, and a small chart against the dashed report curve.
import { ApiError, api, follow } from "../api.js";
import { chartCard, drawLines, line, purge } from "../charts.js";
import { actionButton, append, clear, h, setText } from "../dom.js";
import { integer, number } from "../format.js";
import { meanStd } from "../stats.js";

const VERDICTS = { within: "within ± 3 pp", above: "above", below: "below", not_run: "not run" };
const HEAD = ["Point", "Report", "Represented by", "Final acc", "Best acc", "vs report", "Verdict",
  "Time to report acc", "Images/s", "Effect", "Pin"];

const signed = (v, digits = 1) => (v === null || v === undefined ? "–" : `${v >= 0 ? "+" : ""}${v.toFixed(digits)}`);

export function effectText(effect) {
  if (!effect) return "–";
  if (effect.difference_pp === null) return `vs ${effect.against}: not run`;
  const ci = effect.ci_low_pp === null ? "" : ` [${signed(effect.ci_low_pp)}, ${signed(effect.ci_high_pp)}]`;
  return `${signed(effect.difference_pp)} pp${ci} vs ${effect.against}`;
}

function representative(row) {
  const r = row.representative;
  if (!r) return h("span", { class: "muted" }, "not run");
  const href = r.kind === "group" ? `#/group/${r.id}` : `#/run/${r.id}`;
  return h("span", {}, h("a", { href }, `${r.kind} #${r.id}`), ` ${r.name}`,
    r.dataset !== "cifar100" ? h("span", { class: "tag synthetic" }, r.dataset) : null,
    r.pinned ? h("span", { class: "tag pinned" }, "pinned") : null);
}

function timeText(t) {
  if (t.threshold === null) return "–";
  if (!t.reached) return `not reached (${Math.round(100 * t.threshold)} %)`;
  return `${meanStd(t.seconds, { scale: 1, digits: 0, unit: " s" })}, epoch ${meanStd(t.epochs, { scale: 1, digits: 1, unit: "" })}`;
}

export async function reportView(main) {
  const table = h("tbody");
  const charts = h("section", { class: "charts report-charts", id: "report-charts" });
  const download = (kind, label) => h("a", { class: "button", id: `report-${kind}`, href: api.reportUrl(kind), download: `report.${kind}` }, label);
  const error = h("p", { class: "form-error", id: "report-error", role: "alert" });
  append(main, [
    h("div", { class: "view-head" }, h("h1", {}, "Report card"),
      h("div", { class: "filters" }, download("md", "Markdown"), download("html", "HTML"), download("csv", "CSV"))),
    h("p", { class: "muted" }, "Each homework point against the report: the pinned run or group, else the best finished one on CIFAR-100 "
      + "(synthetic sets are labelled). Effects are test accuracy against the point each one changes, with Welch's 95% interval for groups."),
    error, h("div", { class: "table-wrap" }, h("table", { class: "summary", id: "report-table" },
      h("thead", {}, h("tr", {}, HEAD.map((t) => h("th", { scope: "col" }, t)))), table)),
    h("h2", {}, "Curves against the report (dashed)"), charts,
  ]);
  const plots = new Map();

  function pinControls(row) {
    const kind = h("select", { id: `pin-kind-${row.point}`, "aria-label": `pin a run or a group to ${row.point}` },
      h("option", { value: "group" }, "group"), h("option", { value: "run" }, "run"));
    const id = h("input", { id: `pin-id-${row.point}`, type: "number", min: 1, class: "small-number", "aria-label": "id" });
    const pin = actionButton("Pin", async () => {
      setText(error, "");
      const body = kind.value === "run" ? { run_id: Number(id.value) } : { group_id: Number(id.value) };
      try {
        await api.pin(row.point, body);
      } catch (e) {
        setText(error, `point ${row.point}: ${e instanceof ApiError ? e.message : e}`);
        return;
      }
      await load();
    }, { id: `pin-${row.point}`, class: "small" });
    const unpin = actionButton("Unpin", async () => { await api.unpin(row.point); await load(); },
      { id: `unpin-${row.point}`, class: "small", hidden: !row.representative?.pinned });
    return h("td", { class: "pin" }, kind, id, pin, unpin);
  }

  function draw(card) {
    clear(table).append(...card.rows.map((row) => {
      const ref = row.reference;
      return h("tr", { dataset: { point: row.point, verdict: row.verdict || "none" } },
        h("th", { scope: "row" }, `${row.point}`, h("div", { class: "muted" }, row.title)),
        h("td", {}, ref.final_accuracy_pct === null ? "–" : `${ref.final_accuracy_pct} %`,
          h("div", { class: "muted" }, `loss ${number(ref.final_train_loss)}`)),
        h("td", { class: "represented" }, representative(row)),
        h("td", { class: "num final" }, meanStd(row.final_test_acc)),
        h("td", { class: "num best" }, meanStd(row.best_test_acc)),
        h("td", { class: "num" }, row.difference_pp === null ? "–" : `${signed(row.difference_pp)} pp`),
        h("td", { class: `verdict verdict-${row.verdict || "none"}` }, VERDICTS[row.verdict] || "no report figure"),
        h("td", { class: "num" }, timeText(row.time_to_report)),
        h("td", { class: "num" }, integer(row.images_per_second.mean)),
        h("td", { class: "effect" }, effectText(row.effect)),
        pinControls(row));
    }));
    for (const row of card.rows) {
      if (!plots.has(row.point)) {
        const c = chartCard(`${row.point}: ${row.title}`, `report-chart-${row.point}`, `report-${row.point}`);
        charts.append(c.card);
        plots.set(row.point, c.plot);
      }
      const mine = row.curve.test_acc.map((v) => (v === null ? null : 100 * v));
      const traces = [line(mine.map((_, i) => i + 1), mine, { name: "here", color: "#0072B2", markers: true })];
      const reference = row.reference.accuracy_pct || [];
      if (reference.length) traces.push(line(reference.map((_, i) => i + 1), reference, { name: "report", color: "#7F7F7F", dash: "dash", width: 1.5 }));
      drawLines(plots.get(row.point), traces, { xTitle: "epoch", yTitle: "test acc (%)" });
    }
  }

  async function load() {
    draw(await api.report());
  }
  let pending = null;
  // A run finishing can change what represents a point: reload once per burst.
  const changed = (run) => {
    if (run.status !== "running" && !pending) pending = setTimeout(() => { pending = null; load().catch(() => {}); }, 500);
  };
  const stop = follow("/api/stream", { status: changed });
  await load();
  return () => {
    stop();
    clearTimeout(pending);
    for (const plot of plots.values()) purge(plot);
  };
}
