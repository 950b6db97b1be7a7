// The shell: routes hash changes to views and shows the live connection's state.
import { onConnectionState } from "./api.js";
import { clear, h } from "./dom.js";
import { parseHash } from "./router.js";
import { refreshWho } from "./session.js";
import { compareView } from "./views/compare.js";
import { groupView } from "./views/group.js";
import { launchView } from "./views/launch.js";
import { reportView } from "./views/report.js";
import { runView } from "./views/run.js";
import { runsView } from "./views/runs.js";
import { signInView } from "./views/signin.js";
import { workersView } from "./views/workers.js";

const VIEWS = {
  runs: runsView, launch: launchView, run: runView, compare: compareView, group: groupView, report: reportView,
  signin: signInView, workers: workersView,
};
const LABELS = {
  idle: "idle", connecting: "connecting…", live: "live",
  reconnecting: "reconnecting…", offline: "offline",
};

let dispose = null;
let renders = 0; // a newer navigation makes an older, still loading view dispose itself

function showConnection(state) {
  const badge = document.getElementById("connection");
  badge.dataset.state = state;
  badge.textContent = LABELS[state] || state;
}

async function render() {
  const route = parseHash(window.location.hash);
  const token = ++renders;
  if (dispose) {
    dispose();
    dispose = null;
  }
  showConnection("idle");
  const main = clear(document.getElementById("main"));
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.dataset.view === route.view);
  }
  const view = VIEWS[route.view];
  if (!view) {
    main.append(h("p", { class: "empty" }, "No such page. ", h("a", { href: "#/runs" }, "Back to the runs")));
    return;
  }
  try {
    const done = (await view(main, route)) || null;
    if (token === renders) dispose = done;
    else if (done) done();
  } catch (error) {
    main.append(h("p", { class: "error-box", role: "alert" }, `Could not show this page: ${error.message}`));
  }
}

function start() {
  onConnectionState(showConnection);
  window.addEventListener("hashchange", render);
  if (!window.location.hash) window.history.replaceState(null, "", "#/runs");
  refreshWho().finally(render); // views such as the runs table's "mine" need to know who

}

start();
