/**
 * Rendering: a message of the transcript becomes a row of DOM nodes (bubble, quick-reply buttons,
 * thumbs). The bot's text is markdown, parsed by the vendored marked and sanitised by our own DOMPurify
 * instance (bot/web/static/vendor/); everything else is set as text, never as markup.
 */

/** A new element with `attrs` (null and undefined skipped) and, when given, `text` as its text. */
export function el(tag, attrs, text) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const k of Object.keys(attrs)) {
      if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
    }
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

/** `src` as an absolute http(s) URL, or null for anything else (javascript:, data:, garbage). */
export function safeImageUrl(src) {
  if (typeof src !== "string") return null;
  try {
    const u = new URL(src, location.href);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch (e) {
    return null;
  }
}

export const ICON_CHAT =
  '<svg class="fb-icon fb-icon-chat" viewBox="0 0 24 24" width="26" height="26" aria-hidden="true" focusable="false">' +
  '<path fill="currentColor" d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z"/></svg>';
export const ICON_CLOSE =
  '<svg class="fb-icon fb-icon-close" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">' +
  '<path fill="currentColor" d="M18.3 5.71 12 12.01l-6.3-6.3-1.41 1.41 6.3 6.3-6.3 6.3 1.41 1.41 6.3-6.3 6.3 6.3 1.41-1.41-6.3-6.3 6.3-6.3z"/></svg>';
const ICON_UP =
  '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false"><path fill="currentColor" d="M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.31l.95-4.57.03-.32a1.5 1.5 0 0 0-.44-1.06L13.17 1 6.59 7.59A2 2 0 0 0 6 9v10a2 2 0 0 0 2 2h9a2 2 0 0 0 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z"/></svg>';
const ICON_DOWN =
  '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false"><path fill="currentColor" d="M22 3h-4v12h4V3zM2 14a2 2 0 0 0 2 2h6.31l-.95 4.57-.03.32c0 .41.17.79.44 1.06L10.83 23l6.58-6.59A2 2 0 0 0 18 15V5a2 2 0 0 0-2-2H7a2 2 0 0 0-1.84 1.22l-3.02 7.05A2 2 0 0 0 2 12v2z"/></svg>';

// ---------------------------------------------------------------- markdown

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

/**
 * Bot text -> sanitised HTML, with the page's marked and DOMPurify as they are now (load them first);
 * the function (text, lineBreaks) returns null when they are missing or fail, and the text is then shown
 * as plain text. A newline inside a paragraph is a space, as in the editor's preview (FAQ answers are
 * wrapped at ~80 characters in knowledge_base/; blank lines and lists still make paragraphs and lists),
 * unless `lineBreaks`: what a person typed in the desk keeps the lines they typed.
 */
export function markdownRenderer() {
  let markdown = null; // {parse(text, lineBreaks) -> html}
  let purify = null; // our own DOMPurify instance (its hooks do not touch the page's)
  try {
    if (window.marked && typeof window.marked.Marked === "function") {
      const make = (breaks) => {
        const instance = new window.marked.Marked({ gfm: true, breaks, async: false });
        instance.use({ renderer: { html: literalHtml } });
        return instance;
      };
      const wrapped = make(false);
      const typed = make(true);
      markdown = { parse: (text, lineBreaks) => (lineBreaks ? typed : wrapped).parse(text) };
    } else if (window.marked && typeof window.marked.parse === "function") {
      // A page's own older marked: no renderer of ours, so no "<" reaches it as markup.
      markdown = {
        parse: (text, lineBreaks) => window.marked.parse(String(text).replace(/</g, "&lt;"), { breaks: !!lineBreaks }),
      };
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
  return (text, lineBreaks) => {
    if (!markdown || !purify || !purify.isSupported) return null;
    try {
      return purify.sanitize(markdown.parse(String(text), lineBreaks), PURIFY_CONFIG);
    } catch (e) {
      return null;
    }
  };
}

// ---------------------------------------------------------------- messages

/** Marks `chosen` as the quick reply taken in its `group`; the group's buttons cannot be used again. */
export function markChosen(group, chosen) {
  for (const other of group.querySelectorAll("button")) other.disabled = true;
  chosen.classList.add("fb-button-chosen");
}

/** Shows `value` ("up" or "down") as the thumb pressed in its `group`. */
export function markVote(group, value) {
  for (const btn of group.querySelectorAll("button")) {
    btn.setAttribute("aria-pressed", btn.dataset.testid === "faqbot-vote-" + value ? "true" : "false");
  }
}

/** Builds the rows of the log. Clicks on a row's buttons go to `onButton` and `onVote`. */
export class MessageRenderer {
  /**
   * `t`: the widget's texts; `onButton(entry, group, btn, button)` when a quick reply is clicked;
   * `onVote(entry, value, group)` when a thumb is. Create it after the libraries are loaded.
   */
  constructor(t, { onButton, onVote }) {
    this.t = t;
    this.onButton = onButton;
    this.onVote = onVote;
    this.markdown = markdownRenderer();
  }

  /** The row that shows transcript `entry`. */
  row(entry) {
    const row = el("div", { class: "fb-row fb-row-" + entry.from });
    if (entry.from === "notice") {
      row.appendChild(el("p", { class: "fb-notice", "data-testid": "faqbot-notice", dir: "auto" }, entry.text));
      return row;
    }
    if (entry.from === "greeting") {
      row.className = "fb-row fb-row-bot";
      row.appendChild(this.greeting(entry.text));
      return row;
    }
    if (entry.text || entry.image) {
      const bubble = el("div", {
        class: "fb-msg fb-msg-" + entry.from,
        "data-testid": "faqbot-msg-" + entry.from,
        dir: "auto",
      });
      const html = entry.from === "bot" ? this.markdown(entry.text, entry.byPerson) : null;
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
    if (entry.buttons && entry.buttons.length && !entry.retired) {
      const group = el("div", { class: "fb-buttons", role: "group" });
      for (const b of entry.buttons) {
        const btn = el("button", { type: "button", class: "fb-button", "data-testid": "faqbot-button", dir: "auto" }, b.title);
        if (entry.used) btn.disabled = true;
        if (entry.used && entry.chosen === b.payload) btn.classList.add("fb-button-chosen");
        btn.addEventListener("click", () => this.onButton(entry, group, btn, b));
        group.appendChild(btn);
      }
      row.appendChild(group);
    }
    if (entry.answer) row.appendChild(this.vote(entry));
    return row;
  }

  /**
   * The row shown on an empty log: `welcome.greeting` (markdown, as a bot message) and the suggested
   * questions `welcome.suggestions` ([{title, payload}]) as buttons, `pick(button)` on a click; null
   * when there is neither.
   */
  welcome(welcome, pick) {
    const suggestions = welcome.suggestions || [];
    if (!welcome.greeting && !suggestions.length) return null;
    const row = el("div", { class: "fb-row fb-row-bot fb-welcome", "data-testid": "faqbot-welcome" });
    if (welcome.greeting) row.appendChild(this.greeting(welcome.greeting));
    if (suggestions.length) {
      const group = el("div", { class: "fb-buttons fb-suggestions", role: "group", "aria-label": this.t.suggested });
      for (const s of suggestions) {
        const btn = el("button", { type: "button", class: "fb-button", "data-testid": "faqbot-suggestion", dir: "auto" }, s.title);
        btn.addEventListener("click", () => pick(s));
        group.appendChild(btn);
      }
      row.appendChild(group);
    }
    return row;
  }

  /** The bot's greeting (markdown) as a bot message bubble, apart from the bot's answers (its own test id). */
  greeting(text) {
    const bubble = el("div", { class: "fb-msg fb-msg-bot", "data-testid": "faqbot-greeting", dir: "auto" });
    const html = this.markdown(text);
    if (html !== null) bubble.innerHTML = html; // sanitised by DOMPurify (PURIFY_CONFIG)
    else bubble.textContent = text;
    return bubble;
  }

  vote(entry) {
    const t = this.t;
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
      btn.addEventListener("click", () => this.onVote(entry, value, group));
      group.appendChild(btn);
    }
    return group;
  }
}
