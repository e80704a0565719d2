/**
 * The widget's state, all in one object, and what of it the browser keeps. Every other module reads
 * the state; each field is written by one module only (named beside it), and the fields the browser
 * keeps change only through the methods here, which save them. Timers and DOM nodes are not state:
 * they stay private to the module that owns them.
 *
 * What is kept between pages and reloads: localStorage is shared by every tab of the site (the session
 * id, who owns the conversation); sessionStorage is this tab's (what is shown, typed-but-unsent
 * messages, the unread count, whether the panel is open). Disabled storage (privacy mode, a sandboxed
 * iframe) or a full quota is not an error: the widget then keeps working in memory. The keys are the
 * ones every earlier widget.js used, so a conversation survives an update of the widget.
 */

import { nonEmpty } from "./config.js";

// ---------------------------------------------------------------- storage

const SESSION_KEY = "faqbot.session_id"; // localStorage: shared by every page/tab
const MODE_KEY = "faqbot.mode"; // localStorage: "people" while a person owns the conversation
const TRANSCRIPT_KEY = "faqbot.transcript"; // sessionStorage: survives reloads in this tab
const OPEN_KEY = "faqbot.open"; // sessionStorage: keep the panel open across pages
const UNREAD_KEY = "faqbot.unread"; // sessionStorage: unread bot messages while closed
const OUTBOX_KEY = "faqbot.outbox"; // sessionStorage: messages typed while offline
const CUSTOMER_KEY = "faqbot.customer"; // sessionStorage: {name, email} the bot learned (the handoff form)

/** The most messages kept (and shown); older ones are dropped. */
const MAX_MESSAGES = 100;

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
    (e.from === "user" || e.from === "bot" || e.from === "notice" || e.from === "greeting") &&
    typeof e.text === "string"
  );
}

/** Everything kept, as saved (anything malformed is dropped or replaced by its default). */
function loadSaved() {
  const transcript = loadJson("sessionStorage", TRANSCRIPT_KEY, []);
  const outbox = loadJson("sessionStorage", OUTBOX_KEY, []);
  const customer = loadJson("sessionStorage", CUSTOMER_KEY, {});
  return {
    transcript: Array.isArray(transcript) ? transcript.filter(isValidEntry).slice(-MAX_MESSAGES) : [],
    sessionId: nonEmpty(storageGet("localStorage", SESSION_KEY)),
    mode: storageGet("localStorage", MODE_KEY) === "people" ? "people" : "bot",
    unread: Math.max(0, Number(storageGet("sessionStorage", UNREAD_KEY)) || 0),
    outbox: Array.isArray(outbox) ? outbox : [], // {payload, display} waiting for a session
    open: storageGet("sessionStorage", OPEN_KEY) === "1",
    customer: {
      name: customer && typeof customer === "object" ? nonEmpty(customer.name) : null,
      email: customer && typeof customer === "object" ? nonEmpty(customer.email) : null,
    },
  };
}

/** Writers, one per kept value; an empty value removes its key. */
const save = {
  sessionId: (id) => storageSet("localStorage", SESSION_KEY, id),
  mode: (mode) => storageSet("localStorage", MODE_KEY, mode === "people" ? "people" : null),
  transcript: (entries) => storageSet("sessionStorage", TRANSCRIPT_KEY, JSON.stringify(entries)),
  unread: (count) => storageSet("sessionStorage", UNREAD_KEY, count ? String(count) : null),
  outbox: (messages) => storageSet("sessionStorage", OUTBOX_KEY, messages.length ? JSON.stringify(messages) : null),
  open: (isOpen) => storageSet("sessionStorage", OPEN_KEY, isOpen ? "1" : null),
  customer: (known) => storageSet("sessionStorage", CUSTOMER_KEY, known.name || known.email ? JSON.stringify(known) : null),
};

// ---------------------------------------------------------------- state

export class WidgetState {
  constructor() {
    const saved = loadSaved();
    /** Entries shown in the log, oldest first: {from: "user"|"bot"|"notice"|"greeting", text, ...}
     * (conversation.js; "greeting": the bot's greeting the customer saw on the empty panel). */
    this.transcript = saved.transcript;
    /** Rasa's session id, the conversation's name; null until the first session_confirm (connection.js). */
    this.sessionId = saved.sessionId;
    /** "bot", or "people" while a person owns the conversation (conversation.js). */
    this.mode = saved.mode;
    /** Messages typed and shown but not sent yet: {payload, display} (conversation.js queues, connection.js
     * sends, offline.js drops those that went with a left message). */
    this.outbox = saved.outbox;
    /** Bot messages that arrived while the panel was closed (conversation.js counts, ui.js clears). */
    this.unread = saved.unread;
    /** The customer's {name, email} as the bot learned them (conversation.js), for "leave a message". */
    this.knownCustomer = saved.customer;
    /** The panel was open on the previous page of this tab (read at start). */
    this.wasOpen = saved.open;
    /** The panel is open (ui.js). */
    this.isOpen = false;
    /** The socket is connected AND its session confirmed: messages may be sent (connection.js). */
    this.ready = false;
    /** A session was confirmed at least once since the page loaded (connection.js). */
    this.everConnected = false;
    /** The bot is unreachable: "leave a message" shows instead of the chat (conversation.js). */
    this.offline = false;
  }

  /** Appends `entry` to the transcript and saves it; returns the entries dropped to stay within MAX_MESSAGES. */
  addEntry(entry) {
    this.transcript.push(entry);
    let dropped = [];
    if (this.transcript.length > MAX_MESSAGES) {
      dropped = this.transcript.slice(0, this.transcript.length - MAX_MESSAGES);
      this.transcript = this.transcript.slice(-MAX_MESSAGES);
    }
    this.saveTranscript();
    return dropped;
  }

  /** Saves the transcript after one of its entries changed (a button used, a vote cast or sent). */
  saveTranscript() {
    save.transcript(this.transcript);
  }

  /** Timestamps of the bot messages shown (to show a message once when history and socket cross). */
  shownTimestamps() {
    return new Set(this.transcript.filter((e) => e.ts).map((e) => e.ts));
  }

  /** Sets the session id; returns whether it is the one this browser already had. */
  setSession(id) {
    const known = this.sessionId === id;
    this.sessionId = id;
    save.sessionId(id);
    return known;
  }

  setMode(mode) {
    this.mode = mode;
    save.mode(mode);
  }

  /** Keeps the name and email the bot says it has (null: unchanged). */
  learnCustomer(name, email) {
    const known = this.knownCustomer;
    if ((!name || name === known.name) && (!email || email === known.email)) return;
    this.knownCustomer = { name: name || known.name, email: email || known.email };
    save.customer(this.knownCustomer);
  }

  setUnread(count) {
    this.unread = count;
    save.unread(count);
  }

  setOpen(isOpen) {
    this.isOpen = isOpen;
    save.open(isOpen);
  }

  /** Queues a message until it can be sent (kept across reloads of this tab). */
  queue(payload, display) {
    this.outbox.push({ payload, display });
    save.outbox(this.outbox);
  }

  /** Removes the first `count` queued messages (all by default) and returns them. */
  takeQueued(count = this.outbox.length) {
    const taken = this.outbox.splice(0, count);
    save.outbox(this.outbox);
    return taken;
  }

  /** What window.FaqbotWidget.state() reports. */
  snapshot() {
    const { ready, offline, mode, unread, sessionId } = this;
    return { ready, offline, mode, unread, sessionId, queued: this.outbox.length };
  }
}
