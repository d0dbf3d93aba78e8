"""Wire furniture: the slugs, agency tags and bylines that say how an item was sent, not what
it reports.

Reuters heads a story's later versions "UPDATE 3-", "REFILE-" or "EXCLUSIVE-", Yonhap "(LEAD)"
or "(2nd LD)", many sites "BREAKING:" or "WATCH:"; AP and Reuters copy on aggregators ends
"(AP)" or "(Reuters)", and its text opens "AP - " or "BAGHDAD (Reuters) - ". To matching and
grouping these are words like any other: "update" next to "deploys" reads as a software
rollout, "lead" and "2nd ld" are shared by every Yonhap story of the day, "Canadian Press"
names a country. Validation replayed with such marks on half its titles
(`eval/experiments/wire/furniture.py`) read pairwise grouping precision 0.894 -> 0.665 (Reuters
slugs) and 0.487 (Yonhap marks), recall 0.957 -> 0.915 (Reuters slugs); with them taken off,
as written.

`headline` and `strip_byline` take them off for what reads an item (topics, the relevance
model, the story index); what is stored and shown keeps the title as the outlet wrote it.
Only known furniture is taken off: an unknown prefix ("Call of Duty: ...") stays.
"""

from __future__ import annotations

import re

# News agencies, as their tags and bylines write them.
AGENCIES = (
    r"AP|AFP|Reuters|Canadian Press|CP|Xinhua|dpa|DPA|UPI|Bloomberg|PA|ANSA|EFE|Kyodo"
    r"|Yonhap|TASS|Interfax|AAP|IANS|PTI|ANI|Anadolu|Associated Press"
)
# Reuters' version and transmission slugs, in capitals, some numbered, ending in a hyphen:
# "REFILE-UPDATE 2-". Genre slugs ("FACTBOX-", "ANALYSIS-", "INTERVIEW-", "BRIEF-") stay: a
# factbox or an analysis is not a fresh report, and the model may read that.
_REUTERS_SLUG = (
    r"(?:UPDATE|WRAPUP|REFILE|CORRECTED|CORRECTION|RPT|REPEAT|EXCLUSIVE)(?: \d{1,2})?\s?-(?!-)\s?"
)
# Labels of urgency or medium that end in a colon or bar, any case, maybe the agency's own:
# "BREAKING:", "Watch |", "Update 2:" (the numbered slug in another house style), "AP PHOTOS:".
_LABEL = (
    r"(?:AP )?(?i:breaking(?: news)?|just in|watch|video|photos?|live|exclusive"
    r"|updated?(?: \d{1,2})?|urgent|flash)\s*[:|]\s*"
)
# Yonhap's version marks ("(LEAD)", "(2nd LD)", "(URGENT)"; its "(News Focus)" is a genre and
# stays), and bracketed media labels: "[VIDEO]", "(PHOTOS)".
_BRACKETED = (
    r"[(\[](?:LEAD|\d{1,2}(?:st|nd|rd|th) LD|URGENT"
    r"|(?i:video|photos?|watch|live|breaking|exclusive|updated?))[)\]]\s*"
)
# What kind of piece it is: a factbox, an analysis, an interview ("FACTBOX-", "Analysis:",
# Yonhap's "(News Focus)"). Matching reads these; the story index does not (an analysis of a
# story belongs in it).
_GENRE = (
    r"(?:(?:FACTBOX|ANALYSIS|SNAP ANALYSIS|INSIGHT|INTERVIEW|FEATURE|PREVIEW|COLUMN"
    r"|BREAKINGVIEWS|SPECIAL REPORT|TIMELINE|EXPLAINER|INSTANT VIEW|FOCUS|NEWSMAKER|SCENARIOS"
    r"|QUOTEBOX|FACT CHECK)\s?-(?!-)\s?"
    r"|(?:AP )?(?i:factbox|analysis|explainer|explains|timeline|interview)\s*[:|]\s*"
    r"|\((?:News Focus|News Analysis|Yonhap Interview|Yonhap Feature)\)\s*)"
)
_LEADING = re.compile(rf"^\s*(?:(?:{_REUTERS_SLUG}|{_LABEL}|{_BRACKETED})\s*){{1,4}}")
_LEADING_ANY = re.compile(rf"^\s*(?:(?:{_REUTERS_SLUG}|{_LABEL}|{_BRACKETED}|{_GENRE})\s*){{1,4}}")
# "(Reuters)", "(AP)", "- Reuters", "| AFP", "[VIDEO]", Bloomberg's "(Update2)" at the end.
_TRAILING = re.compile(
    rf"\s*(?:\((?:{AGENCIES})\)|\s[-–—|]\s*(?:{AGENCIES})"
    r"|[(\[](?i:video|photos?|watch|updated?(?: ?\d{1,2})?)[)\]])\s*$"
)
# Outlet bylines that open wire text: "AP - ", "Canadian Press - ", "Reuters - ".
BYLINE = re.compile(rf"^(?:(?:{AGENCIES})\s*[-–—:]+\s*)+")
# The agency inside a dateline: "BAGHDAD (Reuters) - " keeps "BAGHDAD - ".
DATELINE_AGENCY = re.compile(rf"^([A-Z][A-Z .'-]+(?:, [A-Z][\w .'-]*)?)\s*\((?:{AGENCIES})\)")


def headline(title: str, *, genre: bool = True) -> str:
    """The title without wire slugs before it or an agency tag after it, and without its
    genre label ("FACTBOX-", "(News Focus)") when `genre` is false; a title that is nothing
    but furniture is kept as it is."""
    leading = _LEADING if genre else _LEADING_ANY
    stripped = _TRAILING.sub("", leading.sub("", title, count=1), count=1).strip()
    return stripped or title


def strip_byline(text: str) -> str:
    """The text without the agency byline it opens with ("AP - ", "BAGHDAD (Reuters) - " keeps
    "BAGHDAD - ")."""
    text = BYLINE.sub("", text.lstrip(), count=1)
    return DATELINE_AGENCY.sub(r"\1", text, count=1)
