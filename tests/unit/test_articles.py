"""Help-center articles: splitting into passages, HTML to markdown, sitemaps, idempotent all-or-nothing import."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from bot.cli import main
from bot.kb.article_import import apply_articles, plan_articles, source_files
from bot.kb.articles import ArticleError, Limits, passages, read_article, split_sections
from bot.kb.loader import load_knowledge_base
from bot.kb.parser import parse_text
from bot.settings import PROJECT_ROOT

LANGS = ("en", "ar", "ru")
LIMITS = Limits(max_bytes=200_000, max_chars=400, min_chars=60)

MARKDOWN = """---
title: Caring for wood
url: https://shop.example/help/wood
---

# Ignored H1 (the front matter's title wins)

Wood is a natural material and it moves with the seasons, so treat it kindly every day of the year.

## Cleaning {#cleaning}

Dust it weekly with a **soft cloth** along the grain; see [our kit](https://shop.example/kit).

### Spills

Blot spills at once, never rub them in: water left standing marks the finish for good.

## Tiny

Short.

## Oiling

""" + "\n\n".join(f"Paragraph {n}: oil it thinly, wait fifteen minutes and wipe off the rest of it." for n in range(12))

HTML = """<!DOCTYPE html><html><head><title>Assembly | Shop help</title>
<link rel="canonical" href="https://shop.example/help/assembly">
<style>.x { color: red }</style><script>alert("tracking")</script></head>
<body><nav><a href="/">Home</a> Menu entries that are not the article</nav>
<header>Site header</header>
<main><h1>Assembling your furniture</h1>
<p>Most pieces come flat-packed with a picture guide, and assembly takes about an hour for most of them.</p>
<h2 id="tools">Tools you need</h2>
<p>Every box has the <b>Allen key</b>; see the <a href="/kit">tool kit</a> and
<a href="javascript:alert(1)">this trap</a>. Never use a power drill on the fittings.</p>
<ul><li>A <em>Phillips</em> screwdriver</li><li>A second person<ul><li>for beds</li></ul></li></ul>
<script>document.write("injected")</script>
<h2>Missing parts</h2><p>Report a missing part within 7 days in the returns portal with a photo of the box.</p>
</main><footer>Cookie settings</footer></body></html>
"""


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` by relative path, with a hash of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge_base"
    shutil.copytree(PROJECT_ROOT / "knowledge_base", root)
    for lang in LANGS:
        shutil.rmtree(root / lang / "articles", ignore_errors=True)
    return root


def test_markdown_is_split_under_its_headings_with_ids_from_anchors_and_headings(tmp_path: Path):
    article = read_article(write(tmp_path / "wood-care.md", MARKDOWN), "wood-care.md", LIMITS)
    assert (article.title, article.url, article.slug) == (
        "Caring for wood",
        "https://shop.example/help/wood",
        "wood-care",
    )
    pieces = passages(article, LIMITS)
    ids = [p.id for p in pieces]
    assert ids[:3] == ["wood-care-intro", "wood-care-cleaning", "wood-care-spills"]
    assert pieces[0].heading == "Caring for wood"  # the text before the first H2 is titled by the article
    assert "**soft cloth**" in pieces[1].text and "[our kit](https://shop.example/kit)" in pieces[1].text
    # "Tiny" is too short to answer alone: merged into the passage before it, under its heading in bold.
    assert "wood-care-tiny" not in ids and "**Tiny**\n\nShort." in pieces[2].text
    # The long section is cut at paragraph boundaries, each piece within the bound, nothing lost.
    oiling = [p for p in pieces if p.id.startswith("wood-care-oiling")]
    assert [p.id for p in oiling] == ["wood-care-oiling", "wood-care-oiling-part-2", "wood-care-oiling-part-3"]
    assert all(len(p.text) <= LIMITS.max_chars for p in oiling)
    assert all(p.heading == "Oiling" for p in oiling)
    joined = "\n\n".join(p.text for p in oiling)
    assert joined.count("Paragraph") == 12 and all(p.text.startswith("Paragraph") for p in oiling)


def test_one_very_long_paragraph_is_cut_at_sentence_ends(tmp_path: Path):
    body = " ".join(f"Sentence number {n} says something about wood." for n in range(60))
    article = read_article(
        write(tmp_path / "a.md", f"# Long\n\n## One\n\n{body}\n"), "a.md", LIMITS, "https://s.example"
    )
    pieces = passages(article, LIMITS)
    assert len(pieces) > 3 and all(len(p.text) <= LIMITS.max_chars for p in pieces)
    assert all(p.text.endswith("wood.") for p in pieces)
    assert " ".join(p.text for p in pieces) == body


def test_html_keeps_links_lists_and_bold_and_drops_scripts_styles_and_navigation(tmp_path: Path):
    article = read_article(write(tmp_path / "assembly.html", HTML), "assembly.html", LIMITS)
    assert article.title == "Assembling your furniture"  # the H1, not the <title> with the site's name
    assert article.url == "https://shop.example/help/assembly"
    text = "\n\n".join(f"{s.heading}\n{s.text}" for s in article.sections)
    for dropped in ("alert", "tracking", "injected", "Menu entries", "Site header", "Cookie settings", "color"):
        assert dropped not in text
    assert "**Allen key**" in text
    assert "[tool kit](https://shop.example/kit)" in text  # a relative link, resolved against the article's URL
    assert "javascript" not in text and "this trap" in text  # an unsafe link keeps only its text
    assert "- A *Phillips* screwdriver\n- A second person\n  - for beds" in text
    pieces = passages(article, LIMITS)
    assert [p.id for p in pieces] == ["assembly-intro", "assembly-tools", "assembly-missing-parts"]


def test_arabic_and_russian_articles_keep_their_text_and_get_stable_ids(tmp_path: Path):
    arabic = """---
title: العناية بالخشب
url: https://shop.example/ar/help/wood
---

## التنظيف اليومي

امسح الغبار عن أثاثك مرة في الأسبوع بقطعة قماش قطنية ناعمة وجافة، في اتجاه ألياف الخشب.

## التزييت {#oiling}

تحتاج قطع البلوط المزيتة إلى زيت جديد مرة أو مرتين في السنة، أو عندما يبدو السطح جافاً.
"""
    first = passages(read_article(write(tmp_path / "wood.md", arabic), "wood.md", LIMITS), LIMITS)
    again = passages(read_article(tmp_path / "wood.md", "wood.md", LIMITS), LIMITS)
    assert first == again
    assert first[0].heading == "التنظيف اليومي" and first[0].text.startswith("امسح الغبار")
    assert first[0].id.startswith("wood-s") and len(first[0].id) == len("wood-s") + 8  # a hash of the heading
    assert first[1].id == "wood-oiling"  # an explicit anchor
    russian = """<html><head><title>Уход</title><link rel="canonical" href="https://shop.example/ru/wood"></head>
<body><h1>Уход за деревом</h1><h2 id="cleaning">Ежедневный уход</h2>
<p>Раз в неделю протирайте мебель <strong>мягкой сухой тканью</strong> вдоль волокон, а пятна — тёплой водой.</p>
</body></html>"""
    pieces = passages(read_article(write(tmp_path / "wood.html", russian), "wood.html", LIMITS), LIMITS)
    assert [(p.id, p.heading) for p in pieces] == [("wood-cleaning", "Ежедневный уход")]
    assert "**мягкой сухой тканью**" in pieces[0].text


def test_import_writes_passage_files_that_load_and_a_second_run_changes_nothing(tmp_path: Path, kb: Path):
    source = tmp_path / "help"
    write(source / "wood-care.md", MARKDOWN)
    write(source / "assembly.html", HTML)
    plan = plan_articles([source], kb, "en", LANGS, LIMITS)
    assert plan.ok, plan.errors
    assert sorted(p.name for p in plan.files) == ["assembly.md", "wood-care.md"]
    assert plan.added and not plan.changed and not plan.removed
    apply_articles(plan)
    loaded = load_knowledge_base(kb, LANGS)
    assert loaded.errors == ()
    tools = loaded.get("assembly-tools", "en")
    assert tools is not None and tools.is_passage and tools.question == "Tools you need"
    assert (tools.article_title, tools.article_url) == (
        "Assembling your furniture",
        "https://shop.example/help/assembly",
    )
    assert tools.title == "Assembling your furniture — Tools you need"
    # Passages need not exist in every language: no missing-translation warning for them.
    assert not [w for w in loaded.warnings if "assembly" in w.message]
    before = snapshot(kb)
    again = plan_articles([source], kb, "en", LANGS, LIMITS)
    assert again.ok and again.files == {} and not (again.added or again.changed or again.removed)
    assert len(again.unchanged) == len(plan.added)
    apply_articles(again)
    assert snapshot(kb) == before  # byte for byte


def test_reimport_of_a_changed_article_reports_added_changed_and_removed(tmp_path: Path, kb: Path):
    source = tmp_path / "help"
    write(source / "assembly.html", HTML)
    apply_articles(plan_articles([source], kb, "en", LANGS, LIMITS))
    changed = HTML.replace("within 7 days", "within 14 days").replace(
        '<h2 id="tools">Tools you need</h2>',
        '<h2 id="wall">Wall anchors</h2>'
        "<p>Fix every tall piece to the wall with the anchoring kit that comes in its box.</p>",
    )
    changed = changed.replace("<p>Every box has", "<h2>Unused</h2><p>Every box has")
    write(source / "assembly.html", changed)
    plan = plan_articles([source], kb, "en", LANGS, LIMITS)
    assert plan.ok, plan.errors
    assert plan.changed == ["en:assembly-missing-parts"]
    assert "en:assembly-wall" in plan.added and "en:assembly-tools" in plan.removed
    assert plan.unchanged == ["en:assembly-intro"]
    apply_articles(plan)
    loaded = load_knowledge_base(kb, LANGS)
    assert "14 days" in loaded.get("assembly-missing-parts", "en").answer
    assert loaded.get("assembly-tools", "en") is None


def test_sitemap_and_text_lists_name_local_files_and_refuse_paths_outside_their_folder(tmp_path: Path):
    help_dir = tmp_path / "help"
    write(help_dir / "a.html", HTML)
    write(help_dir / "sub" / "b.md", MARKDOWN)
    write(tmp_path / "secret.md", MARKDOWN)
    sitemap = write(
        help_dir / "sitemap.xml",
        f"""<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>a.html</loc></url><url><loc>file://{help_dir}/sub/b.md</loc></url></urlset>""",
    )
    files, errors = source_files([sitemap])
    assert errors == [] and [f.relative for f in files] == ["a.html", "sub/b.md"]
    listing = write(help_dir / "list.txt", "# the articles\na.html\n\nsub/b.md\n")
    files, errors = source_files([listing])
    assert errors == [] and [f.relative for f in files] == ["a.html", "sub/b.md"]
    for bad in ("../secret.md", f"file://{tmp_path}/secret.md", "sub/../../secret.md", "https://evil.example/x.html"):
        traversal = write(help_dir / "bad.xml", f"<urlset><url><loc>{bad}</loc></url></urlset>")
        files, errors = source_files([traversal])
        assert files == [] and len(errors) == 1 and str(traversal) in errors[0], bad
        assert "outside the folder" in errors[0] or "not a local file" in errors[0]
    link = help_dir / "linked.md"
    link.symlink_to(tmp_path / "secret.md")
    files, errors = source_files([help_dir])
    assert "linked.md" not in [f.relative for f in files] and any("outside the source folder" in e for e in errors)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.md", None, "cannot read the file"),
        ("latin1.md", "# Caf\xe9\n\n## A\n\ntext".encode("latin-1"), "not UTF-8 text"),
        ("plain.html", "just some words, no markup at all", "not an HTML document"),
        ("empty.html", "<html><head><title>Empty</title></head><body><nav>menu</nav></body></html>", "is empty"),
        ("untitled.md", "## Section\n\nSome text without any title.", "has no title"),
        ("script.md", "---\ntitle: T\nurl: javascript:alert(1)\n---\n\n## A\n\ntext", "not an http:// or https://"),
        (
            "data.html",
            '<link rel="canonical" href="data:text/html,x"><h1>T</h1><p>text</p>',
            "not an http:// or https://",
        ),
        ("nourl.md", "# T\n\n## A\n\ntext", "has no URL"),
        ("huge.html", 50 * 1024 * 1024, "an article may have at most"),
    ],
)
def test_bad_articles_are_refused_naming_the_file_and_nothing_is_written(
    tmp_path: Path, kb: Path, name: str, content: str | bytes | int | None, message: str
):
    source = tmp_path / "help"
    write(source / "good.html", HTML)
    apply_articles(plan_articles([source], kb, "en", LANGS, LIMITS))
    write(source / "good.html", HTML.replace("7 days", "10 days"))  # a change that must not be written either
    if isinstance(content, int):
        with (source / name).open("wb") as handle:  # a sparse 50 MB file
            handle.truncate(content)
    elif content is not None:
        write(source / name, content)
    listing = write(source / "list.txt", f"good.html\n{name}\n")
    before = snapshot(kb)
    plan = plan_articles([listing], kb, "en", LANGS, LIMITS)
    assert not plan.ok and plan.files == {}
    assert len(plan.errors) == 1 and name in plan.errors[0] and message in plan.errors[0], plan.errors
    with pytest.raises(ValueError):
        apply_articles(plan)
    assert main(["kb", "import", str(listing), "--lang", "en", "--kb", str(kb)]) == 1
    assert snapshot(kb) == before


