"""Staircase detection: known levels and boundaries recovered; no floors in stationary noise."""

import numpy as np
import pytest
from tests.analysis_fixtures import staircase

from autoloop.analysis import floors as fl

BLOCK = 100


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_staircase_levels_and_boundaries(seed):
    levels, lengths = [2.5, 1.0, 0.5, 0.2], [3000, 4000, 2000, 3000]
    h = staircase(levels, lengths, noise=0.3, seed=seed)
    seg, summ = fl.detect_floors(h, block=BLOCK)
    # boundaries within one block, levels within 0.05 nats (noise 0.3 per step, >= 2000 steps per plateau)
    assert len(seg) == 4
    np.testing.assert_allclose(seg["start"].to_numpy()[1:], np.cumsum(lengths)[:-1], atol=BLOCK)
    np.testing.assert_allclose(seg["level"], [max(v, 0) for v in levels], atol=0.06)
    assert summ["n_floors"] == 3  # 1.0, 0.5, 0.2; 2.5 is above floor_max_level
    assert summ["floor_order"] == "2,1,0"
    assert summ["time_to_lowest_floor"] == pytest.approx(9000, abs=BLOCK)
    assert summ["lowest_floor_level"] == pytest.approx(0.2, abs=0.06)


def test_revisited_floor_is_one_floor():
    h = staircase([2.0, 0.6, 1.2, 0.62, 0.1], [2000, 2000, 2000, 2000, 2000], noise=0.2, seed=3)
    seg, summ = fl.detect_floors(h, block=BLOCK)
    assert summ["n_floors"] == 3  # 0.6 and 0.62 merge (tolerance 0.15)
    assert summ["floor_order"] == "1,2,1,0"


@pytest.mark.parametrize("level,noise,seed", [(0.3, 0.2, 0), (3.0, 1.0, 1), (1.0, 0.5, 2), (0.05, 0.02, 3)])
def test_stationary_noise_has_no_floors(level, noise, seed):
    h = staircase([level], [20000], noise=noise, seed=seed)
    seg, summ = fl.detect_floors(h, block=BLOCK)
    assert len(seg) == 1 and summ["n_floors"] == 0


def test_noise_sigma_ignores_steps():
    y = np.r_[np.zeros(50), np.ones(50)] + 0.1 * np.random.default_rng(0).standard_normal(100)
    assert fl.noise_sigma(y) == pytest.approx(0.1, rel=0.3)


@pytest.mark.parametrize("seed", range(6))
def test_pelt_matches_ruptures(seed):
    import ruptures as rpt

    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 6))
    levels = rng.random(k) * 3
    lengths = rng.integers(5, 60, k)
    y = np.repeat(levels, lengths) + (0.05 + rng.random()) * rng.standard_normal(int(lengths.sum()))
    for min_size in (2, 5):
        if len(y) < 2 * min_size:
            continue
        pen = fl.penalty(y, 3.0)
        ref = rpt.Pelt(model="l2", min_size=min_size, jump=1).fit(y.reshape(-1, 1)).predict(pen=pen)
        assert fl.pelt_l2(y, pen, min_size) == ref
