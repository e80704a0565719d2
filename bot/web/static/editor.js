/*
 * faqbot knowledge editor: a form per FAQ (question, alternates, tags, answer with live preview) and the
 * raw markdown beside it, checks while typing, save, history and rollback, "try a question", and the
 * unanswered-questions inbox actions. An ES module: answers are previewed by the chat widget's own
 * renderer (widget/render.js: the same marked options and DOMPurify config), so they look as customers
 * will see them. Text from files and customers is otherwise inserted as text.
 *
 * The raw text is the truth: the form sends its FAQs to /editor/compose, which rewrites only what
 * changed in that text (an untouched form leaves it byte for byte), and Save saves the text.
 */
import { markdownRenderer } from "./widget/render.js";

{
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
    const forms = document.getElementById("faq-forms");
    const template = document.getElementById("faq-form-template");
    const render = markdownRenderer();
    let base = editRoot.dataset.base;
    let timer = null;
    let composing = Promise.resolve();
    let formDirty = false;

    /** `text` as the widget shows a bot message: sanitised markdown, or plain text without the libraries. */
    function renderInto(node, text) {
      const html = render(text);
      if (html === null) node.textContent = text;
      else node.innerHTML = html; // sanitised by the widget's DOMPurify config
    }

    function showProblems(problems) {
      problemsList.replaceChildren();
      if (!problems.length) problemsList.appendChild(el("li", { class: "ok" }, "No problems."));
      for (const p of problems) {
        problemsList.appendChild(el("li", { class: p.severity }, `line ${p.line}: ${p.severity}: ${p.message}`));
      }
    }

    function showPreview(entries) {
      preview.replaceChildren();
      for (const e of entries) {
        const article = el("article", { "data-faq": e.id });
        article.appendChild(el("h3", { dir: "auto" }, e.title || e.question));
        const kind = e.kind === "passage" ? "help-center passage" : `${e.alternates.length} alternates`;
        article.appendChild(el("p", { class: "meta" }, `${e.id} · line ${e.line} · ${kind}`));
        const bubble = el("div", { class: "fb-root" });
        const body = el("div", { class: "answer fb-msg fb-msg-bot", dir: "auto" });
        renderInto(body, e.answer);
        bubble.appendChild(body);
        article.appendChild(bubble);
        preview.appendChild(article);
      }
    }

    /* --- the form --- */
    function alternateRow(text) {
      const li = el("li");
      const input = el("input", { name: "alternate", dir: "auto", "aria-label": "alternate" });
      input.value = text;
      const remove = el("button", { type: "button", class: "link remove-alternate", "aria-label": "Remove this alternate" }, "Remove");
      remove.addEventListener("click", () => {
        li.remove();
        formChanged();
      });
      li.append(input, remove);
      return li;
    }

    function faqCard(entry, isNew) {
      const card = template.firstElementChild.cloneNode(true);
      card.dataset.faq = entry.id;
      if (isNew) card.dataset.new = "1";
      card.querySelector(".faq-id").textContent = entry.id;
      card.querySelector(".faq-line").textContent = isNew ? "new" : `line ${entry.line}`;
      card.querySelector("[name=question]").value = entry.question;
      card.querySelector("[name=tags]").value = entry.tags.join(", ");
      if (entry.kind === "passage") {
        // A passage of a help-center article: its heading, no alternates (it is found by its text).
        card.dataset.kind = "passage";
        card.querySelector(".question-label").textContent = "Section heading";
        card.querySelector(".alternates-box").hidden = true;
        const source = card.querySelector(".article-source");
        const link = source.querySelector(".article-link");
        link.textContent = entry.article.title;
        link.href = /^https?:\/\//i.test(entry.article.url) ? entry.article.url : "#";
        source.hidden = false;
      }
      const answer = card.querySelector("[name=answer]");
      answer.value = entry.answer;
      const list = card.querySelector(".alternates");
      for (const a of entry.alternates) list.appendChild(alternateRow(a));
      card.querySelector(".add-alternate").addEventListener("click", () => {
        const row = alternateRow("");
        list.appendChild(row);
        row.querySelector("input").focus();
      });
      card.querySelector(".delete-faq").addEventListener("click", () => {
        if (!window.confirm(`Delete the FAQ ${entry.id}? (Save to make it final.)`)) return;
        card.dataset.deleted = "1";
        card.hidden = true;
        formChanged();
      });
      const answerPreview = card.querySelector(".answer-preview");
      renderInto(answerPreview, entry.answer);
      answer.addEventListener("input", () => renderInto(answerPreview, answer.value));
      card.addEventListener("input", formChanged);
      return card;
    }

    function cardState(card) {
      const fields = {
        question: card.querySelector("[name=question]").value.trim(),
        answer: card.querySelector("[name=answer]").value,
        alternates: [...card.querySelectorAll("[name=alternate]")].map((i) => i.value.trim()).filter(Boolean),
        tags: card.querySelector("[name=tags]").value.split(",").map((t) => t.trim()).filter(Boolean),
      };
      if (card.dataset.deleted) return card.dataset.new ? null : { id: card.dataset.faq, delete: true };
      if (card.dataset.new) {
        if (!fields.question || !fields.answer.trim()) return null; // not written until it has both
        return { id: card.dataset.faq, new: true, fields };
      }
      return { id: card.dataset.faq, fields };
    }

    function buildForm(entries) {
      forms.replaceChildren(...entries.map((e) => faqCard(e, false)));
      formDirty = false;
    }

    function formChanged() {
      formDirty = true;
      clearTimeout(timer);
      timer = setTimeout(() => {
        composing = composing.then(compose);
      }, 300);
    }

    /** Applies the form to the raw text (server-side, only what changed) and shows checks and preview. */
    async function compose() {
      if (!formDirty) return true;
      formDirty = false;
      const cards = [...forms.querySelectorAll(".faq-form")];
      const faqs = cards.map(cardState).filter(Boolean);
      const { ok, data } = await call(editRoot.dataset.compose, { file: editRoot.dataset.file, text: source.value, faqs });
      if (!ok) {
        showProblems([{ line: 0, severity: "error", message: data.error }]);
        return false;
      }
      source.value = data.text;
      for (const card of cards) {
        if (card.dataset.deleted) card.remove();
        else if (card.dataset.new && cardState(card)) {
          delete card.dataset.new;
          card.querySelector(".faq-line").textContent = "added";
        }
      }
      await refresh(false);
      return true;
    }

    async function refresh(rebuild) {
      const { ok, data } = await call(editRoot.dataset.preview, { file: editRoot.dataset.file, text: source.value });
      if (!ok) {
        showProblems([{ line: 0, severity: "error", message: data.error }]);
        return;
      }
      showProblems(data.problems);
      showPreview(data.entries);
      if (rebuild) buildForm(data.entries);
    }

    /* --- tabs: the form or the raw text --- */
    const tabs = { form: document.getElementById("tab-form"), raw: document.getElementById("tab-raw") };
    async function showView(view) {
      if (view === "raw") await (composing = composing.then(compose));
      for (const [name, tab] of Object.entries(tabs)) {
        tab.setAttribute("aria-selected", String(name === view));
        document.getElementById(tab.getAttribute("aria-controls")).hidden = name !== view;
      }
      if (view === "form") await refresh(true); // the raw text may have changed
    }
    tabs.form.addEventListener("click", () => showView("form"));
    tabs.raw.addEventListener("click", () => showView("raw"));

    document.getElementById("new-faq").addEventListener("submit", (event) => {
      event.preventDefault();
      const id = event.target.elements.id.value.trim();
      if (forms.querySelector(`[data-faq="${CSS.escape(id)}"]`)) {
        status.textContent = `There is already an FAQ ${id} in this file.`;
        return;
      }
      const card = faqCard({ id, question: "", answer: "", alternates: [], tags: [] }, true);
      forms.appendChild(card);
      event.target.reset();
      card.querySelector("[name=question]").focus();
    });

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
          refresh(true);
          loadHistory();
        });
        li.appendChild(back);
        list.appendChild(li);
      }
    }

    source.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => refresh(false), 300);
    });
    document.getElementById("save").addEventListener("click", async () => {
      status.textContent = "Saving…";
      clearTimeout(timer);
      if (!(await (composing = composing.then(compose)))) {
        status.textContent = "The form has a problem (see Checks): nothing was saved.";
        return;
      }
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
      status.textContent = `Saved${data.commit ? ` as ${data.commit.slice(0, 10)}` : " (no change)"}; live within seconds.`;
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
    refresh(true);
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
}
