/**
 * The widget's two connections to the bot's servers.
 *
 * Connection: Rasa's socket.io channel. One socket per page, the session handshake (the session id in
 * localStorage names the conversation on every page and tab), sending the queued messages once the
 * session is confirmed, reconnecting (socket.io's own backoff, and after a server-side disconnect),
 * and deciding when the bot counts as unreachable (no session for config.offlineAfterMs).
 *
 * WidgetApi: the web app's widget API (bot/web/widget_api.py). The greeting and suggested questions,
 * thumbs on answers, the messages this browser missed, "leave a message". JSON over CORS without cookies; every call gives up after
 * API_TIMEOUT_MS.
 */

import { nonEmpty } from "./config.js";

function sessionIdFrom(data) {
  if (typeof data === "string" || typeof data === "number") return nonEmpty(data);
  if (data && typeof data === "object") return nonEmpty(data.session_id);
  return null;
}

export class Connection {
  /**
   * `events`: {status(kind) for the status line ("connecting", "reconnecting", "unavailable"),
   * unreachable() when the bot cannot be reached, confirmed(known) when a session is confirmed
   * (known: the one this browser had), message(msg) for each bot_uttered, typing({typing, seconds}) when
   * an agent starts or stops writing}.
   */
  constructor(config, state, events) {
    this.config = config;
    this.state = state;
    this.events = events;
    this.socket = null;
    this.offlineTimer = null;
  }

  /** Connects unless already connected or connecting. */
  ensure() {
    if (this.socket) return;
    if (typeof window.io !== "function") {
      if (window.console) console.error("[faqbot] socket.io client missing (vendor/socket.io.min.js)");
      this.events.unreachable();
      return;
    }
    const { state, events } = this;
    events.status("connecting");
    this.armOfflineTimer();
    const opts = { path: "/socket.io", transports: ["websocket", "polling"] };
    const socket = this.config.socketUrl ? window.io(this.config.socketUrl, opts) : window.io(opts);
    this.socket = socket;

    socket.on("connect", () => {
      state.ready = false;
      socket.emit("session_request", { session_id: state.sessionId || null });
    });
    socket.on("session_confirm", (data) => {
      const id = sessionIdFrom(data);
      if (!id) return;
      const known = state.setSession(id);
      state.ready = true;
      state.everConnected = true;
      clearTimeout(this.offlineTimer);
      this.offlineTimer = null;
      events.confirmed(known);
    });
    socket.on("bot_uttered", (msg) => events.message(msg));
    // An agent writing on the desk (channels/socketio.py): {typing, seconds}. Not a message.
    socket.on("faqbot_typing", (data) => events.typing && events.typing(data));
    socket.on("disconnect", (reason) => {
      state.ready = false;
      events.status(state.offline ? "unavailable" : "reconnecting");
      this.armOfflineTimer();
      // A server-side disconnect is not retried automatically by socket.io.
      if (reason === "io server disconnect") socket.connect();
    });
    socket.on("connect_error", () => {
      state.ready = false;
      if (!state.offline) events.status(state.everConnected ? "reconnecting" : "connecting");
      this.armOfflineTimer();
    });
  }

  /** Sends the queued messages if the session is confirmed (they stay queued otherwise). */
  flush() {
    // Never emit before session_confirm: with session_persistence the reply is sent
    // to the session's room, which this socket joins on session_request.
    const { socket, state } = this;
    if (!state.ready || !socket || !socket.connected) return;
    for (const queued of state.takeQueued()) {
      socket.emit("user_uttered", { message: queued.payload, session_id: state.sessionId, customData: this.customData() });
    }
  }

  /** What goes with each message: the page, the language, and the customer the page named. */
  customData() {
    const { customer, lang } = this.config;
    const data = { page_url: location.href, language: lang };
    const fields = { customer_name: customer.name, customer_email: customer.email, customer_id: customer.id };
    for (const k of Object.keys(fields)) {
      const v = nonEmpty(fields[k]);
      if (v) data[k] = v;
    }
    return data;
  }

  armOfflineTimer() {
    if (this.offlineTimer || this.state.offline) return;
    this.offlineTimer = setTimeout(() => {
      this.offlineTimer = null;
      if (!this.state.ready) this.events.unreachable();
    }, this.config.offlineAfterMs);
  }
}

// ---------------------------------------------------------------- the web app's widget API

const API_TIMEOUT_MS = 15000;

export class WidgetApi {
  /** `apiUrl`: the API's address without a trailing slash (e.g. https://bot.example/widget/api). */
  constructor(apiUrl) {
    this.apiUrl = apiUrl;
  }

  /** The greeting and suggested questions in `lang`: {greeting, suggestions: [{title, payload}]}. */
  welcome(lang) {
    return this.request("GET", "/welcome?lang=" + encodeURIComponent(lang));
  }

  /** The conversation's messages after the bot message of timestamp `after` (0: all of them). */
  history(conversationId, after) {
    return this.post("/history", { conversation_id: conversationId, after });
  }

  /** A thumb ("up" or "down") on the answer `answerId` of the conversation. */
  feedback(conversationId, answerId, value) {
    return this.post("/feedback", { conversation_id: conversationId, answer_id: answerId, value });
  }

  /** A message left while the bot is unreachable: {name, email, message, language, ...}. */
  leaveMessage(body) {
    return this.post("/messages", body);
  }

  /**
   * Resolves {ok, status, data} for any HTTP answer (data {} when it is not JSON); rejects, like a
   * network error, when the web app does not answer within API_TIMEOUT_MS.
   */
  post(path, body) {
    return this.request("POST", path, body);
  }

  request(method, path, body) {
    const abort = typeof AbortController === "function" ? new AbortController() : null;
    const timer = abort ? setTimeout(() => abort.abort(), API_TIMEOUT_MS) : null;
    return fetch(this.apiUrl + path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
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
}