def test_base_url_gives_articles_without_one_their_address(tmp_path: Path, kb: Path):
    source = tmp_path / "help"
    write(source / "care" / "wood.md", "# Wood\n\n## Cleaning\n\nDust it weekly with a soft cloth along the grain.")
    plan = plan_articles([source], kb, "en", LANGS, LIMITS, base_url="https://shop.example/help")
    assert plan.ok, plan.errors
    text = next(iter(plan.files.values()))
    assert "url: https://shop.example/help/care/wood" in text
    with pytest.raises(ArticleError, match="not an http"):
        read_article(source / "care" / "wood.md", "wood.md", LIMITS, base_url="javascript:alert(1)//")


def test_the_cli_imports_a_folder_and_reports_what_changed(tmp_path: Path, kb: Path, capsys):
    source = write(tmp_path / "help" / "assembly.html", HTML).parent
    assert main(["kb", "import", str(source), "--lang", "ru", "--kb", str(kb), "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out and not (kb / "ru" / "articles").exists()
    assert main(["kb", "import", str(source), "--lang", "ru", "--kb", str(kb)]) == 0
    out = capsys.readouterr().out
    # With the settings' bounds (FAQBOT_PASSAGE_MIN_CHARS=120) the short intro and last section join "tools".
    assert "+ ru:assembly-tools" in out and "1 passages added" in out
    assert main(["kb", "import", str(source), "--lang", "ru", "--kb", str(kb)]) == 0
    assert "0 passages added, 0 changed, 0 removed, 1 unchanged; 0 files written" in capsys.readouterr().out
    assert main(["kb", "import", str(source), "--lang", "xx", "--kb", str(kb)]) == 1


def test_a_passage_id_used_by_an_faq_is_refused(tmp_path: Path, kb: Path):
    source = tmp_path / "help"
    write(source / "order.md", "---\ntitle: Orders\nurl: https://s.example/o\n---\n\n## Tracking {#tracking}\n\n"
          "Tracking links arrive by email once your parcel leaves the warehouse.")  # fmt: skip
    plan = plan_articles([source], kb, "en", LANGS, LIMITS)
    assert not plan.ok and len(plan.errors) == 1
    assert "order-tracking" in plan.errors[0] and "already used in knowledge_base/en/orders.md" in plan.errors[0]


def test_markdown_headings_below_h3_become_bold_and_h1_is_the_title(tmp_path: Path):
    h1, sections = split_sections("# Title\n\n## A\n\ntext one\n\n#### Deep\n\nmore\n")
    assert h1 == "Title" and sections[0].text == "text one\n\n**Deep**\n\nmore"


def test_demo_articles_import_to_the_committed_knowledge_base_files(tmp_path: Path, kb: Path):
    """The demo's help-center sources and knowledge_base/<lang>/articles/ agree: importing them again changes
    nothing (the files were made by the command, not by hand)."""
    examples = PROJECT_ROOT / "examples" / "help-center"
    sources = {"en": [examples / "en"], "ar": [examples / "ar"], "ru": [examples / "ru" / "sitemap.xml"]}
    demo = PROJECT_ROOT / "knowledge_base"
    limits = Limits()
    for lang, paths in sources.items():
        plan = plan_articles(paths, demo, lang, LANGS, limits)
        assert plan.ok and plan.files == {} and not (plan.added or plan.changed or plan.removed), (lang, plan)
        entries, problems = parse_text((demo / lang / "articles" / "assembly.md").read_text(), lang, "x")
        assert problems == [] and len(entries) >= 4 and all(e.is_passage for e in entries)
