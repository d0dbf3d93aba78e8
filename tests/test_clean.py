"""HTML to text for feed snippets and whole pages: readable, boilerplate-free, and never harmful.

The seed pages are built from shared/seeds/*.txt, the text of two real articles as a scraper
got them, paywall, donation and newsletter boxes included.
"""

from __future__ import annotations

import asyncio
import html
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text.clean import (
    MAX_ARTICLE_CHARS,
    drop_boilerplate,
    extract_article,
    html_to_text,
    is_caption,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = next(
    (p for p in (REPO.parent / "shared", Path("/work/shared")) if (p / "seeds").is_dir()), None
)
needs_seeds = pytest.mark.skipif(SHARED is None, reason="shared/seeds is not beside the repo")

BOILERPLATE = [
    "Sign up",
    "Sign in",
    "Dear readers",
    "Support The Moscow Times",
    "100’s of premium titles",
    "Remind me later",
    "Related Stories",
    "Read more",
    "newsletter",
    "Download the app",
    "Not ready to support",
    "[Lee Jin-man/AP]",
    "(CC BY 2.0)",
    "unprecedented challenges",
]


def seed_lines(name_part: str) -> list[str]:
    path = next((SHARED / "seeds").glob(f"*{name_part}*.txt"))
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def flat_page(lines: list[str]) -> str:
    """Every scraped line as a paragraph of the article body: the boilerplate sits inside it."""
    body = "\n".join(f"<p>{html.escape(line)}</p>" for line in lines)
    return _page(f"<article><div class='article-body'>{body}</div></article>")


def structured_page(lines: list[str]) -> str:
    """A headline, a figure with its caption, the story, then the boxes in their own blocks."""
    title, caption = lines[0], lines[1]
    story = "\n".join(f"<p>{html.escape(line)}</p>" for line in lines[2:])
    return _page(
        f"<article><h1>{html.escape(title)}</h1>"
        f"<figure><img src='/img.jpg'><figcaption>{html.escape(caption)}</figcaption></figure>"
        f"<div class='article-body'>{story}</div>"
        "<div class='newsletter'><h3>Sign up for our free weekly newsletter</h3>"
        "<p>You will receive it in your mailbox every Friday.</p></div></article>"
    )


def _page(article: str) -> str:
    return f"""<!DOCTYPE html><html><head><title>News</title>
<script>window.paywall = "Sign up to read this article";</script><style>p {{ margin: 0 }}</style>
</head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>
<li><a href="/subscribe">Subscribe</a></li></ul></nav>
<header><div class="logo">The Daily Wire Watch</div></header>
<main>{article}
<aside class="related"><h2>Related Stories</h2><ul>
<li><a href="/a">Kim Jong Un inspects new destroyer</a></li>
<li><a href="/b">Sign up for breaking news alerts</a></li></ul></aside>
<div class="donate"><p>Dear readers,</p><p>Support The Moscow Times today.</p>
<p>Not ready to support today? Remind me later.</p></div></main>
<footer><p>Privacy Policy · Terms of use · © 2025</p></footer>
</body></html>"""


def story_part(lines: list[str], first: str, last: str) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    end = next(i for i, line in enumerate(lines) if line.startswith(last))
    return lines[start : end + 1]


SEEDS = {
    "dbf1b24233397813": ("North Korea has sent additional soldiers", "Neither Moscow nor"),
    "1b5b33db0dd222a7": ("South Korea’s intelligence agency has", "In November, Kim"),
}


# --- extract_article ---------------------------------------------------------------------


@needs_seeds
@pytest.mark.parametrize("seed", sorted(SEEDS))
@pytest.mark.parametrize("layout", [flat_page, structured_page])
def test_article_text_is_the_story_without_boilerplate(seed, layout):
    lines = seed_lines(seed)
    first, last = SEEDS[seed]
    lines = lines[next(i for i, x in enumerate(lines) if "North Korea" in x) :]
    text = extract_article(layout(lines), url="https://news.example/story")
    assert text is not None
    for paragraph in story_part(lines, first, last):
        assert paragraph in text
    for phrase in BOILERPLATE:
        assert phrase.lower() not in text.lower(), phrase


@needs_seeds
def test_scraped_seed_as_is_keeps_every_story_paragraph():
    lines = seed_lines("1b5b33db0dd222a7")
    text = extract_article(flat_page(lines))
    assert text.startswith("North Korea has sent more troops to Russia, South Korea says")
    assert "North Korea has sent more soldiers to Russia" in text
    assert "Get all your news in one place" not in text
    assert "Al Jazeera\n" not in text


def test_page_without_main_text_gives_none():
    assert extract_article(_page("<ul><li><a href='/x'>Home</a></li></ul>")) is None
    assert extract_article("") is None
    assert extract_article(b"\x00\x01\x02") is None


def test_article_from_bytes_in_a_declared_legacy_encoding():
    story = "Министерство обороны сообщило о переброске войск к границе. " * 8
    page = (
        "<html><head><meta charset='windows-1251'></head><body><article>"
        f"<p>{story}</p><p>{story}</p></article></body></html>"
    )
    text = extract_article(page.encode("windows-1251"))
    assert text is not None and "переброске войск" in text


def test_five_megabyte_page_is_answered_in_seconds():
    chunk = "<div><p>Troops <b>arrived</b> at the base, officials said.</p><span>x</span></div>"
    bloated_nav = "<nav>" + "<a href='/x'>link</a>" * 100_000 + "</nav>"
    story = "<p>Troops arrived at the base on Monday, officials said in a statement.</p>"
    pages = {
        "no main element": "<html><body>" + chunk * (5_000_000 // len(chunk)),
        "an article after a bloated nav": f"<html><body>{bloated_nav}<article>{story}</article>",
    }
    for name, page in pages.items():
        started = time.monotonic()
        text = extract_article(page)
        assert time.monotonic() - started < 10, name
        if name.startswith("an article"):
            assert text == "Troops arrived at the base on Monday, officials said in a statement."


def test_huge_article_output_is_capped():
    paragraph = "Troops moved to the border on Monday, officials said in a statement. " * 40
    page = "<html><body><article>" + f"<p>{paragraph}</p>" * 200 + "</article></body></html>"
    text = extract_article(page)
    assert text is not None and len(text) <= MAX_ARTICLE_CHARS


async def test_nothing_is_fetched_or_read_from_disk(tmp_path, connection_counter):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    url = connection_counter.url("/x")
    page = f"""<?xml version="1.0"?>
<!DOCTYPE html [<!ENTITY leak SYSTEM "file://{secret}"><!ENTITY remote SYSTEM "{url}">]>
<html><head><link rel="stylesheet" href="{url}"><script src="{url}"></script></head><body>
<article><p>&leak; &remote; Troops were sent to the border, the ministry said today.</p>
<img src="{url}"><iframe src="{url}"></iframe><object data="{url}"></object>
<p>The deployment includes about 1,000 soldiers and will last three months, it said.</p>
</article></body></html>"""
    # In a thread, so that the counter's loop could accept a connection if one were made.
    for convert in (extract_article, html_to_text):
        result = await asyncio.wait_for(asyncio.to_thread(convert, page), timeout=20)
        assert result and "TOP-SECRET" not in result
        assert "Troops were sent to the border" in result
    await asyncio.sleep(0.2)
    assert connection_counter.accepted == 0


# --- html_to_text --------------------------------------------------------------------------


def test_tags_go_entities_are_decoded_paragraphs_stay():
    text = html_to_text(
        "<p>Troops &amp; tanks&nbsp;arrived &lt;today&gt;.</p><p>Second   <b>para</b>"
        "<br>graph &#8212; done</p>"
    )
    assert text == "Troops & tanks arrived <today>.\nSecond para\ngraph — done"


def test_script_style_and_iframe_contents_never_show():
    text = html_to_text(
        "<div>Lead<script>alert('x')</script><style>p{color:red}</style>"
        "<iframe>frame text</iframe><noscript>enable js</noscript> tail</div>"
    )
    assert text == "Lead tail"


def test_broken_markup_still_reads():
    assert html_to_text("<p>one<p>two<div>three") == "one\ntwo\nthree"
    assert html_to_text("a <b>bold <i>mix</b> end") == "a bold mix end"
    assert html_to_text("x < y and y > z") == "x < y and y > z"
    assert html_to_text("<p>unterminated <a href='x") == "unterminated"


def test_entities_that_lost_their_ampersand_are_read_as_meant():
    """Scraped wire copy (AG News among it) writes "Iraq #39;s" and "quot;": read as words,
    "39" was a number that unrelated stories shared."""
    assert html_to_text("Iraq #39;s interim government won #39;t wait") == (
        "Iraq's interim government won't wait"
    )
    assert html_to_text("<p>quot;No troops,quot; he said &amp; left</p>") == (
        '"No troops," he said & left'
    )
    assert html_to_text("Oil at #36;50") == "Oil at $50"
    # Not a lost entity: a literal number sign, a word's own semicolon, an intact entity.
    assert html_to_text("Bill #100; R&D; C#; x&#39;s") == "Bill #100; R&D; C#; x's"


def test_plain_text_keeps_its_line_breaks():
    assert html_to_text("First line\n\n\nSecond  line &amp; more") == (
        "First line\nSecond line & more"
    )


def test_nul_and_control_characters_are_removed():
    text = html_to_text("<p>Ke\x00y\x07 fact\x1b[31m\u200b here\ufeff</p>")
    assert text == "Key fact[31m here"


def test_invisible_characters_written_as_entities_do_not_split_words():
    """Al Jazeera's feed hyphenates softly ("Is&shy;rael"), others put zero-width spaces in
    as "&#8203;": decoded and left in, they split the word and no query term matches it."""
    written = (
        "Is&shy;raeli tr&#8203;oops",
        "<b>Is&#xAD;raeli</b> tr&#x200b;oops",
        "Is\xadraeli troops",
    )
    for snippet in written:
        assert html_to_text(snippet) == "Israeli troops"


def test_deep_nesting_keeps_all_text_and_is_fast():
    for tag in ("div", "b", "span"):
        page = f"<{tag}>" * 100_000 + "deep text" + f"</{tag}>" * 100_000 + "<p>after</p>"
        started = time.monotonic()
        text = html_to_text(page)
        assert time.monotonic() - started < 5
        assert "deep text" in text and text.endswith("after")


def test_unclosed_script_and_comment_swallow_only_what_follows():
    assert html_to_text("<div>" * 300 + "seen<script>hidden " + "x" * 1000) == "seen"
    assert html_to_text("<div>" * 300 + "seen<!-- hidden") == "seen"


def test_five_megabytes_of_markup_in_a_few_seconds():
    chunk = "<p>Soldiers <b>arrived</b> &amp; <i>left</i>.</p><div><span>x</span></div>"
    page = chunk * (5_000_000 // len(chunk))
    started = time.monotonic()
    text = html_to_text(page)
    assert time.monotonic() - started < 10
    assert text.startswith("Soldiers arrived & left.\nx\n")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>/&;#!-=\"' \n\x00\x07abpscriptdiv")), max_size=300))
def test_any_input_gives_clean_text(junk):
    text = html_to_text(junk)
    assert "\x00" not in text and "\x07" not in text
    assert "\n\n" not in text and "  " not in text
    assert text == text.strip()


# --- boilerplate and captions --------------------------------------------------------------


@pytest.mark.parametrize(
    "caption",
    [
        "A North Korean flag flutters in the wind in Paju on April 24, 2018 [Lee Jin-man/AP]",
        "A military parade in North Korea. Stefan Krasowski (CC BY 2.0)",
        "Soldiers board a plane in Kigali. Photo: Reuters/James Akena",
        "Troops on parade in Red Square (Photo by Alexander Nemenov/AFP)",
    ],
)
def test_captions_and_credits_are_recognised(caption):
    assert is_caption(caption)


def test_reporting_paragraphs_are_not_boilerplate():
    reporting = [
        "North Korea has sent additional soldiers to Russia, an official told AFP on Thursday.",
        "Subscribers to the service rose 12% after the price cut, the company said.",
        "The ministry said it would support the mission with 300 troops, Reuters reported.",
        "He said the newsroom was raided by police.",
    ]
    assert drop_boilerplate(reporting) == reporting


def test_a_donation_box_ends_the_article():
    paragraphs = [
        "Troops were sent to the border on Monday, officials said.",
        "The deployment will last three months.",
        "A Message from The Moscow Times:",
        "We are facing unprecedented challenges and need your help.",
        "Thank you for standing with us.",
    ]
    assert drop_boilerplate(paragraphs) == paragraphs[:2]


def test_a_saved_file_of_many_comments_is_told_from_a_page_at_once():
    """`topics test --file` asks whether the file is a whole page: a fragment opening with
    comments (a template's, a CMS's) hung the command, each comment's end able to be read
    as a later one's (2^n ways, hours at 40 comments)."""
    from bot.text.clean import is_page

    started = time.perf_counter()
    assert not is_page("<!---->" * 24 + "<div>Troops deployed</div>")
    assert is_page("<!-- saved from url=(0020)https://x.example -->\n<!DOCTYPE html><html>")
    assert not is_page("<!-- a --> <div><html>")  # a page's tag later on: not a page's start
    assert time.perf_counter() - started < 0.5


def test_a_page_of_unclosed_title_tags_is_read_at_once():
    """Chat's `test TOPIC URL` reads the fetched page's title on the event loop: a hostile
    page (5 MB of `<title>`, none closed) took time growing with its square (seconds at
    100 KB, hours at 5 MB), every channel's commands and alerts waiting meanwhile."""
    from bot.text.clean import page_title

    started = time.perf_counter()
    assert page_title("<title>" * 15_000) == ""
    assert page_title("<title" * 15_000) == ""
    assert time.perf_counter() - started < 0.5
    page = "<html><TITLE lang=en>Troops &amp;\n ships</title></html>"
    assert page_title(page) == "Troops & ships"
    assert page_title("<title>a</title><title>b</title>") == "a"


def test_a_saved_xhtml_page_is_a_page():
    """`topics test --file` reads a saved page by its title and article: an XHTML page (an
    XML declaration before its doctype) was read as markup, "<?xml ...?>" its headline."""
    from bot.text.clean import is_page

    xhtml = (
        '\ufeff<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD '
        'XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Troops sent</title>'
    )
    assert is_page(xhtml)
    assert not is_page('<?xml version="1.0"?><rss version="2.0"><channel>')  # a feed is not
