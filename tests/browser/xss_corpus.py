"""XSS payloads for tests/browser/test_xss.py, each one observable when it runs.

Taken from OWASP's XSS Filter Evasion Cheat Sheet
(https://cheatsheetseries.owasp.org/cheatsheets/XSS_Filter_Evasion_Cheat_Sheet.html),
the published DOMPurify bypasses and mutation-XSS classics (mglyph/malignmark,
noscript, namespace confusion), markdown link and image tricks, breakouts from
attributes, ``<script>``, ``<textarea>`` and ``<title>``, template injection and
Unicode tricks.

Every payload that would run says so: it calls ``alert``/``confirm``/``prompt``
with its own id, sets ``window.__xss`` or ``document.title``, or makes the
browser fetch a URL containing ``zqprobe``. Payloads that need a click or a
hover (``javascript:`` links, ``onmouseover``) are caught by the test's DOM
audit instead: no ``on*`` attribute, no script URL and no active element
(iframe, object, base, meta...) may appear in a rendered page.

An id is ``zq`` and three digits (``ZQ`` in a payload below is replaced by
it): never a word of a FAQ, and letters before the digits, so the redaction
of phone numbers leaves it alone.
"""

from __future__ import annotations

from dataclasses import dataclass

#: In every URL a payload makes the browser fetch: the test fails on any request containing it.
PROBE = "zqprobe"

OWASP = "OWASP XSS Filter Evasion Cheat Sheet"
EVENTS = "HTML5 event handlers (PortSwigger XSS cheat sheet)"
SVG = "SVG and MathML"
MXSS = "mutation XSS, published DOMPurify bypasses"
BREAK = "breakout from an attribute, script, textarea, title or string"
MARKDOWN = "markdown links and images"
TEMPLATE = "template injection"
UNICODE = "Unicode tricks"

