"""numpy MiniLM forward: check against torch and time it."""
import time, sys, os, numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer
D = sys.argv[1]
W = load_file(f"{D}/model.safetensors")
tok = Tokenizer.from_file(f"{D}/tokenizer.json"); tok.no_padding(); tok.enable_truncation(64)
L = [{k.split(f"encoder.layer.{i}.")[1]: v for k, v in W.items() if k.startswith(f"encoder.layer.{i}.")} for i in range(6)]
for l in L:
    l["qkv_w"] = np.concatenate([l["attention.self.query.weight"], l["attention.self.key.weight"], l["attention.self.value.weight"]]).T.copy()
    l["qkv_b"] = np.concatenate([l["attention.self.query.bias"], l["attention.self.key.bias"], l["attention.self.value.bias"]])
    l["o_w"] = l["attention.output.dense.weight"].T.copy(); l["i_w"] = l["intermediate.dense.weight"].T.copy(); l["f_w"] = l["output.dense.weight"].T.copy()
def ln(x, g, b, eps=1e-12):
    m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b
from math import erf, sqrt
def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))
try:
    from scipy.special import erf as verf
    def gelu(x): return 0.5 * x * (1.0 + verf(x / np.sqrt(2.0)))
except ImportError: pass
def encode(text):
    ids = np.array(tok.encode(text).ids)
    T = len(ids)
    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:T] + W["embeddings.token_type_embeddings.weight"][0]
    x = ln(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"])
    for l in L:
        qkv = x @ l["qkv_w"] + l["qkv_b"]
        q, k, v = (qkv[:, i*384:(i+1)*384].reshape(T, 12, 32).transpose(1, 0, 2) for i in range(3))
        s = q @ k.transpose(0, 2, 1) / np.sqrt(32.0)
        s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(T, 384)
        x = ln(x + a @ l["o_w"] + l["attention.output.dense.bias"], l["attention.output.LayerNorm.weight"], l["attention.output.LayerNorm.bias"])
        h = gelu(x @ l["i_w"] + l["intermediate.dense.bias"])
        x = ln(x + h @ l["f_w"] + l["output.dense.bias"], l["output.LayerNorm.weight"], l["output.LayerNorm.bias"])
    e = x.mean(0); return e / np.linalg.norm(e), T
texts = ["North Korea has sent more troops to Russia, South Korea's spy agency says",
         "Pentagon orders 3,000 more troops to the Middle East as tensions with Iran rise after the killing of a top general in Baghdad and protests at the US embassy"]
from sentence_transformers import SentenceTransformer
if os.environ.get("CHECK"):
    m = SentenceTransformer(D, device="cpu")
    ref = m.encode(texts, normalize_embeddings=True)
    for t, r in zip(texts, ref):
        e, T = encode(t); print("T", T, "cos", float(e @ r), "maxdiff", float(abs(e - r).max()))
for t in texts:
    for _ in range(3): encode(t)
    n = 200; t0 = time.perf_counter()
    for _ in range(n): encode(t)
    print("T", encode(t)[1], "ms", round((time.perf_counter() - t0) / n * 1000, 2))
