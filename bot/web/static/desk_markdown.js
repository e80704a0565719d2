/*
 * The desk shows what the bot and the agents said the way the customer's widget rendered it: the
 * widget's own renderer (widget/render.js: the vendored marked, sanitised by DOMPurify with the
 * widget's rules), never a second one that could drift. Every element with `data-markdown` is
 * rendered once; desk.js calls window.faqbotDeskMarkdown(node, text, typed) for messages that arrive later.
 * Without the libraries the text stays plain text.
 */
import { markdownRenderer } from "./widget/render.js";

const render = markdownRenderer();

/**
 * Shows `text` in `node` as the widget would (sanitised HTML), or as plain text when it cannot.
 * `typed`: what a person typed (an agent's reply, a canned reply) keeps its line breaks, as the widget
 * shows it; the bot's FAQ answers join wrapped lines (widget/render.js).
 */
function show(node, text, typed) {
  const html = render(text, Boolean(typed));
  if (html === null) {
    node.textContent = text;
    return;
  }
  node.innerHTML = html; // sanitised by the widget's DOMPurify configuration
  node.classList.add("md");
  node.dataset.rendered = "";
}

window.faqbotDeskMarkdown = show;
// data-markdown="typed" on what a person wrote; data-markdown (empty) on the bot's answers.
for (const node of document.querySelectorAll("[data-markdown]:not([data-rendered])")) {
  show(node, node.textContent, node.dataset.markdown === "typed");
}
document.dispatchEvent(new Event("faqbot-markdown-ready"));
