"""`test TOPIC|QUERY TEXT|URL`: would this text or page match, and why.

Nothing is stored: the query is explained against the text (or the page at the URL, fetched
through the same guard as any URL from chat), and the answer's last line says what was
tested, so that a query cut at its first word shows there, not only as a surprising MATCH.

Deliberately not here: the explanation itself (bot.opinions), the query language
(bot.topics), adding a topic (bot.commands.topic_admin).
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from bot.catalog import unknown_topic
from bot.commands.echo import shown
from bot.commands.grammar import Invocation
from bot.commands.urls import URL_SHOWN, URL_TEXT, guarded_url, unsafe
from bot.errors import CommandError, FetchError, QueryError, UnsafeURLError
from bot.opinions import explain
from bot.store import list_topics
from bot.text.clean import html_to_text, page_title
from bot.workers import extract_article_async

if TYPE_CHECKING:
    from bot.commands.calls import StoreCalls
    from bot.runtime import Runtime

SEVERAL_WORDS = "a query of several words goes in backticks: test `QUERY` TEXT"
# How a query goes on and a text hardly ever starts: `test deploy* NEAR/5 troops TEXT`
# without backticks would test `deploy*` alone, on "NEAR/5 troops TEXT".
# Also the search-engine habits the query language refuses (`troops or soldiers`, `troops
# -drill`): typed without backticks they would test `troops` alone and answer MATCH.
_QUERY_GOES_ON = re.compile(
    r"(?:AND|OR|NOT)(?=[\s(\"]|$)|(?i:near/\d*)(?=\s|$)|(?i:title|entity|topic):\S"
    r"|(?:or|and|not)\s|[-+\u2010-\u2015\u2212][^\W_]"
)


async def try_query(calls: StoreCalls, inv: Invocation, rest: str) -> str:
    query, text, quoted = _split_test(rest)
    topics = await calls.run(list_topics)
    if problem := unknown_topic(query, (t.name for t in topics)):
        raise CommandError(problem)
    url = text if URL_TEXT.match(text) else None
    if url:
        text = await _page_text(calls.rt, url)
    try:
        matched, why = await explain(query, text, calls.rt.pipeline.gazetteer, topics)
    except QueryError as exc:
        # The backticks hint where the query may have been cut at its first word, not
        # for a name it does not know (`topic:nk-rusia`), which backticks do not mend.
        cut = not quoted and not str(exc).startswith("unknown ")
        hint = f"; {SEVERAL_WORDS}" if cut else ""
        raise CommandError(f"the query does not work: {exc}{hint}") from None
    verdict = ("MATCH: " if matched else "no match: ") + why
    # After a list of reasons, a blank line: Discord would read the next line as the
    # last reason's continuation.
    gap = "\n\n" if "\n- " in verdict else "\n"
    return f"{verdict}{gap}{_tested(query, query in {t.name for t in topics}, text, url)}"


async def _page_text(rt: Runtime, url: str) -> str:
    """Title and main text of a page, fetched like any URL from chat (guarded)."""
    url = guarded_url(rt, url)
    try:
        page = await rt.pipeline.fetcher.fetch_page(url, trusted=False)
    except UnsafeURLError as exc:
        raise CommandError(unsafe(url, exc)) from None
    except FetchError as exc:
        raise CommandError(f"cannot fetch {shown(url, URL_SHOWN)}: {exc}") from None
    raw = (page.body or b"").decode("utf-8", errors="replace")
    body = await extract_article_async(raw, url)
    if not body:  # no article found: the page's whole text (a long page: off the loop)
        body = await asyncio.to_thread(html_to_text, raw)
    head = page_title(raw)  # as `wirewatch topics test --file PAGE.html` reads it
    return f"{head}\n{body}" if head else body


def _split_test(rest: str) -> tuple[str, str, bool]:
    """`test` arguments: a topic name or a word, or a `backticked query`, then the text;
    and whether the query was in backticks."""
    if rest.startswith("`"):
        end = rest.find("`", 1)
        if end < 0:
            raise CommandError("the query's closing ` is missing")
        query, text = rest[1:end].strip(), rest[end + 1 :].strip()
    else:
        query, _, text = rest.partition(" ")
        text = text.strip()
    if not query or not text:
        raise CommandError("test needs a topic or `query`, then the text or URL to try")
    quoted = rest.startswith("`")
    if not quoted and _QUERY_GOES_ON.match(text):
        word = shown(text.split()[0], 30)
        # The suggestion as it will parse: keywords are uppercase (`near/5` is refused).
        fixed = word.upper() if re.fullmatch(r"(?i:near/\d*|or|and|not)", word) else word
        raise CommandError(
            f"only `{shown(query)}` would be tested, on a text starting with `{word}` (a word "
            f"of the query language): put a query of several words in backticks, like "
            f"test `{shown(query)} {fixed} …` TEXT"
        )
    return query, text, quoted


def _tested(query: str, is_topic: bool, text: str, url: str | None) -> str:
    """What was tested, as the answer's last line: a query cut at its first word (typed
    without backticks) shows here, not only as a surprising MATCH."""
    what = f"topic `{query}`" if is_topic else f"the query `{shown(query)}`"
    page = f"the page {shown(url, 200)}: " if url else ""
    return f'(tested {what} on {page}"{shown(text)}")'
