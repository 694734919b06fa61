"""Counter-based randomness: the draw for run r at step t is a pure function of (seed_r, t).

We use Gumbel-max sampling with noise hashed from (seed, counter, token id), computed on the device in
int64 arithmetic. Consequences (DESIGN §3): a row's draws do not depend on its batch neighbours, a resume
needs only the window and the step number, and a fork can continue its parent's counter exactly.

The hash is SplitMix64's finaliser. torch int64 arithmetic wraps modulo 2**64 like uint64 does, but its
right shift is arithmetic, so logical shifts are done as shift-then-mask.
"""

from __future__ import annotations

import torch

_MASK64 = (1 << 64) - 1


def _signed(x: int) -> int:
    """A uint64 constant as the int64 with the same bits."""
    x &= _MASK64
    return x - (1 << 64) if x >= 1 << 63 else x


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_M1 = _signed(0xBF58476D1CE4E5B9)
_M2 = _signed(0x94D049BB133111EB)
_STEP_KEY = _signed(0xD1B54A32D192ED03)


def _shr(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 bits."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def mix64(x: torch.Tensor) -> torch.Tensor:
    """SplitMix64 finaliser on int64 tensors (bijective, good avalanche)."""
    x = x + _GOLDEN
    x = (x ^ _shr(x, 30)) * _M1
    x = (x ^ _shr(x, 27)) * _M2
    return x ^ _shr(x, 31)


def row_keys(seeds: torch.Tensor, counters: torch.Tensor) -> torch.Tensor:
    """One 64-bit key per row from (seed, counter); both int64 tensors of shape (B,)."""
    return mix64(mix64(seeds.to(torch.int64)) ^ (counters.to(torch.int64) * _STEP_KEY))


def uniform(seeds: torch.Tensor, counters: torch.Tensor, n: int) -> torch.Tensor:
    """Uniforms in the open interval (0, 1), shape (B, n), float32, on the seeds' device.

    Element [b, i] depends only on (seeds[b], counters[b], i).
    """
    keys = row_keys(seeds, counters)
    ids = torch.arange(n, device=seeds.device, dtype=torch.int64)
    bits = mix64(keys[:, None] ^ mix64(ids)[None, :])
    top24 = _shr(bits, 40).to(torch.float32)  # exact in float32
    return (top24 + 0.5) * (1.0 / (1 << 24))


def gumbel(seeds: torch.Tensor, counters: torch.Tensor, n: int) -> torch.Tensor:
    """Standard Gumbel noise, shape (B, n), float32: -log(-log(U))."""
    return -torch.log(-torch.log(uniform(seeds, counters, n)))
