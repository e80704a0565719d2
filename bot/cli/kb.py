"""``faqbot kb``: validate, build and search the knowledge base."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from bot.cli import kb_extra, kb_io, kb_live
from bot.cli.options import kb_services
from bot.editing.checks import NEAR_DUPLICATE_SIMILARITY
from bot.editing.validation import validate
from bot.kb.loader import load_knowledge_base
from bot.kb.models import KnowledgeBase
from bot.retrieval.index import build_index, is_stale
from bot.retrieval.progress import Counter
from bot.services import Services
from bot.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    kb = subparsers.add_parser("kb", help="validate, build and search the knowledge base")
    commands = kb.add_subparsers(dest="kb_command", required=True)

    validate = commands.add_parser("validate", help="check every FAQ file; exit 1 on errors")
    validate.add_argument("--json", action="store_true", help="print one JSON object")
    validate.add_argument(
        "--similarity",
        type=float,
        default=NEAR_DUPLICATE_SIMILARITY,
        help=f"cosine from which questions of different FAQs are near-duplicates (default {NEAR_DUPLICATE_SIMILARITY})",
    )
    validate.add_argument("--no-tests", action="store_true", help="skip the test questions of tests.yml")
    validate.set_defaults(func=cmd_validate)

    build = commands.add_parser("build", help="embed the FAQs and make the new index live")
    build.add_argument("--if-stale", action="store_true", help="do nothing when the index is up to date")
    build.set_defaults(func=cmd_build)

    search = commands.add_parser("search", help="rank FAQs for a question")
    search.add_argument("question")
    search.add_argument("--lang", help="language code (default: detected from the question)")
    search.add_argument("-k", type=int, default=5, help="how many FAQs to show")
    search.add_argument("--json", action="store_true", help="print one JSON object")
    search.set_defaults(func=cmd_search)

    io_commands = kb_io.add_parsers(commands)

    live_commands = kb_live.add_parsers(commands)
    kb_extra.add_parsers(commands)  # diff, unanswered (they take --kb themselves)
    for command in (validate, build, search, *io_commands, *live_commands):
        command.add_argument("--kb", type=Path, help="knowledge base folder (default: knowledge_base/)")


def _load(settings: Settings) -> KnowledgeBase:
    return load_knowledge_base(settings.kb_dir, settings.languages)


def cmd_validate(args: argparse.Namespace, services: Services) -> int:
    services = kb_services(args, services)
    settings = services.settings
    report = validate(settings, services.embedder, similarity=args.similarity, run_tests=not args.no_tests)
    kb = report.kb
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
        return 0 if report.ok else 1
    for problem in report.problems:
        print(problem, file=sys.stderr if problem.severity == "error" else sys.stdout)
    for note in report.notes:
        print(f"note: {note}")
    counts = ", ".join(f"{lang}: {n}" for lang, n in kb.counts().items()) or "none"
    found = ", ".join(f"{name} {n}" for name, n in report.counts().items() if n)
    passed = sum(o.passed for o in report.outcomes)
    tests = f"; test questions: {passed}/{len(report.outcomes)} passed" if report.outcomes else ""
    passages = sum(e.is_passage for e in kb.entries)
    of_which = f", of them {passages} help-center passages" if passages else ""
    print(
        f"{len(kb.entries)} FAQs loaded ({counts}{of_which}); {len(report.errors)} errors, "
        f"{len(report.warnings)} warnings" + (f" ({found})" if found else "") + tests
    )
    return 0 if report.ok else 1


def cmd_build(args: argparse.Namespace, services: Services) -> int:
    services = kb_services(args, services)
    settings = services.settings
    kb = _load(settings)
    if kb.errors:
        for problem in kb.errors:
            print(problem, file=sys.stderr)
        print(f"not building: {len(kb.errors)} errors (run 'faqbot kb validate')", file=sys.stderr)
        return 1
    if args.if_stale and not is_stale(kb, settings.index_dir, settings.embedding_model, settings.ranking):
        print("index is up to date")
        return 0
    embedder = services.embedder
    report = build_index(kb, embedder, settings.index_dir, settings.ranking, progress=BuildProgress())
    if report.unchanged:
        print(f"index {report.version} is up to date ({report.entries} FAQs)")
    else:
        fitted = ", ".join(report.fitted) or "none, all reused"
        print(
            f"built index {report.version}: {report.entries} FAQs, {report.rows} phrasings "
            f"({report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f}s; "
            f"rankers fitted: {fitted} ({report.fit_seconds:.1f}s)"
        )
        if report.adapter:
            trained = f"trained in {report.adapt_seconds:.1f}s" if report.adapt_seconds else "reused"
            print(f"model adapted to this KB: adapter {report.adapter} ({trained})")
        backend = getattr(embedder, "backend", None)
        if backend and report.embedded:
            print(f"embedding model {embedder.name} runs on {RUNTIME_NAMES.get(backend, backend)}")
    return 0


RUNTIME_NAMES = {"onnx": "ONNX Runtime", "torch": "PyTorch"}


class BuildProgress:
    """Build steps on ``stream`` (stderr), each with the time since the build started; the steps that
    count items (embedding, calibration: bot.retrieval.progress) as a tqdm bar with the rate and the
    time left. Off a terminal the bar is redrawn at most every ``NOT_A_TERMINAL_INTERVAL`` seconds."""

    NOT_A_TERMINAL_INTERVAL = 10.0

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.1f}s] {message}", file=self.stream, flush=True)

    def bar(self, label: str, total: int) -> Counter:
        from tqdm import tqdm

        terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        return tqdm(  # type: ignore[no-any-return]
            total=total,
            desc=f"[{time.perf_counter() - self.started:6.1f}s] {label}",
            file=self.stream,
            mininterval=0.5 if terminal else self.NOT_A_TERMINAL_INTERVAL,
            dynamic_ncols=terminal,
            ascii=not terminal,
        )


def cmd_search(args: argparse.Namespace, services: Services) -> int:
    from bot.text import detect_language

    services = kb_services(args, services)
    settings = services.settings
    lang = args.lang or detect_language(args.question, settings.languages, settings.default_language)
    answer = services.faq.ask(args.question, lang, k=args.k)
    decision = answer.decision
    if args.json:
        print(
            json.dumps(
                {"question": args.question, "lang": answer.lang, "kb_version": answer.kb_version, **decision.to_dict()},
                ensure_ascii=False,
            )
        )
        return 0
    print(f"[{answer.lang}] band: {decision.band}  (index {answer.kb_version})")
    for rank, c in enumerate(decision.candidates[: args.k], start=1):
        print(
            f"{rank:2d}. {c.score:.3f}  {c.faq_id:32s} {c.question}   "
            f"(dense {c.dense:.3f}, lexical {c.lexical:.3f}, words {c.words:.3f}, classifier {c.classifier:+.3f})"
        )
    return 0
