// Pure helpers naming runs by what differs between them, and the config diff.

// Config fields whose values are not all equal across `configs`, in a stable order.
export function configDiff(configs) {
  const keys = [...new Set(configs.flatMap((c) => Object.keys(c || {})))].sort();
  return keys.filter((key) => new Set(configs.map((c) => JSON.stringify(c?.[key]))).size > 1);
}

const SHORT = {
  fc_width: "fc",
  batch_size: "batch",
  image_size: "size",
  train_subset: "train",
  test_subset: "test",
  weight_decay: "wd",
};

// One difference in words: "widths 256/256/256/512", "+BN", "-flip", "lr 0.001".
export function describeChange(key, value, base) {
  if (key === "batch_norm") return value ? "+BN" : "-BN";
  if (key === "pretrained") return value ? "+pretrained" : "-pretrained";
  if (key === "augmentations") {
    const now = value || [];
    const before = base || [];
    const added = now.filter((a) => !before.includes(a)).map((a) => `+${a}`);
    const removed = before.filter((a) => !now.includes(a)).map((a) => `-${a}`);
    return [...added, ...removed].join(" ") || "augmentations";
  }
  if (Array.isArray(value)) return `${key} ${value.join("/")}`;
  if (typeof value === "boolean") return value ? `+${key}` : `-${key}`;
  return `${SHORT[key] || key} ${value ?? "default"}`;
}

export function shorten(text, length) {
  const value = String(text ?? "");
  return value.length > length ? `${value.slice(0, length - 1)}…` : value;
}

// Legend names: the first run by its name; every other run by how its config differs from
// the first run's (its name when nothing differs). `runs` = [{id, name, config}].
export function legendNames(runs) {
  if (!runs.length) return [];
  const base = runs[0].config || {};
  return runs.map((run, i) => {
    if (i === 0) return `#${run.id} ${shorten(run.name, 40)}`;
    const config = run.config || {};
    const keys = configDiff([base, config]);
    const words = keys.map((key) => describeChange(key, config[key], base[key]));
    return `#${run.id} ${words.length ? words.join(", ") : shorten(run.name, 40)}`;
  });
}

// The compare API's config_diff ({field: [value per run]}) -> one partial config per run.
export function configsFromDiff(diff, count) {
  const configs = Array.from({ length: count }, () => ({}));
  for (const [key, values] of Object.entries(diff || {})) {
    values.forEach((value, i) => {
      if (i < count) configs[i][key] = value;
    });
  }
  return configs;
}

export function displayValue(value) {
  if (value === null || value === undefined) return "–";
  if (Array.isArray(value)) return value.length ? value.join("/") : "none";
  return String(value);
}

// Distinct colours (Okabe-Ito, then Tableau): run i gets PALETTE[i % length].
export const PALETTE = [
  "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9",
  "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF", "#9467BD", "#F0E442",
];

export function colour(index) {
  return PALETTE[index % PALETTE.length];
}
