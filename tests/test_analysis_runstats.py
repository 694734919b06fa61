"""Per-run statistics against hand-computed values."""

import numpy as np
import pytest
from scipy import stats

from autoloop.analysis import runstats as rs


def test_words_rule():
    assert rs.words_of("The cat a SAT.\n  on  I x") == ["the", "cat", "sat.", "on"]


def test_heaps_beta_limits():
    distinct = [f"w{i}" for i in range(400)]
    assert rs.heaps_beta(distinct) == pytest.approx(1.0)
    assert rs.heaps_beta(["same"] * 400) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(rs.heaps_beta(["a"] * 5))


def test_heaps_beta_checkpoints_by_hand():
    # 40 words, 20 checkpoints n = 2, 4, ..., 40; vocabulary grows as sqrt: V(n) = ceil(sqrt(n))
    words, seen = [], 0
    for n in range(1, 41):
        v = int(np.ceil(np.sqrt(n)))
        words.append(f"w{v}" if v > seen else "w1")
        seen = max(seen, v)
    ns = np.arange(2, 41, 2)
    V = np.array([len(set(words[:n])) for n in ns])
    expected = np.polyfit(np.log(ns), np.log(V), 1)[0]
    assert rs.heaps_beta(words) == pytest.approx(expected)


def test_ttr():
    assert rs.type_token_ratio(["a1", "b1", "a1", "c1"]) == 0.75


def test_acf_fft_matches_direct():
    x = np.random.default_rng(0).standard_normal(500).cumsum()
    ac = rs.acf_fft(x)
    for lag in (0, 1, 7, 100):
        assert ac[lag] == pytest.approx(rs.acf_reference(x, lag), abs=1e-9)


def test_decorrelation_lag():
    assert rs.decorrelation_lag(np.tile([1.0, -1.0], 50)) == 1
    # square wave of period 40: ACF(k) = 1 - k/10 roughly for small k, first below 1/e at lag 7 (biased ACF)
    x = np.tile(np.r_[np.ones(20), -np.ones(20)], 25)
    lags = [k for k in range(40) if rs.acf_reference(x, k) < 1 / np.e]
    assert rs.decorrelation_lag(x) == lags[0]
    assert np.isnan(rs.decorrelation_lag(np.ones(10)))


def test_eos_stats():
    eos = np.zeros(20, bool)
    eos[[2, 5, 11]] = True
    assert rs.eos_stats(eos) == {"eos_count": 3, "eos_rate": 0.15, "eos_gap_mean": 4.5, "eos_gap_median": 4.5,
                                 "eos_gap_max": 6.0}
    assert rs.eos_stats(np.zeros(5, bool))["eos_count"] == 0


def test_run_stats_surprisal_moments():
    rng = np.random.default_rng(0)
    h = rng.random(200) * 3
    lp = -rng.gamma(2.0, 1.0, 200)
    m = rs.run_stats(h, h / 2, lp, np.zeros(200, bool), ["x"] * 200)
    s = -lp
    assert m["surprisal_mean"] == pytest.approx(s.mean())
    assert m["surprisal_var"] == pytest.approx(s.var())
    assert m["surprisal_skew"] == pytest.approx(stats.skew(s))
    assert m["surprisal_kurtosis"] == pytest.approx(stats.kurtosis(s))
    assert m["surprisal_gap_mean"] == pytest.approx((h + lp).mean())
    assert m["surprisal_gap_tempered_mean"] == pytest.approx((h / 2 + lp).mean())
    assert (m["entropy_min"], m["entropy_max"]) == (pytest.approx(h.min()), pytest.approx(h.max()))
