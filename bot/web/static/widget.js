/*!
 * faqbot website chat widget.
 * Plain ES2018, no framework, no build step. One tag embeds it:
 *
 *   <script src="https://bot.example/static/widget.js" data-socket-url="https://bot.example:5005" defer></script>
 *
 * It loads, from next to itself, widget.css and the vendored socket.io-client,
 * marked (markdown) and DOMPurify (sanitising) unless the page already has
 * them. Options (window.faqbotConfig wins over data-* attributes):
 *   socketUrl / data-socket-url   Rasa's socket.io address (default: this page's origin)
 *   apiUrl / data-api-url         the web app's widget API (default: where widget.js comes from)
 *   lang / data-lang              en, ar or ru (default: the page's, then the browser's language)
 *   title / data-title            the panel's heading
 *   customer: {name, email, id}   the signed-in customer: the bot never asks for what it is given
 *   offlineAfter / data-offline-after  seconds without a connection before "leave a message" (default 10)
 *
 * Test hooks: window.FaqbotWidget = {open(), close(), send(text), state()}.
 */
(() => {
  "use strict";

  if (window.FaqbotWidget && window.FaqbotWidget.__faqbot) return; // loaded twice

  // Must be read synchronously: document.currentScript is null once loading finished.
  const SCRIPT = document.currentScript;

  const SESSION_KEY = "faqbot.session_id"; // localStorage: shared by every page/tab
  const MODE_KEY = "faqbot.mode"; // localStorage: "people" while a person owns the conversation
  const TRANSCRIPT_KEY = "faqbot.transcript"; // sessionStorage: survives reloads in this tab
  const OPEN_KEY = "faqbot.open"; // sessionStorage: keep the panel open across pages
  const UNREAD_KEY = "faqbot.unread"; // sessionStorage: unread bot messages while closed
  const OUTBOX_KEY = "faqbot.outbox"; // sessionStorage: messages typed while offline
  const MAX_MESSAGES = 100;
  const TYPING_TIMEOUT_MS = 15000;
  const VOTE_RETRY_MS = 30000;
  const API_TIMEOUT_MS = 15000; // every call to the web app's widget API
  const HUMAN_PAYLOAD = "/request_human";

  const STRINGS = {
    en: {
      title: "Help",
      launcher: "Chat with us",
      unread: (n) => (n === 1 ? "1 new message" : n + " new messages"),
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
      helpful: "Helpful",
      notHelpful: "Not helpful",
      voteQuestion: "Was this helpful?",
      voteThanks: "Thanks for your feedback.",
      voteLater: "Thanks! Your feedback will be sent when the connection is back.",
      offlineTitle: "Leave us a message",
      offlineIntro: "The chat is unavailable right now. Leave a message and we will reply by email.",
      name: "Your name",
      email: "Your email",
      message: "Your message",
      submit: "Send message",
      sending: "Sending…",
      left: (ticket, email) => "Thank you. Your message is ticket " + ticket + ". We will reply to " + email + ".",
      leaveFailed: "Your message could not be sent. Please try again in a moment.",
      badEmail: "Please enter a valid email address.",
      badName: "Please type just your name, without links or symbols.",
      emptyMessage: "Please write your message.",
      another: "Send another message",
      back: "The chat is back.",
    },
    ar: {
      title: "المساعدة",
      launcher: "تحدث معنا",
      unread: (n) => (n === 1 ? "رسالة جديدة واحدة" : n + " رسائل جديدة"),
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
      helpful: "مفيد",
      notHelpful: "غير مفيد",
      voteQuestion: "هل كان هذا مفيدًا؟",
      voteThanks: "شكرًا على ملاحظاتك.",
      voteLater: "شكرًا! سنرسل ملاحظاتك عند عودة الاتصال.",
      offlineTitle: "اترك لنا رسالة",
      offlineIntro: "الدردشة غير متاحة حاليًا. اترك رسالة وسنرد عليك عبر البريد الإلكتروني.",
      name: "اسمك",
      email: "بريدك الإلكتروني",
      message: "رسالتك",
      submit: "إرسال الرسالة",
      sending: "جارٍ الإرسال…",
      left: (ticket, email) => "شكرًا لك. رقم تذكرتك " + ticket + ". سنرد على " + email + ".",
      leaveFailed: "تعذر إرسال رسالتك. يرجى المحاولة بعد قليل.",
      badEmail: "يرجى إدخال بريد إلكتروني صالح.",
      badName: "يرجى كتابة اسمك فقط، بدون روابط أو رموز.",
      emptyMessage: "يرجى كتابة رسالتك.",
      another: "إرسال رسالة أخرى",
      back: "عادت الدردشة.",
    },
    ru: {
      title: "Помощь",
      launcher: "Напишите нам",
      unread: (n) => "Новых сообщений: " + n,
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
      helpful: "Полезно",
      notHelpful: "Бесполезно",
      voteQuestion: "Ответ помог?",
      voteThanks: "Спасибо за отзыв.",
      voteLater: "Спасибо! Отзыв отправится, когда связь восстановится.",
      offlineTitle: "Оставьте сообщение",
      offlineIntro: "Чат сейчас недоступен. Оставьте сообщение, и мы ответим по электронной почте.",
      name: "Ваше имя",
      email: "Ваш email",
      message: "Ваше сообщение",
      submit: "Отправить сообщение",
      sending: "Отправка…",
      left: (ticket, email) => "Спасибо. Номер вашего обращения " + ticket + ". Мы ответим на " + email + ".",
      leaveFailed: "Не удалось отправить сообщение. Попробуйте ещё раз чуть позже.",
      badEmail: "Введите корректный адрес электронной почты.",
      badName: "Напишите только своё имя, без ссылок и символов.",
      emptyMessage: "Напишите ваше сообщение.",
      another: "Отправить ещё сообщение",
      back: "Чат снова доступен.",
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

  function option(name) {
    return nonEmpty(pageConfig[name]) || nonEmpty(dataAttr(name));
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

  function besideScript(path) {
    try {
      return new URL(path, SCRIPT && SCRIPT.src ? SCRIPT.src : location.href).href;
    } catch (e) {
      return path;
    }
  }

  const lang = pickLang();
  const t = STRINGS[lang];
  const socketUrl = option("socketUrl");
  const apiUrl = (option("apiUrl") || besideScript("/widget/api")).replace(/\/+$/, "");
  const title = option("title") || t.title;
  const offlineAfterMs = Math.max(1, Number(option("offlineAfter")) || 10) * 1000;

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

  function loadJson(area, key, fallback) {
    try {
      const parsed = JSON.parse(storageGet(area, key) || "null");
      return parsed === null ? fallback : parsed;
    } catch (e) {
      return fallback;
    }
  }

  function isValidEntry(e) {
    return (
      e &&
      typeof e === "object" &&
      (e.from === "user" || e.from === "bot" || e.from === "notice") &&
      typeof e.text === "string"
    );
  }

  function loadTranscript() {
    const parsed = loadJson("sessionStorage", TRANSCRIPT_KEY, []);
    return Array.isArray(parsed) ? parsed.filter(isValidEntry).slice(-MAX_MESSAGES) : [];
  }

  // ------------------------------------------------------------- libraries

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.async = false;
      script.onload = resolve;
      script.onerror = () => reject(new Error("cannot load " + src));
      (document.head || document.documentElement).appendChild(script);
    });
  }

  // Loads what the page does not have yet; a library that fails to load only costs its feature.
  function loadLibraries() {
    const base = besideScript((option("vendorUrl") || "vendor").replace(/\/?$/, "/"));
    const wanted = [];
    if (typeof window.io !== "function") wanted.push(loadScript(new URL("socket.io.min.js", base).href));
    if (!window.marked) wanted.push(loadScript(new URL("marked.umd.js", base).href));
    if (!window.DOMPurify) wanted.push(loadScript(new URL("purify.min.js", base).href));
    return Promise.all(wanted.map((p) => p.catch((e) => window.console && console.error("[faqbot]", e.message))));
  }

  // --------------------------------------------------------------- markdown

  let markdown = null; // {parse(text) -> html}
  let purify = null; // our own DOMPurify instance (its hooks do not touch the page's)

  const PURIFY_CONFIG = {
    ALLOWED_TAGS: [
      "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
      "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
    ],
    ALLOWED_ATTR: ["href", "title"],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|tel:)/i,
  };

  // Raw HTML in a message is shown as typed, never interpreted: FAQ answers and agents' replies are
  // markdown only, as the editor's preview renders them (markdown-it with html off). An agent who
  // types "<b>late</b>" or "send us <your order number>" is read literally, not as an empty bubble.
  function escapeHtml(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }

  function literalHtml(token) {
    const raw = typeof token === "string" ? token : (token && token.text) || "";
    const block = token && typeof token === "object" && token.block;
    const shown = escapeHtml(block ? raw.replace(/\n+$/, "") : raw).replace(/\n/g, "<br>");
    return block ? `<p>${shown}</p>` : shown;
  }

  function setUpMarkdown() {
    try {
      if (window.marked && typeof window.marked.Marked === "function") {
        const instance = new window.marked.Marked({ gfm: true, breaks: true, async: false });
        instance.use({ renderer: { html: literalHtml } });
        markdown = { parse: (text) => instance.parse(text) };
      } else if (window.marked && typeof window.marked.parse === "function") {
        // A page's own older marked: no renderer of ours, so no "<" reaches it as markup.
        markdown = { parse: (text) => window.marked.parse(String(text).replace(/</g, "&lt;")) };
      }
      if (typeof window.DOMPurify === "function") {
        purify = window.DOMPurify(window);
        purify.addHook("afterSanitizeAttributes", (node) => {
          if (node.tagName === "A") {
            node.setAttribute("target", "_blank");
            node.setAttribute("rel", "noopener noreferrer nofollow");
          }
        });
      }
    } catch (e) {
      markdown = purify = null;
    }
  }

  // Bot text -> sanitised HTML, or null when the libraries are missing (then it is shown as plain text).
  function renderMarkdown(text) {
    if (!markdown || !purify || !purify.isSupported) return null;
    try {
      return purify.sanitize(markdown.parse(String(text)), PURIFY_CONFIG);
    } catch (e) {
      return null;
    }
  }

  // ---------------------------------------------------------------- helpers

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
      out.push({ title: btnTitle, payload: nonEmpty(b.payload) || btnTitle });
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

  // Rejects (like a network error) when the web app does not answer within API_TIMEOUT_MS.
  function postJson(path, body) {
    const abort = typeof AbortController === "function" ? new AbortController() : null;
    const timer = abort ? setTimeout(() => abort.abort(), API_TIMEOUT_MS) : null;
    return fetch(apiUrl + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      mode: "cors",
      signal: abort ? abort.signal : undefined,
    })
      .then((response) =>
        response
          .json()
          .catch(() => ({}))
          .then((data) => ({ ok: response.ok, status: response.status, data }))
      )
      .finally(() => clearTimeout(timer));
  }

  const ICON_CHAT =
    '<svg class="fb-icon fb-icon-chat" viewBox="0 0 24 24" width="26" height="26" aria-hidden="true" focusable="false">' +
    '<path fill="currentColor" d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z"/></svg>';
  const ICON_CLOSE =
    '<svg class="fb-icon fb-icon-close" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">' +
    '<path fill="currentColor" d="M18.3 5.71 12 12.01l-6.3-6.3-1.41 1.41 6.3 6.3-6.3 6.3 1.41 1.41 6.3-6.3 6.3 6.3 1.41-1.41-6.3-6.3 6.3-6.3z"/></svg>';
  const ICON_UP =
    '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false"><path fill="currentColor" d="M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.31l.95-4.57.03-.32a1.5 1.5 0 0 0-.44-1.06L13.17 1 6.59 7.59A2 2 0 0 0 6 9v10a2 2 0 0 0 2 2h9a2 2 0 0 0 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z"/></svg>';
  const ICON_DOWN =
    '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false"><path fill="currentColor" d="M22 3h-4v12h4V3zM2 14a2 2 0 0 0 2 2h6.31l-.95 4.57-.03.32c0 .41.17.79.44 1.06L10.83 23l6.58-6.59A2 2 0 0 0 18 15V5a2 2 0 0 0-2-2H7a2 2 0 0 0-1.84 1.22l-3.02 7.05A2 2 0 0 0 2 12v2z"/></svg>';

  // ----------------------------------------------------------------- state

  let transcript = loadTranscript();
  const rowFor = new Map(); // transcript entry -> DOM row
  let sessionId = nonEmpty(storageGet("localStorage", SESSION_KEY));
  let mode = storageGet("localStorage", MODE_KEY) === "people" ? "people" : "bot";
  let unread = Math.max(0, Number(storageGet("sessionStorage", UNREAD_KEY)) || 0);
  let outbox = loadJson("sessionStorage", OUTBOX_KEY, []); // {payload, display} waiting for a session
  if (!Array.isArray(outbox)) outbox = [];
  let socket = null;
  let ready = false; // socket connected AND session confirmed
  let everConnected = false;
  let offline = false; // showing "leave a message"
  let offlineTimer = null;
  let voteTimer = null;
  let isOpen = false;
  let typingTimer = null;
  let initialized = false;
  const pending = []; // API calls made before the DOM was ready

  let root, launcher, badge, panel, statusEl, announcer, scroller, log, typingEl, form, input, sendBtn;
  let footer, humanBtn, offlineView, offlineForm, offlineError, offlineSubmit, anotherBtn;

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
    const href = custom || (SCRIPT && SCRIPT.src ? besideScript("widget.css") : null);
    if (href) (document.head || document.documentElement).appendChild(el("link", { rel: "stylesheet", href }));
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
    badge = el("span", { class: "fb-badge", "data-testid": "faqbot-badge", "aria-hidden": "true", hidden: "" });
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

    statusEl = el("div", { class: "fb-status", "data-testid": "faqbot-status", role: "status", hidden: "" });
    // Short confirmations for screen readers ("thanks for your feedback").
    announcer = el("div", { class: "fb-sr-only", role: "status", "aria-live": "polite" });

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

    offlineView = buildOfflineView();
    scroller.appendChild(offlineView);

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

    footer = el("div", { class: "fb-footer" });
    humanBtn = el("button", { type: "button", class: "fb-human", "data-testid": "faqbot-human" }, t.human);
    footer.appendChild(humanBtn);

    panel.appendChild(header);
    panel.appendChild(statusEl);
    panel.appendChild(announcer);
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
      }
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      sendMessage(text);
    });
    humanBtn.addEventListener("click", () => sendMessage(HUMAN_PAYLOAD, t.human));

    updateBadge();
    updateControls();
  }

  function field(name, labelText, attrs) {
    const id = "faqbot-offline-" + name;
    const wrap = el("div", { class: "fb-field" });
    wrap.appendChild(el("label", { for: id }, labelText));
    const control = el(name === "message" ? "textarea" : "input", Object.assign({ id, name, dir: "auto" }, attrs));
    wrap.appendChild(control);
    return wrap;
  }

  function buildOfflineView() {
    const view = el("section", {
      class: "fb-offline",
      "data-testid": "faqbot-offline",
      "aria-labelledby": "faqbot-offline-title",
      hidden: "",
    });
    view.appendChild(el("h3", { id: "faqbot-offline-title", class: "fb-offline-title" }, t.offlineTitle));
    view.appendChild(el("p", { class: "fb-offline-intro" }, t.offlineIntro));
    offlineForm = el("form", { class: "fb-offline-form", novalidate: "" });
    offlineForm.appendChild(field("name", t.name, { type: "text", autocomplete: "name", maxlength: "80" }));
    offlineForm.appendChild(
      field("email", t.email, { type: "email", autocomplete: "email", required: "", maxlength: "254" })
    );
    offlineForm.appendChild(field("message", t.message, { rows: "4", required: "", maxlength: "5000" }));
    offlineError = el("p", { class: "fb-offline-error", role: "alert", hidden: "" });
    offlineForm.appendChild(offlineError);
    offlineSubmit = el("button", { type: "submit", class: "fb-send fb-offline-submit" }, t.submit);
    offlineForm.appendChild(offlineSubmit);
    offlineForm.elements.name.value = nonEmpty(customer.name) || "";
    offlineForm.elements.email.value = nonEmpty(customer.email) || "";
    offlineForm.addEventListener("input", (e) => {
      if (e.target.getAttribute("aria-invalid")) e.target.removeAttribute("aria-invalid");
    });
    offlineForm.addEventListener("submit", (e) => {
      e.preventDefault();
      leaveMessage();
    });
    view.appendChild(offlineForm);
    anotherBtn = el("button", { type: "button", class: "fb-human fb-another", hidden: "" }, t.another);
    anotherBtn.addEventListener("click", () => {
      anotherBtn.hidden = true;
      offlineForm.hidden = false;
      offlineForm.elements.message.focus();
    });
    view.appendChild(anotherBtn);
    return view;
  }

  function renderEntry(entry) {
    const row = el("div", { class: "fb-row fb-row-" + entry.from });
    if (entry.from === "notice") {
      row.appendChild(el("p", { class: "fb-notice", "data-testid": "faqbot-notice", dir: "auto" }, entry.text));
      log.appendChild(row);
      rowFor.set(entry, row);
      return;
    }
    if (entry.text || entry.image) {
      const bubble = el("div", {
        class: "fb-msg fb-msg-" + entry.from,
        "data-testid": "faqbot-msg-" + entry.from,
        dir: "auto",
      });
      const html = entry.from === "bot" ? renderMarkdown(entry.text) : null;
      if (html !== null) bubble.innerHTML = html; // sanitised by DOMPurify (PURIFY_CONFIG)
      else {
        bubble.textContent = entry.text;
        bubble.classList.add("fb-plain");
      }
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
    if (entry.answer) row.appendChild(renderVote(entry));
    log.appendChild(row);
    rowFor.set(entry, row);
  }

  function renderVote(entry) {
    const group = el("div", { class: "fb-vote", role: "group", "aria-label": t.voteQuestion, "data-testid": "faqbot-vote" });
    for (const [value, label, icon] of [
      ["up", t.helpful, ICON_UP],
      ["down", t.notHelpful, ICON_DOWN],
    ]) {
      const btn = el("button", {
        type: "button",
        class: "fb-vote-btn",
        "data-testid": "faqbot-vote-" + value,
        "aria-label": label,
        title: label,
        "aria-pressed": entry.vote === value ? "true" : "false",
      });
      btn.innerHTML = icon; // static markup
      btn.addEventListener("click", () => vote(entry, value, group));
      group.appendChild(btn);
    }
    return group;
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

  function announce(text) {
    announcer.textContent = "";
    setTimeout(() => (announcer.textContent = text), 50);
  }

  function showTyping() {
    if (mode === "people") return; // a person answers: no "assistant is typing"
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
    panel.classList.toggle("fb-offline-mode", offline);
    panel.classList.toggle("fb-people", mode === "people");
    form.hidden = offline;
    footer.hidden = offline || mode === "people";
    offlineView.hidden = !offline;
  }

  function updateBadge() {
    storageSet("sessionStorage", UNREAD_KEY, unread ? String(unread) : null);
    if (!badge) return;
    badge.hidden = unread === 0;
    badge.textContent = unread > 9 ? "9+" : String(unread);
    const label = unread ? t.launcher + " — " + t.unread(unread) : t.launcher;
    launcher.setAttribute("aria-label", label);
    launcher.title = label;
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
      const v = nonEmpty(fields[k]);
      if (v) data[k] = v;
    }
    return data;
  }

  // payload goes to Rasa; display (default: payload) is what the customer sees.
  // Sent at once when connected, otherwise queued (kept across reloads) until the session is confirmed.
  function sendMessage(payload, display) {
    const message = nonEmpty(payload);
    if (!message) return false;
    const shown = display !== undefined ? String(display) : message;
    addEntry({ from: "user", text: shown });
    outbox.push({ payload: message, display: shown });
    storageSet("sessionStorage", OUTBOX_KEY, JSON.stringify(outbox));
    if (offline) prefillOfflineMessage();
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
        message: outbox.shift().payload,
        session_id: sessionId,
        customData: buildCustomData(),
      });
    }
    storageSet("sessionStorage", OUTBOX_KEY, null);
  }

  function onBotUttered(msg) {
    if (typeof msg === "string") msg = { text: msg };
    if (!msg || typeof msg !== "object") return;
    const text = typeof msg.text === "string" ? msg.text : "";
    const buttons = normalizeButtons(msg.quick_replies).concat(normalizeButtons(msg.buttons));
    const context = msg.faqbot && typeof msg.faqbot === "object" ? msg.faqbot : {};
    let image = null;
    let imageAlt = "";
    const att = msg.attachment;
    if (att && typeof att === "object" && att.type === "image" && att.payload) {
      image = safeImageUrl(att.payload.src);
      imageAlt = typeof att.payload.alt === "string" ? att.payload.alt : "";
    } else if (typeof msg.image === "string") {
      image = safeImageUrl(msg.image);
    }
    if (context.handoff_state) setMode(context.handoff_state === "bot" ? "bot" : "people");
    if (!text.trim() && !buttons.length && !image) return; // custom payloads we can't show
    hideTyping();
    const entry = { from: "bot", text };
    if (buttons.length) entry.buttons = buttons;
    if (image) {
      entry.image = image;
      if (imageAlt) entry.imageAlt = imageAlt;
    }
    if (nonEmpty(context.answer_id) && nonEmpty(context.faq_id)) {
      entry.answer = { id: String(context.answer_id), faq: String(context.faq_id), version: context.kb_version || null };
    }
    const ts = Number(context.timestamp);
    if (ts) {
      if (shownTimestamps().has(ts)) return; // already shown (history and socket crossed)
      entry.ts = ts;
    }
    addEntry(entry);
    if (!isOpen) {
      unread += 1;
      updateBadge();
    }
  }

  function shownTimestamps() {
    return new Set(transcript.filter((e) => e.ts).map((e) => e.ts));
  }

  // What the socket could not deliver: messages sent while this browser was disconnected (network,
  // or between two pages), or, in a new tab of the same session, the whole conversation so far.
  function catchUp() {
    if (!sessionId) return;
    const shown = transcript.filter((e) => e.from !== "notice");
    // after 0: everything (an empty view); otherwise only the bot's messages after the last one shown
    const after = shown.length ? Math.max(0, ...shown.map((e) => e.ts || 0)) || 1e-6 : 0;
    postJson("/history", { conversation_id: sessionId, after })
      .then((result) => {
        if (!result.ok || !result.data || !Array.isArray(result.data.messages)) return;
        for (const m of result.data.messages) {
          if (!m || typeof m !== "object") continue;
          if (m.from === "user" && after === 0 && typeof m.text === "string") addEntry({ from: "user", text: m.text });
          else if (m.from === "bot") onBotUttered({ text: m.text, buttons: m.buttons, faqbot: m.faqbot });
        }
      })
      .catch(() => {
        /* the web app is unreachable too: what is shown stays */
      });
  }

  function setMode(next) {
    mode = next;
    storageSet("localStorage", MODE_KEY, next === "people" ? "people" : null);
    if (mode === "people") hideTyping();
    updateControls();
  }

  // ------------------------------------------------------------------ votes

  function vote(entry, value, group) {
    entry.vote = value;
    entry.voteSent = false;
    for (const btn of group.querySelectorAll("button")) {
      btn.setAttribute("aria-pressed", btn.dataset.testid === "faqbot-vote-" + value ? "true" : "false");
    }
    saveTranscript();
    sendVote(entry).then((sent) => announce(sent ? t.voteThanks : t.voteLater));
  }

  // Resolves true when stored, false when it must be retried later (offline, bot unreachable).
  function sendVote(entry) {
    if (!sessionId || !entry.answer) return Promise.resolve(false);
    return postJson("/feedback", { conversation_id: sessionId, answer_id: entry.answer.id, value: entry.vote })
      .then((result) => {
        const retry = !result.ok && (result.status >= 500 || result.status === 429);
        entry.voteSent = !retry; // a 4xx other than 429 will never succeed: drop it
        saveTranscript();
        if (retry) scheduleVoteRetry();
        return result.ok;
      })
      .catch(() => {
        scheduleVoteRetry();
        return false;
      });
  }

  function scheduleVoteRetry() {
    if (voteTimer) return;
    voteTimer = setTimeout(() => {
      voteTimer = null;
      retryVotes();
    }, VOTE_RETRY_MS);
  }

  function retryVotes() {
    for (const entry of transcript) {
      if (entry.answer && entry.vote && !entry.voteSent) sendVote(entry);
    }
  }

  // --------------------------------------------------------------- offline

  function prefillOfflineMessage() {
    const box = offlineForm.elements.message;
    const queued = outbox.map((m) => m.display).join("\n");
    if (queued && !box.value.includes(queued)) box.value = box.value ? box.value + "\n" + queued : queued;
  }

  function armOfflineTimer() {
    if (offlineTimer || offline) return;
    offlineTimer = setTimeout(() => {
      offlineTimer = null;
      if (!ready) goOffline();
    }, offlineAfterMs);
  }

  function goOffline() {
    if (offline) return;
    const typing = document.activeElement === input;
    offline = true;
    hideTyping();
    setStatus("unavailable");
    prefillOfflineMessage();
    if (typing) {
      const empty = ["name", "email", "message"].find((n) => !offlineForm.elements[n].value.trim());
      offlineForm.elements[empty || "message"].focus();
    }
  }

  function backOnline() {
    clearTimeout(offlineTimer);
    offlineTimer = null;
    if (offline) {
      offline = false;
      offlineForm.hidden = false;
      anotherBtn.hidden = true;
      announce(t.back);
    }
    setStatus(null);
  }

  function leaveMessage() {
    const elements = offlineForm.elements;
    const email = elements.email.value.trim();
    const message = elements.message.value.trim();
    let problem = null;
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/.test(email)) problem = ["email", t.badEmail];
    else if (!message) problem = ["message", t.emptyMessage];
    if (problem) {
      showOfflineError(problem[1], elements[problem[0]]);
      return;
    }
    offlineError.hidden = true;
    offlineSubmit.disabled = true;
    offlineSubmit.textContent = t.sending;
    const included = outbox.length;
    postJson("/messages", {
      name: elements.name.value.trim(),
      email,
      message,
      language: lang,
      conversation_id: sessionId,
      customer_id: nonEmpty(customer.id),
      page_url: location.href,
      transcript: transcript.filter((e) => e.from !== "notice").map((e) => ({ from: e.from, text: e.text })),
    })
      .then((result) => {
        if (!result.ok) {
          const bad = result.data && result.data.fields ? Object.keys(result.data.fields)[0] : null;
          const text = bad === "email" ? t.badEmail : bad === "name" ? t.badName : t.leaveFailed;
          showOfflineError(text, bad ? elements[bad] : null);
          return;
        }
        outbox.splice(0, included); // they went with the message: never sent twice
        storageSet("sessionStorage", OUTBOX_KEY, outbox.length ? JSON.stringify(outbox) : null);
        hideTyping();
        elements.message.value = "";
        addEntry({ from: "notice", text: t.left(result.data.ticket_number, result.data.email || email) });
        offlineForm.hidden = true;
        anotherBtn.hidden = false;
        anotherBtn.focus();
      })
      .catch(() => showOfflineError(t.leaveFailed, null))
      .finally(() => {
        offlineSubmit.disabled = false;
        offlineSubmit.textContent = t.submit;
      });
  }

  function showOfflineError(text, control) {
    offlineError.textContent = text;
    offlineError.hidden = false;
    if (control) {
      control.setAttribute("aria-invalid", "true");
      control.focus();
    }
  }

  // ---------------------------------------------------------------- socket

  function sessionIdFrom(data) {
    if (typeof data === "string" || typeof data === "number") return nonEmpty(data);
    if (data && typeof data === "object") return nonEmpty(data.session_id);
    return null;
  }

  function ensureSocket() {
    if (socket) return;
    if (typeof window.io !== "function") {
      if (window.console) console.error("[faqbot] socket.io client missing (vendor/socket.io.min.js)");
      goOffline();
      return;
    }
    setStatus("connecting");
    armOfflineTimer();
    const opts = { path: "/socket.io", transports: ["websocket", "polling"] };
    socket = socketUrl ? window.io(socketUrl, opts) : window.io(opts);

    socket.on("connect", () => {
      ready = false;
      socket.emit("session_request", { session_id: sessionId || null });
    });
    socket.on("session_confirm", (data) => {
      const id = sessionIdFrom(data);
      if (!id) return;
      const known = sessionId === id;
      sessionId = id;
      storageSet("localStorage", SESSION_KEY, id);
      ready = true;
      everConnected = true;
      backOnline();
      if (known) catchUp();
      flushOutbox();
      retryVotes();
    });
    socket.on("bot_uttered", onBotUttered);
    socket.on("disconnect", (reason) => {
      ready = false;
      setStatus(offline ? "unavailable" : "reconnecting");
      armOfflineTimer();
      // A server-side disconnect is not retried automatically by socket.io.
      if (reason === "io server disconnect") socket.connect();
    });
    socket.on("connect_error", () => {
      ready = false;
      if (!offline) setStatus(everConnected ? "reconnecting" : "connecting");
      armOfflineTimer();
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
      unread = 0;
      updateBadge();
      storageSet("sessionStorage", OPEN_KEY, "1");
      ensureSocket();
      scrollToBottom();
    }
    if (focus) (offline ? offlineForm.elements.email : input).focus();
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
    setUpMarkdown();
    buildDom();
    for (const entry of transcript) renderEntry(entry);
    if (storageGet("sessionStorage", OPEN_KEY) === "1") open({ focus: false });
    // An ongoing conversation stays connected while closed: agents' replies arrive (and badge) on any page.
    else if (sessionId && (transcript.length || mode === "people" || outbox.length)) ensureSocket();
    while (pending.length) pending.shift()();
  }

  window.FaqbotWidget = {
    __faqbot: true,
    open: () => whenReady(() => open()),
    close: () => whenReady(() => close()),
    // Shows `text` as the customer's message and sends it (queued until the session is confirmed).
    send: (text) =>
      whenReady(() => {
        open({ focus: false });
        sendMessage(text);
      }),
    state: () => ({ ready, offline, mode, unread, sessionId, queued: outbox.length }),
  };

  const start = () => loadLibraries().then(init);
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
