"""CUDA path checks, for the GPU machine (run through benchmarks/gpu_check.sh).

1. Correctness: the tiny model on CUDA (float32 and bfloat16) against the CPU float32 path, same
   seeds and counters: identical tokens expected in float32; in bfloat16 the steps until the first
   flipped token are reported (rounding moves logits; DESIGN §3 says measure, don't assume).
2. No host sync inside a chunk: the engine's step loop runs under torch.cuda.set_sync_debug_mode("error").
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoloop.engine import Engine, Window  # noqa: E402
from autoloop.models import load_model  # noqa: E402
from benchmarks.engine import preset  # noqa: E402


def run(device, dtype, steps=400, B=6, L=32):
    model = load_model(preset("tiny"), torch.device(device), dtype)
    window = Window.from_histories([[256]] * B, L, device)
    temps = torch.tensor([0.0, 0.5, 0.8, 1.0, 1.3, 2.0])[:B, None].expand(B, steps)
    return Engine(model.module, torch.device(device)).generate(
        window, torch.arange(B), list(range(-L, steps - L)), temps, [L] * steps)


def first_flip(a, b):
    diff = (a != b).any(dim=0).nonzero()
    return int(diff[0]) if len(diff) else None


ref = run("cpu", torch.float32)
ok = True
for dtype in (torch.float32, torch.bfloat16):
    got = run("cuda", dtype)
    flip = first_flip(ref.token, got.token)
    dh = (ref.entropy - got.entropy).abs()
    same_prefix = flip if flip is not None else ref.token.shape[1]
    dh_max = float(dh[:, :same_prefix].max()) if same_prefix else float("nan")
    print(f"cuda {dtype}: first flipped step vs cpu float32: {flip}; max |entropy diff| before it: {dh_max:.2e}")
    if dtype == torch.float32 and (flip is not None and flip < 200 or dh_max > 1e-3):
        ok = False

def sync_warnings(steps):
    import warnings

    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run("cuda", torch.bfloat16, steps=steps)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    return [str(w.message) for w in caught if "synchroniz" in str(w.message)]


# Syncs at a chunk's start and end are fine; a count that grows with the steps is not.
short, long = sync_warnings(10), sync_warnings(40)
print(f"host syncs per chunk: {len(short)} at 10 steps, {len(long)} at 40 steps")
if len(long) > len(short):
    ok = False
    print("per-step host sync:", long[-1][:300])
print("CUDA CHECK", "PASSED" if ok else "FAILED")
sys.exit(0 if ok else 1)
