"""Regime labels of a run: the reference rule (a), kept exactly, and a length-independent classifier (b).

Regimes (one vocabulary, used everywhere): collapse, suppressed, rich, noise.

(a) reference rule, on run metrics:
    heaps_beta < 0.40 -> collapse; else entropy_mean > 3.5 and gzip256_mean > 0.65 -> noise;
    else entropy_mean > 3.5 -> rich; else suppressed.
    Flaws: Heaps beta is estimated over the whole run, and V(n) ~ n^beta is not a power law over short
    and long ranges alike, so the same dynamics give different beta at 10k and 100k steps; and gzip on
    ~1 KB of text cannot tell random sub-word soup from prose (both compress to ~0.6), so T = 1.5
    runs come out "rich".

(b) length-independent classifier. Every feature is a per-step or fixed-window average, so it
    converges as the run grows instead of drifting with it:
    - occupancy = fraction of steps with entropy < collapse_level (the collapse level of events.py);
    - lz = median LZ78 phrase density (phrases / W) at W = b_window (64): ~1 when no token of the
      window repeats an earlier one (noise: sampling spreads over the whole vocabulary), low when the
      window repeats itself (collapse); it reads token ids, so it does not depend on how the bytes of
      a token compress;
    - entropy_mean.
    Rules, in order: occupancy >= b_collapse_occupancy or lz <= b_collapse_lz -> collapse;
    lz >= b_noise_lz or entropy_mean >= b_noise_entropy -> noise; entropy_mean >= b_rich_entropy ->
    rich; else suppressed. The thresholds (analysis/default.yaml) are first guesses from synthetic
    streams and must be checked against labelled real runs.
"""

from __future__ import annotations

import math

import pandas as pd

REGIMES = ("collapse", "suppressed", "rich", "noise")


def regime_reference(heaps_beta: float, entropy_mean: float, gzip256_mean: float, cfg) -> str:
    # NaN beta (too few words) is not < 0.40, exactly as in the reference comparison.
    if heaps_beta < cfg.ref_beta_collapse:
        return "collapse"
    if entropy_mean > cfg.ref_entropy_rich and gzip256_mean > cfg.ref_gzip256_noise:
        return "noise"
    if entropy_mean > cfg.ref_entropy_rich:
        return "rich"
    return "suppressed"


def regime_b(occupancy: float, lz_density: float, entropy_mean: float, cfg) -> str:
    if occupancy >= cfg.b_collapse_occupancy or (not math.isnan(lz_density) and lz_density <= cfg.b_collapse_lz):
        return "collapse"
    if (not math.isnan(lz_density) and lz_density >= cfg.b_noise_lz) or entropy_mean >= cfg.b_noise_entropy:
        return "noise"
    if entropy_mean >= cfg.b_rich_entropy:
        return "rich"
    return "suppressed"


def classify_table(metrics: pd.DataFrame, cfg) -> pd.DataFrame:
    """Add regime_ref, regime_b and regimes_agree columns to a run-metrics table."""
    m = metrics.copy()
    m["regime_ref"] = [regime_reference(b, h, g, cfg) for b, h, g in
                       zip(m["heaps_beta"], m["entropy_mean"], m["gzip256_mean"])]
    m["regime_b"] = [regime_b(o, z, h, cfg) for o, z, h in
                     zip(m["collapse_occupancy"], m["lz_density_b"], m["entropy_mean"])]
    m["regimes_agree"] = m["regime_ref"] == m["regime_b"]
    return m
