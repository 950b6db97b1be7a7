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

// A 401 anywhere leads to the sign-in page, which comes back here after (one place for it).
// The token itself never reaches this module's storage: the server answers with an
// HttpOnly session cookie that scripts cannot read, sent by the browser on its own.
export function signInHash(next = window.location.hash) {
  const back = next && !next.startsWith("#/signin") ? next : "#/runs";
  return `#/signin?next=${encodeURIComponent(back)}`;
}
function toSignIn() {
  if (!window.location.hash.startsWith("#/signin")) window.location.hash = signInHash();
}

async function request(method, path, body, { redirect = true } = {}) {
  // X-Requested-With: no cross-site form can send it, so the server knows changes made with
  // the cookie come from this page (with the Origin the browser adds).
  const init = { method, headers: { Accept: "application/json", "X-Requested-With": "runboard" } };
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
  if (response.status === 401 && redirect) toSignIn();
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
    for (const key of ["status", "preset", "tag", "owner", "threshold", "epoch", "group_id"]) {
      if (filters[key] != null && filters[key] !== "") query.set(key, filters[key]); // 0 counts
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
  compare(ids, options = {}) {
    const query = new URLSearchParams({ ids: ids.join(",") });
    for (const key of ["threshold", "epoch"]) if (options[key] != null && options[key] !== "") query.set(key, options[key]);
    return get(`/api/compare?${query.toString().replaceAll("%2C", ",")}`);
  },
  classes: (ids) => get(`/api/compare/classes?ids=${ids.join(",")}`),
  csvUrl: (id) => `/api/runs/${id}/metrics.csv`,
  session: () => get("/api/session"),
  signIn: (token) => request("POST", "/api/session", { token }, { redirect: false }),
  signOut: () => request("DELETE", "/api/session"),
  group: (id) => get(`/api/groups/${id}`),
  groupSeries: (id) => get(`/api/groups/${id}/series`),
  report: () => get("/api/report"),
  pin: (point, body) => request("PUT", `/api/report/pins/${encodeURIComponent(point)}`, body),
  unpin: (point) => request("DELETE", `/api/report/pins/${encodeURIComponent(point)}`),
  reportUrl: (kind) => `/api/report.${kind}`, // md, html or csv: downloads
  workers: () => get("/api/workers"),
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
    const gone = source.readyState === EventSource.CLOSED;
    setState(gone ? "offline" : "reconnecting");
    // EventSource hides the status; a closed stream may be a 401 (RUNBOARD_AUTH=all).
    if (gone) api.session().then((me) => me.auth === "all" && !me.user && toSignIn()).catch(() => {});
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
