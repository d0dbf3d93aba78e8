"""House rules that keep the shape: the core knows no chat platform; modules say what they do."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = ("adapters", "slack_bolt", "slack_sdk", "discord")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_core_never_imports_a_chat_platform():
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & set(PLATFORMS))
        for p in (ROOT / "bot").rglob("*.py")
        if p.name != "cli.py" and _imports(p) & set(PLATFORMS)
    }
    assert offenders == {}


def test_every_module_opens_with_a_docstring():
    missing = [
        str(p.relative_to(ROOT))
        for folder in ("bot", "adapters")
        for p in (ROOT / folder).rglob("*.py")
        if p.name != "__init__.py" and ast.get_docstring(ast.parse(p.read_text())) is None
    ]
    assert missing == []


def test_feeds_know_nothing_of_topics_or_stories():
    allowed = ("bot.errors", "bot.model", "bot.feeds", "bot.text")
    offenders = {}
    for path in (ROOT / "bot" / "feeds").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot")
        } | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
            if alias.name.startswith("bot")
        }
        bad = sorted(n for n in names if not n.startswith(allowed))
        if bad:
            offenders[path.name] = bad
    assert offenders == {}
