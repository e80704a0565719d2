/**
 * The widget's options and its own texts. The options are read once at start: the page's
 * window.faqbotConfig wins over the script tag's data-* attributes (see widget.js for the list).
 * Nothing here changes after start, except that `customer` stays the page's own object, so a page
 * that fills it in later is heard on the next message.
 *
 * The texts (STRINGS, at the end) are the widget's own, in each language it speaks (en, ar, ru).
 * Everything else the customer reads comes from the bot (domain.yml, the greeting and suggested
 * questions included: the widget API's /welcome) or the page (data-title, faqbotConfig.title).
 */

/** `value` as a trimmed string, or null when it is missing or blank. */
export function nonEmpty(value) {
  if (value === undefined || value === null) return null;
  const s = String(value).trim();
  return s ? s : null;
}

function pickLang(pageConfig, dataAttr) {
  const candidates = [pageConfig.lang, dataAttr("lang"), document.documentElement.lang];
  if (navigator.languages) candidates.push(...navigator.languages);
  candidates.push(navigator.language);
  for (const c of candidates) {
    const primary = (nonEmpty(c) || "").toLowerCase().split(/[-_]/)[0];
    if (Object.prototype.hasOwnProperty.call(STRINGS, primary)) return primary;
  }
  return "en";
}

/**
 * The panel's heading in `lang`, as the page gives it: faqbotConfig.title as a string or as one per
 * language ({en: "Larkspur help", ar: "مساعدة Larkspur"}), or data-title-<lang> (data-title-ar), then
 * data-title; null when the page gives none for `lang` (the widget's own "Help" is shown).
 */
function titleFor(lang, page, dataAttr) {
  const given = page.title;
  if (given && typeof given === "object") return nonEmpty(given[lang]) || nonEmpty(given.default);
  return nonEmpty(given) || nonEmpty(dataAttr("title" + lang[0].toUpperCase() + lang.slice(1))) || nonEmpty(dataAttr("title"));
}

/**
 * The options of the widget loaded by `script` (the <script> element of widget.js, or null), with
 * `pageConfig` the page's window.faqbotConfig as it was when widget.js ran.
 */
export function readConfig(script, pageConfig) {
  const page = pageConfig && typeof pageConfig === "object" ? pageConfig : {};
  const dataAttr = (name) => (script && script.dataset ? script.dataset[name] : undefined);
  const option = (name) => nonEmpty(page[name]) || nonEmpty(dataAttr(name));
  const scriptUrl = script && script.src ? script.src : null;
  // A URL beside widget.js (or beside the page when the script has no address).
  const beside = (path) => {
    try {
      return new URL(path, scriptUrl || location.href).href;
    } catch (e) {
      return path;
    }
  };
  const lang = pickLang(page, dataAttr);
  const t = STRINGS[lang];
  return Object.freeze({
    lang,
    t, // the widget's texts in `lang`
    customer: page.customer && typeof page.customer === "object" ? page.customer : {},
    socketUrl: option("socketUrl"), // null: the page's origin
    apiUrl: (option("apiUrl") || beside("/widget/api")).replace(/\/+$/, ""),
    title: titleFor(lang, page, dataAttr) || t.title,
    offlineAfterMs: Math.max(1, Number(option("offlineAfter")) || 10) * 1000,
    // data-css: another stylesheet, or "none"; otherwise widget.css beside widget.js (null: none known)
    stylesheet: nonEmpty(dataAttr("css")) || (scriptUrl ? beside("widget.css") : null),
  });
}

// ---------------------------------------------------------------- texts

