// Replicate statistics in the browser, as the API computes them (backend/app/core/stats.py):
// the sample standard deviation (n - 1); with one value there is no spread (null, not 0).

const present = (values) => (values || []).filter((v) => v !== null && v !== undefined && Number.isFinite(v));

export function summarize(values) {
  const kept = present(values);
  const n = kept.length;
  if (!n) return { mean: null, std: null, min: null, max: null, n: 0 };
  const mean = kept.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(kept.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : null;
  return { mean, std, min: Math.min(...kept), max: Math.max(...kept), n };
}

// Per index (epoch) over several series of any length: {mean, std, min, max, n} arrays.
export function band(seriesList) {
  const length = Math.max(0, ...seriesList.map((s) => (s || []).length));
  const out = { mean: [], std: [], min: [], max: [], n: [] };
  for (let i = 0; i < length; i += 1) {
    const s = summarize(seriesList.map((series) => (series || [])[i]));
    for (const key of Object.keys(out)) out[key].push(s[key]);
  }
  return out;
}

// The band's edges: mean ± 1 std, or the range; null where an epoch has no spread.
export function edges(b, kind = "std") {
  if (kind === "minmax") return { lower: b.min, upper: b.max };
  const at = (sign) => b.mean.map((m, i) => (m === null || b.std[i] === null ? null : m + sign * b.std[i]));
  return { lower: at(-1), upper: at(1) };
}

// "31.2 ± 0.8 % (n=3)" from fractions; one value: "31.2 %"; none: "–".
export function meanStd(summary, { scale = 100, digits = 1, unit = " %" } = {}) {
  if (!summary || summary.mean === null || summary.mean === undefined) return "–";
  let text = (scale * summary.mean).toFixed(digits);
  if (summary.std !== null && summary.std !== undefined) text += ` ± ${(scale * summary.std).toFixed(digits)}`;
  return `${text}${unit}${summary.n > 1 ? ` (n=${summary.n})` : ""}`;
}

// A run's representative test accuracy: best, final, or at epoch k (1-based).
export function valueAt(series, mode, k = 1) {
  const values = series || [];
  if (mode === "best") return summarize(values).max;
  if (mode === "final") return [...values].reverse().find((v) => v !== null && v !== undefined) ?? null;
  return values[k - 1] ?? null;
}

// "2 · 22 s" (epoch and training seconds) or "–" when not reached.
export function timeToAccuracy(tta) {
  if (!tta || tta.epoch === null || tta.epoch === undefined) return "–";
  return `epoch ${tta.epoch} · ${Math.round(tta.seconds)} s`;
}
