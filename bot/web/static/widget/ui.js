/**
 * The widget on the page: the launcher with its unread badge, the panel (header, status line, the
 * conversation log with the greeting and suggested questions while it is empty, the typing indicator,
 * the question field, "talk to a person"), opening and closing, keeping the latest message in view,
 * and what the keyboard and screen readers get. It shows the state (state.js) and reports
 * the customer's actions to its owner; it sends nothing itself.
 */

import { ICON_CHAT, ICON_CLOSE, el } from "./render.js";

/** How long "assistant is typing" shows at most when no answer comes. */
const TYPING_TIMEOUT_MS = 15000;
/** Within this many pixels of the end the log counts as scrolled to the latest message (and stays there). */
const AT_END_PX = 48;

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
function ensureStylesheet(href) {
  if (href === "none") return;
  for (const link of document.querySelectorAll('link[rel~="stylesheet"]')) {
    if (/(^|\/)widget\.css(\?|#|$)/.test(link.getAttribute("href") || "")) return;
  }
  if (href) (document.head || document.documentElement).appendChild(el("link", { rel: "stylesheet", href }));
}

export class Panel {
  /**
   * `renderer`: a MessageRenderer; `offline`: the LeaveMessageForm shown in the panel when the bot is
   * unreachable; `actions`: {send(text) for a typed question, human() for "talk to a person",
   * opened() when the panel opens}.
   */
  constructor(config, state, renderer, offline, actions) {
    this.config = config;
    this.state = state;
    this.renderer = renderer;
    this.offline = offline;
    this.actions = actions;
    this.rows = new Map(); // transcript entry -> its row in the log
    this.typingTimer = null;
    this.welcomeRow = null; // the greeting and suggested questions on an empty log
    // The latest message stays in view while the customer has not scrolled up, also when the log's size
    // changes after the fact (the stylesheet arriving on a new page, an image loading, the keyboard).
    this.pinned = true;
  }

  /** Adds the launcher and the (hidden) panel to the page. */
  build() {
    const { t, lang, title } = this.config;
    ensureStylesheet(this.config.stylesheet);
    const root = el("div", { class: "fb-root", id: "faqbot-root" });
    if (pageIsRtl()) root.classList.add("fb-left");

    const launcher = el("button", {
      type: "button",
      class: "fb-launcher",
      "data-testid": "faqbot-launcher",
      "aria-expanded": "false",
      "aria-controls": "faqbot-panel",
      "aria-label": t.launcher,
      title: t.launcher,
    });
    launcher.innerHTML = ICON_CHAT + ICON_CLOSE; // static markup, no message content
    const badge = el("span", { class: "fb-badge", "data-testid": "faqbot-badge", "aria-hidden": "true", hidden: "" });
    launcher.appendChild(badge);

    const panel = el("div", {
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

    const status = el("div", { class: "fb-status", "data-testid": "faqbot-status", role: "status", hidden: "" });
    // Short confirmations for screen readers ("thanks for your feedback").
    const announcer = el("div", { class: "fb-sr-only", role: "status", "aria-live": "polite" });

    const scroller = el("div", { class: "fb-messages" });
    const log = el("div", {
      class: "fb-log",
      id: "faqbot-log",
      role: "log",
      "aria-live": "polite",
      "aria-label": t.log,
    });
    const typing = el("div", {
      class: "fb-typing",
      "data-testid": "faqbot-typing",
      role: "status",
      "aria-label": t.typing,
      title: t.typing,
      hidden: "",
    });
    for (let i = 0; i < 3; i++) typing.appendChild(el("span", { class: "fb-dot", "aria-hidden": "true" }));
    scroller.appendChild(log);
    scroller.appendChild(typing);

    const form = el("form", { class: "fb-form", novalidate: "" });
    const label = el("label", { class: "fb-sr-only", for: "faqbot-input" }, t.inputLabel);
    const input = el("input", {
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
    const sendBtn = el("button", { type: "submit", class: "fb-send", "data-testid": "faqbot-send" }, t.send);
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(sendBtn);

    const footer = el("div", { class: "fb-footer" });
    const humanBtn = el("button", { type: "button", class: "fb-human", "data-testid": "faqbot-human" }, t.human);
    footer.appendChild(humanBtn);

    panel.appendChild(header);
    panel.appendChild(status);
    panel.appendChild(announcer);
    panel.appendChild(scroller);
    panel.appendChild(this.offline.build());
    panel.appendChild(form);
    panel.appendChild(footer);

    root.appendChild(panel);
    root.appendChild(launcher);
    document.body.appendChild(root);
    Object.assign(this, { root, launcher, badge, panel, status, announcer, scroller, log, typing, form, input, footer });

    launcher.addEventListener("click", () => (this.state.isOpen ? this.close() : this.open()));
    closeBtn.addEventListener("click", () => this.close());
    root.addEventListener("keydown", (e) => {
      if ((e.key === "Escape" || e.key === "Esc") && this.state.isOpen) {
        e.preventDefault();
        e.stopPropagation();
        this.close();
      }
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      this.actions.send(text);
    });
    humanBtn.addEventListener("click", () => this.actions.human());
    scroller.addEventListener("scroll", () => {
      this.pinned = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= AT_END_PX;
    });
    if (typeof ResizeObserver === "function") {
      const keep = () => {
        if (this.pinned && this.state.isOpen) scroller.scrollTop = scroller.scrollHeight;
      };
      const observer = new ResizeObserver(keep);
      observer.observe(scroller);
      observer.observe(log);
    }

    this.updateBadge();
    this.updateControls();
  }

  // ------------------------------------------------------------------ open/close

  /** Opens the panel (and clears the unread count); the focus goes to the field unless {focus: false}. */
  open(opts) {
    const focus = !(opts && opts.focus === false);
    if (!this.state.isOpen) {
      this.state.setOpen(true);
      this.panel.hidden = false;
      this.root.classList.add("fb-is-open");
      this.launcher.setAttribute("aria-expanded", "true");
      this.state.setUnread(0);
      this.updateBadge();
      this.actions.opened();
      this.scrollToBottom();
    }
    if (focus) (this.state.offline ? this.offline.emailField() : this.input).focus();
  }

  /** Closes the panel; the focus goes back to the launcher if it was inside. */
  close() {
    if (!this.state.isOpen) return;
    const focusWasInside = this.panel.contains(document.activeElement);
    this.state.setOpen(false);
    this.panel.hidden = true;
    this.root.classList.remove("fb-is-open");
    this.launcher.setAttribute("aria-expanded", "false");
    if (focusWasInside) this.launcher.focus();
  }

  // ------------------------------------------------------------------ the log

  /** Shows `entry` at the end of the log. */
  show(entry) {
    const row = this.renderer.row(entry);
    this.log.appendChild(row);
    this.rows.set(entry, row);
  }

  /** Draws `entry`'s row again, in place (its buttons were retired). */
  redraw(entry) {
    const old = this.rows.get(entry);
    if (!old) return;
    const row = this.renderer.row(entry);
    old.replaceWith(row);
    this.rows.set(entry, row);
  }

  /**
   * On an empty log: the greeting and the suggested questions, `pick(button)` when one is clicked.
   * Gone with the first message (hideWelcome).
   */
  showWelcome(welcome, pick) {
    this.hideWelcome();
    const row = this.renderer.welcome(welcome, pick);
    if (!row) return;
    this.welcomeRow = row;
    this.log.appendChild(row);
    this.scrollToBottom();
  }

  hideWelcome() {
    if (this.welcomeRow) this.welcomeRow.remove();
    this.welcomeRow = null;
  }

  /** Removes the rows of `entries` (dropped from the transcript). */
  forget(entries) {
    for (const entry of entries) {
      const row = this.rows.get(entry);
      if (row) row.remove();
      this.rows.delete(entry);
    }
  }

  /** Shows the latest message, and keeps it in view until the customer scrolls up. */
  scrollToBottom() {
    if (!this.scroller) return;
    this.pinned = true;
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** Says `text` to screen readers. */
  announce(text) {
    this.announcer.textContent = "";
    setTimeout(() => (this.announcer.textContent = text), 50);
  }

  /** Whether the customer is in the question field. */
  typingInField() {
    return document.activeElement === this.input;
  }

  // ------------------------------------------------------------------ indicators

  /** "Assistant is typing" until hideTyping() or TYPING_TIMEOUT_MS; never while a person answers. */
  showTyping() {
    if (this.state.mode === "people") return;
    this.labelTyping(this.config.t.typing);
    this.typing.hidden = false;
    this.scrollToBottom();
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.hideTyping(), TYPING_TIMEOUT_MS);
  }

  /** "An agent is typing" for `ms` at most (told again while the agent writes); the agent's reply hides it. */
  showAgentTyping(ms) {
    if (!this.typing) return;
    this.labelTyping(this.config.t.agentTyping);
    this.typing.hidden = false;
    this.scrollToBottom();
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.hideTyping(), ms);
  }

  labelTyping(label) {
    this.typing.setAttribute("aria-label", label);
    this.typing.title = label;
  }

  hideTyping() {
    clearTimeout(this.typingTimer);
    this.typingTimer = null;
    if (this.typing) this.typing.hidden = true;
  }

  /** The status line: a key of the texts ("connecting", "reconnecting", "unavailable") or null for none. */
  setStatus(kind) {
    if (!this.status) return;
    if (kind) {
      this.status.textContent = this.config.t[kind];
      this.status.hidden = false;
      this.status.className = "fb-status fb-status-" + kind;
    } else {
      this.status.textContent = "";
      this.status.hidden = true;
    }
    this.updateControls();
  }

  /** Shows the chat or "leave a message", and "talk to a person" unless a person has the conversation. */
  updateControls() {
    if (!this.form) return;
    const { offline, mode } = this.state;
    this.panel.classList.toggle("fb-offline-mode", offline);
    this.panel.classList.toggle("fb-people", mode === "people");
    this.form.hidden = offline;
    this.footer.hidden = offline || mode === "people";
    this.offline.view.hidden = !offline;
  }

  updateBadge() {
    if (!this.badge) return;
    const { t } = this.config;
    const unread = this.state.unread;
    this.badge.hidden = unread === 0;
    this.badge.textContent = unread > 9 ? "9+" : String(unread);
    const label = unread ? t.launcher + " — " + t.unread(unread) : t.launcher;
    this.launcher.setAttribute("aria-label", label);
    this.launcher.title = label;
  }
}