const STRINGS = {
  en: {
    title: "Help",
    launcher: "Chat with us",
    unread: (n) => (n === 1 ? "1 new message" : n + " new messages"),
    placeholder: "Type your question…",
    inputLabel: "Your question",
    send: "Send",
    close: "Close",
    connecting: "Connecting…",
    reconnecting: "Reconnecting…",
    unavailable: "Chat is unavailable right now.",
    human: "Talk to a person",
    typing: "Assistant is typing",
    agentTyping: "An agent is typing",
    log: "Conversation",
    suggested: "Suggested questions",
    helpful: "Helpful",
    notHelpful: "Not helpful",
    voteQuestion: "Was this helpful?",
    voteThanks: "Thanks for your feedback.",
    voteLater: "Thanks! Your feedback will be sent when the connection is back.",
    offlineTitle: "Leave us a message",
    offlineIntro: "The chat is unavailable right now. Leave a message and we will reply by email.",
    name: "Your name",
    email: "Your email",
    message: "Your message",
    submit: "Send message",
    sending: "Sending…",
    left: (ticket, email) => "Thank you. Your message is ticket " + ticket + ". We will reply to " + email + ".",
    leaveFailed: "Your message could not be sent. Please try again in a moment.",
    badEmail: "Please enter a valid email address.",
    badName: "Please type just your name, without links or symbols.",
    emptyMessage: "Please write your message.",
    another: "Send another message",
    back: "The chat is back.",
  },
  ar: {
    title: "المساعدة",
    launcher: "تحدث معنا",
    unread: (n) => (n === 1 ? "رسالة جديدة واحدة" : n + " رسائل جديدة"),
    placeholder: "اكتب سؤالك…",
    inputLabel: "سؤالك",
    send: "إرسال",
    close: "إغلاق",
    connecting: "جارٍ الاتصال…",
    reconnecting: "جارٍ إعادة الاتصال…",
    unavailable: "الدردشة غير متاحة حاليًا.",
    human: "التحدث إلى موظف",
    typing: "المساعد يكتب",
    agentTyping: "موظف الدعم يكتب",
    log: "المحادثة",
    suggested: "أسئلة مقترحة",
    helpful: "مفيد",
    notHelpful: "غير مفيد",
    voteQuestion: "هل كان هذا مفيدًا؟",
    voteThanks: "شكرًا على ملاحظاتك.",
    voteLater: "شكرًا! سنرسل ملاحظاتك عند عودة الاتصال.",
    offlineTitle: "اترك لنا رسالة",
    offlineIntro: "الدردشة غير متاحة حاليًا. اترك رسالة وسنرد عليك عبر البريد الإلكتروني.",
    name: "اسمك",
    email: "بريدك الإلكتروني",
    message: "رسالتك",
    submit: "إرسال الرسالة",
    sending: "جارٍ الإرسال…",
    left: (ticket, email) => "شكرًا لك. رقم تذكرتك " + ticket + ". سنرد على " + email + ".",
    leaveFailed: "تعذر إرسال رسالتك. يرجى المحاولة بعد قليل.",
    badEmail: "يرجى إدخال بريد إلكتروني صالح.",
    badName: "يرجى كتابة اسمك فقط، بدون روابط أو رموز.",
    emptyMessage: "يرجى كتابة رسالتك.",
    another: "إرسال رسالة أخرى",
    back: "عادت الدردشة.",
  },
  ru: {
    title: "Помощь",
    launcher: "Напишите нам",
    unread: (n) => "Новых сообщений: " + n,
    placeholder: "Введите ваш вопрос…",
    inputLabel: "Ваш вопрос",
    send: "Отправить",
    close: "Закрыть",
    connecting: "Подключение…",
    reconnecting: "Переподключение…",
    unavailable: "Чат сейчас недоступен.",
    human: "Связаться с оператором",
    typing: "Ассистент печатает",
    agentTyping: "Оператор печатает",
    log: "Переписка",
    suggested: "Частые вопросы",
    helpful: "Полезно",
    notHelpful: "Бесполезно",
    voteQuestion: "Ответ помог?",
    voteThanks: "Спасибо за отзыв.",
    voteLater: "Спасибо! Отзыв отправится, когда связь восстановится.",
    offlineTitle: "Оставьте сообщение",
    offlineIntro: "Чат сейчас недоступен. Оставьте сообщение, и мы ответим по электронной почте.",
    name: "Ваше имя",
    email: "Ваш email",
    message: "Ваше сообщение",
    submit: "Отправить сообщение",
    sending: "Отправка…",
    left: (ticket, email) => "Спасибо. Номер вашего обращения " + ticket + ". Мы ответим на " + email + ".",
    leaveFailed: "Не удалось отправить сообщение. Попробуйте ещё раз чуть позже.",
    badEmail: "Введите корректный адрес электронной почты.",
    badName: "Напишите только своё имя, без ссылок и символов.",
    emptyMessage: "Напишите ваше сообщение.",
    another: "Отправить ещё сообщение",
    back: "Чат снова доступен.",
  },
};
