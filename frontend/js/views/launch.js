// Launch: pick a homework point, adjust any field, launch; the API's 422s appear by the field.
import { ApiError, api } from "../api.js";
import { append, h, setText } from "../dom.js";
import {
  FIELDS, FIELD_KEYS, META_KEYS, SECTIONS, WIDTH_GROUP, overridesFrom,
  parseTags, toFormValue,
} from "../fields.js";
import { fieldErrors } from "../format.js";
import { navigate } from "../router.js";
import { launchNotice } from "./launch_notice.js";

function control(field) {
  const id = `f-${field.key}`;
  const describedBy = `err-${field.key}${field.hint ? ` hint-${field.key}` : ""}`;
  const common = { id, name: field.key, "aria-describedby": describedBy };
  let input;
  if (field.kind === "select") {
    input = h("select", common, field.options.map((o) => h("option", { value: o }, o)));
  } else if (field.kind === "bool") {
    input = h("input", { ...common, type: "checkbox" });
  } else if (field.kind === "multi") {
    input = h("span", { id, class: "checks", role: "group", "aria-describedby": describedBy },
      field.options.map((o) => h("label", {}, h("input", { type: "checkbox", name: field.key, value: o }), ` ${o}`)));
  } else {
    const numeric = ["int", "optint", "float", "optfloat"].includes(field.kind);
    input = h("input", { ...common, type: numeric ? "number" : "text", step: field.step || (numeric ? "1" : undefined) });
  }
  const label = field.kind === "multi"
    ? h("span", { class: "label", id: `label-${field.key}` }, field.label || field.key)
    : h("label", { for: id }, field.label || field.key);
  return h("div", { class: `field field-${field.kind}`, dataset: { field: field.key } }, label, input,
    field.hint ? h("small", { id: `hint-${field.key}`, class: "hint" }, field.hint) : null,
    h("span", { class: "field-error", id: `err-${field.key}`, role: "alert" }));
}

