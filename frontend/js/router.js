// Hash routes: #/runs, #/launch?preset=2, #/run/7, #/compare?ids=3,5&x=epoch.

export function parseHash(hash) {
  const text = (hash || "").replace(/^#\/?/, "");
  const [path, query = ""] = text.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = Object.fromEntries(new URLSearchParams(query));
  return { view: parts[0] || "runs", args: parts.slice(1), params };
}

export function buildHash(view, args = [], params = {}) {
  const path = [view, ...args].map((p) => encodeURIComponent(String(p))).join("/");
  const kept = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  // Commas stay readable in shared links (ids=3,5 rather than ids=3%2C5).
  const query = new URLSearchParams(kept).toString().replaceAll("%2C", ",");
  return `#/${path}${query ? `?${query}` : ""}`;
}

export function parseIds(text) {
  const ids = String(text || "")
    .split(/[\s,]+/)
    .map((part) => Number.parseInt(part, 10))
    .filter((n) => Number.isInteger(n) && n > 0);
  return [...new Set(ids)];
}

export function navigate(view, args = [], params = {}) {
  window.location.hash = buildHash(view, args, params);
}

// Changes the URL without a new navigation (e.g. compare options): shareable, no re-render.
export function replaceParams(view, args, params) {
  window.history.replaceState(null, "", buildHash(view, args, params));
}
