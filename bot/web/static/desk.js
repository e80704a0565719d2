/*
 * faqbot agent desk: keeps the queue and a ticket live over server-sent events,
 * and sends the agent's actions (claim, reply, note, resolve...) with the CSRF token.
 * Plain ES2018, no framework. All customer text is inserted as text, never as HTML; what the customer's
 * widget shows as markdown (agents' replies, FAQ answers) goes through the widget's own renderer
 * (desk_markdown.js: marked + DOMPurify with the widget's rules).
 */
(function () {
  "use strict";

  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  // An HTML tag or comment, as markdown would take it: "<b>", "</p>", "<img src=x>", "<your order number>".
  const HTML_TAG = /<\/?[a-z][a-z0-9-]*(?:\s[^<>]*)?\/?>|<!--/i;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) node.setAttribute(k, v);
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function waited(seconds) {
    if (seconds < 60) return `${seconds}s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes} min`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }

  function when(ts) {
    if (!ts) return "";
    return new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (e) {
      data = { error: `HTTP ${response.status}` };
    }
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    return data;
  }

  // A new message scrolls the transcript to it only when the agent was reading the end (not scrolled back).
  const FOLLOW_PX = 120;

  /* Markdown as the customer's widget renders it (desk_markdown.js); plain text until that has loaded. */
  function markdown(node, text, typed) {
    if (typeof window.faqbotDeskMarkdown === "function") window.faqbotDeskMarkdown(node, text, typed);
    else node.setAttribute("data-markdown", typed ? "typed" : "");
  }

  function live(url, handlers, statusNode) {
    const source = new EventSource(url, { withCredentials: true });
    source.onopen = () => statusNode && (statusNode.textContent = "Live");
    source.onerror = () => statusNode && (statusNode.textContent = "Reconnecting…");
    for (const [name, fn] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => fn(JSON.parse(event.data), event));
    }
    return source;
  }

  /* ---------- the queue ---------- */
  function queuePage(root) {
    const status = document.getElementById("live-status");
    const base = root.dataset.ticketUrl.replace(/0$/, "");
    let received = Date.now();

    function render(snapshot) {
      received = Date.now();
      for (const [key, items] of Object.entries(snapshot)) {
        const list = root.querySelector(`[data-list="${key}"]`);
        const count = root.querySelector(`[data-count="${key}"]`);
        if (!list) continue;
        if (count) count.textContent = String(items.length);
        list.replaceChildren();
        if (!items.length) list.appendChild(el("li", { class: "empty" }, "Nothing here."));
        for (const t of items) {
          const li = el("li", { class: "queue-item", "data-id": t.id });
          const link = el("a", { href: base + t.id });
          link.appendChild(el("span", { class: "ticket-number" }, t.number));
          li.appendChild(link);
          li.appendChild(el("span", { class: "q", dir: "auto" }, t.question || "—"));
          const parts = [t.customer, t.language, t.channel, (t.reason || "").replace(/_/g, " ")];
          if (t.agent && key !== "mine") parts.push(`with ${t.agent}`);
          if (t.rating) parts.push(`rated ${t.rating}/5`);
          li.appendChild(el("span", { class: "meta" }, parts.filter(Boolean).join(" · ")));
          const wait = el("span", { class: "wait", "data-seconds": t.waiting_seconds });
          if (key === "closed") wait.removeAttribute("data-seconds");
          li.appendChild(wait);
          list.appendChild(li);
        }
      }
      tick();
    }

    function tick() {
      const extra = Math.round((Date.now() - received) / 1000);
      for (const node of root.querySelectorAll(".wait[data-seconds]")) {
        node.textContent = `waiting ${waited(Number(node.dataset.seconds) + extra)}`;
      }
    }

    tick();
    setInterval(tick, 1000);
    live(root.dataset.events, { queue: render, failure: (d) => (status.textContent = d.error) }, status);
  }

  /* ---------- one ticket ---------- */
  function ticketPage(root) {
    const base = root.dataset.base;
    const me = root.dataset.me;
    const transcript = document.getElementById("transcript");
    const scroller = document.getElementById("transcript-scroll");
    const errorBox = document.getElementById("error");
    const textBox = document.getElementById("reply-text");
    const seen = new Set();
    let ticket = { status: root.dataset.status, agent: root.dataset.agent || null };
    let reply = JSON.parse(document.getElementById("reply-options").textContent || "{}");
    let lastId = 0;

    function showError(message) {
      errorBox.textContent = message || "";
      errorBox.hidden = !message;
    }

    /* How far an agent's reply got: in the chat or by email; queued, sent, failed (retrying), dead. */
    function deliveryText(m) {
      const d = m.delivery;
      if (!d) return m.delivered_at ? "delivered" : "sending…";
      const how = d.via === "email" ? `by email${d.to ? " to " + d.to : ""}` : "in the chat";
      if (d.state === "queued") return `${how}: queued`;
      if (d.state === "sent") return `${how}: ${d.via === "email" ? "sent" : "delivered"} ${when(d.at)}`;
      if (d.state === "failed") {
        const next = d.next_attempt_at ? `, next try ${when(d.next_attempt_at)}` : "";
        return `${how}: failed (${d.error}); retrying (attempt ${d.attempts}${next})`;
      }
      if (d.state === "dead") return `${how}: not delivered, gave up after ${d.attempts} attempt(s): ${d.error}`;
      return `cannot be delivered: ${d.error}`;
    }

    function renderDelivery(node, m) {
      node.replaceChildren(document.createTextNode(deliveryText(m)));
      node.className = `meta delivery state-${(m.delivery && m.delivery.state) || (m.delivered_at ? "sent" : "queued")}`;
      if (m.delivery && m.delivery.state === "dead" && m.delivery.via === "email") {
        const again = el("button", { type: "button", class: "secondary retry-email" }, "Send again");
        again.addEventListener("click", async () => {
          const result = await act(`messages/${m.id}/retry`, {});
          if (result) renderDelivery(node, result);
        });
        node.appendChild(document.createTextNode(" "));
        node.appendChild(again);
      }
    }

    function applyReply(options) {
      if (options) reply = options;
      const route = document.getElementById("reply-route");
      const blocked = document.getElementById("reply-blocked");
      const choice = document.getElementById("reply-via");
      const failing = document.getElementById("email-failing");
      const both = !reply.chat && !reply.email;
      choice.hidden = !both;
      for (const node of choice.querySelectorAll(".reply-address")) node.textContent = reply.address || "";
      route.textContent =
        reply.default === "email" && reply.chat
          ? `This customer left a message while the bot was unreachable: your reply goes by email to ${reply.address}.`
          : "";
      blocked.hidden = Boolean(reply.default);
      blocked.textContent = reply.default ? "" : `A reply cannot be delivered: ${reply.chat}; and ${reply.email}.`;
      const health = reply.email_health || {};
      failing.hidden = !health.failing || reply.email;
      failing.textContent = health.failing ? `Email is failing and being retried: ${health.failing.last_error}` : "";
    }

    function chosenVia() {
      if (!reply.chat && !reply.email) {
        const checked = document.querySelector('#reply-via input[name="via"]:checked');
        return checked ? checked.value : reply.default;
      }
      return reply.default;
    }

    function addMessage(m) {
      if (seen.has(m.id)) return;
      seen.add(m.id);
      lastId = Math.max(lastId, m.id);
      const who = m.role === "agent" ? `${m.author} (agent)` : m.role === "note" ? `note by ${m.author}` : m.role;
      const li = el("li", { class: m.role, "data-message-id": m.id });
      li.appendChild(el("span", { class: "who" }, who));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("span", { class: "when" }, when(m.created_at)));
      const text = el("div", { class: "text", dir: "auto" }, m.text);
      // The customer's widget renders an agent's reply as markdown: show it the same way (an email carries
      // the text as typed, so a reply by email stays text).
      if (m.role === "agent" && !(m.delivery && m.delivery.via === "email")) markdown(text, m.text, true);
      li.appendChild(text);
      if (m.role === "agent") {
        const status = el("div", { class: "meta delivery" });
        renderDelivery(status, m);
        li.appendChild(status);
      }
      const follow = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < FOLLOW_PX;
      transcript.appendChild(li);
      if (follow) scroller.scrollTop = scroller.scrollHeight;
    }

    function applyTicket(t) {
      ticket = t;
      if (t.reply) applyReply(t.reply);
      document.getElementById("status").textContent = t.status.replace(/_/g, " ");
      document.getElementById("owner").textContent = t.agent ? `with ${t.agent}` : "";
      const rating = document.getElementById("rating");
      if (t.rating_score) rating.textContent = `${t.rating_score}/5 ${t.rating_comment || ""}`;
      const mine = t.status === "with_agent" && t.agent === me;
      document.getElementById("claim").disabled = t.status !== "waiting";
      document.getElementById("release").disabled = !mine;
      document.getElementById("resolve").disabled = !mine;
      document.getElementById("send").disabled = !mine || !reply.default;
      textBox.disabled = !mine;
      textBox.placeholder = mine ? "" : t.status === "waiting" ? "Claim the conversation to reply" : "";
      document.getElementById("closed-loop").hidden = t.status !== "resolved";
      root.dataset.status = t.status;
    }

    async function act(path, body) {
      showError("");
      try {
        const result = await post(`${base}/${path}`, body);
        if (result.status) applyTicket(result);
        return result;
      } catch (e) {
        showError(e.message);
        return null;
      }
    }

    for (const m of JSON.parse(document.getElementById("initial-messages").textContent || "[]")) addMessage(m);
    scroller.scrollTop = scroller.scrollHeight; // the latest messages first
    applyReply(reply);
    applyTicket(ticket);

    /* Inserting into the reply box, at the end, as the KB search and the canned replies do. */
    function insertReply(text) {
      textBox.value = (textBox.value.trim() ? textBox.value.replace(/\s+$/, "") + "\n\n" : "") + text;
      textBox.dispatchEvent(new Event("input"));
      textBox.focus();
    }

    const cannedTexts = JSON.parse((document.getElementById("canned-replies") || {}).textContent || "[]");
    const cannedItems = Array.from(document.querySelectorAll("#canned-list .canned-reply"));
    cannedItems.forEach((item, index) => {
      item.querySelector(".insert-canned").addEventListener("click", () => insertReply(cannedTexts[index]));
    });
    const cannedFilter = document.getElementById("canned-filter");
    if (cannedFilter) {
      cannedFilter.addEventListener("input", () => {
        const words = cannedFilter.value.toLocaleLowerCase().split(/\s+/).filter(Boolean);
        cannedItems.forEach((item, index) => {
          const haystack = (item.querySelector("strong").textContent + " " + cannedTexts[index]).toLocaleLowerCase();
          item.hidden = !words.every((w) => haystack.includes(w));
        });
      });
    }

    document.getElementById("claim").addEventListener("click", () => act("claim"));
    document.getElementById("release").addEventListener("click", () => act("release"));
    document.getElementById("resolve").addEventListener("click", () => act("resolve"));
    // The widget shows raw HTML as typed (markdown only): warn before an agent sends tags by mistake.
    const warning = document.getElementById("reply-warning");
    let confirmed = null; // the text the agent chose to send as typed despite the warning
    function htmlIn(text) {
      const match = HTML_TAG.exec(text);
      return match ? match[0] : null;
    }
    function checkHtml() {
      const tag = htmlIn(textBox.value);
      warning.hidden = !tag;
      if (tag) document.getElementById("reply-warning-tag").textContent = tag.slice(0, 60);
      document.getElementById("reply-warning-again").hidden = !tag || confirmed !== textBox.value.trim();
      return tag;
    }
    textBox.addEventListener("input", checkHtml);

    /* "An agent is typing" in the customer's widget: at most once per interval while the agent writes,
       and a stop when the box is emptied or the reply sent. Only for the website chat; failures are quiet
       (the reply itself does not depend on it). */
    const typingEvery = Number(root.dataset.typingInterval || 3) * 1000;
    let typingSentAt = 0;
    function signalTyping(typing) {
      if (root.dataset.channel !== "socketio" || !reply.default || reply.default !== "chat") return;
      if (ticket.status !== "with_agent" || ticket.agent !== me) return;
      const now = Date.now();
      if (typing && now - typingSentAt < typingEvery) return;
      if (!typing && !typingSentAt) return;
      typingSentAt = typing ? now : 0;
      post(`${base}/typing`, { typing }).catch(() => {});
    }
    textBox.addEventListener("input", () => signalTyping(Boolean(textBox.value.trim())));
    document.getElementById("reply-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = textBox.value.trim();
      if (!text) return;
      if (checkHtml() && confirmed !== text) {
        confirmed = text;
        checkHtml();
        textBox.focus();
        return;
      }
      const message = await act("reply", { text, via: chosenVia() });
      if (message) {
        typingSentAt = 0; // the reply itself ends the indicator in the widget
        textBox.value = "";
        confirmed = null;
        checkHtml();
        addMessage(message);
      }
    });
    document.getElementById("add-note").addEventListener("click", async () => {
      const text = textBox.value.trim();
      if (!text) return;
      const message = await act("note", { text });
      if (message) {
        textBox.value = "";
        signalTyping(false); // a note is not for the customer: stop the indicator
        addMessage(message);
      }
    });
    document.getElementById("add-note").disabled = false; // the page renders it disabled until bound here

    document.getElementById("kb-search-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const q = document.getElementById("kb-query").value.trim();
      const list = document.getElementById("kb-results");
      list.replaceChildren();
      if (!q) return;
      const url = `${root.dataset.search}?lang=${encodeURIComponent(root.dataset.lang)}&q=${encodeURIComponent(q)}`;
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const data = await response.json();
      if (!response.ok) {
        list.appendChild(el("li", { class: "error" }, data.error || "search failed"));
        return;
      }
      for (const r of data.results) {
        const li = el("li");
        li.appendChild(el("strong", { dir: "auto" }, r.question));
        li.appendChild(el("span", { class: "meta" }, ` ${r.id} · ${r.score.toFixed(2)} `));
        const insert = el("button", { type: "button", class: "secondary insert-answer" }, "Insert answer");
        insert.addEventListener("click", () => insertReply(r.answer));
        li.appendChild(insert);
        const answer = el("div", { class: "text", dir: "auto" }, r.answer);
        markdown(answer, r.answer);
        li.appendChild(answer);
        list.appendChild(li);
      }
      if (!data.results.length) list.appendChild(el("li", { class: "empty" }, "No match."));
    });

    const loopResult = document.getElementById("loop-result");
    document.getElementById("draft-faq").addEventListener("click", async () => {
      const result = await act("draft-faq", {});
      if (result) loopResult.textContent = `Draft written: ${result.path}`;
    });
    document.getElementById("alternate-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const faq = document.getElementById("alternate-faq").value.trim();
      const result = await act("add-alternate", { faq_id: faq });
      if (result) loopResult.textContent = `Added to ${result.faq_id} in ${result.path}`;
    });

    const status = null;
    let source = null;
    function connect() {
      if (source) source.close();
      source = live(
        `${root.dataset.events}?after=${lastId}`,
        {
          message: (m) => {
            if (seen.has(m.id)) {
              const node = transcript.querySelector(`[data-message-id="${m.id}"] .delivery`);
              if (node) renderDelivery(node, m);
              return;
            }
            addMessage(m);
          },
          ticket: applyTicket,
          failure: (d) => showError(d.error),
        },
        status
      );
    }
    connect();
  }

  const queueRoot = document.getElementById("desk-queue");
  if (queueRoot) queuePage(queueRoot);
  const ticketRoot = document.getElementById("desk-ticket");
  if (ticketRoot) ticketPage(ticketRoot);
})();
