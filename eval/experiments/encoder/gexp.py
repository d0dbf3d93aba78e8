import pickle, sys, math
from bot.grouping import train as GT
import bot.grouping as G
from bot.stories import StoryIndex
from bot.gazetteer import Gazetteer
EMB = pickle.load(open('/tmp/enc/embdict.pkl', 'rb'))
MODE = sys.argv[1]  # base | emb
cur = {}  # id(items list) -> file name
state = {"items": None, "file": None, "titles": None}
orig_docs_of = GT.docs_of
def docs_of(items, gz, titles_only):
    state.update(items=items, titles=titles_only)
    return orig_docs_of(items, gz, titles_only)
GT.docs_of = docs_of
FILE_OF = {}
def vec(doc):
    it = state["items"][doc.item_id]
    return EMB[(FILE_OF[it.id], it.id, state["titles"] or not it.description)]
members = {}
orig_add = StoryIndex.add; orig_cand = StoryIndex.candidates
def add(self, doc, sid):
    members.setdefault((id(self), sid), []).append(vec(doc))
    return orig_add(self, doc, sid)
def cand(self, doc):
    out = orig_cand(self, doc)
    if MODE == "base":
        return out
    v = vec(doc)
    for sid, f in out.items():
        best = max(sum(a * b for a, b in zip(v, m)) for m in members[(id(self), sid)])
        out[sid] = [*f, best, best * best]
    return out
StoryIndex.add = add; StoryIndex.candidates = cand
if MODE != "base":
    GT.JOIN_FEATURES = G.JOIN_FEATURES + ("emb", "emb2")
from bot.labelled import load_labelled
from pathlib import Path
for name in ("train", "validation", "test"):
    for i in load_labelled(Path(f"/work/main/eval/corpus/{name}.jsonl")):
        FILE_OF[i.id] = name
gz = Gazetteer.load()
split = {n: GT._load(GT.CORPUS, n) for n in ("train", "validation")}
learn = {n: [i for i in split[n] if i.source not in GT.NOT_LEARNED_FROM] for n in split}
rows = [r for t in (False, True) for r in GT.examples(learn["train"], GT.docs_of(learn["train"], gz, t))]
w = GT.fit(rows)
for thr in (0.3, 0.35, 0.4, 0.45, 0.5):
    print(MODE, thr, {n: GT.score(learn[n], gz, w, thr) for n in ("train", "validation")}, flush=True)
