import numpy as np, time
rng = np.random.default_rng(0)
Ws = [(rng.standard_normal((384, 1152), dtype=np.float32), rng.standard_normal((384, 384), dtype=np.float32), rng.standard_normal((384, 1536), dtype=np.float32), rng.standard_normal((1536, 384), dtype=np.float32)) for _ in range(6)]
for M in (18, 36, 288, 576):
    x = rng.standard_normal((M, 384), dtype=np.float32)
    t0 = time.perf_counter(); n = 50
    for _ in range(n):
        for a, b, c, d in Ws:
            y = x @ a; z = x @ b; h = x @ c; o = h @ d
    dt = (time.perf_counter() - t0) / n
    print(M, "tokens: ms", round(dt * 1000, 2), "per 18-token item", round(dt * 1000 / (M / 18), 2))
