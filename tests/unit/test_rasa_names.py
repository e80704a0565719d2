"""The names shared with Rasa (bot/rasa/names.py) match domain.yml both ways, and code spells none of its own."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Action

import actions
from bot.rasa import names
from bot.settings import PROJECT_ROOT

DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
#: Strings that look like Rasa names but are not: a health report's key.
NOT_NAMES = {"action_server"}


def _keys(section: list | dict) -> set[str]:
    """Names of a domain section given as a list (of names or one-key mappings) or a mapping."""
    if isinstance(section, dict):
        return set(section)
    return {next(iter(item)) if isinstance(item, dict) else item for item in section}


def _implemented_actions() -> dict[str, str]:
    """Every action the action server registers (Action subclasses in actions/) by name, with its class."""
    for module in pkgutil.iter_modules(actions.__path__):
        importlib.import_module(f"actions.{module.name}")
    found: dict[str, str] = {}
    pending = list(Action.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("actions."):
            found[cls().name()] = cls.__name__
    return found


@pytest.mark.parametrize(
    ("group", "section", "built_in"),
    [
        (names.Actions, "actions", names.BUILT_IN_ACTIONS),
        (names.Forms, "forms", frozenset()),
        (names.Slots, "slots", names.BUILT_IN_SLOTS),
        (names.Intents, "intents", frozenset()),
        (names.Entities, "entities", frozenset()),
        (names.Responses, "responses", frozenset()),
    ],
)
def test_every_name_the_code_uses_is_in_the_domain(group: type, section: str, built_in: frozenset[str]):
    missing = {key: value for key, value in names.names_of(group).items() if value not in _keys(DOMAIN[section])}
    assert set(missing.values()) <= built_in, f"{group.__name__} names missing from domain.yml {section}: {missing}"


def test_every_action_of_the_domain_is_implemented_and_named():
    declared = _keys(DOMAIN["actions"])
    implemented = _implemented_actions()
    assert declared - set(implemented) == set(), "in domain.yml but no Action in actions/ has that name"
    assert set(implemented) - declared == set(), "Actions in actions/ that domain.yml does not declare"
    assert declared - set(names.names_of(names.Actions).values()) == set(), "not named in bot/rasa/names.py"


@pytest.mark.parametrize(
    ("group", "section"), [(names.Slots, "slots"), (names.Forms, "forms"), (names.Entities, "entities")]
)
def test_every_slot_form_and_entity_of_the_domain_is_named(group: type, section: str):
    assert _keys(DOMAIN[section]) - set(names.names_of(group).values()) == set()


def _literals(folder: Path) -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(folder.rglob("*.py")):
        if path == PROJECT_ROOT / "bot" / "rasa" / "names.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                found.append((str(path.relative_to(PROJECT_ROOT)), node.lineno, node.value))
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if called in ("SlotSet", "get_slot") and isinstance(node.args[0].value, str):
                    found.append((str(path.relative_to(PROJECT_ROOT)), node.lineno, f"slot {node.args[0].value}"))
    return found


def test_no_code_spells_an_action_response_or_slot_name_of_its_own():
    spelled = [
        (path, line, text)
        for folder in ("bot", "actions", "channels")
        for path, line, text in _literals(PROJECT_ROOT / folder)
        if text.startswith("slot ")
        or (
            text.partition("_")[0] in ("utter", "action", "validate")
            and "_" in text
            and text.isidentifier()
            and text not in NOT_NAMES
        )
    ]
    assert spelled == [], "use bot.rasa.names instead"
