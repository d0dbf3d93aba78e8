"""Which story an item belongs to: the same event told by several outlets, within a time window.

The story index, a module per job:
- `words`: a text's story terms (tokenising, stemming, names read as their entity's);
- `docs`: what the index needs of an item (`StoryDoc`) and the bytes it keeps of one;
- `postings`: what the index holds (documents, postings, frequencies) as the window moves;
- `scoring`: the arithmetic it scores with (cosines, a story's score);
- `index`: `StoryIndex`, which finds the story an item joins (its guards and constants).

Every name the rest of the code uses is importable from here, as when this was one module.
A constant set to another value (an experiment, a test) must be set on the module that
reads it (`bot.stories.index.CHAIN_GUARD`, `bot.stories.postings.POSTINGS_KEPT`): setting
the name re-exported here changes nothing the index reads.

Deliberately does not persist anything: the caller stores story ids and, at start, re-adds
recent items. It does not decide what is alert-worthy either.
"""

from bot.stories.docs import _HEAD as _HEAD
from bot.stories.docs import PackedDoc, StoryDoc, Vectors, tenths
from bot.stories.docs import _unpack_terms as _unpack_terms
from bot.stories.index import (
    APART,
    CHAIN_GUARD,
    CHAIN_MEMBERS,
    CHAIN_MIN,
    CONTENT_GUARD,
    CONTENT_MIN,
    IDF_PRIOR,
    MAX_CANDIDATES,
    NEARLY,
    RAREST_TERMS,
    TITLE_TENTHS,
    StoryIndex,
)
from bot.stories.postings import BUCKET_SECONDS, POSTINGS_KEPT, POSTINGS_SCANNED
from bot.stories.scoring import MEAN_OF
from bot.stories.scoring import _accumulate as _accumulate
from bot.stories.words import (
    ENTITY_BOOST,
    HEAD_CHARS,
    MARGIN,
    MAX_BODY_TERMS,
    TITLE_BOOST,
    doc_terms,
    named,
    retitled,
    stem,
    terms,
)
from bot.stories.words import _country_words as _country_words
from bot.stories.words import _terms as _terms

__all__ = [
    "APART",
    "BUCKET_SECONDS",
    "CHAIN_GUARD",
    "CHAIN_MEMBERS",
    "CHAIN_MIN",
    "CONTENT_GUARD",
    "CONTENT_MIN",
    "ENTITY_BOOST",
    "HEAD_CHARS",
    "IDF_PRIOR",
    "MARGIN",
    "MAX_BODY_TERMS",
    "MAX_CANDIDATES",
    "MEAN_OF",
    "NEARLY",
    "POSTINGS_KEPT",
    "POSTINGS_SCANNED",
    "RAREST_TERMS",
    "TITLE_BOOST",
    "TITLE_TENTHS",
    "PackedDoc",
    "StoryDoc",
    "StoryIndex",
    "Vectors",
    "doc_terms",
    "named",
    "retitled",
    "stem",
    "tenths",
    "terms",
]
