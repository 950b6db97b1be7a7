// The launch form's notice: warns when no online worker can train what the form asks for
// (CIFAR-100, or a GPU for a CUDA device) and offers to switch to the synthetic set. With no
// worker heard from, it falls back to the last failure: a recent run that failed because
// CIFAR-100 was missing on its worker.
import { api } from "../api.js";
import { clear, h } from "../dom.js";

const MISSING_CIFAR = "CIFAR-100 is not in"; // the worker's error when the data set is absent
const RECENT_MS = 24 * 3600 * 1000;

async function situation() {
  const [listing, failed] = await Promise.all([
    api.workers().catch(() => ({ workers: [] })),
    api.listRuns({ status: "failed" }).catch(() => ({ items: [] })),
  ]);
  const online = listing.workers.filter((w) => w.state !== "lost");
  const recent = failed.items.find((run) => (run.error || "").includes(MISSING_CIFAR)
    && Date.now() - new Date(run.finished_at || run.created_at).getTime() < RECENT_MS);
  return { online, recentCifarFailure: recent || null };
}

export function warnings(state, dataset, device) {
  const found = [];
  const { online, recentCifarFailure } = state;
  if (dataset === "cifar100") {
    if (online.length && !online.some((w) => w.datasets.includes("cifar100"))) {
      found.push({ kind: "cifar", text: "No online worker has CIFAR-100 in its data folder: this run would fail." });
    } else if (!online.length && recentCifarFailure) {
      found.push({ kind: "cifar", text: `Run ${recentCifarFailure.id} failed recently because its worker had no CIFAR-100.` });
    }
  }
  const cuda = (device || "").trim().startsWith("cuda");
  if (cuda && online.length && !online.some((w) => w.gpu_name || w.device.startsWith("cuda"))) {
    found.push({ kind: "gpu", text: "This config asks for CUDA, but no online worker has a GPU." });
  }
  return found;
}

// `form` holds #f-dataset and #f-device; the returned refresh() re-checks after a fill.
export function launchNotice(form, before) {
  const box = h("div", { id: "launch-notice", class: "notice", role: "status", hidden: true });
  before.before(box);
  const dataset = () => form.querySelector("#f-dataset");
  const device = () => form.querySelector("#f-device");
  let state = { online: [], recentCifarFailure: null };

  function render() {
    const found = warnings(state, dataset()?.value, device()?.value);
    clear(box);
    box.hidden = !found.length;
    for (const warning of found) {
      const line = h("p", { dataset: { warning: warning.kind } }, warning.text);
      if (warning.kind === "cifar") {
        const button = h("button", { type: "button", id: "use-synthetic" }, "Use synthetic instead");
        button.addEventListener("click", () => {
          dataset().value = "synthetic";
          render();
        });
        line.append(" ", button);
      }
      box.append(line);
    }
  }
  form.addEventListener("change", render);
  situation().then((found) => {
    state = found;
    render();
  });
  return render;
}
