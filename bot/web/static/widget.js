/*!
 * faqbot website chat widget.
 * Plain ES2018, no framework, no build step. Requires socket.io-client 4.x
 * (window.io, /static/vendor/socket.io.min.js) to be loaded first.
 *
 * Embed:
 *   <script>window.faqbotConfig = {customer: {name, email, id}, lang, socketUrl, title};<\/script>
 *   <script src="/static/vendor/socket.io.min.js"><\/script>
 *   <script src="/static/widget.js" data-socket-url="http://localhost:5005" data-title="Help"><\/script>
 *
 * Test hooks: window.FaqbotWidget = {open(), close(), send(text)}.
 */
(() => {
  "use strict";

  if (window.FaqbotWidget && window.FaqbotWidget.__faqbot) return; // loaded twice

  // Must be read synchronously: document.currentScript is null once loading finished.
  const SCRIPT = document.currentScript;

  const SESSION_KEY = "faqbot.session_id"; // localStorage: shared by every page/tab
  const TRANSCRIPT_KEY = "faqbot.transcript"; // sessionStorage: survives reloads in this tab
  const OPEN_KEY = "faqbot.open"; // sessionStorage: keep the panel open across pages
  const MAX_MESSAGES = 100;
  const TYPING_TIMEOUT_MS = 15000;
  const HUMAN_PAYLOAD = "/request_human";
  const SAFE_URL = /^(?:https?:\/\/|mailto:)/i;

  const STRINGS = {
    en: {
      title: "Help",
      launcher: "Chat with us",
      placeholder: "Type your question…",
      inputLabel: "Your question",
      send: "Send",
      close: "Close",
      connecting: "Connecting…",
      reconnecting: "Reconnecting…",
      unavailable: "Chat is unavailable right now.",
      human: "Talk to a person",
      typing: "Assistant is typing",
      log: "Conversation",
    },
    ar: {
      title: "المساعدة",
      launcher: "تحدث معنا",
      placeholder: "اكتب سؤالك…",
      inputLabel: "سؤالك",
      send: "إرسال",
      close: "إغلاق",
      connecting: "جارٍ الاتصال…",
      reconnecting: "جارٍ إعادة الاتصال…",
      unavailable: "الدردشة غير متاحة حاليًا.",
      human: "التحدث إلى موظف",
      typing: "المساعد يكتب",
      log: "المحادثة",
    },
    ru: {
      title: "Помощь",
      launcher: "Напишите нам",
      placeholder: "Введите ваш вопрос…",
      inputLabel: "Ваш вопрос",
      send: "Отправить",
      close: "Закрыть",
      connecting: "Подключение…",
      reconnecting: "Переподключение…",
      unavailable: "Чат сейчас недоступен.",
      human: "Связаться с оператором",
      typing: "Ассистент печатает",
      log: "Переписка",
    },
  };

  // ---------------------------------------------------------------- config

  const pageConfig =
    window.faqbotConfig && typeof window.faqbotConfig === "object" ? window.faqbotConfig : {};
  const customer =
    pageConfig.customer && typeof pageConfig.customer === "object" ? pageConfig.customer : {};

  function dataAttr(name) {
    return SCRIPT && SCRIPT.dataset ? SCRIPT.dataset[name] : undefined;
  }

  function nonEmpty(value) {
    if (value === undefined || value === null) return null;
    const s = String(value).trim();
    return s ? s : null;
  }

  function pickLang() {
    const candidates = [pageConfig.lang, dataAttr("lang"), document.documentElement.lang];
    if (navigator.languages) candidates.push(...navigator.languages);
    candidates.push(navigator.language);
    for (const c of candidates) {
      const primary = (nonEmpty(c) || "").toLowerCase().split(/[-_]/)[0];
      if (Object.prototype.hasOwnProperty.call(STRINGS, primary)) return primary;
    }
    return "en";
  }

  const lang = pickLang();
  const t = STRINGS[lang];
  // window.faqbotConfig wins over data-* attributes on the script tag.
  const socketUrl = nonEmpty(pageConfig.socketUrl) || nonEmpty(dataAttr("socketUrl"));
  const title = nonEmpty(pageConfig.title) || nonEmpty(dataAttr("title")) || t.title;

  // --------------------------------------------------------------- storage

  function storageGet(area, key) {
    try {
      return window[area].getItem(key);
    } catch (e) {
      return null; // storage disabled (privacy mode, sandboxed iframe…)
    }
  }

  function storageSet(area, key, value) {
    try {
      if (value === null || value === undefined) window[area].removeItem(key);
      else window[area].setItem(key, value);
    } catch (e) {
      /* quota or disabled storage: keep working in memory */
    }
  }

  function isValidEntry(e) {
    return (
      e && typeof e === "object" && (e.from === "user" || e.from === "bot") && typeof e.text === "string"
    );
  }

  function loadTranscript() {
    try {
      const parsed = JSON.parse(storageGet("sessionStorage", TRANSCRIPT_KEY) || "[]");
      return Array.isArray(parsed) ? parsed.filter(isValidEntry).slice(-MAX_MESSAGES) : [];
    } catch (e) {
      return [];
    }
  }

  // ------------------------------------------------------------- rendering

  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]);
  }

  // Input is already HTML-escaped; only <strong>/<em> are added.
  function emphasis(s) {
    return s
      .replace(/\*\*(?=\S)(.*?\S)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^*\w])\*(?=\S)([^*]*?\S)\*(?![*\w])/g, "$1<em>$2</em>");
  }

  // One line of already-escaped text -> safe inline HTML.
  function renderInline(s) {
    const slots = [];
    const hold = (html) => "\u0001" + (slots.push(html) - 1) + "\u0001";
    const restore = (str) => str.replace(/\u0001(\d+)\u0001/g, (m, i) => restore(slots[Number(i)]));

    // `code` first so its content is not formatted further.
    s = s.replace(/`([^`]+)`/g, (m, code) => hold("<code>" + code + "</code>"));
    // [text](url): only http(s)/mailto; the URL is escaped text, so it cannot break out of href="".
    s = s.replace(/\[([^\]]+)\]\(([^()\s]+)\)/g, (m, label, url) =>
      SAFE_URL.test(url)
        ? hold('<a href="' + url + '" target="_blank" rel="noopener noreferrer">' + emphasis(label) + "</a>")
        : m
    );
    return restore(emphasis(s));
  }

  // Escape ALL HTML first, then apply a tiny, safe markdown subset:
  // **bold**, *italic*, `code`, [text](http/https/mailto url), "- " lists, line breaks.
  function renderMarkdown(text) {
    const lines = escapeHtml(String(text).replace(/\u0001/g, "").replace(/\r\n?/g, "\n").trim()).split("\n");
    let html = "";
    let prev = null; // "text" | "list"
    for (const line of lines) {
      const item = /^\s*- (.*)$/.exec(line);
      if (item) {
        if (prev !== "list") html += "<ul>";
        html += "<li>" + renderInline(item[1]) + "</li>";
        prev = "list";
      } else if (prev === "list" && !line.trim()) {
        continue; // blank line right after a list: the list's margin is enough
      } else {
        if (prev === "list") html += "</ul>";
        else if (prev === "text") html += "<br>";
        html += renderInline(line);
        prev = "text";
      }
    }
    if (prev === "list") html += "</ul>";
    return html;
  }

  function safeImageUrl(src) {
    if (typeof src !== "string") return null;
    try {
      const u = new URL(src, location.href);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function normalizeButtons(list) {
    if (!Array.isArray(list)) return [];
    const out = [];
    for (const b of list) {
      if (!b || typeof b !== "object") continue;
      const btnTitle = nonEmpty(b.title);
      if (!btnTitle) continue;
      const payload = nonEmpty(b.payload) || btnTitle;
      out.push({ title: btnTitle, payload });
    }
    return out;
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
      }
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const ICON_CHAT =
    '<svg class="fb-icon fb-icon-chat" viewBox="0 0 24 24" width="26" height="26" aria-hidden="true" focusable="false">' +
    '<path fill="currentColor" d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z"/></svg>';
  const ICON_CLOSE =
    '<svg class="fb-icon fb-icon-close" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">' +
    '<path fill="currentColor" d="M18.3 5.71 12 12.01l-6.3-6.3-1.41 1.41 6.3 6.3-6.3 6.3 1.41 1.41 6.3-6.3 6.3 6.3 1.41-1.41-6.3-6.3 6.3-6.3z"/></svg>';

  // ----------------------------------------------------------------- state

  let transcript = loadTranscript();
  const rowFor = new Map(); // transcript entry -> DOM row
  let sessionId = nonEmpty(storageGet("localStorage", SESSION_KEY));
  let socket = null;
  let ready = false; // socket connected AND session confirmed
  let everConnected = false;
  let isOpen = false;
  let typingTimer = null;
  const outbox = []; // payloads waiting for a confirmed session
  let initialized = false;
  const pending = []; // API calls made before the DOM was ready

  let root, launcher, badge, panel, statusEl, scroller, log, typingEl, form, input, sendBtn, humanBtn;

  // ------------------------------------------------------------------- DOM

  function pageIsRtl() {
    try {
      if (getComputedStyle(document.body || document.documentElement).direction === "rtl") return true;
    } catch (e) {
      /* fall back to the dir attributes */
    }
    const dirOf = (node) => ((node && node.getAttribute("dir")) || "").toLowerCase();
    return (dirOf(document.body) || dirOf(document.documentElement)) === "rtl";
  }

  // Load widget.css from next to widget.js unless the page already links it
  // (data-css="<url>" overrides the location, data-css="none" disables this).
  function ensureStylesheet() {
    const custom = nonEmpty(dataAttr("css"));
    if (custom === "none") return;
    for (const link of document.querySelectorAll('link[rel~="stylesheet"]')) {
      if (/(^|\/)widget\.css(\?|#|$)/.test(link.getAttribute("href") || "")) return;
    }
    let href = custom;
    if (!href) {
      if (!SCRIPT || !SCRIPT.src) return;
      try {
        href = new URL("widget.css", SCRIPT.src).href;
      } catch (e) {
        return;
      }
    }
    (document.head || document.documentElement).appendChild(el("link", { rel: "stylesheet", href, "data-faqbot": "" }));
  }

  function buildDom() {
    ensureStylesheet();
    root = el("div", { class: "fb-root", id: "faqbot-root" });
    if (pageIsRtl()) root.classList.add("fb-left");

    launcher = el("button", {
      type: "button",
      class: "fb-launcher",
      "data-testid": "faqbot-launcher",
      "aria-expanded": "false",
      "aria-controls": "faqbot-panel",
      "aria-label": t.launcher,
      title: t.launcher,
    });
    launcher.innerHTML = ICON_CHAT + ICON_CLOSE; // static markup, no message content
    badge = el("span", { class: "fb-badge", "aria-hidden": "true", hidden: "" });
    launcher.appendChild(badge);

    panel = el("div", {
      class: "fb-panel",
      id: "faqbot-panel",
      "data-testid": "faqbot-panel",
      role: "dialog",
      "aria-labelledby": "faqbot-title",
      dir: lang === "ar" ? "rtl" : "ltr",
      lang,
      hidden: "",
    });

    const header = el("div", { class: "fb-header" });
    header.appendChild(el("h2", { class: "fb-title", id: "faqbot-title", dir: "auto" }, title));
    const closeBtn = el("button", {
      type: "button",
      class: "fb-close",
      "data-testid": "faqbot-close",
      "aria-label": t.close,
      title: t.close,
    });
    closeBtn.innerHTML = ICON_CLOSE;
    header.appendChild(closeBtn);

    statusEl = el("div", { class: "fb-status", role: "status", "aria-live": "polite", hidden: "" });

    scroller = el("div", { class: "fb-messages" });
    log = el("div", {
      class: "fb-log",
      id: "faqbot-log",
      role: "log",
      "aria-live": "polite",
      "aria-label": t.log,
    });
    typingEl = el("div", {
      class: "fb-typing",
      "data-testid": "faqbot-typing",
      role: "status",
      "aria-label": t.typing,
      title: t.typing,
      hidden: "",
    });
    for (let i = 0; i < 3; i++) typingEl.appendChild(el("span", { class: "fb-dot", "aria-hidden": "true" }));
    scroller.appendChild(log);
    scroller.appendChild(typingEl);

    form = el("form", { class: "fb-form", novalidate: "" });
    const label = el("label", { class: "fb-sr-only", for: "faqbot-input" }, t.inputLabel);
    input = el("input", {
      type: "text",
      class: "fb-input",
      id: "faqbot-input",
      "data-testid": "faqbot-input",
      placeholder: t.placeholder,
      autocomplete: "off",
      enterkeyhint: "send",
      maxlength: "2000",
      dir: "auto",
    });
    sendBtn = el("button", { type: "submit", class: "fb-send", "data-testid": "faqbot-send" }, t.send);
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(sendBtn);

    const footer = el("div", { class: "fb-footer" });
    humanBtn = el("button", { type: "button", class: "fb-human", "data-testid": "faqbot-human" }, t.human);
    footer.appendChild(humanBtn);

    panel.appendChild(header);
    panel.appendChild(statusEl);
    panel.appendChild(scroller);
    panel.appendChild(form);
    panel.appendChild(footer);

    root.appendChild(panel);
    root.appendChild(launcher);
    document.body.appendChild(root);

    launcher.addEventListener("click", () => (isOpen ? close() : open()));
    closeBtn.addEventListener("click", () => close());
    root.addEventListener("keydown", (e) => {
      if ((e.key === "Escape" || e.key === "Esc") && isOpen) {
        e.preventDefault();
        e.stopPropagation();
        close();
        launcher.focus();
      }
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!ready) return;
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      sendMessage(text);
    });
    humanBtn.addEventListener("click", () => {
      if (ready) sendMessage(HUMAN_PAYLOAD, t.human);
    });

    updateControls();
  }

  function renderEntry(entry) {
    const row = el("div", { class: "fb-row fb-row-" + entry.from });
    if (entry.text || entry.image) {
      const bubble = el("div", {
        class: "fb-msg fb-msg-" + entry.from,
        "data-testid": "faqbot-msg-" + entry.from,
        dir: "auto",
      });
      if (entry.from === "bot") bubble.innerHTML = renderMarkdown(entry.text); // escaped, see renderMarkdown
      else bubble.textContent = entry.text;
      if (entry.image) {
        const src = safeImageUrl(entry.image);
        if (src) bubble.appendChild(el("img", { class: "fb-img", src, alt: entry.imageAlt || "", loading: "lazy" }));
      }
      row.appendChild(bubble);
    }
    if (entry.buttons && entry.buttons.length) {
      const group = el("div", { class: "fb-buttons", role: "group" });
      for (const b of entry.buttons) {
        const btn = el("button", { type: "button", class: "fb-button", "data-testid": "faqbot-button", dir: "auto" }, b.title);
        if (entry.used) btn.disabled = true;
        if (entry.used && entry.chosen === b.payload) btn.classList.add("fb-button-chosen");
        btn.addEventListener("click", () => onButton(entry, group, btn, b));
        group.appendChild(btn);
      }
      row.appendChild(group);
    }
    log.appendChild(row);
    rowFor.set(entry, row);
  }

  function saveTranscript() {
    if (transcript.length > MAX_MESSAGES) {
      for (const old of transcript.slice(0, transcript.length - MAX_MESSAGES)) {
        const row = rowFor.get(old);
        if (row) row.remove();
        rowFor.delete(old);
      }
      transcript = transcript.slice(-MAX_MESSAGES);
    }
    storageSet("sessionStorage", TRANSCRIPT_KEY, JSON.stringify(transcript));
  }

  function addEntry(entry) {
    transcript.push(entry);
    renderEntry(entry);
    saveTranscript();
    scrollToBottom();
  }

  function scrollToBottom() {
    if (scroller) scroller.scrollTop = scroller.scrollHeight;
  }

  function showTyping() {
    typingEl.hidden = false;
    scrollToBottom();
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_TIMEOUT_MS);
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    typingTimer = null;
    if (typingEl) typingEl.hidden = true;
  }

  function setStatus(kind) {
    if (!statusEl) return;
    if (kind) {
      statusEl.textContent = t[kind];
      statusEl.hidden = false;
      statusEl.className = "fb-status fb-status-" + kind;
    } else {
      statusEl.textContent = "";
      statusEl.hidden = true;
    }
    updateControls();
  }

  function updateControls() {
    if (!sendBtn) return;
    sendBtn.disabled = !ready;
    humanBtn.disabled = !ready;
    panel.classList.toggle("fb-offline", !ready);
  }

  // ------------------------------------------------------------- messaging

  function onButton(entry, group, btn, b) {
    if (entry.used) return;
    entry.used = true;
    entry.chosen = b.payload;
    for (const other of group.querySelectorAll("button")) other.disabled = true;
    btn.classList.add("fb-button-chosen");
    saveTranscript();
    sendMessage(b.payload, b.title);
  }

  function buildCustomData() {
    const data = { page_url: location.href, language: lang };
    const fields = { customer_name: customer.name, customer_email: customer.email, customer_id: customer.id };
    for (const k of Object.keys(fields)) {
      const v = fields[k];
      if (v !== undefined && v !== null && String(v).trim() !== "") data[k] = v;
    }
    return data;
  }

  // payload goes to Rasa; display (default: payload) is what the user sees.
  function sendMessage(payload, display) {
    const message = nonEmpty(payload);
    if (!message) return false;
    addEntry({ from: "user", text: display !== undefined ? String(display) : message });
    outbox.push(message);
    showTyping();
    ensureSocket();
    flushOutbox();
    return true;
  }

  function flushOutbox() {
    // Never emit before session_confirm: with session_persistence the reply is sent
    // to the session's room, which this socket joins on session_request.
    if (!ready || !socket || !socket.connected) return;
    while (outbox.length) {
      socket.emit("user_uttered", {
        message: outbox.shift(),
        session_id: sessionId,
        customData: buildCustomData(),
      });
    }
  }

  function onBotUttered(msg) {
    if (typeof msg === "string") msg = { text: msg };
    if (!msg || typeof msg !== "object") return;
    const text = typeof msg.text === "string" ? msg.text : "";
    const buttons = normalizeButtons(msg.quick_replies).concat(normalizeButtons(msg.buttons));
    let image = null;
    let imageAlt = "";
    const att = msg.attachment;
    if (att && typeof att === "object" && att.type === "image" && att.payload) {
      image = safeImageUrl(att.payload.src);
      imageAlt = typeof att.payload.alt === "string" ? att.payload.alt : "";
    } else if (typeof msg.image === "string") {
      image = safeImageUrl(msg.image);
    }
    if (!text.trim() && !buttons.length && !image) return; // custom payloads we can't show
    hideTyping();
    const entry = { from: "bot", text };
    if (buttons.length) entry.buttons = buttons;
    if (image) {
      entry.image = image;
      if (imageAlt) entry.imageAlt = imageAlt;
    }
    addEntry(entry);
    if (!isOpen) badge.hidden = false;
  }

  function sessionIdFrom(data) {
    if (typeof data === "string" || typeof data === "number") return nonEmpty(data);
    if (data && typeof data === "object") return nonEmpty(data.session_id);
    return null;
  }

  function ensureSocket() {
    if (socket) return;
    if (typeof window.io !== "function") {
      setStatus("unavailable");
      if (window.console) {
        console.error("[faqbot] socket.io client missing: load /static/vendor/socket.io.min.js before widget.js");
      }
      return;
    }
    setStatus("connecting");
    const opts = { path: "/socket.io", transports: ["websocket", "polling"] };
    socket = socketUrl ? window.io(socketUrl, opts) : window.io(opts);

    socket.on("connect", () => {
      ready = false;
      socket.emit("session_request", { session_id: sessionId || null });
    });
    socket.on("session_confirm", (data) => {
      const id = sessionIdFrom(data);
      if (!id) return;
      sessionId = id;
      storageSet("localStorage", SESSION_KEY, id);
      ready = true;
      everConnected = true;
      setStatus(null);
      flushOutbox();
    });
    socket.on("bot_uttered", onBotUttered);
    socket.on("disconnect", (reason) => {
      ready = false;
      setStatus("reconnecting");
      // A server-side disconnect is not retried automatically by socket.io.
      if (reason === "io server disconnect") socket.connect();
    });
    socket.on("connect_error", () => {
      ready = false;
      setStatus(everConnected ? "reconnecting" : "connecting");
    });
  }

  // ------------------------------------------------------------ open/close

  function open(opts) {
    const focus = !(opts && opts.focus === false);
    if (!isOpen) {
      isOpen = true;
      panel.hidden = false;
      root.classList.add("fb-is-open");
      launcher.setAttribute("aria-expanded", "true");
      badge.hidden = true;
      storageSet("sessionStorage", OPEN_KEY, "1");
      ensureSocket();
      scrollToBottom();
    }
    if (focus) input.focus();
  }

  function close() {
    if (!isOpen) return;
    const focusWasInside = panel.contains(document.activeElement);
    isOpen = false;
    panel.hidden = true;
    root.classList.remove("fb-is-open");
    launcher.setAttribute("aria-expanded", "false");
    storageSet("sessionStorage", OPEN_KEY, null);
    if (focusWasInside) launcher.focus();
  }

  // ------------------------------------------------------------------ boot

  function whenReady(fn) {
    if (initialized) fn();
    else pending.push(fn);
  }

  function init() {
    if (initialized) return;
    initialized = true;
    buildDom();
    for (const entry of transcript) renderEntry(entry);
    if (storageGet("sessionStorage", OPEN_KEY) === "1") open({ focus: false });
    while (pending.length) pending.shift()();
  }

  window.FaqbotWidget = {
    __faqbot: true,
    open: () => whenReady(() => open()),
    close: () => whenReady(() => close()),
    // Shows `text` as the user's message and sends it (queued until the session is confirmed).
    send: (text) =>
      whenReady(() => {
        open({ focus: false });
        sendMessage(text);
      }),
  };

  if (document.body) init();
  else document.addEventListener("DOMContentLoaded", init, { once: true });
})();
