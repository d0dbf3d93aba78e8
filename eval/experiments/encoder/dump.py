import pickle, sys
from pathlib import Path
from bot.labelled import load_labelled
from bot.gazetteer import Gazetteer
from bot.topics.load import load_topics
from bot.topics.match import Matcher, prepare
from bot.relevance.features import featurize
from bot.relevance.train import SOURCE_GROUPS
gz = Gazetteer.load()
gate = Matcher([t for t in load_topics() if t.name == "troop-deployments"], gz, relevance=False)
full = Matcher([t for t in load_topics() if t.name == "troop-deployments"], gz)
out = []
for f in sorted(Path("/work/main/eval/corpus").glob("*.jsonl")):
    for item in load_labelled(f):
        for text in dict.fromkeys((item.description, "")):
            p = prepare(item.title, text, gz)
            g = bool(gate.match_prepared(p))
            out.append(dict(id=item.id, file=f.stem, split=item.split or "train", source=SOURCE_GROUPS.get(item.source or "", item.source or "other"),
                            label=item.label, ambiguous=item.ambiguous, title_only=not text, gated=g,
                            shipped=bool(full.match_prepared(p)),
                            feats=sorted(featurize(p, gz.kind)) if g else []))
pickle.dump(out, open("rows.pkl", "wb"))
print(len(out))
