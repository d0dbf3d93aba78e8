"""Wrong joins by kind, each source held out in turn (stop 36): direct, or into a mixed story.

Replays every held-out source as `cv.py` does (join model refit without it, bar 0.35, the
chain guard on) and sorts each join by the story's members at that moment: "right" (all of
its thread), "direct" (none of its thread: the item itself was misjoined), "mixed" (some:
the story had taken other threads before). Prints joins and the wrong pairs each kind made.
`PYTHONPATH=. python eval/experiments/grouping/wrongjoins.py` (from the root).
"""

import sys
from collections import Counter, defaultdict

sys.path.insert(0, "eval/experiments/grouping")

import numpy as np
from common import fit, folds, linear

from bot.grouping import train as T
from bot.stories import StoryIndex

sources, by, docs, ex = folds()
joins, wrong = Counter(), Counter()
for s in sources:
    rows = [r for o in sources if o != s for r in ex[o]]
    prob = linear(fit(np.array([f for f, _ in rows]), np.array([float(y) for _, y in rows])))
    for titles_only in (False, True):
        items = by[s]
        index, members = StoryIndex(window=T.WINDOW), defaultdict(list)
        for doc in docs[(s, titles_only)]:
            index.prune(doc.published)
            found = index.candidates(doc)
            story = None
            if found:
                keys = list(found)
                p = prob(np.array([found[k] for k in keys]))
                story = index.choose(doc, dict(zip(keys, p.tolist(), strict=True)), 0.35)
            item = items[doc.item_id]
            thread = item.thread or item.story
            if story is not None:
                theirs = [items[m].thread or items[m].story for m in members[story]]
                same = sum(1 for t in theirs if thread and t == thread)
                kind = "right" if same == len(theirs) else "direct" if not same else "mixed"
                joins[(titles_only, kind)] += 1
                wrong[(titles_only, kind)] += len(theirs) - same
            home = doc.item_id if story is None else story
            members[home].append(doc.item_id)
            index.add(doc, home)
for key in sorted(joins):
    way = "headlines" if key[0] else "with text"
    print(f"{way} {key[1]}: {joins[key]} joins, {wrong[key]} wrong pairs")
