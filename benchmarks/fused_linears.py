"""Would fusing SmolLM2's projections pay on this CPU? Separate vs fused matmuls at the engine's shape.

    python benchmarks/fused_linears.py [M]        (M = B x L rows, default 512: B=8, L=64)

Times q/k/v as three matmuls vs one (576 -> 576+192+192) and gate/up as two vs one (576 -> 2 x 1536),
fp32, all threads. Measured 2026-12-03 at M=512, two runs: qkv 2.97 vs 2.92 ms and 3.18 vs 3.44 ms,
gate/up 11.83 vs 11.44 ms and 12.25 vs 12.01 ms: no consistent gain beyond 3%, not worth patching the
model's modules for.
"""

import sys
import time

import torch
import torch.nn.functional as F


def bench(f, n=30):
    for _ in range(3):
        f()
    t = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t) / n * 1e3


M = int(sys.argv[1]) if len(sys.argv) > 1 else 512
x = torch.randn(M, 576)
wq, wk, wv = torch.randn(576, 576), torch.randn(192, 576), torch.randn(192, 576)
wg, wu = torch.randn(1536, 576), torch.randn(1536, 576)
wqkv, wgu = torch.cat([wq, wk, wv]), torch.cat([wg, wu])
print(f"M={M}   {'separate':>10} {'fused':>10}")
print(f"q/k/v   {bench(lambda: (F.linear(x, wq), F.linear(x, wk), F.linear(x, wv))):>9.2f}ms {bench(lambda: F.linear(x, wqkv)):>9.2f}ms")
print(f"gate/up {bench(lambda: (F.linear(x, wg), F.linear(x, wu))):>9.2f}ms {bench(lambda: F.linear(x, wgu)):>9.2f}ms")
