// Who is signed in, shown in the header: a name and a sign-out button, or a sign-in link.
import { api, signInHash } from "./api.js";
import { clear, h, toast } from "./dom.js";

let me = { auth: "off", user: null, admin: false };

export const currentUser = () => me.user;

// Asks the server again (after signing in or out) and redraws the header's corner.
export async function refreshWho() {
  me = await api.session().catch(() => me);
  const box = clear(document.getElementById("who"));
  if (me.user) {
    const out = h("button", { type: "button", class: "small", id: "sign-out" }, "Sign out");
    out.addEventListener("click", async () => {
      try {
        await api.signOut();
      } catch (error) {
        toast(error.message, "error");
      }
      await refreshWho();
      window.location.hash = signInHash("#/runs");
    });
    box.append(h("span", { id: "who-name", class: "who-name" }, me.user),
      me.admin ? h("span", { class: "muted" }, " (admin) ") : " ", out);
  } else if (me.auth !== "off") {
    box.append(h("a", { href: signInHash(), id: "sign-in-link" }, "Sign in"));
  }
  return me;
}
