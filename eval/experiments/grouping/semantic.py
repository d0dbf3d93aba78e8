"""Could sentence embeddings tell one story's deployment reports from another's?

The base encoder (all-MiniLM-L6-v2, no adapters: `bot.encoder.model.Encoder()` without a
head), mean-pooled and normalised, reads each deployment report's headline (train +
validation, `story` labelled); pairs from one source within 48 hours are split into same
story and different stories, and the share of each above a cosine bar is printed, with the
cosine of the split pairs that still get two top-level alerts on the train replays.
Run: `PYTHONPATH=. python eval/experiments/grouping/semantic.py` (from the repository root).
"""

import itertools

import numpy as np

from bot.encoder.bars import items_of
from bot.encoder.model import Encoder
from bot.relevance.train import CORPUS
from bot.text.wire import headline

SPLIT = [  # train replays' stories alerted twice (stop 33): each pair is one story's reports
    ("more us troops to help hunt abu sayyaf rebels", "us boost troop numbers in philippines"),
    (
        "Training troops for the 'world's most dangerous' peacekeeping mission",
        "UK military gears up for deployment in Mali",
    ),
    (
        "Iran Sends Drone Trainers to Crimea to Aid Russian Military",
        "Russian Errors Prompted Deployment of Iranian Drone Personnel to Ukraine, US Confirms",
    ),
]


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


items = [
    i
    for i in items_of(CORPUS, {"train", "validation"})
    if i.label == "deploy" and i.published and i.story
]
encoder = Encoder()
E = unit(encoder.embed([headline(i.title) for i in items]))
same, diff = [], []
for a, b in itertools.combinations(range(len(items)), 2):
    x, y = items[a], items[b]
    if x.source == y.source and abs((x.published - y.published).total_seconds()) <= 48 * 3600:
        (same if x.story == y.story else diff).append(float(E[a] @ E[b]))
print(f"{len(items)} reports; {len(same)} same-story pairs, {len(diff)} of different stories")
for bar in (0.5, 0.6, 0.7, 0.8, 0.9):
    s, d = sum(c >= bar for c in same), sum(c >= bar for c in diff)
    print(f"cosine >= {bar}: same story {s / len(same):.2f}, different stories {d / len(diff):.3f}")
for a, b in SPLIT:
    v = unit(encoder.embed([a, b]))
    print(f"{float(v[0] @ v[1]):.3f}  {a} | {b}")
