// The launch form's fields (every RunConfig field a homework point sets) and the pure
// conversions between form text and config values.

export const SECTIONS = [
  { title: "Network", fields: [
    { key: "architecture", kind: "select", options: ["mlp", "cnn", "resnet18"] },
    { key: "widths", kind: "list", hint: "conv1/conv2/conv3/conv_final" },
    { key: "fc_width", kind: "int", label: "fc width" },
    { key: "activation", kind: "select", options: ["relu", "sigmoid", "tanh", "gelu"] },
    { key: "batch_norm", kind: "bool", label: "batch norm" },
    { key: "dropout", kind: "float", step: "0.05" },
    { key: "pretrained", kind: "bool", label: "pretrained (ResNet-18)" },
  ] },
  { title: "Data", fields: [
    { key: "augmentations", kind: "multi", options: ["flip", "crop"] },
    { key: "image_size", kind: "int", label: "image size" },
    { key: "dataset", kind: "select", options: ["cifar100", "synthetic", "synthetic-easy"], label: "data set" },
    { key: "train_subset", kind: "optint", label: "train subset", hint: "empty: all" },
    { key: "test_subset", kind: "optint", label: "test subset", hint: "empty: all" },
  ] },
  { title: "Training", fields: [
    { key: "optimizer", kind: "select", options: ["adam", "adamw", "sgd"] },
    { key: "lr", kind: "float", label: "learning rate", step: "any" },
    { key: "momentum", kind: "float", step: "any" },
    { key: "weight_decay", kind: "float", label: "weight decay", step: "any" },
    { key: "batch_size", kind: "int", label: "batch size" },
    { key: "epochs", kind: "int" },
    { key: "seed", kind: "int" },
  ] },
  { title: "Schedule and stop rules", fields: [
    { key: "schedule", kind: "select", options: ["constant", "step", "cosine", "one-cycle"], label: "lr schedule" },
    { key: "warmup_epochs", kind: "int", label: "warm-up epochs" },
    { key: "step_epochs", kind: "int", label: "step: epochs per decay" },
    { key: "step_gamma", kind: "float", label: "step: lr factor", step: "any" },
    { key: "patience", kind: "optint", hint: "epochs without a better test acc; empty: off" },
    { key: "min_delta", kind: "float", label: "patience: min gain", step: "any", hint: "test acc, 0..1" },
    { key: "target_accuracy", kind: "optfloat", label: "target accuracy", step: "any", hint: "0..1; empty: off" },
    { key: "guard_nonfinite", kind: "bool", label: "guard: NaN/inf loss" },
    { key: "guard_divergence", kind: "optfloat", label: "guard: k × first loss", step: "any", hint: "empty: off" },
  ] },
  { title: "Hardware", fields: [
    { key: "device", kind: "text", hint: "auto, cpu, cuda, cuda:N, mps" },
    { key: "precision", kind: "select", options: ["auto", "fp32", "bf16", "fp16"] },
  ] },
  { title: "Advanced", advanced: true, fields: [
    { key: "pipeline", kind: "select", options: ["resident", "torchvision"] },
    { key: "channels_last", kind: "bool", label: "channels last" },
    { key: "deterministic", kind: "bool" },
    { key: "template_drop_last", kind: "bool", label: "template drop_last" },
    { key: "loader_workers", kind: "int", label: "loader workers" },
    { key: "report_every", kind: "int", label: "report every N steps" },
  ] },
];

export const FIELDS = SECTIONS.flatMap((s) => s.fields);
export const FIELD_KEYS = FIELDS.map((f) => f.key);
// What the form sends besides the config; 422s may name these too.
export const META_KEYS = ["name", "tags", "notes", "preset"];

// A config value -> what the form shows.
export function toFormValue(field, value) {
  switch (field.kind) {
    case "bool": return Boolean(value);
    case "multi": return Array.isArray(value) ? value.slice() : [];
    case "list": return Array.isArray(value) ? value.join("/") : String(value ?? "");
    case "optint": return value === null || value === undefined ? "" : String(value);
    default: return value === null || value === undefined ? "" : String(value);
  }
}

// What the form holds -> a config value. Text that is not a number is sent as it is, so
// that the API's 422 names the field (rather than the form silently dropping it).
export function fromFormValue(field, raw) {
  const text = typeof raw === "string" ? raw.trim() : raw;
  switch (field.kind) {
    case "bool": return Boolean(raw);
    case "multi": return Array.isArray(raw) ? raw.slice() : [];
    case "list": return text === "" ? [] : text.split(/[\s,/]+/).filter(Boolean)
      .map((part) => (/^-?\d+$/.test(part) ? Number(part) : part));
    case "int": return /^-?\d+$/.test(text) ? Number(text) : text;
    case "optint": return text === "" ? null : /^-?\d+$/.test(text) ? Number(text) : text;
    case "float": return text !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
    case "optfloat": return text === "" ? null : Number.isFinite(Number(text)) ? Number(text) : text;
    default: return text;
  }
}

// Overrides = every form value that differs from the preset's config.
export function overridesFrom(values, presetConfig) {
  const out = {};
  for (const field of FIELDS) {
    if (!(field.key in values)) continue;
    const value = fromFormValue(field, values[field.key]);
    if (JSON.stringify(value) !== JSON.stringify(presetConfig?.[field.key])) out[field.key] = value;
  }
  return out;
}

export function parseTags(text) {
  return String(text || "").split(",").map((t) => t.trim()).filter(Boolean);
}

// Point 3's widths: the presets launched together as one group.
export const WIDTH_GROUP = ["3a", "3b", "3c"];
