/**
 * The conversation's flows, from the customer's side: sending a question (shown at once, queued until
 * it can go), taking the bot's messages (from the socket, or read back after a reconnect), quick
 * replies, thumbs on answers (retried until stored), who owns the conversation (the bot or people),
 * and going offline and back. It decides; the panel (ui.js), the connection and the leave-a-message
 * form carry it out.
 */

import { nonEmpty } from "./config.js";
import { markChosen, markVote, safeImageUrl } from "./render.js";

/** What "talk to a person" sends to Rasa. */
export const HUMAN_PAYLOAD = "/request_human";
/** The payload of the bot's "Back to the bot" buttons (domain.yml): no longer offered once the handoff ended. */
export const CANCEL_HANDOFF_PAYLOAD = "/cancel_handoff";

/**
 * faqbot's context of a bot message: `metadata.faqbot` (where third-party Rasa widgets look past it), or
 * the top-level `faqbot` of the widget's earlier versions (a Rasa not yet updated, during an upgrade).
 */
export function contextOf(msg) {
  const metadata = msg.metadata && typeof msg.metadata === "object" ? msg.metadata : {};
  if (metadata.faqbot && typeof metadata.faqbot === "object") return metadata.faqbot;
  return msg.faqbot && typeof msg.faqbot === "object" ? msg.faqbot : {};
}
/** How long a vote that could not be stored waits before it is sent again. */
const VOTE_RETRY_MS = 30000;

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

export class Conversation {
  /** `parts`: {panel (ui.js Panel), form (offline.js LeaveMessageForm), connection (connection.js)}. */
  constructor(config, state, api, { panel, form, connection }) {
    this.config = config;
    this.state = state;
    this.api = api;
    this.panel = panel;
    this.form = form;
    this.connection = connection;
    this.voteTimer = null;
    this.welcome = null; // {greeting, suggestions} from the widget API, once asked
    this.welcomeAsked = null; // the promise of that request (one per page)
  }

  /** Shows `entry` at the end of the conversation and keeps it. */
  add(entry) {
    this.panel.hideWelcome();
    const dropped = this.state.addEntry(entry);
    this.panel.show(entry);
    this.panel.forget(dropped);
    this.panel.scrollToBottom();
  }

  // ------------------------------------------------------------------ the customer

  /**
   * Sends `payload` to Rasa and shows `display` (default: the payload) as the customer's message.
   * Sent at once when connected, otherwise queued (kept across reloads) until the session is confirmed.
   */
  send(payload, display) {
    const message = nonEmpty(payload);
    if (!message) return false;
    const shown = display !== undefined ? String(display) : message;
    // The greeting the customer saw on the empty panel stays above their first message.
    if (!this.state.transcript.length && this.welcome && this.welcome.greeting) {
      this.add({ from: "greeting", text: this.welcome.greeting });
    }
    this.add({ from: "user", text: shown });
    this.state.queue(message, shown);
    if (this.state.offline) this.form.prefill();
    this.panel.showTyping();
    this.connection.ensure();
    this.connection.flush();
    return true;
  }

  askForPerson() {
    return this.send(HUMAN_PAYLOAD, this.config.t.human);
  }

  /**
   * The panel opened: on an empty conversation, the greeting and the suggested questions (the widget
   * API's /welcome, asked once per page; nothing is shown when it cannot be reached).
   */
  opened() {
    if (this.state.transcript.length || this.state.offline) return;
    if (!this.welcomeAsked) {
      this.welcomeAsked = this.api
        .welcome(this.config.lang)
        .then((result) => {
          const data = result.ok && result.data && typeof result.data === "object" ? result.data : {};
          this.welcome = {
            greeting: nonEmpty(data.greeting),
            suggestions: normalizeButtons(data.suggestions),
          };
        })
        .catch(() => {
          this.welcome = null;
        });
    }
    this.welcomeAsked.then(() => {
      if (this.welcome && !this.state.transcript.length && !this.state.offline) {
        this.panel.showWelcome(this.welcome, (button) => this.send(button.payload, button.title));
      }
    });
  }

  /** A quick reply `button` of `entry` was clicked (`btn` in `group`): it can be used once. */
  choose(entry, group, btn, button) {
    if (entry.used) return;
    entry.used = true;
    entry.chosen = button.payload;
    markChosen(group, btn);
    this.state.saveTranscript();
    this.send(button.payload, button.title);
  }

  // ------------------------------------------------------------------ the bot

