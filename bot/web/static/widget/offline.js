/**
 * "Leave a message": the form the panel shows instead of the chat while the bot is unreachable.
 * It fills in what the page, the bot and the customer already gave (name, email, the questions queued
 * while offline), checks the email, and sends everything through the widget API, which opens a ticket
 * answered by email. Queued questions that went with the message are never sent again.
 */

import { nonEmpty } from "./config.js";
import { el } from "./render.js";

function field(name, labelText, attrs) {
  const id = "faqbot-offline-" + name;
  const wrap = el("div", { class: "fb-field" });
  wrap.appendChild(el("label", { for: id }, labelText));
  const control = el(name === "message" ? "textarea" : "input", Object.assign({ id, name, dir: "auto" }, attrs));
  wrap.appendChild(control);
  return wrap;
}

export class LeaveMessageForm {
  /** `api`: the WidgetApi; `onLeft(notice)` when a message was taken, with the text that confirms it. */
  constructor(config, state, api, onLeft) {
    this.config = config;
    this.state = state;
    this.api = api;
    this.onLeft = onLeft;
  }

  /** The form's section (hidden), to be placed in the panel. */
  build() {
    const { t, customer } = this.config;
    const view = el("section", {
      class: "fb-offline",
      "data-testid": "faqbot-offline",
      "aria-labelledby": "faqbot-offline-title",
      hidden: "",
    });
    view.appendChild(el("h3", { id: "faqbot-offline-title", class: "fb-offline-title" }, t.offlineTitle));
    const form = el("form", { class: "fb-offline-form", novalidate: "" });
    // The fields scroll; the send button stays in view below them (a short window, a phone's keyboard).
    const body = el("div", { class: "fb-offline-body" });
    body.appendChild(el("p", { class: "fb-offline-intro" }, t.offlineIntro));
    body.appendChild(field("name", t.name, { type: "text", autocomplete: "name", maxlength: "80" }));
    body.appendChild(field("email", t.email, { type: "email", autocomplete: "email", required: "", maxlength: "254" }));
    body.appendChild(field("message", t.message, { rows: "4", required: "", maxlength: "5000" }));
    const error = el("p", { class: "fb-offline-error", role: "alert", hidden: "" });
    body.appendChild(error);
    form.appendChild(body);
    const submit = el("button", { type: "submit", class: "fb-send fb-offline-submit" }, t.submit);
    form.appendChild(submit);
    const known = this.state.knownCustomer;
    form.elements.name.value = nonEmpty(customer.name) || known.name || "";
    form.elements.email.value = nonEmpty(customer.email) || known.email || "";
    form.addEventListener("input", (e) => {
      if (e.target.getAttribute("aria-invalid")) e.target.removeAttribute("aria-invalid");
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    view.appendChild(form);
    const another = el("button", { type: "button", class: "fb-human fb-another", hidden: "" }, t.another);
    another.addEventListener("click", () => {
      another.hidden = true;
      form.hidden = false;
      form.elements.message.focus();
    });
    view.appendChild(another);
    Object.assign(this, { view, form, error, submitBtn: submit, another });
    return view;
  }

  emailField() {
    return this.form.elements.email;
  }

  /**
   * Fills in what is known and not typed yet: the name and email the page gave or the bot learned
   * (the handoff form), and the queued questions in the message box (once).
   */
  prefill() {
    const { elements } = this.form;
    const known = this.state.knownCustomer;
    const { customer } = this.config;
    if (!elements.name.value.trim()) elements.name.value = nonEmpty(customer.name) || known.name || "";
    if (!elements.email.value.trim()) elements.email.value = nonEmpty(customer.email) || known.email || "";
    const box = elements.message;
    const queued = this.state.outbox.map((m) => m.display).join("\n");
    if (queued && !box.value.includes(queued)) box.value = box.value ? box.value + "\n" + queued : queued;
  }

  /** Puts the focus in the first empty field (the message when none is). */
  focusFirstEmpty() {
    const elements = this.form.elements;
    const empty = ["name", "email", "message"].find((n) => !elements[n].value.trim());
    elements[empty || "message"].focus();
  }

  /** The bot is back: the form is ready for the next time. */
  reset() {
    this.form.hidden = false;
    this.another.hidden = true;
  }

  submit() {
    const { t, lang, customer } = this.config;
    const elements = this.form.elements;
    const email = elements.email.value.trim();
    const message = elements.message.value.trim();
    let problem = null;
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/.test(email)) problem = ["email", t.badEmail];
    else if (!message) problem = ["message", t.emptyMessage];
    if (problem) {
      this.showError(problem[1], elements[problem[0]]);
      return;
    }
    this.error.hidden = true;
    this.submitBtn.disabled = true;
    this.submitBtn.textContent = t.sending;
    const included = this.state.outbox.length;
    this.api
      .leaveMessage({
        name: elements.name.value.trim(),
        email,
        message,
        language: lang,
        conversation_id: this.state.sessionId,
        customer_id: nonEmpty(customer.id),
        page_url: location.href,
        transcript: this.state.transcript
          .filter((e) => e.from === "user" || e.from === "bot")
          .map((e) => ({ from: e.from, text: e.text })),
      })
      .then((result) => {
        if (!result.ok) {
          const bad = result.data && result.data.fields ? Object.keys(result.data.fields)[0] : null;
          const text = bad === "email" ? t.badEmail : bad === "name" ? t.badName : t.leaveFailed;
          this.showError(text, bad ? elements[bad] : null);
          return;
        }
        this.state.takeQueued(included); // they went with the message: never sent twice
        elements.message.value = "";
        this.onLeft(t.left(result.data.ticket_number, result.data.email || email));
        this.form.hidden = true;
        this.another.hidden = false;
        this.another.focus();
      })
      .catch(() => this.showError(t.leaveFailed, null))
      .finally(() => {
        this.submitBtn.disabled = false;
        this.submitBtn.textContent = t.submit;
      });
  }

  showError(text, control) {
    this.error.textContent = text;
    this.error.hidden = false;
    if (control) {
      control.setAttribute("aria-invalid", "true");
      control.focus();
    }
  }
}
