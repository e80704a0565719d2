"""The Rasa credentials file of the channels the environment switches on.

``credentials.yml`` lists every channel faqbot supports, with its secrets as
``${VARIABLE}`` placeholders (``${VARIABLE:-default}`` for optional ones).
Rasa refuses to start when a placeholder names an unset variable, so
``faqbot run`` writes an effective file to ``var/credentials.yml`` instead:
a channel whose required variables are all set is in it with their values, a
channel without placeholders (REST, socket.io) always is, any other is left
out. Optional keys whose value comes out empty are dropped, so the channel's
own default applies.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError

#: ``${NAME}`` (required) or ``${NAME:-default}`` (optional; the default may be empty).
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Loader(yaml.SafeLoader):
    """A safe loader that leaves ``${...}`` as text (Rasa registers an env-var resolver on every loader)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "!env_var"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclasses.dataclass(frozen=True)
class ChannelStatus:
    """One channel of the template: on or off, and the required variables it still lacks."""

    name: str
    enabled: bool
    missing: tuple[str, ...] = ()
    required: tuple[str, ...] = ()


def _placeholders(value: Any) -> list[tuple[str, str | None]]:
    if isinstance(value, str):
        return [(m.group(1), m.group(2)) for m in PLACEHOLDER.finditer(value)]
    if isinstance(value, dict):
        return [p for v in value.values() for p in _placeholders(v)]
    if isinstance(value, list):
        return [p for v in value for p in _placeholders(v)]
    return []


def _expand(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, dict):
        expanded = {key: _expand(v, env) for key, v in value.items()}
        return {key: v for key, v in expanded.items() if v != "" or not _placeholders(value[key])}
    if isinstance(value, list):
        return [_expand(v, env) for v in value]
    return value


def read_template(path: Path) -> dict[str, Any]:
    """The channels of a credentials template, by Rasa channel name (or class path)."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of channel names to their credentials")
    return data


def channel_status(template: Mapping[str, Any], env: Mapping[str, str]) -> list[ChannelStatus]:
    """Which channels of ``template`` the variables in ``env`` switch on."""
    statuses = []
    for name, section in template.items():
        required = tuple(dict.fromkeys(var for var, default in _placeholders(section) if default is None))
        missing = tuple(var for var in required if not env.get(var))
        statuses.append(ChannelStatus(str(name), not missing, missing, required))
    return statuses


def effective_credentials(template: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """The enabled channels of ``template`` with their placeholders filled in from ``env``."""
    enabled = {status.name for status in channel_status(template, env) if status.enabled}
    return {name: _expand(section, env) for name, section in template.items() if name in enabled}


def write_credentials(template_path: Path, out_path: Path, env: Mapping[str, str]) -> Path:
    """Write the effective credentials file (owner-only: it holds secrets) and return its path.

    Values are written double-quoted, so Rasa never expands a ``$`` inside a secret.
    """
    credentials = effective_credentials(read_template(template_path), env)
    text = "# Written by `faqbot run` from credentials.yml and the environment; edit that, not this.\n"
    text += yaml.dump(
        {name: section if section else None for name, section in credentials.items()},
        Dumper=_QuotingDumper,
        sort_keys=False,
        allow_unicode=True,
    )
    _replace(out_path, text)
    return out_path


def _replace(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all, readable by its owner only: replicas starting together on a shared
    var/ folder (``faqbot cluster``, deploy/) never read a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


class _QuotingDumper(yaml.SafeDumper):
    """Double-quotes every string (keys too), leaving booleans and numbers as they are."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')


_QuotingDumper.add_representer(str, _represent_str)


#: The endpoints.yml section `faqbot run` adds when ``FAQBOT_REDIS_URL`` is set (unquoted: Rasa expands it).
REDIS_LOCK_STORE = """
# Added by `faqbot run` because FAQBOT_REDIS_URL is set: Rasa replicas share conversation locks (docs/scaling.md).
lock_store:
  type: channels.lock_store.AtomicRedisLockStore
  url: ${FAQBOT_REDIS_URL}
"""


#: The template's tracker store on the SQLite file, and what takes its place when ``FAQBOT_TRACKER_URL`` is set.
SQLITE_TRACKER = "  dialect: sqlite\n  db: ${FAQBOT_TRACKER_DB}\n"
URL_TRACKER = "  database_url: ${FAQBOT_TRACKER_URL}  # FAQBOT_TRACKER_URL is set (docs/scaling.md)\n"


def write_endpoints(template_path: Path, out_path: Path, redis_url: str, tracker_url: str = "") -> Path:
    """Write the effective endpoints file: the template, plus the race-free Redis lock store when ``redis_url``
    is set, and the tracker store at ``tracker_url`` (e.g. PostgreSQL) instead of the SQLite file when that is
    set. The URLs themselves stay in the environment: they may hold passwords."""
    text = template_path.read_text(encoding="utf-8")
    if tracker_url:
        if SQLITE_TRACKER not in text:
            raise ConfigError(
                f"{template_path}'s tracker_store was changed by hand: set the database there, or unset"
                " FAQBOT_TRACKER_URL"
            )
        text = text.replace(SQLITE_TRACKER, URL_TRACKER)
    if redis_url:
        if "lock_store" in (yaml.load(text, Loader=_Loader) or {}):
            raise ConfigError(f"{template_path} has a lock_store already; FAQBOT_REDIS_URL would add another")
        text = text.rstrip("\n") + "\n" + REDIS_LOCK_STORE
    _replace(out_path, f"# Written by `faqbot run` from {template_path.name}; edit that, not this.\n{text}")
    return out_path
