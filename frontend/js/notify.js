// Browser notifications when a followed run ends: permission is asked once (the button),
// and the answer is the browser's to remember.
import { actionButton } from "./dom.js";
import { percent } from "./format.js";

const supported = () => typeof window.Notification === "function";

// A button that asks for permission; hidden once the browser has an answer.
export function notifyButton() {
  const button = actionButton("Notify me when it ends", async () => {
    await window.Notification.requestPermission();
    button.hidden = window.Notification.permission !== "default";
  }, { id: "run-notify" });
  button.hidden = !supported() || window.Notification.permission !== "default";
  return button;
}

// Shows a notification that `run` ended, when the user allowed them.
export function notifyEnd(run) {
  if (!supported() || window.Notification.permission !== "granted") return null;
  const accuracy = run.final_test_acc === null || run.final_test_acc === undefined ? "" : `, final test accuracy ${percent(run.final_test_acc)}`;
  const rule = run.stopped_by ? ` (stopped by ${run.stopped_by} after epoch ${run.stopped_epoch})` : "";
  return new window.Notification(`runboard: ${run.name} ${run.status}`, {
    body: `Run #${run.id} ${run.status}${accuracy}${rule}`, tag: `run-${run.id}`,
  });
}
