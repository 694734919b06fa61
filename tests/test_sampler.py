"""The sampler and the counter RNG against closed-form answers."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from autoloop import rng
from autoloop.sampler import sample


def draw(logits, T, seeds=None, counters=None):
    B = logits.shape[0]
    seeds = torch.arange(B) if seeds is None else seeds
    counters = torch.zeros(B, dtype=torch.int64) if counters is None else counters
    return sample(logits, torch.full((B,), float(T)), seeds, counters)


@pytest.mark.parametrize("V", [2, 260, 49152])
def test_uniform_logits_entropy_is_log_v(V):
    d = draw(torch.zeros(3, V), 1.0)
    assert torch.allclose(d.entropy, torch.full((3,), math.log(V)), atol=2e-6, rtol=0)
    assert torch.allclose(d.entropy_tempered, torch.full((3,), math.log(V)), atol=2e-6, rtol=0)
    assert torch.allclose(d.logprob, torch.full((3,), -math.log(V)), atol=2e-6, rtol=0)


def test_one_hot_logits_entropy_is_zero():
    logits = torch.full((2, 100), -math.inf)
    logits[:, 7] = 3.0
    d = draw(logits, 0.8)
    assert d.entropy.tolist() == [0.0, 0.0]
    assert d.entropy_tempered.tolist() == [0.0, 0.0]
    assert d.token.tolist() == [7, 7]
    assert d.logprob.tolist() == [0.0, 0.0]


def test_temperature_zero_is_greedy_and_deterministic():
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0))
    d = draw(logits, 0.0, seeds=torch.tensor([1, 2, 3, 4]))
    assert torch.equal(d.token, logits.argmax(-1))
    assert d.logprob.tolist() == [0.0] * 4 and d.entropy_tempered.tolist() == [0.0] * 4
    assert torch.all(d.entropy > 0)


@pytest.mark.parametrize("T", [0.5, 1.0, 1.7])
@pytest.mark.parametrize("probs", [[0.5, 0.3, 0.15, 0.05], [0.97, 0.01, 0.01, 0.01], [0.25] * 4])
def test_draws_follow_tempered_softmax_chi_square(probs, T):
    """Many counters for one row: frequencies must match softmax(logits / T)."""
    n = 20000
    logits = torch.log(torch.tensor(probs)).repeat(n, 1)
    seeds = torch.full((n,), 12345)
    counters = torch.arange(n)
    d = sample(logits, torch.full((n,), T), seeds, counters)
    pr = torch.softmax(logits[0].double() / T, -1).numpy()
    expected = pr / pr.sum() * n
    observed = np.bincount(d.token.numpy(), minlength=len(probs))
    small = expected < 5  # pool rare outcomes so every chi-square cell expects >= 5 draws
    obs = np.append(observed[~small], observed[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    if len(exp) == 1:  # everything in one cell: a binomial test on the rare remainder
        p = stats.binomtest(int(n - obs[0]), n, 1 - exp[0] / n).pvalue
    else:
        p = stats.chisquare(obs, exp).pvalue
    assert p > 1e-4, (observed, expected)


def test_draws_depend_only_on_seed_and_counter():
    seeds = torch.tensor([3, 9, 27, 81])
    counters = torch.tensor([0, 5, 5, 1000])
    full = rng.uniform(seeds, counters, 1000)
    for b in range(4):
        alone = rng.uniform(seeds[b:b + 1], counters[b:b + 1], 1000)
        assert torch.equal(alone[0], full[b])
    # neighbouring counters and seeds give unrelated streams
    assert not torch.equal(full[1], full[2])
    u = rng.uniform(torch.tensor([0]), torch.tensor([0]), 200000)[0].numpy()
    assert 0 < u.min() and u.max() < 1
    assert stats.kstest(u, "uniform").pvalue > 1e-4


def test_gumbel_moments():
    g = rng.gumbel(torch.arange(4), torch.zeros(4, dtype=torch.int64), 100000).double()
    assert abs(g.mean().item() - 0.5772156649) < 0.01
    assert abs(g.var().item() - math.pi ** 2 / 6) < 0.03
