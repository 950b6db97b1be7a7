// Sign in: an API token (from `runboard users add`) exchanged for a session cookie; then
// back to the page that needed it. The token stays in the form field only, cleared after.
import { api } from "../api.js";
import { h, setText } from "../dom.js";
import { refreshWho } from "../session.js";

export async function signInView(main, route) {
  const next = route.params.next && route.params.next.startsWith("#/") ? route.params.next : "#/runs";
  const token = h("input", {
    id: "signin-token", name: "token", type: "password", autocomplete: "off", required: true,
    spellcheck: "false", "aria-describedby": "signin-error",
  });
  const error = h("p", { id: "signin-error", class: "field-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary", id: "signin-submit" }, "Sign in");
  const form = h("form", { id: "signin-form", class: "signin" },
    h("label", { for: "signin-token" }, "API token"), token,
    h("small", { class: "hint" }, "An admin makes one with `runboard users add NAME`."),
    error, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    setText(error, "");
    try {
      await api.signIn(token.value.trim());
      token.value = "";
      await refreshWho();
      window.location.hash = next;
    } catch (failure) {
      setText(error, failure.status === 401 ? "No such token, or it was revoked." : failure.message);
    } finally {
      submit.disabled = false;
    }
  });
  main.append(h("div", { class: "view-head" }, h("h1", {}, "Sign in")), form);
  token.focus();
}
