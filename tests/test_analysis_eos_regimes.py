"""EOS labelling on a constructed phase plane, and both regime classifiers on constructed tables."""

import numpy as np
import pandas as pd
import pytest

from autoloop.analysis import eos_phase
from autoloop.analysis.config import AnalysisConfig
from autoloop.analysis.regimes import classify_table

CFG = AnalysisConfig()


def _plane_and_trace():
    rng = np.random.default_rng(0)
    nb, block = 50, 100
    x = 2.0 + 0.05 * rng.standard_normal(nb)
    y = 0.5 + 0.02 * rng.standard_normal(nb)
    x[10], y[10] = x[np.r_[0:40]].mean(), y[np.r_[0:40]].mean()   # block 10: centre of the main cluster
    x[20], y[20] = 4.0, 0.9                                          # block 20: a lone outlier
    x[40:46], y[40:46] = 0.05, 0.1                                   # blocks 40-45: deep attractor
    h = np.repeat(x, block)
    plane = pd.DataFrame({"block": np.arange(nb), "start": np.arange(nb) * block, "x": x, "y": y})
    return h, plane


def test_eos_labels():
    h, plane = _plane_and_trace()
    eos = np.zeros(len(h), bool)
    eos[[1000, 2050, 4610]] = True
    t = eos_phase.eos_positions(h, eos, plane, L=64, block=100)
    assert t["label"].tolist() == ["interior", "other", "escape_attempt"]
    r = t.set_index("step")
    assert r.loc[2050, "x_entropy"] == 4.0 and r.loc[2050, "y_gzip"] == 0.9
    # pre-EOS mean over steps 4546..4609: 54 deep steps at 0.05, 10 at block 46's level
    assert r.loc[4610, "pre_entropy"] == pytest.approx((54 * 0.05 + 10 * h[4600]) / 64)
    assert r.loc[1000, "post_entropy"] == pytest.approx(h[1001:1065].mean())
    assert bool(r.loc[4610, "deep"]) and not bool(r.loc[1000, "deep"])
    assert eos_phase.eos_summary(t) == {"eos_interior": 1, "eos_escape_attempt": 1, "eos_other": 1}


def test_phase_plane_block_means():
    h = np.r_[np.zeros(100), np.ones(100), [5.0] * 50]  # the last, partial block is dropped
    ends = np.arange(250)
    gz = np.r_[np.full(100, 0.2), np.full(100, 0.6), np.full(50, 0.9)]
    gz[:5] = np.nan  # windows not yet full
    p = eos_phase.phase_plane(h, ends, gz, 100)
    assert p["x"].tolist() == [0.0, 1.0] and p["y"].tolist() == pytest.approx([0.2, 0.6])


def test_no_eos():
    h, plane = _plane_and_trace()
    assert eos_phase.eos_positions(h, np.zeros(len(h), bool), plane, 64, 100).empty


def _table(rows):
    return pd.DataFrame(rows, columns=["heaps_beta", "entropy_mean", "gzip256_mean", "collapse_occupancy",
                                       "lz_density_b"])


def test_reference_rule_exactly():
    m = classify_table(_table([
        [0.39, 5.0, 0.9, 0.0, 0.8],     # beta < 0.40 wins over everything -> collapse
        [0.40, 3.6, 0.66, 0.0, 0.8],    # beta exactly 0.40 is not collapse; H > 3.5 and gzip > 0.65 -> noise
        [0.50, 3.6, 0.65, 0.0, 0.8],    # gzip exactly 0.65 is not > 0.65 -> rich
        [0.50, 3.5, 0.90, 0.0, 0.8],    # H exactly 3.5 is not > 3.5 -> suppressed
        [np.nan, 4.0, 0.5, 0.0, 0.8],   # NaN beta (too few words) is not < 0.40 -> rich
    ]), CFG)
    assert m["regime_ref"].tolist() == ["collapse", "noise", "rich", "suppressed", "rich"]


def test_classifier_b():
    m = classify_table(_table([
        [0.9, 2.0, 0.3, 0.6, 0.8],      # occupancy >= 0.5 -> collapse (beta says otherwise)
        [0.9, 2.0, 0.3, 0.1, 0.30],     # LZ density <= 0.35 -> collapse
        [0.5, 4.0, 0.60, 0.0, 0.95],    # no token reuse -> noise (the reference rule says rich)
        [0.5, 5.5, 0.60, 0.0, 0.7],     # entropy >= 5 -> noise
        [0.5, 4.0, 0.60, 0.0, 0.7],     # rich
        [0.5, 2.0, 0.60, 0.0, 0.7],     # suppressed
    ]), CFG)
    assert m["regime_b"].tolist() == ["collapse", "collapse", "noise", "noise", "rich", "suppressed"]
    assert m["regimes_agree"].tolist() == [False, False, False, False, True, True]
