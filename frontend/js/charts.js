// Every Plotly call lives here. Plotly is loaded by index.html from /vendor/plotly.min.js.
import { h } from "./dom.js";
import { plotlyText } from "./format.js";

const Plotly = () => window.Plotly;
const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

function css(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

function layout(options) {
  const fg = css("--fg", "#222");
  const grid = css("--grid", "#ddd");
  const axis = (title, extra = {}) => ({
    title: { text: title || "" }, gridcolor: grid, zerolinecolor: grid, color: fg, ...extra,
  });
  return {
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: fg, size: 12 },
    legend: { orientation: "h", yanchor: "top", y: -0.26, font: { size: 11 } },
    margin: { l: 56, r: 16, t: 16, b: 40 },
    hovermode: "x unified",
    xaxis: axis(options.xTitle, options.xaxis),
    yaxis: axis(options.yTitle, options.yaxis),
    ...(options.y2Title ? { yaxis2: axis(options.y2Title, { overlaying: "y", side: "right", showgrid: false }) } : {}),
    // Dotted vertical lines at `options.vlines` (x values), e.g. epoch boundaries.
    shapes: (options.vlines || []).map((x) => ({ type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1,
      line: { color: grid, width: 1, dash: "dot" } })),
    showlegend: options.showlegend ?? true,
    uirevision: options.uirevision ?? "keep", // zoom survives live updates
  };
}

// A line trace; `name` may come from users, so it is escaped (Plotly renders HTML in names).
// `uid` (letters, digits, - and _ only) keeps a trace's legend state across live redraws.
export function line(x, y, { name, color, dash = "solid", width = 2, markers = false, group, legend = true, axis, opacity, uid }) {
  return {
    type: "scatter",
    uid,
    yaxis: axis,
    opacity,
    mode: markers ? "lines+markers" : "lines",
    x,
    y,
    name: plotlyText(name),
    legendgroup: group,
    showlegend: legend,
    connectgaps: false,
    line: { color, dash, width },
    marker: { size: 5 },
    meta: { rawName: name },
  };
}

// A shaded band between `lower` and `upper` (two traces: the lower edge, then the upper
// filled down to it); gaps (null) break it. Hover shows the line, not the edges.
export function band(x, lower, upper, { color, group, name = "band" }) {
  const edge = (y, fill) => ({
    type: "scatter", mode: "lines", x, y, fill, fillcolor: fill ? `${color}33` : undefined,
    line: { width: 0, color }, legendgroup: group, showlegend: false, hoverinfo: "skip",
    connectgaps: false, name: plotlyText(name), meta: { rawName: name, band: true },
  });
  return [edge(lower, undefined), edge(upper, "tonexty")];
}

export function drawLines(el, traces, options = {}) {
  return Plotly().react(el, traces, layout(options), CONFIG);
}

export function drawBars(el, labels, values, options = {}) {
  const trace = {
    type: "bar",
    orientation: "h",
    y: labels.map(plotlyText),
    x: values,
    marker: { color: options.colors || options.color || css("--accent", "#0072B2") },
    hovertemplate: "%{y}: %{x:.1f}%<extra></extra>",
  };
  const base = layout({ ...options, showlegend: false });
  base.yaxis.autorange = "reversed";
  base.yaxis.automargin = true;
  base.xaxis.rangemode = "tozero";
  base.hovermode = "closest";
  return Plotly().react(el, [trace], base, CONFIG);
}

export function drawHeatmap(el, z, labels, options = {}) {
  const names = labels.map(plotlyText);
  const trace = {
    type: "heatmap",
    z,
    x: names,
    y: names,
    colorscale: [[0, "#f4f8fc"], [0.15, "#9ecae1"], [1, "#08306b"]],
    hovertemplate: "true %{y}<br>predicted %{x}<br>%{z}<extra></extra>",
  };
  const base = layout({ ...options, showlegend: false });
  base.margin = { l: 16, r: 16, t: 16, b: 16 };
  base.xaxis.automargin = true;
  base.yaxis.automargin = true;
  base.yaxis.autorange = "reversed";
  base.hovermode = "closest";
  return Plotly().react(el, [trace], base, CONFIG);
}

export function downloadPng(el, filename) {
  return Plotly().downloadImage(el, { format: "png", filename, width: 1200, height: 600 });
}

export function purge(el) {
  if (window.Plotly && el) Plotly().purge(el);
}

// A titled card holding one chart, with its PNG export button.
export function chartCard(title, id, filename) {
  const plot = h("div", { class: "chart", id, role: "figure", "aria-label": title });
  const save = h("button", { type: "button", class: "small png", title: `Save "${title}" as PNG` }, "PNG");
  save.addEventListener("click", () => downloadPng(plot, filename || id));
  const card = h("section", { class: "card chart-card" },
    h("header", { class: "card-head" }, h("h3", {}, title), save), plot);
  return { card, plot };
}

// Trace data read back from a chart (for the browser tests and for debugging).
export function traceNames(el) {
  return (el?.data || []).map((t) => t.meta?.rawName ?? t.name);
}
