"""A gazetteer of world cities as `place` entities for the story index (stop 57, issue 11).

A headline-only report about Kharkiv, Goma or El Paso carries no entity: config/entities.yaml
lists ~150 names. The list here: GeoNames' cities of 100,000 people or more (CC BY 4.0,
https://www.geonames.org/; an older `cities15000.txt`, 22,841 rows), filtered by the rule the
README's stop 57 fixed before any fold was run, decided on train + validation only:

- each row's `name` and `asciiname`, at least 4 characters, a transliteration's soft sign (an
  apostrophe after a lower-case letter) dropped: "Mariupol'" and "Donets'k" as news writes them;
- not a name or alias of config/entities.yaml (compared as `entities.fold` compares them);
- not written with a lower-case first letter anywhere in train + validation's titles and
  descriptions (a common word: "mobile", "reading"; a text with no capital letter at all is
  not read for this);
- not a country's English name (Babel's territory names) nor a US state's, nor a word or
  words of a longer such name or of a gazetteer name ("Carolina", "Salvador", "Vladimir");
- not a first name in train + validation (`PERSON`, `TITLED`: "Charlotte Smith said",
  "Queen Elizabeth");
- a name any spelling of which is left out is left out ("Salé" with "Sale").
A name two cities share is one entity; its country is read (variant b) only when every listed
city of that name is in one country.

Run: `PYTHONPATH=. python eval/experiments/grouping/cities.py list FILE` writes the names
(one a line, `name<TAB>country`, the country empty when unknown); `... cities.py [shipped|a|b]
...` scores the variants as `content.py` does (after `embedjoin.py newest 0.35 headline`,
whose cached headline vectors it reads), and ABC 2003 as `named.py` does; `... cities.py pairs`
counts the labelled story pairs that share a listed city. `GEONAMES` is the path of
`cities15000.txt` (default /tmp/cities15000.txt; not kept in the repository).
"""

from __future__ import annotations

import os
import re
import sys
from collections import defaultdict
from pathlib import Path

from bot.grouping import train as T
from bot.gazetteer import EntityInfo, Gazetteer, fold, shipped

GEONAMES = Path(os.environ.get("GEONAMES", "/tmp/cities15000.txt"))
MIN_POPULATION = 100_000
US_STATES = """Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida
Georgia Hawaii Idaho Illinois Indiana Iowa Kansas Kentucky Louisiana Maine Maryland
Massachusetts Michigan Minnesota Mississippi Missouri Montana Nebraska Nevada New_Hampshire
New_Jersey New_Mexico New_York North_Carolina North_Dakota Ohio Oklahoma Oregon Pennsylvania
Rhode_Island South_Carolina South_Dakota Tennessee Texas Utah Vermont Virginia Washington
West_Virginia Wisconsin Wyoming District_of_Columbia""".split()  # noqa: SIM905
US_STATES = [s.replace("_", " ") for s in US_STATES]
# Where Babel's English name for a country code is not the gazetteer's name nor an alias.
COUNTRY_OF_CODE = {
    "CD": "Democratic Republic of the Congo",
    "CG": "Republic of the Congo",
    "PS": "Palestine",
    "BA": "Bosnia",
    "CZ": "Czech Republic",
    "TR": "Turkey",
    "MM": "Myanmar",
}


URL = re.compile(r"\S*(?:://|www\.|\.(?:com|org|net|gov)\b)\S*")  # "perth.indymedia.org"


# A first name: the first of two capitalised words before "said" ("Charlotte Smith said"), or
# a name after a title ("Queen Elizabeth", "Mr Hassan").
PERSON = r"\b([A-Z][a-z]+) [A-Z][a-z]+,? (?:said|says|told|wrote|added|who)\b"
TITLED = (
    r"\b(?:Queen|King|Prince|Princess|Sir|Lady|Lord|Mr|Mrs|Ms|Dr|President|Senator|Sen|"
    r"Rep|Gov|Governor|General|Gen|Pope)\.? ([A-Z][a-z]+)\b"
)


def corpus_texts() -> list[str]:
    """Titles and descriptions of train + validation (never the frozen test split)."""
    items = [i for n in ("train", "validation") for i in T._load(T.CORPUS, n)]
    return [t for i in items for t in (i.title, i.description or "") if t]


def rows() -> list[tuple[str, str, str, int]]:
    """(name, asciiname, country code, population) of GeoNames' cities of 100,000 or more."""
    out = []
    for line in GEONAMES.read_text(encoding="utf-8").splitlines():
        f = line.split("\t")
        if int(f[14] or 0) >= MIN_POPULATION:
            out.append((f[1], f[2], f[8], int(f[14])))
    return out


