"""The command line's `topics`: list the topics, test a query or topic against a text
(`topics test`, the text given, in --text or in --file, a saved page read as chat's `test`
reads a URL), or replay the archive through one (`topics backtest`).

bot.cli parses the arguments and loads the config, then calls in here. Matching and its
explanation are bot.opinions' and bot.topics'; the replay is bot.backtest's. Nothing here
writes to the database.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import timedelta
from pathlib import Path

from bot.errors import QueryError, UsageError
from bot.gazetteer import Gazetteer
from bot.settings import Settings


def topics_command(args: argparse.Namespace, settings: Settings) -> int:
    """`wirewatch topics list|test|backtest`."""
    from bot.catalog import configured_topics, unknown_topic
    from bot.opinions import explain_now

    topics = configured_topics(settings)
    if args.topics_command == "list":
        for t in topics:
            model = f", relevance model {t.relevance}" if t.relevance else ""
            print(f"{t.name}  ({t.origin}{model})\n    {t.query}")
        return 0
    if problem := unknown_topic(args.query, (t.name for t in topics), shell=True):
        raise UsageError(problem)
    if args.topics_command == "backtest":
        return _backtest(args, settings, topics)
    text = _text_to_test(args)
    if not text.strip():  # else "none of ... is in the text", as if something was tested
        raise UsageError(
            "the text to test is empty: give a headline and its text after the topic "
            '(wirewatch topics test TOPIC "HEADLINE AND TEXT"), with --text TEXT or in --file FILE'
        )
    try:
        matched, why = explain_now(args.query, text, Gazetteer.load(), topics)
    except QueryError as exc:
        print(f"error: query: {exc}", file=sys.stderr)
        return 2
    print(("MATCH: " if matched else "no match: ") + why)
    return 0 if matched else 1


def _text_to_test(args: argparse.Namespace) -> str:
    """The text of `topics test`: given after the topic, with --text or in --file (one)."""
    given = [x for x in (args.words, args.text, args.file) if x is not None]
    if len(given) != 1:
        raise UsageError(
            "topics test needs one text to test: after the topic, --text TEXT or --file FILE"
            + ("" if not given else f" (got {len(given)})")
        )
    if args.file is not None:
        from bot.text.clean import is_page, page_text

        text = _read_text(args.file)
        return page_text(text) if is_page(text) else text  # a saved page: its title and article
    text = str(given[0])
    if re.fullmatch(r"https?://\S+", text.strip(), re.IGNORECASE):
        raise UsageError(
            f"topics test reads text, not pages: {text.strip()} would be tested as a headline. "
            "Save the page and give it with --file PAGE.html (its title and article are read, "
            "as chat's `test TOPIC URL` reads the page), or its headline and text with --text"
        )
    return text


def _backtest(args: argparse.Namespace, settings: Settings, topics: list) -> int:
    from bot.backtest import backtest
    from bot.cli_store import end_progress, progress_line
    from bot.db import open_existing
    from bot.durations import parse_duration
    from bot.model import Topic
    from bot.topics.compile import compile_topic

    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    topic = next((t for t in topics if t.name == args.query), None)
    topic = topic or Topic("query", args.query, origin="chat")
    gazetteer = Gazetteer.load()
    try:
        compile_topic(topic, gazetteer)
    except QueryError as exc:
        print(f"error: query: {exc}", file=sys.stderr)
        return 2
    db = open_existing(settings.database)
    window = timedelta(seconds=settings.story_window)
    vectors = settings.sentence_vectors
    shown = progress_line("replaying", "items")  # a month's archive takes minutes
    lines = list(backtest(db, topic, gazetteer, timedelta(seconds=since), window, vectors, shown))
    end_progress()
    for line in lines:
        print(line)
    return 0


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
