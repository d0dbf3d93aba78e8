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
    above = (
        "bot.cli",
        *("bot.runtime", "bot.startup", "bot.broken_topics", "bot.readiness"),
        *("bot.loop", "bot.poll_cycle"),
        "bot.pipeline",
        "bot.commands",
        *("bot.outbox", "bot.delivery_rows", "bot.send_errors", "bot.notice_outbox"),
        "bot.chat",
    )
    assert breaches(folder, above) == []


def test_text_is_pure_text() -> None:
    """bot/text is shared by feeds, topics and stories, so it may import none of them."""
    others = {n for p in (ROOT / "bot/text").rglob("*.py") for n in imported(p)}
    assert sorted(n for n in others if _within(n, ("bot",)) and not _within(n, ("bot.text",))) == []


def test_the_store_never_sends() -> None:
    """Writing an alert down and sending it are apart: the outbox sends, the store keeps."""
    senders = ("bot.outbox", "bot.notice_outbox", "bot.chat", *PLATFORMS)
    store = ("store", "feed_store", "config_feed_store", "search_store", "search_count_store")
    paths = [
        ROOT / f"bot/{name}.py"
        for name in ("db", "migrations", "store_thread", *store, "story_store")
    ]
    assert [n for p in paths for n in imported(p) if _within(n, senders)] == []


BOTTOM = (
    "bot.model",
    "bot.clock",
    "bot.errors",
    "bot.settings",
    "bot.defaults_path",
    "bot.durations",
)


@pytest.mark.parametrize("module", ["model", "clock", "errors", "settings"])
def test_the_bottom_row_imports_nothing_above_it(module: str) -> None:
    """model.py, clock.py, errors.py and settings.py are what every layer shares: one of them
    importing text/ or topics/ (model.py once computed an entry's words digest with
    text/versions.py) puts a layer below the shared vocabulary."""
    names = imported(ROOT / f"bot/{module}.py")
    assert sorted(n for n in names if _within(n, ("bot",)) and not _within(n, BOTTOM)) == []


def _commands() -> set[str]:
    """The modules run as commands (`python -m bot.relevance.train`): each sits above the
    packages it drives, so it is a node of its own in the package graph."""
    return {
        _module(p)
        for p in (ROOT / "bot").rglob("*.py")
        if 'if __name__ == "__main__":' in p.read_text(encoding="utf-8")
    }


def _node(name: str, commands: set[str]) -> str | None:
    """The package graph's node of a module name: a command, else bot's package or module."""
    for command in commands:
        if _within(name, (command,)):
            return command
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "bot" and len(parts) > 1 else None


def package_graph() -> dict[str, set[str]]:
    """Which of bot's packages (and top-level modules) imports which, every import counted."""
    commands = _commands()
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        here = _node(_module(path), commands)
        if here is None:  # bot/__init__.py
            continue
        targets = graph.setdefault(here, set())
        targets.update(n for n in (_node(m, commands) for m in imported(path)) if n)
        targets.discard(here)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while (top := stack.pop()) != node:
                component.append(top)
            if component:
                found.append(sorted([node, *component]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_among_the_packages() -> None:
    """Each package of bot/ is above or below another, never both: topics/ calls relevance/,
    whose features stem words with stories/, and all three read the gazetteer
    (bot/gazetteer.py), which reads none of them. A cycle (topics -> relevance -> stories ->
    topics, through the gazetteer, once) would make the import order decide what works, and
    hide behind imports moved into functions, which count here too."""
    graph = package_graph()
    inside = [f"{a} -> {b}" for c in cycles(graph) for a in c for b in sorted(graph[a]) if b in c]
    assert inside == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
