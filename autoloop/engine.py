"""The step loop: a batch of runs generating into their own sliding windows (DESIGN §2).

Each step the model sees exactly the last L tokens of every row, re-encoded from scratch at positions
0..L-1 (no KV cache: a cached window is a different dynamical system), and only the last position's
logits are computed. Rows share L at every step and may differ in T and seed. Everything the loop
records stays on the device and is copied to the host once per chunk, so a GPU never waits on the host
inside a chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from autoloop.sampler import sample


@dataclass
class Window:
    """The token history of a batch: `tokens[:, -n_avail:]` are valid, right-aligned, oldest first.

    `capacity` is the longest window any step will need (the largest L of the schedule), so a window
    that grows later finds its older tokens still here.
    """

    tokens: torch.Tensor  # (B, capacity) int64
    n_avail: int

    @classmethod
    def from_histories(cls, histories: Sequence[Sequence[int]], capacity: int, device) -> "Window":
        lengths = {len(h) for h in histories}
        if len(lengths) != 1:
            raise ValueError(f"rows of one batch need equal history lengths, got {sorted(lengths)}")
        n = min(lengths.pop(), capacity)
        tokens = torch.zeros((len(histories), capacity), dtype=torch.int64)
        if n:
            tokens[:, capacity - n:] = torch.tensor([list(h)[-n:] for h in histories], dtype=torch.int64)
        return cls(tokens.to(device), n)

    def last(self, L: int) -> torch.Tensor:
        n = min(L, self.n_avail)
        return self.tokens[:, self.tokens.shape[1] - n:]

    def push(self, token: torch.Tensor) -> None:
        self.tokens = torch.cat([self.tokens[:, 1:], token[:, None]], dim=1)
        self.n_avail = min(self.n_avail + 1, self.tokens.shape[1])


@dataclass
class Chunk:
    """What a chunk of steps produced, on the host: arrays of shape (B, n)."""

    token: torch.Tensor
    entropy: torch.Tensor
    entropy_tempered: torch.Tensor
    logprob: torch.Tensor
    context_length: list[int]  # per step, shared by all rows


# Architectures whose causal-LM head is exactly `lm_head(final hidden state)` (no logit scaling or
# soft-capping): for them the head runs as one (B, hidden) x (hidden, V) matmul. Through
# `logits_to_keep=1` the same head sees a strided (B, 1, hidden) slice and runs as B matrix-vector
# products that each re-read the whole (V, hidden) weight.
PLAIN_HEAD_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def forward_last(module: torch.nn.Module, window: torch.Tensor) -> torch.Tensor:
    """Logits of the last position for a (B, L) window, positions 0..L-1, no cache."""
    if getattr(module.config, "model_type", None) in PLAIN_HEAD_TYPES:
        hidden = module.model(input_ids=window, use_cache=False).last_hidden_state
        return module.lm_head(hidden[:, -1, :])
    return module(input_ids=window, use_cache=False, logits_to_keep=1).logits[:, -1, :]


class Engine:
    def __init__(self, module: torch.nn.Module, device: torch.device):
        self.module = module
        self.device = device

    @torch.inference_mode()
    def generate(
        self,
        window: Window,
        seeds: torch.Tensor,
        counters: Sequence[int],
        temperatures: torch.Tensor,
        lengths: Sequence[int],
        on_step: Callable[[int], None] | None = None,
    ) -> Chunk:
        """Run len(counters) steps.

        seeds: (B,) int64. counters[j]: the RNG counter of step j for every row, i.e. rng offsets are
        already added per row: pass a (B, n) tensor to give rows different offsets. temperatures: (B, n).
        lengths[j]: the L in force at step j. `window` is advanced in place.
        """
        n = len(lengths)
        B = window.tokens.shape[0]
        dev = self.device
        counters = torch.as_tensor(counters, dtype=torch.int64)
        if counters.dim() == 1:
            counters = counters[None, :].expand(B, n)
        counters = counters.to(dev)
        seeds = seeds.to(dev)
        temps = temperatures.to(dev, torch.float32)
        out_tok = torch.empty((B, n), dtype=torch.int64, device=dev)
        out_h = torch.empty((B, n), dtype=torch.float32, device=dev)
        out_ht = torch.empty((B, n), dtype=torch.float32, device=dev)
        out_lp = torch.empty((B, n), dtype=torch.float32, device=dev)
        ctx = []
        for j in range(n):
            w = window.last(lengths[j])
            ctx.append(w.shape[1])
            logits = forward_last(self.module, w)
            d = sample(logits, temps[:, j], seeds, counters[:, j])
            out_tok[:, j] = d.token
            out_h[:, j] = d.entropy
            out_ht[:, j] = d.entropy_tempered
            out_lp[:, j] = d.logprob
            window.push(d.token)
            if on_step is not None:
                on_step(j)
        return Chunk(out_tok.cpu(), out_h.cpu(), out_ht.cpu(), out_lp.cpu(), ctx)
