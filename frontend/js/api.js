// Every request to the API and every live stream goes through this module.

export class ApiError extends Error {
  constructor(status, detail) {
    super(ApiError.summary(status, detail));
    this.status = status;
    this.detail = detail;
  }

  static summary(status, detail) {
    if (Array.isArray(detail)) {
      return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    }
    return typeof detail === "string" ? detail : `HTTP ${status}`;
  }
}

async function request(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, `the API is unreachable (${error.message})`);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.detail ?? response.statusText);
  return data;
}

const get = (path) => request("GET", path);
const post = (path, body) => request("POST", path, body);

export const api = {
  presets: () => get("/api/presets"),
  listRuns(filters = {}) {
    const query = new URLSearchParams({ limit: "500", sort: "created_at", order: "desc" });
    for (const key of ["status", "preset", "tag"]) {
      if (filters[key]) query.set(key, filters[key]);
    }
    return get(`/api/runs?${query}`);
  },
  run: (id) => get(`/api/runs/${id}`),
  createRun: (body) => post("/api/runs", body),
  createGroup: (body) => post("/api/groups", body),
  cancel: (id) => post(`/api/runs/${id}/cancel`),
  clone: (id) => post(`/api/runs/${id}/clone`, {}),
  remove: (id) => request("DELETE", `/api/runs/${id}`),
  metrics(id, { names, maxPoints } = {}) {
    const query = new URLSearchParams();
    if (names) query.set("names", names.join(","));
    if (maxPoints) query.set("max_points", String(maxPoints));
    return get(`/api/runs/${id}/metrics${query.size ? `?${query}` : ""}`);
  },
  compare: (ids) => get(`/api/compare?ids=${ids.join(",")}`),
  csvUrl: (id) => `/api/runs/${id}/metrics.csv`,
};

// The connection state shown in the header: one value for the page, from its open stream.
const stateListeners = new Set();
export function onConnectionState(listener) {
  stateListeners.add(listener);
  return () => stateListeners.delete(listener);
}
function setState(state) {
  for (const listener of stateListeners) listener(state);
}

// Follows an SSE stream; `handlers` maps event names to functions of the parsed data.
// EventSource reconnects by itself and sends Last-Event-ID, so nothing is missed; the
// state goes "reconnecting" while it is away and "live" when it is back.
export function follow(path, handlers) {
  const source = new EventSource(path);
  let closed = false;
  setState("connecting");
  source.onopen = () => setState("live");
  source.onerror = () => {
    if (closed) return;
    setState(source.readyState === EventSource.CLOSED ? "offline" : "reconnecting");
  };
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return; // not ours to show; the next event carries the state again
      }
      handler(data, event);
    });
  }
  return () => {
    closed = true;
    source.close();
  };
}
