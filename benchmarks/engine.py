"""Engine throughput against the naive loop, in one process, on the same model, L and steps.

    python benchmarks/engine.py [--model smollm2-135m|tiny] [--L 64] [--batch 8 16] [--steps 12]
                                [--naive-steps 24] [--device cpu] [--dtype float32]

The naive loop is how the reference system generated: batch 1, the model re-run on the last L tokens
with full logits, torch.multinomial on softmax(logits / T), one host sync per token. The engine is
autoloop.engine.Engine as the runner drives it. Both are timed after a warm-up.

FLOPs counted per generated token (the useful work, the same formula for both paths):
    2 * non-embedding params * L        (every linear layer, every window position)
  + 4 * n_layers * L * L * hidden       (QK^T and AV)
  + 2 * hidden * vocab                  (the head, last position only)
The machine's fp32 matmul peak is measured here in the same run (square matmuls, all threads).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoloop.config import ModelConfig  # noqa: E402
from autoloop.engine import Engine, Window  # noqa: E402
from autoloop.models import load_model  # noqa: E402


def preset(name: str) -> ModelConfig:
    import yaml  # not omegaconf: the GPU machine's image has pyyaml but no Hydra

    path = Path(__file__).resolve().parent.parent / "conf" / "model" / f"{name}.yaml"
    return ModelConfig(**yaml.safe_load(path.read_text()))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, sizes=(1024, 2048, 3072), reps: int = 8) -> float:
    """Best GFLOP/s over square matmuls of a few sizes (the machine's practical matmul peak)."""
    best_rate = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        for _ in range(2):
            a @ b
        for _ in range(reps):
            sync(device)
            t = time.perf_counter()
            a @ b
            sync(device)
            best_rate = max(best_rate, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    return best_rate


def flops_per_token(model, L: int) -> float:
    f = model.flops
    return (2 * model.info["n_params_non_embedding"] * L + 4 * f["n_layers"] * L * L * f["hidden"]
            + 2 * f["hidden"] * f["vocab"])


@torch.inference_mode()
def naive_tokens_per_s(model, L: int, steps: int, warmup: int, device: torch.device) -> float:
    stream = [model.start_token_id] + [int(t) for t in torch.randint(0, 1000, (L - 1,))]
    gen = torch.Generator(device=device).manual_seed(0)

    def step():
        window = torch.tensor([stream[-L:]], device=device)
        logits = model.module(input_ids=window).logits[0, -1].float()  # full logits, as the reference did
        token = torch.multinomial(torch.softmax(logits / 1.0, -1), 1, generator=gen).item()  # host sync
        stream.append(token)

    for _ in range(warmup):
        step()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps / (time.perf_counter() - t)


@torch.inference_mode()
def engine_tokens_per_s(model, L: int, B: int, steps: int, warmup: int, device: torch.device) -> float:
    hist = [[model.start_token_id] + [int(t) for t in torch.randint(0, 1000, (L - 1,))] for _ in range(B)]
    window = Window.from_histories(hist, L, device)
    engine = Engine(model.module, device)
    seeds = torch.arange(B)
    temps = torch.ones(B, max(steps, warmup))
    engine.generate(window, seeds, list(range(warmup)), temps[:, :warmup], [L] * warmup)
    sync(device)
    t = time.perf_counter()
    engine.generate(window, seeds, list(range(steps)), temps[:, :steps], [L] * steps)
    sync(device)
    return B * steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--L", type=int, default=64)
    ap.add_argument("--batch", type=int, nargs="+", default=[8, 16])
    ap.add_argument("--steps", type=int, default=12, help="timed engine steps per batch size")
    ap.add_argument("--naive-steps", type=int, default=24)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2,
                    help="alternate the paths this many times and keep each one's best (robust to a busy machine)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--peak-tflops", type=float, default=None,
                    help="use this peak instead of measuring one (e.g. 790 for H200 bf16 dense)")
    args = ap.parse_args()

    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    model = load_model(preset(args.model), device, dtype)
    fpt = flops_per_token(model, args.L)
    print(f"model {args.model}: {model.info['n_params_non_embedding'] / 1e6:.1f}M non-embedding params; L={args.L}; "
          f"{fpt / 1e9:.2f} GFLOP per token; device {args.device} {args.dtype}, {torch.get_num_threads()} threads")
    peak = args.peak_tflops * 1e3 if args.peak_tflops else 0.0

    best: dict[str, float] = {}
    for _ in range(args.rounds):
        if not args.peak_tflops:  # measured each round, best kept: the same conditions as the paths
            peak = max(peak, matmul_peak(device, dtype))
        name = "naive loop (B=1)"
        best[name] = max(best.get(name, 0.0), naive_tokens_per_s(model, args.L, args.naive_steps, args.warmup, device))
        for B in args.batch:
            name = f"engine (B={B})"
            best[name] = max(best.get(name, 0.0), engine_tokens_per_s(model, args.L, B, args.steps, args.warmup, device))
    rows = list(best.items())
    naive = rows[0][1]
    print(f"matmul peak ({'given' if args.peak_tflops else 'measured, best square matmul'}): {peak:.1f} GFLOP/s")
    print(f"{'path':<20}{'tokens/s':>12}{'vs naive':>10}{'GFLOP/s':>10}{'% peak':>8}")
    for name, tps in rows:
        gf = tps * fpt / 1e9
        print(f"{name:<20}{tps:>12.2f}{tps / naive:>9.2f}x{gf:>10.1f}{100 * gf / peak:>7.1f}%")


if __name__ == "__main__":
    main()