def build(verbose: bool = True) -> dict[str, str]:
    """The kept names -> their country in the gazetteer ("" when none or several)."""
    from babel import Locale

    gaz = shipped()
    known = {fold(t) for i in gaz.entities.values() for t in (i.name, *i.aliases)}
    territories = Locale("en").territories
    countries = {fold(n) for n in territories.values()} | {fold(s) for s in US_STATES}
    texts = [URL.sub(" ", t) for t in corpus_texts() if any(c.isupper() for c in t)]
    blob = "\n".join(texts)
    first_names = set(re.findall(PERSON, blob)) | set(re.findall(TITLED, blob))
    # Words of a longer country, state or gazetteer name: "Carolina" of "North Carolina",
    # "Salvador" of "El Salvador", "York" of "New York" (a city there would be read inside it).
    longer = [n for n in (*territories.values(), *US_STATES) if " " in n]
    longer += [t for i in gaz.entities.values() for t in (i.name, *i.aliases) if " " in t]
    parts = {fold(" ".join(w[a:b])) for n in longer if (w := n.split()) for a in range(len(w))
             for b in range(a + 1, len(w) + 1) if b - a < len(w)}  # fmt: skip

    def lower_used(name: str) -> bool:
        low = name[0].lower() + name[1:]
        if re.fullmatch(r"[^\W\d_]+", low):
            return low in _WORDS(blob)
        return re.search(rf"(?<![\w-]){re.escape(low)}(?![\w-])", blob) is not None

    by_name: dict[str, set[str]] = defaultdict(set)
    shown: dict[str, str] = {}
    dropped: dict[str, list[str]] = defaultdict(list)
    out_keys: set[str] = set()  # a name any spelling of which is dropped ("Sale" is "Salé")
    for name, ascii_name, code, _ in sorted(rows(), key=lambda r: -r[3]):
        for n in dict.fromkeys(_soft(x) for x in (name, ascii_name)):
            key = fold(n)
            why = (
                "short" if len(n) < 4
                else "entities.yaml" if key in known
                else "country or state" if key in countries
                else "part of a longer name" if key in parts
                else "first name" if n in first_names
                else "lower case in corpus" if lower_used(n)
                else None
            )  # fmt: skip
            if why:
                dropped[why].append(n)
                out_keys.add(key)
                continue
            by_name[key].add(code)
            shown.setdefault(key, _soft(ascii_name) if fold(_soft(ascii_name)) == key else n)
    by_name = {k: v for k, v in by_name.items() if k not in out_keys}
    out = {}
    for key, codes in by_name.items():
        country = ""
        if len(codes) == 1:
            code = next(iter(codes))
            name = COUNTRY_OF_CODE.get(code) or territories.get(code, "")
            canonical = gaz.canonical(name) or gaz.canonical(name.split(" (")[0])
            if canonical and gaz.kind(canonical) == "country":
                country = canonical
        out[shown[key]] = country
    if verbose:
        for why, names in dropped.items():
            names = list(dict.fromkeys(names))
            print(f"dropped, {why}: {len(names)}: {', '.join(names[:40])}", file=sys.stderr)
        ambiguous = sum(1 for c in by_name.values() if len(c) > 1)
        print(
            f"kept {len(out)} names ({ambiguous} of several countries, "
            f"{sum(1 for c in out.values() if c)} with a gazetteer country)",
            file=sys.stderr,
        )
    return out


def _soft(name: str) -> str:
    """A transliteration's soft sign dropped: "Mariupol'", "Donets'k" as news writes them."""
    return re.sub(r"(?<=[a-z])['\u2019\u02b9\u02bc]", "", name)


_WORDS_CACHE: dict[int, set[str]] = {}


def _WORDS(blob: str) -> set[str]:
    """Every word of the blob as written (runs of letters)."""
    key = id(blob)
    if key not in _WORDS_CACHE:
        _WORDS_CACHE[key] = set(re.findall(r"[^\W\d_]+", blob))
    return _WORDS_CACHE[key]


def city_gazetteer(names: dict[str, str]) -> Gazetteer:
    """The kept names as `place` entities, matched as the gazetteer matches any alias."""
    return Gazetteer(EntityInfo(n, "place") for n in names)


