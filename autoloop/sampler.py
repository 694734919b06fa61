"""Sampling primitives: pure, batched, no host syncs (so the GPU never waits on the CPU per step).

`sample` takes the last-position logits of a batch and returns, per row, the sampled token, the entropy
at T=1, the entropy of the tempered distribution and the log-probability of the sampled token under it
(DESIGN §2.3-2.4). Sampling is Gumbel-max with counter-based noise (autoloop.rng), which is exactly
plain temperature sampling from softmax(logits / T). T = 0 means greedy argmax (logprob and tempered
entropy are then 0: the tempered distribution is a point mass).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from autoloop import rng


class Draw(NamedTuple):
    token: torch.Tensor  # (B,) int64
    entropy: torch.Tensor  # (B,) float32, nats, softmax(logits)
    entropy_tempered: torch.Tensor  # (B,) float32, nats, softmax(logits / T)
    logprob: torch.Tensor  # (B,) float32, log p(token) under softmax(logits / T)


def entropy_from_logprobs(logp: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats along the last axis; zero-probability entries contribute exactly 0."""
    return torch.special.entr(logp.exp()).sum(-1)


def sample(logits: torch.Tensor, temperature: torch.Tensor, seeds: torch.Tensor, counters: torch.Tensor) -> Draw:
    """Draw one token per row.

    logits: (B, V) any float dtype (computed in float32); temperature: (B,) >= 0;
    seeds, counters: (B,) int64 — the draw is a pure function of (logits row, T, seed, counter).
    """
    logits = logits.float()
    temperature = temperature.to(device=logits.device, dtype=torch.float32)
    greedy = temperature <= 0
    t_safe = torch.where(greedy, torch.ones_like(temperature), temperature)[:, None]

    logp1 = torch.log_softmax(logits, dim=-1)
    logp_t = torch.log_softmax(logits / t_safe, dim=-1)
    scores = logp_t + rng.gumbel(seeds, counters, logits.shape[-1])
    # Greedy rows take the argmax of the logits themselves (no noise).
    scores = torch.where(greedy[:, None], logits, scores)
    token = scores.argmax(dim=-1)

    zero = torch.zeros_like(temperature)
    logprob = torch.where(greedy, zero, logp_t.gather(-1, token[:, None]).squeeze(-1))
    entropy_tempered = torch.where(greedy, zero, entropy_from_logprobs(logp_t))
    return Draw(token, entropy_from_logprobs(logp1), entropy_tempered, logprob)