_RAW: tuple[tuple[str, str], ...] = (
    # --- OWASP: script tags, image and other URLs, entity and whitespace tricks
    (OWASP, "<script>alert('ZQ')</script>"),
    (OWASP, "<SCRIPT SRC=//127.0.0.1:9/zqprobe.js?ZQ></SCRIPT>"),
    (OWASP, "<IMG SRC=\"javascript:alert('ZQ');\">"),
    (OWASP, "<IMG SRC=JaVaScRiPt:alert('ZQ')>"),
    (OWASP, '<IMG SRC=`javascript:alert("ZQ")`>'),
    (OWASP, "<a onmouseover=\"alert('ZQ')\">ZQ hover me</a>"),
    (OWASP, '<IMG """><SCRIPT>alert(\'ZQ\')</SCRIPT>">'),
    (OWASP, "<IMG SRC=javascript:alert(String.fromCharCode(88,83,83))> ZQ"),
    (OWASP, "<IMG SRC=# onmouseover=\"alert('ZQ')\">"),
    (OWASP, "<img src=zqprobe onerror=alert('ZQ')>"),
    (
        OWASP,
        '<img src=zqprobe onerror="&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000039'
        '&#0000088&#0000083&#0000083&#0000039&#0000041"> ZQ',
    ),
    (
        OWASP,
        "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;"
        "&#40;&#39;&#88;&#83;&#83;&#39;&#41;> ZQ",
    ),
    (
        OWASP,
        "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x27"
        "&#x58&#x53&#x53&#x27&#x29> ZQ",
    ),
    (OWASP, "<IMG SRC=\"jav\tascript:alert('ZQ');\">"),
    (OWASP, "<IMG SRC=\"jav&#x09;ascript:alert('ZQ');\">"),
    (OWASP, "<IMG SRC=\"jav&#x0A;ascript:alert('ZQ');\">"),
    (OWASP, "<IMG SRC=\" &#14;  javascript:alert('ZQ');\">"),
    (OWASP, '<SCRIPT/XSS SRC="//127.0.0.1:9/zqprobe.js?ZQ"></SCRIPT>'),
    (OWASP, "<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert('ZQ')>"),
    (OWASP, "<<SCRIPT>alert('ZQ');//\\<</SCRIPT>"),
    (OWASP, "<SCRIPT SRC=//127.0.0.1:9/zqprobe.js?ZQ< B >"),
    (OWASP, "<IMG SRC=\"`<javascript:alert>`('ZQ')\""),
    (OWASP, "</TITLE><SCRIPT>alert('ZQ');</SCRIPT>"),
    (OWASP, '<INPUT TYPE="IMAGE" SRC="javascript:alert(\'ZQ\');">'),
    (OWASP, "<BODY BACKGROUND=\"javascript:alert('ZQ')\">"),
    (OWASP, "<IMG DYNSRC=\"javascript:alert('ZQ')\"><IMG LOWSRC=\"javascript:alert('ZQ')\">"),
    (OWASP, "<STYLE>li {list-style-image: url(\"javascript:alert('ZQ')\");}</STYLE><UL><LI>ZQ</br>"),
    (OWASP, "<svg/onload=alert('ZQ')>"),
    (OWASP, "<BODY ONLOAD=alert('ZQ')>"),
    (OWASP, "<BGSOUND SRC=\"javascript:alert('ZQ');\">"),
    (OWASP, '<LINK REL="stylesheet" HREF="javascript:alert(\'ZQ\');">'),
    (OWASP, "<STYLE>@import'//127.0.0.1:9/zqprobe.css?ZQ';</STYLE>"),
    (OWASP, "<IMG STYLE=\"xss:expr/*XSS*/ession(alert('ZQ'))\">"),
    (OWASP, "<STYLE>.XSS{background-image:url(\"javascript:alert('ZQ')\");}</STYLE><A CLASS=XSS></A>"),
    (OWASP, '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(\'ZQ\');">'),
    (OWASP, "<IFRAME SRC=\"javascript:alert('ZQ');\"></IFRAME>"),
    (OWASP, "<IFRAME SRC=# onmouseover=\"alert('ZQ')\"></IFRAME>"),
    (OWASP, "<TABLE BACKGROUND=\"javascript:alert('ZQ')\"><TD BACKGROUND=\"javascript:alert('ZQ')\">"),
    (OWASP, "<DIV STYLE=\"background-image: url(javascript:alert('ZQ'))\">"),
    (OWASP, "<DIV STYLE=\"width: expression(alert('ZQ'));\">"),
    (OWASP, "<BASE HREF=\"javascript:alert('ZQ');//\">"),
    (OWASP, '<OBJECT TYPE="text/x-scriptlet" DATA="//127.0.0.1:9/zqprobe.html?ZQ"></OBJECT>'),
    (OWASP, "<EMBED SRC=\"javascript:alert('ZQ')\">"),
    (OWASP, '<SCRIPT a=">" SRC="//127.0.0.1:9/zqprobe.js?ZQ"></SCRIPT>'),
    (OWASP, "<A HREF=\"javascript:document.location='//127.0.0.1:9/zqprobe?ZQ'\">ZQ link</A>"),
    (OWASP, "<a href=\"jav&#x09;ascript:alert('ZQ')\">ZQ link</a>"),
    (OWASP, "<a href=\"&#x6A;avascript:alert('ZQ')\">ZQ link</a>"),
    (OWASP, "<a href=\"vbscript:msgbox('ZQ')\">ZQ link</a>"),
    (OWASP, '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgnWFNTJyk8L3NjcmlwdD4=">ZQ link</a>'),
    (OWASP, "<a href=\"javascript&colon;alert('ZQ')\">ZQ link</a>"),
    (OWASP, "<a href=\" javascript:alert('ZQ')\">ZQ link</a>"),
    (OWASP, "<scr<script>ipt>alert('ZQ')</scr</script>ipt>"),
    (OWASP, "<img src=zqprobe onerror=alert`ZQ`>"),
    (OWASP, "<img src=x:alert(alt) onerror=eval(src) alt='ZQ'>"),
    # --- HTML5 event handlers that fire without a click
    (EVENTS, "<details open ontoggle=alert('ZQ')>ZQ</details>"),
    (EVENTS, "<input onfocus=alert('ZQ') autofocus>"),
    (EVENTS, "<video><source onerror=alert('ZQ')></video>"),
    (EVENTS, "<audio src=zqprobe onerror=alert('ZQ')>"),
    (EVENTS, "<body onpageshow=alert('ZQ')>"),
    (EVENTS, "<marquee onstart=alert('ZQ')>ZQ</marquee>"),
    (EVENTS, "<x contenteditable onfocus=alert('ZQ') autofocus>ZQ</x>"),
    (EVENTS, '<style>@keyframes zq{}</style><b style="animation-name:zq" onanimationstart="alert(\'ZQ\')">ZQ</b>'),
    (EVENTS, "<img src=zqprobe onerror=window.__xss='ZQ'>"),
    (EVENTS, "<img src=zqprobe onerror=\"document.title='XSS ZQ'\">"),
    (EVENTS, "<svg onload=\"top.__xss='ZQ'\">"),
    (EVENTS, "<iframe srcdoc=\"<script>parent.alert('ZQ')</script>\"></iframe>"),
    (EVENTS, "<iframe src=\"data:text/html,<script>parent.alert('ZQ')</script>\"></iframe>"),
    (EVENTS, "<object data=\"javascript:alert('ZQ')\"></object>"),
    (EVENTS, "<form action=javascript:alert('ZQ')><input type=submit value=ZQ></form>"),
    (EVENTS, "<button formaction=javascript:alert('ZQ')>ZQ</button>"),
    (EVENTS, '<a href="#" onclick="alert(\'ZQ\')">ZQ click</a>'),
    (EVENTS, "<img src=zqprobe onerror=confirm('ZQ')><img src=zqprobe onerror=prompt('ZQ')>"),
    # --- SVG and MathML
    (SVG, "<svg><animate onbegin=alert('ZQ') attributeName=x dur=1s>"),
    (SVG, "<svg><a><animate attributeName=href values=javascript:alert('ZQ') /><text x=20 y=20>ZQ</text></a></svg>"),
    (SVG, "<svg><set attributeName=onmouseover to=alert('ZQ') /></svg>"),
    (SVG, "<svg><script>alert('ZQ')</script></svg>"),
    (SVG, "<svg><style><img src=zqprobe onerror=alert('ZQ')></style></svg>"),
    # --- mutation XSS: published DOMPurify bypasses and namespace confusion
    (MXSS, "<math><mtext><table><mglyph><style><img src=zqprobe onerror=alert('ZQ')>"),
    (MXSS, "<form><math><mtext></form><form><mglyph><style></math><img src=zqprobe onerror=alert('ZQ')>"),
    (
        MXSS,
        "<math><mi><mglyph><svg><mtext><textarea><path id=\"</textarea><img onerror=alert('ZQ') src=zqprobe>\">"
        "</textarea></mtext></svg></mglyph></mi></math>",
    ),
    (MXSS, "<noscript><p title=\"</noscript><img src=zqprobe onerror=alert('ZQ')>\">"),
    (MXSS, "<svg></p><style><a id=\"</style><img src=zqprobe onerror=alert('ZQ')>\">"),
    (MXSS, "<xmp><p title=\"</xmp><img src=zqprobe onerror=alert('ZQ')>\">"),
    (MXSS, "<!--<img src=\"--><img src=zqprobe onerror=alert('ZQ')//\">"),
    (MXSS, "<math><mtext><table><mglyph><malignmark><style><img src=zqprobe onerror=alert('ZQ')>"),
    (MXSS, "<svg><p><style><img src=zqprobe onerror=alert('ZQ')></style></p></svg>"),
    # --- breakouts from the contexts our pages put text in
    (BREAK, "\"><script>alert('ZQ')</script>"),
    (BREAK, "'><img src=zqprobe onerror=alert('ZQ')>"),
    (BREAK, '" onmouseover="alert(\'ZQ\')" x="'),
    (BREAK, "' autofocus onfocus='alert(\"ZQ\")' x='"),
    (BREAK, "</script><script>alert('ZQ')</script>"),
    (BREAK, "</textarea><script>alert('ZQ')</script>"),
    (BREAK, "</title></style></noscript><script>alert('ZQ')</script>"),
    (BREAK, "--><script>alert('ZQ')</script>"),
    (BREAK, "]]><script>alert('ZQ')</script>"),
    (BREAK, "\";alert('ZQ');//"),
    (BREAK, "'-alert('ZQ')-'"),
    (BREAK, "</dd></dl></li></ol><img src=zqprobe onerror=alert('ZQ')>"),
    (
        BREAK,
        "javascript:/*--></title></style></textarea></script></xmp><svg/onload='+/\"/+/onmouseover=1/+/[*/[]/+"
        'alert("ZQ")//\'>',
    ),
    (BREAK, "&lt;img src=zqprobe onerror=alert('ZQ')&gt; %3Cscript%3Ealert('ZQ')%3C/script%3E"),
    # --- markdown: links and images with script URLs, entities, quote-breaking
    (MARKDOWN, "[ZQ click](javascript:alert('ZQ'))"),
    (MARKDOWN, "[ZQ click](JaVaScRiPt:alert('ZQ'))"),
    (MARKDOWN, "[ZQ click](javascript&#58;alert('ZQ'))"),
    (MARKDOWN, "[ZQ click](<javascript:alert('ZQ')>)"),
    (MARKDOWN, "[ZQ click](vbscript:alert('ZQ'))"),
    (MARKDOWN, "[ZQ click](data:text/html;base64,PHNjcmlwdD5hbGVydCgnWFNTJyk8L3NjcmlwdD4=)"),
    (MARKDOWN, "[ZQ click](https://larkspur.example\"onmouseover=\"alert('ZQ'))"),
    (MARKDOWN, "![ZQ](javascript:alert('ZQ'))"),
    # a markdown image may fetch its picture (the editor's preview shows it): the quote must not break out
    (MARKDOWN, "![ZQ](zqimage\"onerror=\"alert('ZQ'))"),
    (MARKDOWN, "<javascript:alert('ZQ')>"),
    (MARKDOWN, "[ZQ ref][zqref] and [zqref]: javascript:alert('ZQ')"),
    (MARKDOWN, "[ZQ click](\\u006Aavascript:alert('ZQ')) [ZQ](java%0Ascript:alert('ZQ'))"),
    (MARKDOWN, "[<img src=zqprobe onerror=alert('ZQ')>](https://larkspur.example)"),
    # --- template injection: shown as typed, never evaluated
    (TEMPLATE, "{{7*7}} ${7*7} #{7*7} <%= 7*7 %> {{constructor.constructor('alert(\"ZQ\")')()}}"),
    (TEMPLATE, "{{config}} {% print(7*7) %} {customer_name} {0.__class__} ${alert('ZQ')} `${alert('ZQ')}`"),
    # --- Unicode: direction overrides, zero-width, fullwidth and compatibility forms
    (UNICODE, "\u202egnp.exe\u202d ZQ <img src=zqprobe onerror=alert('ZQ')>"),
    (UNICODE, "<scr\u200dipt>alert('ZQ')</scr\u200dipt> <a href=\"java\u200bscript:alert('ZQ')\">ZQ</a>"),
    (UNICODE, "\uff1cimg src=zqprobe onerror=alert('ZQ')\uff1e \ufe64script\ufe65alert('ZQ')\ufe64/script\ufe65"),
    (UNICODE, "\u2028\u2029</script>\u2028<script>alert('ZQ')</script>"),
    (UNICODE, "<a href=\"\u0001javascript:alert('ZQ')\">ZQ</a> \u00bcscript\u00bealert('ZQ')\u00bc/script\u00be"),
)


@dataclass(frozen=True)
class Payload:
    """One payload: ``id`` (zq001...) appears in ``text`` wherever the payload would say it ran."""

    id: str
    text: str
    source: str


def _corpus() -> tuple[Payload, ...]:
    payloads = []
    for number, (source, raw) in enumerate(_RAW, start=1):
        pid = f"zq{number:03d}"
        assert "ZQ" in raw, raw
        payloads.append(Payload(pid, raw.replace("ZQ", pid), source))
    return tuple(payloads)


PAYLOADS: tuple[Payload, ...] = _corpus()


def chunks(payloads: tuple[Payload, ...] | list[Payload], limit: int, label: str) -> list[str]:
    """The payloads as messages of at most ``limit`` characters, one payload a line, each message
    opened by a line ``<label>-<n>`` that stays visible wherever the message is shown at all."""
    messages: list[str] = []
    current: list[str] = []
    for payload in payloads:
        head = f"{label}-{len(messages) + 1}"
        if current and len("\n".join([head, *current, payload.text])) > limit:
            messages.append("\n".join([head, *current]))
            current = []
        current.append(payload.text)
    if current:
        messages.append("\n".join([f"{label}-{len(messages) + 1}", *current]))
    return messages