def read_list(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, country = line.partition("\t")
        out[name] = country
    return out


def variant(cities: Gazetteer | None, country: dict[str, str] | None = None):
    """A `doc_terms`: the shipped one, and the cities found in the title and text as entity
    terms (`ENTITY_BOOST`, once each); with `country`, each city's country too."""
    from bot import stories
    from bot.stories.words import _head
    from bot.text.wire import headline, strip_byline

    shipped_terms = stories.words.doc_terms

    def doc_terms(doc):
        counts = shipped_terms(doc)
        if cities is None:
            return counts
        found = cities.names(f"{headline(doc.title)}\n{strip_byline(_head(doc.text))}")
        names = [*found, *(country.get(n) for n in found)] if country else found
        for name in dict.fromkeys(n for n in names if n):
            key = "e:" + name.lower()
            if key not in counts:
                counts[key] = stories.ENTITY_BOOST
        return counts

    return doc_terms


def score(name: str, doc_terms) -> None:
    """Leave-one-source-out as `content.py` (the shipped guards, bar 0.35), then ABC 2003 as
    `named.py` (the lexical model fit on every other source, replayed at the bar)."""
    import numpy as np
    from common import (
        counts,
        fit,
        fold_models,
        fold_probability,
        folds,
        linear,
        prf,
        replay,
        replay_vectors,
        report,
        vector_folds,
    )

    from bot import stories

    stories.postings.doc_terms = doc_terms  # what StoryIndex._doc_terms calls
    folds.cache_clear()
    sources, by, docs, rows = vector_folds()
    models = fold_models(sources, rows)
    tot = {(TH, t): np.zeros(4) for t in (False, True)}
    for s in sources:
        probability = fold_probability(models, s)
        for t in (False, True):
            tot[(TH, t)] += counts(by[s], replay_vectors(docs[(s, t)], probability, TH))
    report(name, tot, [TH])
    _, _, _, ex = folds()
    lex = [r for s in sources for r in ex[s]]
    w = fit(np.array([f for f, _ in lex]), np.array([float(y) for _, y in lex]))
    items = [
        i for n in ("train", "validation") for i in T._load(T.CORPUS, n) if i.source == "abc2003"
    ]
    abc = T.docs_of(items, shipped(), True)  # ABC has headlines only
    p, r, f = prf(counts(items, replay(linear(w), abc, TH)))
    print(f"  abc2003 {TH}: {p:.3f}/{r:.3f}/{f:.3f}", flush=True)


def pairs(cities: Gazetteer) -> None:
    """How many labelled story pairs of the held-out folds share a listed city, and how many
    of those (and of the rest) the shipped index merges: where the list could help."""
    from itertools import combinations

    from common import fold_models, fold_probability, replay_vectors, vector_folds

    from bot.stories.words import _head
    from bot.text.wire import headline, strip_byline

    sources, by, docs, rows = vector_folds()
    models = fold_models(sources, rows)
    for t in (False, True):
        n_city, tally = 0, {True: [0, 0], False: [0, 0]}
        for s in sources:
            out = replay_vectors(docs[(s, t)], fold_probability(models, s), TH)
            found = {
                d.item_id: set(cities.names(f"{headline(d.title)}\n{strip_byline(_head(d.text))}"))
                for d in docs[(s, t)]
            }
            n_city += sum(1 for f in found.values() if f)
            items = by[s]
            for a, b in combinations(range(len(items)), 2):
                if items[a].story and items[a].story == items[b].story:
                    tally[bool(found[a] & found[b])][0] += 1
                    tally[bool(found[a] & found[b])][1] += out[a] == out[b]
        print(
            f"{'headline only' if t else 'with text'}: {n_city} docs name a listed city; story "
            f"pairs sharing one {tally[True][1]}/{tally[True][0]} merged, the rest "
            f"{tally[False][1]}/{tally[False][0]}",
            flush=True,
        )


TH = 0.35

if __name__ == "__main__" and sys.argv[1:2] == ["list"]:
    kept = build()
    Path(sys.argv[2]).write_text(
        "".join(f"{n}\t{c}\n" for n, c in sorted(kept.items())), encoding="utf-8"
    )
elif __name__ == "__main__":
    kept = build(verbose=False)
    gaz = city_gazetteer(kept)
    VARIANTS = {
        "shipped": lambda: variant(None),
        "a": lambda: variant(gaz),
        "b": lambda: variant(gaz, kept),
    }
    for arg in sys.argv[1:] or list(VARIANTS):
        if arg == "pairs":
            pairs(gaz)
        else:
            score(arg, VARIANTS[arg]())
