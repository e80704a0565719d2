/*
 * The desk shows what the bot and the agents said the way the customer's widget rendered it: the
 * widget's own renderer (widget/render.js: the vendored marked, sanitised by DOMPurify with the
 * widget's rules), never a second one that could drift. Every element with `data-markdown` is
 * rendered once; desk.js calls window.faqbotDeskMarkdown(node, text) for messages that arrive later.
 * Without the libraries the text stays plain text.
 */
import { markdownRenderer } from "./widget/render.js";

const render = markdownRenderer();

/** Shows `text` in `node` as the widget would (sanitised HTML), or as plain text when it cannot. */
function show(node, text) {
  const html = render(text);
  if (html === null) {
    node.textContent = text;
    return;
  }
  node.innerHTML = html; // sanitised by the widget's DOMPurify configuration
  node.classList.add("md");
  node.dataset.rendered = "";
}

window.faqbotDeskMarkdown = show;
for (const node of document.querySelectorAll("[data-markdown]:not([data-rendered])")) show(node, node.textContent);
document.dispatchEvent(new Event("faqbot-markdown-ready"));
