// The login form: posts to /api/login and goes back to the page that sent the user here.

/** Where to go after logging in: `next` when it is a path on this box, else the live page
 *  (never another site: a crafted ?next=//evil.example link must not leave the box). */
function target() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  if (!next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  if (next === "/login" || next.startsWith("/login?")) return "/";
  return next;
}

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const response = await fetch("/api/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({
        username: form.username.value,
        password: form.password.value,
      }),
    });
    if (response.ok) {
      location.replace(target());
      return;
    }
    let detail = response.status === 401 ? "wrong user name or password" : response.statusText;
    try {
      const body = await response.json();
      if (typeof body.detail === "string") detail = body.detail;
    } catch {
      // no JSON body: keep the status text
    }
    error.textContent = response.status === 429 ? `Too many tries: ${detail}` : detail;
    form.password.select();
  } catch {
    error.textContent = "The box does not answer.";
  } finally {
    button.disabled = false;
  }
});

// Already signed in (a bookmarked /login, the back button): go straight on.
fetch("/api/session", { credentials: "same-origin", cache: "no-store" })
  .then((response) => { if (response.ok) location.replace(target()); })
  .catch(() => {});
