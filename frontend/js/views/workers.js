// Workers: every worker heard from (busy with a run, idle, lost) and the queue in order.
// Hellos come every 5 s; the page reloads that often and on each status change it streams.
import { api, follow } from "../api.js";
import { append, clear, h, setText } from "../dom.js";

const REFRESH_MS = 5000;

function memory(mb) {
  return mb == null ? "–" : `${(mb / 1024).toFixed(1)} GiB`;
}

function ago(when) {
  const seconds = Math.max(0, Math.round((Date.now() - new Date(when).getTime()) / 1000));
  return seconds < 90 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
}

function workerRow(worker) {
  const doing = worker.run_id == null ? "–" : h("a", { href: `#/run/${worker.run_id}` }, `run ${worker.run_id}`);
  return h("tr", { dataset: { worker: worker.name, state: worker.state } },
    h("td", {}, worker.name), h("td", {}, worker.host),
    h("td", {}, h("span", { class: `status status-${worker.state}` }, worker.state)),
    h("td", {}, doing), h("td", {}, worker.device), h("td", {}, worker.gpu_name || "–"),
    h("td", {}, memory(worker.gpu_memory_mb)), h("td", {}, worker.datasets.join(", ") || "–"),
    h("td", {}, worker.weights.join(", ") || "–"), h("td", {}, worker.version),
    h("td", {}, ago(worker.seen_at)));
}

export async function workersView(main) {
  const summary = h("p", { id: "workers-summary", class: "muted" });
  const body = h("tbody");
  const queue = h("ol", { id: "queue" });
  const headings = ["Worker", "Host", "State", "Training", "Device", "GPU", "GPU memory",
    "Data sets", "Weights", "Version", "Last heard"];
  append(main, [
    h("div", { class: "view-head" }, h("h1", {}, "Workers")), summary,
    h("table", { id: "workers", class: "runs" }, h("thead", {}, h("tr", {}, headings.map((t) => h("th", {}, t)))), body),
    h("h2", {}, "Queue"), queue,
  ]);

  let stopped = false;
  async function load() {
    let data;
    try {
      data = await api.workers();
    } catch (error) {
      setText(summary, `Could not list the workers: ${error.message}`);
      return;
    }
    if (stopped) return;
    const online = data.workers.filter((w) => w.state !== "lost");
    const busy = online.filter((w) => w.state === "busy").length;
    setText(summary, data.workers.length
      ? `${online.length} online (${busy} busy, ${online.length - busy} idle), ${data.workers.length - online.length} lost; ${data.queue.length} queued`
      : "No worker has said hello yet: start one with `runboard worker`.");
    clear(body);
    append(body, data.workers.map(workerRow));
    clear(queue);
    append(queue, data.queue.length
      ? data.queue.map((run) => h("li", {}, h("a", { href: `#/run/${run.id}` }, `${run.name}`), ` (run ${run.id})`))
      : [h("li", { class: "muted" }, "nothing queued")]);
  }
  await load();
  const timer = setInterval(load, REFRESH_MS);
  const stop = follow("/api/stream", { status: load });
  return () => {
    stopped = true;
    clearInterval(timer);
    stop();
  };
}