export async function launchView(main, route) {
  const presets = await api.presets();
  const byId = Object.fromEntries(presets.map((p) => [p.id, p]));
  let current = byId[route.params.preset] || byId["2"] || presets[0];

  const picker = h("fieldset", { class: "preset-picker" }, h("legend", {}, "Homework point"),
    presets.map((p) => h("label", { class: "preset-option", for: `preset-${p.id}` },
      h("input", { type: "radio", name: "preset", id: `preset-${p.id}`, value: p.id, checked: p === current }),
      h("span", { class: "preset-text" }, h("strong", {}, `${p.id} · ${p.title}`),
        h("span", { class: "preset-description" }, p.description)))));
  const sections = SECTIONS.map((s) => {
    const body = s.fields.map(control);
    return s.advanced ? h("details", { class: "form-section" }, h("summary", {}, s.title), h("div", { class: "grid" }, body))
      : h("fieldset", { class: "form-section" }, h("legend", {}, s.title), h("div", { class: "grid" }, body));
  });
  const meta = h("fieldset", { class: "form-section" }, h("legend", {}, "Label"), h("div", { class: "grid" },
    ...[["name", "name", "text"], ["tags", "tags (comma-separated)", "text"]].map(([key, text, type]) =>
      h("div", { class: "field" }, h("label", { for: `f-${key}` }, text),
        h("input", { id: `f-${key}`, name: key, type, "aria-describedby": `err-${key}` }),
        h("span", { class: "field-error", id: `err-${key}`, role: "alert" }))),
    h("div", { class: "field wide" }, h("label", { for: "f-notes" }, "notes"),
      h("textarea", { id: "f-notes", name: "notes", rows: 2, "aria-describedby": "err-notes" }),
      h("span", { class: "field-error", id: "err-notes", role: "alert" }))));
  const formError = h("p", { class: "form-error", id: "err-_form", role: "alert" });
  const launchButton = h("button", { type: "submit", id: "launch", class: "primary" }, "Launch");
  const groupButton = h("button", { type: "button", id: "launch-group" }, "Launch 3a, 3b and 3c as one group");
  const seedsButton = h("button", { type: "button", id: "launch-seeds" }, "Launch over seeds");
  const seeds = h("span", { class: "field seeds" }, h("label", { for: "f-seeds" }, "seeds (a count from the seed, or a list)"),
    h("input", { id: "f-seeds", name: "seeds", type: "text", value: "3", "aria-describedby": "err-seeds" }),
    h("span", { class: "field-error", id: "err-seeds", role: "alert" }));
  const form = h("form", { id: "launch-form", novalidate: true }, // the API validates, by field
    sections, meta, formError, h("div", { class: "form-actions" }, launchButton, groupButton, seeds, seedsButton));
  append(main, [h("div", { class: "view-head" }, h("h1", {}, "Launch a run")),
    h("div", { class: "launch-layout" }, picker, form)]);

  const input = (key) => form.querySelector(`#f-${key}`);
  const checkNotice = launchNotice(form, formError); // no worker with CIFAR-100 or a GPU
  function fill(preset) {
    current = preset;
    for (const field of FIELDS) {
      const value = toFormValue(field, preset.config[field.key]);
      if (field.kind === "multi") {
        for (const box of form.querySelectorAll(`input[name="${field.key}"]`)) box.checked = value.includes(box.value);
      } else if (field.kind === "bool") input(field.key).checked = value;
      else input(field.key).value = value;
    }
    input("name").placeholder = `${preset.id}: ${preset.title}`;
    groupButton.hidden = !WIDTH_GROUP.includes(preset.id);
    showErrors({});
    checkNotice();
  }
  function values() {
    const out = {};
    for (const field of FIELDS) {
      if (field.kind === "multi") out[field.key] = [...form.querySelectorAll(`input[name="${field.key}"]:checked`)].map((b) => b.value);
      else if (field.kind === "bool") out[field.key] = input(field.key).checked;
      else out[field.key] = input(field.key).value;
    }
    return out;
  }
  function showErrors(errors) {
    for (const key of [...FIELD_KEYS, ...META_KEYS, "seeds", "_form"]) {
      const box = form.querySelector(`#err-${key}`);
      if (box) setText(box, errors[key] || "");
      input(key)?.setAttribute("aria-invalid", errors[key] ? "true" : "false");
    }
    if (errors.preset) setText(formError, `preset: ${errors.preset}`);
    const first = Object.keys(errors).find((k) => input(k));
    if (first) input(first).focus();
  }
  function labels() {
    const body = { tags: parseTags(input("tags").value), notes: input("notes").value };
    const name = input("name").value.trim();
    return name ? { ...body, name } : body;
  }
  async function attempt(send) {
    showErrors({});
    launchButton.disabled = groupButton.disabled = seedsButton.disabled = true;
    try {
      await send();
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) showErrors(fieldErrors(error.detail, [...FIELD_KEYS, ...META_KEYS, "seeds"]));
      else setText(formError, error.message);
    } finally {
      launchButton.disabled = groupButton.disabled = seedsButton.disabled = false;
    }
  }

  picker.addEventListener("change", (event) => fill(byId[event.target.value]));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(async () => {
      const run = await api.createRun({ preset: current.id, overrides: overridesFrom(values(), current.config), ...labels() });
      navigate("run", [run.id]);
    });
  });
  groupButton.addEventListener("click", () => attempt(async () => {
    const shared = values();
    delete shared.widths; // each point keeps its own widths; everything else is shared
    const { tags, notes } = labels();
    const runs = WIDTH_GROUP.map((id) => ({ preset: id, overrides: overridesFrom(shared, byId[id].config), tags, notes }));
    const group = await api.createGroup({ name: input("name").value.trim() || "point 3: widths", runs, tags });
    navigate("compare", [], { ids: group.runs.map((r) => r.id).join(",") });
  }));
  // N seeds -> one group of replicates: "3" counts up from the form's seed, "0,4,7" lists them.
  seedsButton.addEventListener("click", () => attempt(async () => {
    const text = input("seeds").value.trim();
    const first = Number(input("seed").value) || 0;
    const list = /[,\s]/.test(text) ? text.split(/[,\s]+/).filter(Boolean).map(Number)
      : Array.from({ length: Number(text) || 0 }, (_, i) => first + i);
    const overrides = overridesFrom(values(), current.config);
    delete overrides.seed;
    const { tags, notes, name } = labels(); // each run is named "<name> seed N"
    const run = { preset: current.id, overrides, tags, notes, ...(name ? { name } : {}) };
    const group = await api.createGroup({ name: name || `${current.id} over ${list.length} seeds`, runs: [run], seeds: list, tags });
    navigate("group", [group.id]);
  }));
  fill(current);
  return null;
}
