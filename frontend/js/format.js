// Pure formatting helpers: no DOM, no fetch (unit-tested in the browser suite).

export const FINISHED = ["succeeded", "failed", "cancelled"];
export const ACTIVE = ["queued", "running"];

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  const hours = Math.floor(m / 60);
  return `${hours} h ${String(m % 60).padStart(2, "0")} min`;
}

export function percent(fraction, digits = 1) {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return "–";
  return `${(fraction * 100).toFixed(digits)}%`;
}

export function number(value, digits = 3) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return Number(value.toPrecision(digits)).toLocaleString("en-US");
}

export function integer(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return Math.round(value).toLocaleString("en-US");
}

// Fraction of the run done, from its 1-based epoch and the step within it.
export function progressFraction(run) {
  if (run.status === "succeeded") return 1;
  if (!run.epochs) return 0;
  const steps = run.steps_per_epoch || 0;
  const within = steps ? Math.min(run.step / steps, 1) : 0;
  const done = Math.max((run.epoch || 0) - 1, 0) + within;
  return Math.min(Math.max(done / run.epochs, 0), 1);
}

export function progressLabel(run) {
  if (!run.epochs) return run.status === "queued" ? "waiting" : "";
  const step = run.steps_per_epoch ? ` · step ${run.step}/${run.steps_per_epoch}` : "";
  return `epoch ${Math.max(run.epoch, 0)}/${run.epochs}${step}`;
}

export function elapsedSeconds(run, nowMs = Date.now()) {
  if (!run.started_at) return null;
  const end = run.finished_at ? Date.parse(run.finished_at) : nowMs;
  return Math.max(0, (end - Date.parse(run.started_at)) / 1000);
}

// Remaining time by linear extrapolation of the elapsed time over the fraction done.
export function timeLeftSeconds(run, nowMs = Date.now()) {
  if (run.status !== "running") return null;
  const fraction = progressFraction(run);
  const elapsed = elapsedSeconds(run, nowMs);
  if (!elapsed || fraction <= 0.001) return null;
  return (elapsed * (1 - fraction)) / fraction;
}

export function runDuration(run, nowMs = Date.now()) {
  if (run.duration_s !== null && run.duration_s !== undefined) return run.duration_s;
  return elapsedSeconds(run, nowMs);
}

// Plotly renders a subset of HTML in trace names, labels and hover text, and decodes only
// &amp; &lt; &gt; back: escaping those three shows user text exactly as typed, as text.
export function plotlyText(text) {
  return String(text ?? "")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;");
}

// The API's 422 detail -> {field: message}; `fields` are the form's field names.
export function fieldErrors(detail, fields) {
  const out = {};
  const items = Array.isArray(detail) ? detail : [{ loc: [], msg: String(detail) }];
  for (const item of items) {
    const loc = (item.loc || []).map(String);
    const field = loc.find((part) => fields.includes(part)) || "_form";
    const message = String(item.msg || "invalid");
    out[field] = out[field] ? `${out[field]}; ${message}` : message;
  }
  return out;
}

export function shortTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return date.toLocaleString("en-GB", {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

// "patience 3 epochs, target 50.0%": the early-stop rules of a config; "none" without.
export function rulesLabel(config) {
  const c = config || {};
  const rules = [];
  if (c.patience) rules.push(`patience ${c.patience} epochs${c.min_delta ? ` (min gain ${percent(c.min_delta)})` : ""}`);
  if (c.target_accuracy) rules.push(`target ${percent(c.target_accuracy)}`);
  if (c.guard_nonfinite ?? true) rules.push("guard NaN/inf");
  if (c.guard_divergence) rules.push(`guard ${c.guard_divergence}× first loss`);
  return rules.join(", ") || "none";
}

// "cosine, 2 warm-up epochs": the lr schedule of a config.
export function scheduleLabel(config) {
  const c = config || {};
  const name = c.schedule || "constant";
  return c.warmup_epochs ? `${name}, ${c.warmup_epochs} warm-up epochs` : name;
}

// "patience after epoch 5" for a run a rule stopped, else "".
export function stoppedLabel(run) {
  return run?.stopped_by ? `${run.stopped_by} after epoch ${run.stopped_epoch}` : "";
}
