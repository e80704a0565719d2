/*
 * faqbot knowledge editor: live preview and checks while typing, save, history and
 * rollback, "try a question", and the unanswered-questions inbox actions.
 * Plain ES2018. Text from files and customers is inserted as text; the preview HTML
 * comes from the server's markdown renderer with raw HTML disabled.
 */
(function () {
  "use strict";

  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function call(url, body, method) {
    const response = await fetch(url, {
      method: method || "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (e) {
      data = { error: `HTTP ${response.status}` };
    }
    return { ok: response.ok, status: response.status, data };
  }

  /* ---------- try a question ---------- */
  const tryForm = document.getElementById("try-form");
  if (tryForm) {
    tryForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = document.getElementById("try-result");
      const q = document.getElementById("try-q").value.trim();
      const lang = document.getElementById("try-lang").value;
      out.replaceChildren();
      if (!q) return;
      const response = await fetch(`try?lang=${encodeURIComponent(lang)}&q=${encodeURIComponent(q)}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      const data = await response.json();
      if (!response.ok) {
        out.appendChild(el("p", { class: "error" }, data.error));
        return;
      }
      const band = { answer: "answers with", clarify: "asks “did you mean” over", handoff: "hands off (best guess:" }[data.band];
      const head = el("p");
      head.appendChild(el("span", { class: "band", "data-band": data.band }, data.band));
      head.appendChild(document.createTextNode(` — the bot ${band} ${data.candidates.length ? data.candidates[0].id : "nothing"}${data.band === "handoff" ? ")" : ""} · KB ${data.kb_version}`));
      out.appendChild(head);
      const list = el("ol", { class: "candidates-list" });
      for (const c of data.candidates) {
        const li = el("li", { "data-faq": c.id });
        li.appendChild(el("code", {}, c.id));
        li.appendChild(document.createTextNode(` ${c.score.toFixed(3)} — `));
        li.appendChild(el("span", { dir: "auto" }, c.question));
        list.appendChild(li);
      }
      out.appendChild(list);
    });
  }

  /* ---------- editing a file ---------- */
  const editRoot = document.getElementById("editor-edit");
  if (editRoot) {
    const source = document.getElementById("source");
    const problemsList = document.getElementById("problems");
    const preview = document.getElementById("preview");
    const status = document.getElementById("save-status");
    let base = editRoot.dataset.base;
    let timer = null;

    function showProblems(problems) {
      problemsList.replaceChildren();
      if (!problems.length) problemsList.appendChild(el("li", { class: "ok" }, "No problems."));
      for (const p of problems) {
        problemsList.appendChild(el("li", { class: p.severity }, `line ${p.line}: ${p.severity}: ${p.message}`));
      }
    }

    async function refresh() {
      const { ok, data } = await call(editRoot.dataset.preview, { file: editRoot.dataset.file, text: source.value });
      if (!ok) {
        showProblems([{ line: 0, severity: "error", message: data.error }]);
        return;
      }
      showProblems(data.problems);
      preview.replaceChildren();
      for (const e of data.entries) {
        const article = el("article", { "data-faq": e.id });
        article.appendChild(el("h3", { dir: "auto" }, e.question));
        article.appendChild(el("p", { class: "meta" }, `${e.id} · line ${e.line} · ${e.alternates.length} alternates`));
        const body = el("div", { class: "answer", dir: "auto" });
        body.innerHTML = e.html; // server-rendered markdown with raw HTML disabled
        for (const a of body.querySelectorAll("a")) {
          a.setAttribute("rel", "noopener noreferrer");
          a.setAttribute("target", "_blank");
        }
        article.appendChild(body);
        preview.appendChild(article);
      }
    }

    async function loadHistory() {
      const list = document.getElementById("history");
      const response = await fetch(editRoot.dataset.history, { credentials: "same-origin" });
      const data = await response.json();
      list.replaceChildren();
      if (!data.revisions || !data.revisions.length) list.appendChild(el("li", { class: "empty" }, "No saved versions in git."));
      for (const r of data.revisions || []) {
        const li = el("li");
        li.appendChild(el("code", {}, r.commit.slice(0, 10)));
        li.appendChild(document.createTextNode(` ${new Date(r.timestamp * 1000).toISOString().slice(0, 16).replace("T", " ")} ${r.author}: ${r.message} `));
        const back = el("button", { type: "button", class: "secondary rollback", "data-commit": r.commit }, "Restore");
        back.addEventListener("click", async () => {
          const { ok, data } = await call(editRoot.dataset.rollback, { file: editRoot.dataset.file, commit: r.commit });
          if (!ok) {
            status.textContent = data.error;
            return;
          }
          source.value = data.text;
          base = data.base;
          status.textContent = `Restored ${r.commit.slice(0, 10)}; live within seconds.`;
          refresh();
          loadHistory();
        });
        li.appendChild(back);
        list.appendChild(li);
      }
    }

    source.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    });
    document.getElementById("save").addEventListener("click", async () => {
      status.textContent = "Saving…";
      const { ok, status: code, data } = await call(editRoot.dataset.save, {
        file: editRoot.dataset.file,
        text: source.value,
        base,
      });
      if (!ok) {
        status.textContent = data.error;
        if (data.problems) showProblems(data.problems);
        if (code === 409) status.textContent += " (your text is still here: copy it before reloading)";
        return;
      }
      base = data.base;
      status.textContent = `Saved${data.commit ? ` as ${data.commit.slice(0, 10)}` : ""}; live within seconds.`;
      loadHistory();
    });
    const publish = document.getElementById("publish");
    if (publish) {
      publish.addEventListener("click", async () => {
        const { ok, data } = await call(editRoot.dataset.publish, { file: editRoot.dataset.file });
        status.textContent = ok ? `Published as ${data.saved}; live within seconds.` : data.error;
        if (!ok && data.problems) showProblems(data.problems);
      });
    }
    refresh();
    loadHistory();
  }

  /* ---------- the unanswered inbox ---------- */
  const inbox = document.getElementById("editor-inbox");
  if (inbox) {
    for (const card of inbox.querySelectorAll(".cluster")) {
      const result = card.querySelector(".result");
      card.querySelector(".add-alternate").addEventListener("submit", async (event) => {
        event.preventDefault();
        const faq = event.target.elements.faq_id.value.trim();
        const { ok, data } = await call(inbox.dataset.alternate, {
          lang: card.dataset.lang,
          faq_id: faq,
          question: card.dataset.question,
        });
        result.textContent = ok ? `Added to ${data.faq_id} (${data.file}); live within seconds.` : data.error;
      });
      card.querySelector(".start-draft").addEventListener("click", async () => {
        const { ok, data } = await call(inbox.dataset.draft, { lang: card.dataset.lang, question: card.dataset.question });
        result.textContent = ok ? `Draft started: ${data.file}` : data.error;
      });
    }
  }
})();
