/**
 * The widget's entry module, started by widget.js (which loads the vendored libraries meanwhile):
 * reads the options, builds the parts (one concern each) and wires them together:
 *
 *   config.js        the options and the widget's own texts
 *   state.js         the widget's state, one object, and what of it the browser keeps (storage)
 *   connection.js    socket.io (session, queued messages, reconnecting, "unreachable") and the web
 *                    app's widget API (greeting and suggestions, history, thumbs, leave a message)
 *   conversation.js  what happens when the customer or the bot says something
 *   ui.js            launcher, panel, log, typing indicator, status; offline.js: leave a message
 *   render.js        a message as DOM: markdown through marked and DOMPurify, buttons, thumbs
 */

import { readConfig } from "./config.js";
import { Connection, WidgetApi } from "./connection.js";
import { Conversation } from "./conversation.js";
import { LeaveMessageForm } from "./offline.js";
import { MessageRenderer } from "./render.js";
import { WidgetState } from "./state.js";
import { Panel } from "./ui.js";

// Puts the widget on the page (the libraries are loaded) and returns what window.FaqbotWidget calls.
function build(config, state) {
  const api = new WidgetApi(config.apiUrl);
  // The parts report events through these callbacks; the conversation, made last, handles them.
  let conversation = null;
  const renderer = new MessageRenderer(config.t, {
    onButton: (entry, group, btn, button) => conversation.choose(entry, group, btn, button),
    onVote: (entry, value, group) => conversation.vote(entry, value, group),
  });
  const form = new LeaveMessageForm(config, state, api, (notice) => conversation.left(notice));
  const connection = new Connection(config, state, {
    status: (kind) => panel.setStatus(kind),
    unreachable: () => conversation.goOffline(),
    confirmed: (known) => conversation.online(known),
    message: (msg) => conversation.received(msg),
    typing: (data) => conversation.agentTyping(data),
  });
  const panel = new Panel(config, state, renderer, form, {
    send: (text) => conversation.send(text),
    human: () => conversation.askForPerson(),
    opened: () => {
      connection.ensure();
      conversation.opened();
    },
  });
  conversation = new Conversation(config, state, api, { panel, form, connection });

  panel.build();
  for (const entry of state.transcript) panel.show(entry);
  if (state.wasOpen) panel.open({ focus: false });
  // An ongoing conversation stays connected while closed: agents' replies arrive (and badge) on any page.
  else if (state.sessionId && (state.transcript.length || state.mode === "people" || state.outbox.length)) {
    connection.ensure();
  }
  return {
    open: () => panel.open(),
    close: () => panel.close(),
    // Shows `text` as the customer's message and sends it (queued until the session is confirmed).
    send: (text) => {
      panel.open({ focus: false });
      conversation.send(text);
    },
  };
}

/**
 * Starts the widget loaded by `script` (widget.js's <script> element) with the page's `pageConfig`
 * (window.faqbotConfig), once `libraries` resolves (the body exists and the vendored libraries the page
 * lacked are loaded or failed). Returns {state(), ready}: state() reports the widget's state at once;
 * ready resolves with {open(), close(), send(text)} when the widget is on the page.
 */
export function start(script, pageConfig, libraries) {
  const config = readConfig(script, pageConfig);
  const state = new WidgetState();
  const ready = libraries.then(() => build(config, state));
  return { state: () => state.snapshot(), ready };
}

// widget.js inserted this module and left what it knows on window.FaqbotWidget.__boot.
const boot = window.FaqbotWidget && window.FaqbotWidget.__boot;
if (boot) boot.started(start(boot.script, boot.pageConfig, boot.libraries));