  /** A bot_uttered message (or one read back from the history). */
  received(msg) {
    if (typeof msg === "string") msg = { text: msg };
    if (!msg || typeof msg !== "object") return;
    const text = typeof msg.text === "string" ? msg.text : "";
    const buttons = normalizeButtons(msg.quick_replies).concat(normalizeButtons(msg.buttons));
    const context = contextOf(msg);
    let image = null;
    let imageAlt = "";
    const att = msg.attachment;
    if (att && typeof att === "object" && att.type === "image" && att.payload) {
      image = safeImageUrl(att.payload.src);
      imageAlt = typeof att.payload.alt === "string" ? att.payload.alt : "";
    } else if (typeof msg.image === "string") {
      image = safeImageUrl(msg.image);
    }
    this.state.learnCustomer(nonEmpty(context.customer_name), nonEmpty(context.customer_email));
    if (context.handoff_state) this.setMode(context.handoff_state === "bot" ? "bot" : "people");
    if (!text.trim() && !buttons.length && !image) return; // custom payloads we can't show
    this.panel.hideTyping();
    const entry = { from: "bot", text };
    if (context.handoff_state === "with_agent") entry.byPerson = true; // an agent's reply: its lines as typed
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
      if (this.state.shownTimestamps().has(ts)) return; // already shown (history and socket crossed)
      entry.ts = ts;
    }
    this.add(entry);
    if (!this.state.isOpen) {
      this.state.setUnread(this.state.unread + 1);
      this.panel.updateBadge();
    }
  }

  /** An agent started (`typing`) or stopped writing; shown for `seconds` at most unless told again. */
  agentTyping(data) {
    if (!data || typeof data !== "object") return;
    const seconds = Number(data.seconds);
    if (data.typing === true && seconds > 0) this.panel.showAgentTyping(seconds * 1000);
    else this.panel.hideTyping();
  }

  /**
   * "people" while a person owns the conversation (no typing indicator, no "talk to a person"), else
   * "bot". Back with the bot (the ticket resolved or cancelled), the handoff's "Back to the bot" buttons
   * still in the log are no longer offered.
   */
  setMode(mode) {
    this.state.setMode(mode);
    if (mode === "people") this.panel.hideTyping();
    else this.retireHandoffButtons();
    this.panel.updateControls();
  }

  retireHandoffButtons() {
    let changed = false;
    for (const entry of this.state.transcript) {
      if (entry.used || !entry.buttons || !entry.buttons.some((b) => b.payload === CANCEL_HANDOFF_PAYLOAD)) continue;
      entry.used = true;
      entry.retired = true; // shown without its buttons (render.js)
      this.panel.redraw(entry);
      changed = true;
    }
    if (changed) this.state.saveTranscript();
  }

  // What the socket could not deliver: messages sent while this browser was disconnected (network,
  // or between two pages), or, in a new tab of the same session, the whole conversation so far.
  catchUp() {
    const { state } = this;
    if (!state.sessionId) return;
    const shown = state.transcript.filter((e) => e.from === "user" || e.from === "bot");
    // after 0: everything (an empty view); otherwise only the bot's messages after the last one shown
    const after = shown.length ? Math.max(0, ...shown.map((e) => e.ts || 0)) || 1e-6 : 0;
    this.api
      .history(state.sessionId, after)
      .then((result) => {
        if (!result.ok || !result.data || !Array.isArray(result.data.messages)) return;
        for (const m of result.data.messages) {
          if (!m || typeof m !== "object") continue;
          if (m.from === "user" && after === 0 && typeof m.text === "string") this.add({ from: "user", text: m.text });
          else if (m.from === "bot") this.received(m);
        }
      })
      .catch(() => {
        /* the web app is unreachable too: what is shown stays */
      });
  }

  // ------------------------------------------------------------------ votes

  /** The customer pressed thumb `value` ("up" or "down") under the answer `entry` (in `group`). */
  vote(entry, value, group) {
    entry.vote = value;
    entry.voteSent = false;
    markVote(group, value);
    this.state.saveTranscript();
    const t = this.config.t;
    this.sendVote(entry).then((sent) => this.panel.announce(sent ? t.voteThanks : t.voteLater));
  }

  // Resolves true when stored, false when it must be retried later (offline, bot unreachable).
  sendVote(entry) {
    const { state } = this;
    if (!state.sessionId || !entry.answer) return Promise.resolve(false);
    return this.api
      .feedback(state.sessionId, entry.answer.id, entry.vote)
      .then((result) => {
        const retry = !result.ok && (result.status >= 500 || result.status === 429);
        entry.voteSent = !retry; // a 4xx other than 429 will never succeed: drop it
        state.saveTranscript();
        if (retry) this.scheduleVoteRetry();
        return result.ok;
      })
      .catch(() => {
        this.scheduleVoteRetry();
        return false;
      });
  }

  scheduleVoteRetry() {
    if (this.voteTimer) return;
    this.voteTimer = setTimeout(() => {
      this.voteTimer = null;
      this.retryVotes();
    }, VOTE_RETRY_MS);
  }

  retryVotes() {
    for (const entry of this.state.transcript) {
      if (entry.answer && entry.vote && !entry.voteSent) this.sendVote(entry);
    }
  }

  // ------------------------------------------------------------------ online, offline

  /** A session is confirmed (`known`: the one this browser had): back to the chat, catch up, send. */
  online(known) {
    const { state } = this;
    if (state.offline) {
      state.offline = false;
      this.form.reset();
      this.panel.announce(this.config.t.back);
    }
    this.panel.setStatus(null);
    if (known) this.catchUp();
    this.connection.flush();
    this.retryVotes();
  }

  /** The bot cannot be reached: "leave a message" instead of the chat, with the queued questions in it. */
  goOffline() {
    const { state } = this;
    if (state.offline) return;
    const typing = this.panel.typingInField();
    state.offline = true;
    this.panel.hideTyping();
    this.panel.setStatus("unavailable");
    this.form.prefill();
    if (typing) this.form.focusFirstEmpty();
  }

  /** A message was left (`notice` confirms it). */
  left(notice) {
    this.panel.hideTyping();
    this.add({ from: "notice", text: notice });
  }
}
