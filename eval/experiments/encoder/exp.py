import pickle, json, numpy as np, sys
from scipy import sparse
from sklearn.linear_model import LogisticRegression
rows = pickle.load(open('rows.pkl','rb'))
meta = json.load(open('meta.json')); et = np.load('et.npy'); ex = np.load('ex.npy')
pos = {(m['_file'], m['id']): i for i, m in enumerate(meta)}
rows = [r for r in rows if not r['ambiguous'] and r['label'] is not None]
for r in rows:
    i = pos[(r['file'], r['id'])]
    r['emb'] = et[i] if r['title_only'] else ex[i]
    r['y'] = r['label'] == 'deploy'
tuning = [r for r in rows if r['split'] in ('train', 'validation')]
test = [r for r in rows if r['split'] == 'test']
groups = sorted({r['source'] for r in tuning})

def design(rs, vocab, alpha, use_feats=True):
    n = len(rs)
    if use_feats:
        data, ri, ci = [], [], []
        for k, r in enumerate(rs):
            for f in r['feats']:
                j = vocab.get(f)
                if j is not None:
                    data.append(1.0); ri.append(k); ci.append(j)
            data.append(1.0); ri.append(k); ci.append(len(vocab))  # title_only flag-ish bias
        X = sparse.csr_matrix((data, (ri, ci)), shape=(n, len(vocab) + 1))
    else:
        X = sparse.csr_matrix((n, 0))
    if alpha:
        E = np.stack([r['emb'] for r in rs]) * alpha
        X = sparse.hstack([X, sparse.csr_matrix(E)]).tocsr()
    return X

def fitpred(train, score, alpha, use_feats, C, gate=True):
    tr = [r for r in train if r['gated'] or not gate]
    from collections import Counter
    cnt = Counter(f for r in tr for f in r['feats'])
    vocab = {f: i for i, f in enumerate(sorted(f for f, n in cnt.items() if n >= 2))}
    npos = sum(r['y'] for r in tr); wpos = ((len(tr) - npos) / npos) ** 0.5
    m = LogisticRegression(C=C, max_iter=3000, class_weight={True: wpos, False: 1.0})
    m.fit(design(tr, vocab, alpha, use_feats), [r['y'] for r in tr])
    p = m.predict_proba(design(score, vocab, alpha, use_feats))[:, 1]
    vet = ("t<NEG<SEND", "t<NEG<UNIT", "t>UNIT>NEG")
    return [0.0 if (gate and not r['gated']) or any(v in r['feats'] for v in vet) else float(q) for r, q in zip(score, p)]

def prf(ps, rs, t):
    tp = sum(p >= t and r['y'] for p, r in zip(ps, rs)); pr = sum(p >= t for p in ps); ac = sum(r['y'] for r in rs)
    P = tp / pr if pr else 0; R = tp / ac if ac else 0
    return P, R, (2 * P * R / (P + R) if P + R else 0)

def best(ps, rs):
    grid = [round(0.05 * k, 2) for k in range(2, 19)]
    return max(grid, key=lambda t: (prf(ps, rs, t)[2], -abs(t - .5)))

def run(name, alpha, use_feats, C, gate=True):
    held = []
    for g in groups:
        sc = [r for r in tuning if r['source'] == g]
        held += list(zip(fitpred([r for r in tuning if r['source'] != g], sc, alpha, use_feats, C, gate), sc))
    out = [name]
    bars = {}
    for kind in (False, True):
        pk = [(p, r) for p, r in held if r['title_only'] is kind]
        t = best([p for p, _ in pk], [r for _, r in pk]); bars[kind] = t
        out.append(('head' if kind else 'text', t, tuple(round(x, 3) for x in prf([p for p, _ in pk], [r for _, r in pk], t))))
    # per group F1 at bars
    pg = {}
    for g in groups:
        f = []
        for kind in (False, True):
            pk = [(p, r) for p, r in held if r['title_only'] is kind and r['source'] == g]
            f.append(round(prf([p for p, _ in pk], [r for _, r in pk], bars[kind])[2], 2))
        pg[g] = f
    # validation: fit on train only
    trn = [r for r in tuning if r['split'] == 'train']; val = [r for r in tuning if r['split'] == 'validation']
    pv = fitpred(trn, val, alpha, use_feats, C, gate)
    vv = [round(prf([p for p, r in zip(pv, val) if r['title_only'] is k], [r for r in val if r['title_only'] is k], bars[k])[2], 3) for k in (False, True)]
    print(*out, 'val', vv, pg, flush=True)

for spec in sys.argv[1:]:
    name, alpha, uf, C, gate = spec.split(':')
    run(name, float(alpha), uf == '1', float(C), gate == '1')
