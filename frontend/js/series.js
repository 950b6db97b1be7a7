// Pure helpers for metric series: merging stream events, smoothing, derived curves.
// A store maps a metric name to parallel arrays sorted by step, one entry per step:
// {test_acc: {step: [1, 2], epoch: [1, 2], value: [0.1, 0.2], time: [...]}}.

const COLUMNS = ["step", "epoch", "value", "time"];

// A `metrics` event's data -> {name: [{step, epoch, value, time}]}. Accepts the columnar
// shape ({series: {name: {seq, epoch, step, value, time}}}) and the older one ({points: []}).
export function eventPoints(data) {
  const out = {};
  if (data && data.series && typeof data.series === "object") {
    for (const [name, cols] of Object.entries(data.series)) {
      const steps = cols.step || [];
      out[name] = steps.map((step, i) => ({
        step,
        epoch: cols.epoch?.[i] ?? null,
        value: cols.value?.[i] ?? null,
        time: cols.time?.[i] ?? null,
      }));
    }
  } else if (data && Array.isArray(data.points)) {
    for (const p of data.points) {
      (out[p.name] ||= []).push({ step: p.step, epoch: p.epoch, value: p.value, time: p.time });
    }
  }
  return out;
}

function insertAt(series, index, point, replace) {
  for (const column of COLUMNS) {
    series[column].splice(index, replace ? 1 : 0, point[column] ?? null);
  }
}

// Adds points to the store in place: a point at a step already held replaces it (a resumed
// run re-sends its epochs), so each step appears once. Returns the names that changed.
export function mergePoints(store, byName) {
  const changed = [];
  for (const [name, points] of Object.entries(byName)) {
    const series = (store[name] ||= { step: [], epoch: [], value: [], time: [] });
    for (const point of points) {
      const steps = series.step;
      const last = steps.length ? steps[steps.length - 1] : -Infinity;
      if (point.step > last) {
        insertAt(series, steps.length, point, false); // the usual case: appended in order
        continue;
      }
      let lo = 0;
      let hi = steps.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (steps[mid] < point.step) lo = mid + 1;
        else hi = mid;
      }
      insertAt(series, lo, point, steps[lo] === point.step);
    }
    if (points.length) changed.push(name);
  }
  return changed;
}

export function mergeEvent(store, data) {
  return mergePoints(store, eventPoints(data));
}

// Exponential moving average, bias-corrected like TensorBoard's; nulls stay gaps.
export function ema(values, weight) {
  if (!weight || weight <= 0) return values.slice();
  let last = 0;
  let count = 0;
  return values.map((value) => {
    if (value === null || value === undefined || !Number.isFinite(value)) return null;
    last = last * weight + (1 - weight) * value;
    count += 1;
    return last / (1 - weight ** count);
  });
}

export function scale(values, factor) {
  return values.map((v) => (v === null || v === undefined ? null : v * factor));
}

// Train minus test accuracy per epoch (in the store's units), where both exist.
export function generalisationGap(store) {
  const train = store.train_acc;
  const test = store.test_acc;
  if (!train || !test) return { epoch: [], value: [] };
  const byEpoch = new Map(test.epoch.map((e, i) => [e, test.value[i]]));
  const epoch = [];
  const value = [];
  train.epoch.forEach((e, i) => {
    const a = train.value[i];
    const b = byEpoch.get(e);
    if (b === undefined) return;
    epoch.push(e);
    value.push(a === null || b === null ? null : a - b);
  });
  return { epoch, value };
}

// The batch losses of the newest epoch, x = step within that epoch.
export function currentEpochBatches(store, stepsPerEpoch) {
  const batches = store.batch_loss;
  if (!batches || !batches.step.length) return { epoch: null, x: [], y: [] };
  const epoch = batches.epoch[batches.epoch.length - 1];
  const x = [];
  const y = [];
  batches.step.forEach((step, i) => {
    if (batches.epoch[i] !== epoch) return;
    x.push(stepsPerEpoch ? step - (epoch - 1) * stepsPerEpoch : step);
    y.push(batches.value[i]);
  });
  return { epoch, x, y };
}

// Running sum of per-epoch seconds: the wall-clock x axis of a comparison (minutes).
export function cumulativeMinutes(epochSeconds) {
  let total = 0;
  return epochSeconds.map((s) => {
    if (s === null || s === undefined) return null;
    total += s;
    return total / 60;
  });
}

// Indices of the `count` best and worst entries of per-class accuracies.
export function extremes(values, count) {
  const order = values.map((v, i) => i).sort((a, b) => values[b] - values[a]);
  return { best: order.slice(0, count), worst: order.slice(-count).reverse() };
}

// Every batch loss of the run against the global step, optionally EMA-smoothed.
export function wholeRunBatches(store, smoothing = 0) {
  const batches = store.batch_loss;
  if (!batches) return { x: [], y: [], smooth: [] };
  return { x: batches.step.slice(), y: batches.value.slice(), smooth: ema(batches.value, smoothing) };
}

// Global steps where epochs 2..epochs begin (after each full epoch), for the chart's lines.
export function epochBoundaries(stepsPerEpoch, epochs) {
  if (!stepsPerEpoch || !epochs) return [];
  return Array.from({ length: Math.max(epochs - 1, 0) }, (_, i) => (i + 1) * stepsPerEpoch + 0.5);
}

// Minutes since the first sample of a series' `time` column (Unix seconds).
export function minutesSinceStart(times) {
  if (!times.length) return [];
  const start = times[0];
  return times.map((t) => (t - start) / 60);
}
