"""Alert summaries: the key fact first, at most three sentences, no boilerplate, no byline."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from bot.feeds.parse import parse_feed
from bot.text.summary import split_sentences, summarize

REPO = Path(__file__).resolve().parents[1]
SHARED = next(
    (p for p in (REPO.parent / "shared", Path("/work/shared")) if (p / "seeds").is_dir()), None
)
needs_shared = pytest.mark.skipif(SHARED is None, reason="shared/ is not beside the repository")

BOILERPLATE = ["Sign up", "Dear readers", "Support The Moscow Times", "premium titles",
               "Remind me later", "[Lee Jin-man/AP]", "(CC BY 2.0)", "newsletter"]  # fmt: skip
BYLINE = re.compile(r"^(AP|AFP|Reuters|Canadian Press)\s*-|\((AP|AFP|Reuters)\)\s*-")

SEEDS = {
    # seed file part: (title as the feed gave it, the key fact the summary must open with)
    "dbf1b24233397813": (
        "North Korea Sends More Troops to Russia, Redeploys Soldiers to Kursk Front Line – "
        "South Korean Official",
        "North Korea has sent additional soldiers to Russia and redeployed some of its troops",
    ),
    "1b5b33db0dd222a7": (
        "North Korea has sent more troops to Russia, South Korea says",
        "South Korea’s intelligence agency has assessed that North Korea has sent more soldiers",
    ),
}


def sentence_count(summary: str) -> int:
    return len(split_sentences(summary))


@needs_shared
@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_scraped_article_summary_leads_with_the_key_fact(seed):
    title, key_fact = SEEDS[seed]
    scraped = next((SHARED / "seeds").glob(f"*{seed}*.txt")).read_text(encoding="utf-8")
    summary = summarize(title, scraped)
    assert summary.startswith(key_fact)
    assert 1 <= sentence_count(summary) <= 3
    assert len(summary) <= 500
    assert title not in summary  # the headline repeated in the page is not a summary sentence
    for phrase in BOILERPLATE:
        assert phrase not in summary
    sentences = split_sentences(summary)
    positions = [scraped.index(s) for s in sentences]
    assert positions == sorted(positions)  # original order kept


@needs_shared
def test_wire_items_are_summarised_without_bylines():
    path = SHARED / "data" / "dev-deployments-agnews.jsonl"
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for item in items:
        summary = summarize(item["title"], item["description"])
        assert summary, item["title"]
        assert not BYLINE.search(summary), summary
        assert len(summary) <= 500 and sentence_count(summary) <= 3
        description = " ".join(item["description"].split())
        if len(split_sentences(description)) == 1:
            # a one-sentence wire item is its own summary, only its byline gone
            assert summary.split(" - ", 1)[-1] in description
            assert len(summary) >= len(description) - 40


def test_one_sentence_wire_item_is_the_description_cleaned():
    assert (
        summarize(
            "Rwandan Troops Arrive in Darfur (AP)",
            "AP - Dozens of Rwandan soldiers flew into Sudan's troubled Darfur region Sunday.",
        )
        == "Dozens of Rwandan soldiers flew into Sudan's troubled Darfur region Sunday."
    )
    assert (
        summarize(
            "Iraq troops move angers S Koreans",
            " SEOUL (Reuters) - Thousands  protested in Seoul against plans to send troops.",
        )
        == "SEOUL - Thousands protested in Seoul against plans to send troops."
    )


def test_a_feeds_html_description_is_summarised_as_its_text():
    rss = (
        b"<rss version='2.0'><channel><title>W</title><item><title>X</title>"
        b"<link>https://w.example/1</link><description>&lt;p&gt;Reuters - Troops "
        b"&lt;b&gt;arrived&lt;/b&gt; &amp;amp; dug in.&lt;/p&gt;</description></item>"
        b"</channel></rss>"
    )
    (entry,) = parse_feed(rss, feed_url="https://w.example/feed").entries
    assert summarize(entry.title, entry.summary) == "Troops arrived & dug in."


def test_plain_text_is_not_read_as_markup_again():
    # Feed text is cleaned once, when parsed: "<B and C>" is words, "&lt;" is what was written.
    text = "Polls show support for A<B and C>D among voters. Literal &lt;script&gt; stays."
    assert summarize("Vote", text) == text


def test_title_copy_is_skipped_when_a_better_sentence_exists():
    title = "Germany sends brigade to Lithuania"
    text = (
        "Germany sends brigade to Lithuania.\n"
        "Germany inaugurated a brigade permanently stationed in Lithuania on Monday, "
        "its defence ministry said."
    )
    assert summarize(title, text) == (
        "Germany inaugurated a brigade permanently stationed in Lithuania on Monday, "
        "its defence ministry said."
    )
    assert summarize(title, "Germany sends brigade to Lithuania.") == (
        "Germany sends brigade to Lithuania."
    )


def test_key_facts_beat_background_and_context_sentences():
    text = (
        "The ministry said 1,500 soldiers would be deployed to Poland in March. "
        "Relations between the allies have a long history. "
        "However, it was not clear when. "
        "It is spring. "
        "The troops will come from the 3rd Infantry Division, according to the Pentagon. "
        "Weather was mild."
    )
    summary = summarize("US to deploy 1,500 soldiers to Poland", text, max_sentences=2)
    assert summary == (
        "The ministry said 1,500 soldiers would be deployed to Poland in March. "
        "The troops will come from the 3rd Infantry Division, according to the Pentagon."
    )


def test_limits_are_kept():
    text = " ".join(f"Sentence number {i} says that troops arrived at base {i}." for i in range(9))
    assert sentence_count(summarize("Troops arrived", text)) == 3
    assert sentence_count(summarize("Troops arrived", text, max_sentences=1)) == 1
    short = summarize("Troops arrived", "Troops arrived " + "and stayed " * 100 + ".", max_chars=80)
    assert len(short) <= 80 and short.endswith("…")
    repeated = "Troops left the base. " * 3 + "Officials said 300 stayed."
    assert summarize("Base", repeated) == "Troops left the base. Officials said 300 stayed."
    assert summarize("Title", "") == ""
    assert summarize("Title", "<p></p>") == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Gen. John Smith said U.S. troops arrived Jan. 5 at 3 p.m. local time. They left.",
            ["Gen. John Smith said U.S. troops arrived Jan. 5 at 3 p.m. local time.", "They left."],
        ),
        (
            "Sen. Maria Cantwell, D-Wash., said Saturday. The vote is due.",
            ["Sen. Maria Cantwell, D-Wash., said Saturday.", "The vote is due."],
        ),
        (
            '"We are ready," the general said. "Are you?" He laughed.',
            ['"We are ready," the general said.', '"Are you?"', "He laughed."],
        ),
        (
            "Troops moved to the U.S. The base is in Texas. New Jersey Gov. James E. McGreevey.",
            [
                "Troops moved to the U.S.",
                "The base is in Texas.",
                "New Jersey Gov. James E. McGreevey.",
            ],
        ),  # fmt: skip
        (
            "It cost $2.5 billion, said the No. 2 official.\nNew paragraph",
            ["It cost $2.5 billion, said the No. 2 official.", "New paragraph"],
        ),
    ],
)
def test_sentences_split_where_a_reader_would(text, expected):
    assert split_sentences(text) == expected


@needs_shared
def test_summaries_are_fast():
    scraped = next((SHARED / "seeds").glob("*dbf1b24233397813*.txt")).read_text(encoding="utf-8")
    started = time.monotonic()
    for _ in range(200):
        summarize("North Korea sends more troops to Russia", scraped)
    assert (time.monotonic() - started) / 200 < 0.02


def _feed_entry(description: str):
    """The entry of a one-item RSS feed whose description is `description`, as the parser
    stores it (plain text, capped at 2,000 characters with "…")."""
    escaped = description.replace("&", "&amp;").replace("<", "&lt;")
    rss = (
        "<rss version='2.0'><channel><title>W</title><item><title>US sends troops</title>"
        f"<link>https://w.example/1</link><description>{escaped}</description></item>"
        "</channel></rss>"
    ).encode()
    (entry,) = parse_feed(rss, feed_url="https://w.example/feed").entries
    return entry


def test_a_description_cut_by_the_feed_parser_never_ends_the_summary_mid_word():
    lead = "The Pentagon ordered 3,000 soldiers to Poland on Monday, officials said."
    tail = "The first units come from the 82nd Airborne Division at Fort Bragg, North Carolina."
    filler = "Officials described the move as routine, " + "and the allies agreed, " * 90
    middle = filler[: 2000 - len(lead) - len("The first units come from the 82nd Airborne Div")
                    - 4].rstrip(" ,") + "."  # fmt: skip
    entry = _feed_entry(f"{lead} {middle} {tail} The deployment is open-ended.")
    assert entry.summary.endswith("82nd Airborne Div…")  # the parser's hard cut, kept
    summary = summarize(entry.title, entry.summary)
    assert summary == lead  # the broken-off sentence is left out, not shown as "…Div…"


def test_an_unfinished_sentence_is_left_out_or_cut_back_at_a_whole_word():
    # The outlet's own trailing ellipsis reads the same: an unfinished sentence.
    assert summarize("Troops", "Troops landed on Monday. The minister said that…") == (
        "Troops landed on Monday."
    )
    assert summarize("Troops", "Troops landed on Monday. Officials declined to say more ...") == (
        "Troops landed on Monday."
    )
    # Alone, it stays, without the word the "…" may have halved.
    assert summarize("Troops", "Troops of the 82nd Airborne Div…") == "Troops of the 82nd Airborne…"
    # The Guardian's read-on link is no sentence of the story.
    assert summarize("Protests", "Police crack down on protests across US Continue reading...") == (
        "Police crack down on protests across US"
    )
    # Three dots follow a whole word: the outlet stopped there.
    assert summarize("Storm", "Residents faced the task of starting over again...") == (
        "Residents faced the task of starting over again..."
    )


@pytest.mark.parametrize(
    "caption",
    [
        "Soldiers carry 160 kilogram bags during Exercise Torokiki at Linton Military Camp in "
        "Palmerston North, New Zealand, on Nov. 25, 2022. (Hagen Hopkins/Getty Images)",
        "A Chinese PLA J-16 fighter jet flies in an undisclosed location in a file photo. "
        "(Taiwan Ministry of Defense via AP)",
        "HMCS Corner Brook (L) arrives in Halifax on March 10, 2003. On the right, HMCS Windsor "
        "and HMCS Victoria sit at berth. (CP PHOTO/Andrew Vaughan)",
        "Members of 437 Transport Squadron help evacuees from Tel Aviv on 15 October 2023. "
        "(Corporal Charles Audet, Canadian Armed Forces Photo)",
        "Soldiers board a plane at Ramstein Air Base (Reuters/John Smith)",
        "U.S. soldiers board a plane at Fort Bragg on Feb. 14, 2022. (AP Photo/Chris Seward)",
        "The Hong Kong consul spoke at the ceremony on Dec. 4, 2022.(Screenshot of the broadcast)",
        "FILE PHOTO: Soldiers board a plane at Fort Bragg, North Carolina, on Feb. 14, 2022.",
        "FILE - U.S. soldiers board a plane at Fort Bragg, North Carolina, on Feb. 14, 2022.",
        "South Korean marines patrol on Yeonpyeong island on Monday. Photo: Yonhap\n"
        "Marines patrol on Yeonpyeong island. (Yonhap Photo/Kim Jin)",
        "[[Image:Gilad Shalit.jpeg|right|250px|thumb|Photo of Cpl. Gilad Shalit.",
        "<figure><img src='x.jpg'><figcaption>Troops land in Vilnius. (Mindaugas Kulbis/AP)"
        "</figcaption></figure>",
    ],
)
def test_a_caption_only_description_leaves_the_alert_its_headline_alone(caption):
    entry = _feed_entry(caption)
    assert summarize(entry.title, entry.summary) == ""


def test_captions_and_credits_are_left_out_and_the_story_kept():
    story = "The Pentagon said on Monday it would send 3,000 troops to Poland."
    for text in (
        f"Soldiers board a plane at Fort Bragg. (AP Photo/Chris Seward) {story}",
        f"<p>{story}</p><figure><figcaption>Soldiers board a plane at Fort Bragg on Monday. "
        "(Chris Seward/Reuters)</figcaption></figure>",
        f"FILE PHOTO: Soldiers board a plane at Fort Bragg, 2022.\n{story}",
    ):
        assert summarize("US sends troops to Poland", _feed_entry(text).summary) == story
    # A photo pointed at inside a story's sentence: the alert shows no photo.
    assert summarize("Bombers", "Putin sent up two nuclear bombers (pictured) on Monday.") == (
        "Putin sent up two nuclear bombers on Monday."
    )
    # Slashes, agencies and grabs that are not a photo's credit stay.
    for kept in (
        "A Reuters/Ipsos poll (Reuters/Ipsos) found 60% back sending troops, officials said.",
        "Cotton output (Sept/March) reached 7.7 mln bales, the commission said.",
        "The message, of which AFP has a screen grab, was deleted from the account.",
        "Our stack is typed end to end (Postgres/Haskell/Elm)",
    ):
        assert summarize("Troops", kept) == kept
    wire = "Troops landed in Kyiv, officials said. (Reporting by Reuters staff/Editing by Jo Doe)"
    assert summarize("Troops", wire) == "Troops landed in Kyiv, officials said."
