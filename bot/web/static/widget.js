/*!
 * faqbot website chat widget. One tag embeds it, on any site (no type="module" needed):
 *
 *   <script src="https://bot.example/static/widget.js" data-socket-url="https://bot.example:5005" defer></script>
 *
 * This file only starts it: it publishes window.FaqbotWidget at once, loads from vendor/ beside itself
 * the socket.io-client, marked (markdown) and DOMPurify (sanitising) unless the page already has them,
 * and, at the same time, the widget's native ES modules from widget/ (no build step; widget/main.js
 * describes them), which add widget.css. Options (window.faqbotConfig wins over data-* attributes):
 *   socketUrl / data-socket-url   Rasa's socket.io address (default: this page's origin)
 *   apiUrl / data-api-url         the web app's widget API (default: where widget.js comes from)
 *   lang / data-lang              en, ar or ru (default: the page's, then the browser's language)
 *   title / data-title            the panel's heading; per language: title: {en, ar, ru} or data-title-ar
 *   customer: {name, email, id}   the signed-in customer: the bot never asks for what it is given
 *   offlineAfter / data-offline-after  seconds without a connection before "leave a message" (default 10)
 *   data-css                      another stylesheet than widget.css beside this file, or "none"
 *
 * Test hooks: window.FaqbotWidget = {open(), close(), send(text), state()}. Calls made before the
 * widget is on the page wait for it; state() is null until its modules are loaded.
 */
(() => {
  "use strict";

  if (window.FaqbotWidget && window.FaqbotWidget.__faqbot) return; // loaded twice

  // Read synchronously: document.currentScript is null once loading finished (and in modules), and the
  // page's options are taken as they are when this tag runs.
  const SCRIPT = document.currentScript;
  const PAGE_CONFIG = window.faqbotConfig;

  let state = null; // the widget's state() once its modules run
  let api = null; // {open(), close(), send(text)} once the widget is on the page
  const pending = []; // calls made before that

  function whenReady(fn) {
    if (api) fn();
    else pending.push(fn);
  }

  // widget/main.js calls this when it runs, with what its start() returned: {state(), ready}.
  function started(widget) {
    state = widget.state;
    widget.ready
      .then((ready) => {
        api = ready;
        while (pending.length) pending.shift()();
      })
      .catch((e) => window.console && console.error("[faqbot] the chat widget could not start:", (e && e.message) || e));
  }

  window.FaqbotWidget = {
    __faqbot: true,
    open: () => whenReady(() => api.open()),
    close: () => whenReady(() => api.close()),
    // Shows `text` as the customer's message and sends it (queued until the session is confirmed).
    send: (text) => whenReady(() => api.send(text)),
    state: () => (state ? state() : null),
  };

  const base = SCRIPT && SCRIPT.src ? SCRIPT.src : location.href;
  const head = document.head || document.documentElement;

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.async = false;
      script.onload = resolve;
      script.onerror = () => reject(new Error("cannot load " + src));
      head.appendChild(script);
    });
  }

  // The libraries the page does not have yet (classic scripts, as the page's own copies would be),
  // looked for once the body exists (a page may load its own after this tag); a library that fails
  // to load only costs its feature. They load while the modules do.
  function loadLibraries() {
    const given = (value) => (value === undefined || value === null ? "" : String(value).trim());
    const configured = PAGE_CONFIG && typeof PAGE_CONFIG === "object" ? PAGE_CONFIG.vendorUrl : null;
    const folder = given(configured) || given(SCRIPT && SCRIPT.dataset && SCRIPT.dataset.vendorUrl) || "vendor";
    const vendor = new URL(folder.replace(/\/?$/, "/"), base);
    const wanted = [];
    if (typeof window.io !== "function") wanted.push(loadScript(new URL("socket.io.min.js", vendor).href));
    if (!window.marked) wanted.push(loadScript(new URL("marked.umd.js", vendor).href));
    if (!window.DOMPurify) wanted.push(loadScript(new URL("purify.min.js", vendor).href));
    return Promise.all(wanted.map((p) => p.catch((e) => window.console && console.error("[faqbot]", e.message))));
  }

  const libraries = new Promise((resolve) => {
    const go = () =>
      Promise.resolve()
        .then(loadLibraries)
        .catch((e) => window.console && console.error("[faqbot]", (e && e.message) || e))
        .then(resolve);
    if (document.body) go();
    else document.addEventListener("DOMContentLoaded", go, { once: true });
  });

  // What widget/main.js needs: a module cannot see the <script> element that loaded widget.js.
  Object.defineProperty(window.FaqbotWidget, "__boot", {
    value: Object.freeze({ script: SCRIPT, pageConfig: PAGE_CONFIG, libraries, started }),
  });

  // Every module in widget/ (main.js imports the others), preloaded at once: otherwise the browser
  // finds them one import level at a time, a round trip per level on a slow network.
  const MODULES = ["config", "connection", "conversation", "main", "offline", "render", "state", "ui"];
  for (const name of MODULES) {
    const link = document.createElement("link");
    link.rel = "modulepreload";
    link.href = new URL("widget/" + name + ".js", base).href;
    head.appendChild(link);
  }

  // A module <script>, not import(): like the classic scripts above, it holds the page's load event
  // until the widget is there. Module scripts are fetched with CORS: the web app serves widget/ with
  // Access-Control-Allow-Origin.
  const main = document.createElement("script");
  main.type = "module";
  main.src = new URL("widget/main.js", base).href;
  main.onerror = () => window.console && console.error("[faqbot] cannot load " + main.src);
  head.appendChild(main);
})();
