"""The layering docs/developers.md states (its Layers section), read from the import statements.

Every import counts, the ones inside functions too: a lazy import of a chat library in the
core is still the core depending on a platform. Read with `ast`, nothing imported, so a
rule broken in a module no test happens to load still fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = ("adapters", "slack_sdk", "slack_bolt", "discord")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module `path` imports, named in full (`from a.b import c` gives a.b and a.b.c)."""
    package = _module(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def breaches(folder: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    """`file: module` for each import of a forbidden module by a module under `folder`."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name in sorted(imported(path)):
            if _within(name, forbidden) and path.relative_to(ROOT).as_posix() not in allowed:
                found.append(f"{path.relative_to(ROOT)}: {name}")
    return found


def test_the_core_imports_no_chat_platform() -> None:
    """bot/ knows nothing of Slack or Discord: only bot/cli.py wires the adapters in (lazily,
    when a platform's token is set), and no module imports a platform's library."""
    assert breaches("bot", ("adapters",), allowed=("bot/cli.py",)) == []
    assert breaches("bot", PLATFORMS[1:]) == []


def test_feeds_know_nothing_of_topics_or_stories() -> None:
    """Fetching and parsing a feed is the same whatever the bot looks for in it."""
    matching = ("bot.topics", "bot.stories", "bot.grouping", "bot.relevance", "bot.encoder")
    assert breaches("bot/feeds", matching) == []


@pytest.mark.parametrize("folder", ["bot/feeds", "bot/topics", "bot/stories", "bot/text"])
def test_the_lower_layers_import_nothing_above_them(folder: str) -> None:
    """feeds, topics, stories and text are what the pipeline and the commands are made of,
    never the other way round."""
    above = ("bot.cli", "bot.app", "bot.pipeline", "bot.commands", "bot.outbox", "bot.chat")
    assert breaches(folder, above) == []


def test_text_is_pure_text() -> None:
    """bot/text is shared by feeds, topics and stories, so it may import none of them."""
    others = {n for p in (ROOT / "bot/text").rglob("*.py") for n in imported(p)}
    assert sorted(n for n in others if _within(n, ("bot",)) and not _within(n, ("bot.text",))) == []


def test_the_store_never_sends() -> None:
    """Writing an alert down and sending it are apart: the outbox sends, the store keeps."""
    senders = ("bot.outbox", "bot.chat", *PLATFORMS)
    assert [
        n for p in ("bot/store.py", "bot/db.py") for n in imported(ROOT / p) if _within(n, senders)
    ] == []
