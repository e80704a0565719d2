/*
 * The canned replies screen (editors and admins): each language's file is saved with the hash it was
 * opened with; the server checks it first and says what is wrong, line by line, saving nothing then.
 */
(function () {
  "use strict";

  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  for (const toggle of document.querySelectorAll(".edit-toggle")) {
    toggle.addEventListener("click", () => {
      const form = document.getElementById(toggle.getAttribute("aria-controls"));
      form.hidden = !form.hidden;
      toggle.setAttribute("aria-expanded", String(!form.hidden));
      if (!form.hidden) form.elements.text.focus();
    });
  }

  for (const form of document.querySelectorAll(".canned-form")) {
    const status = form.querySelector(".save-status");
    const problems = form.querySelector(".problems");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      problems.replaceChildren();
      status.textContent = "Saving…";
      let data = {};
      let response = null;
      try {
        response = await fetch(form.dataset.save, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
          body: JSON.stringify({ text: form.elements.text.value, base: form.dataset.base }),
        });
        data = await response.json();
      } catch (e) {
        data = { error: response ? `HTTP ${response.status}` : "the web app cannot be reached" };
      }
      if (!response || !response.ok) {
        status.textContent = data.error || `HTTP ${response && response.status}`;
        status.className = "error save-status";
        for (const p of data.problems || []) {
          const li = document.createElement("li");
          li.className = p.severity;
          li.textContent = `line ${p.line}: ${p.message}`;
          problems.appendChild(li);
        }
        return;
      }
      form.dataset.base = data.base;
      status.className = "meta save-status";
      status.textContent = `Saved ${data.saved}: ${data.replies} replies${data.commit ? `, commit ${data.commit.slice(0, 8)}` : ""}. Agents get them at their next page load.`;
    });
  }
})();
