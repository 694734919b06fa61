"""Staircase floors: plateaus of the entropy trace, found as change points of the block-mean entropy.

Method: average the entropy over blocks of `block` steps; estimate the noise level sigma of the block
series robustly from its first differences (MAD / 0.6745 / sqrt 2, immune to the steps themselves);
run PELT with the l2 cost (ruptures' recursion, reimplemented with prefix sums: see pelt_l2) with
penalty = floor_penalty_scale * sigma^2 * log(n_blocks) and segments of at least floor_min_blocks
blocks. Each segment gets the mean and std of the raw entropy over its steps.

A *floor* is a low plateau the trace steps onto: a segment with level <= floor_max_level lasting
>= floor_min_steps, in a segmentation with at least one change point (a stationary trace is one
segment and has no floors, whatever its level). Floors whose levels differ by < floor_merge_tol are
the same floor; floors are numbered 0 = lowest. Outputs the visiting order and the time to first reach
the lowest floor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEGMENT_COLUMNS = ["start", "end", "level", "std", "floor"]


def block_means(x: np.ndarray, block: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    nb = len(x) // block
    return x[: nb * block].reshape(nb, block).mean(axis=1) if nb else np.array([])


def noise_sigma(y: np.ndarray) -> float:
    d = np.diff(y)
    if d.size == 0:
        return 0.0
    return float(np.median(np.abs(d - np.median(d))) / 0.6745 / np.sqrt(2))


def pelt_l2(y: np.ndarray, pen: float, min_size: int) -> list[int]:
    """PELT with the l2 cost (segment cost = sum of squared deviations from its mean), penalty per segment.

    The same recursion as ruptures' `Pelt(model="l2", min_size, jump=1).predict(pen)` (checked against it
    in the tests), with O(1) segment costs from prefix sums instead of a variance per candidate: ~50x
    faster on 1000 blocks. Returns the breakpoints (segment ends), the last being len(y).
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    s1 = np.concatenate([[0.0], np.cumsum(y)])
    s2 = np.concatenate([[0.0], np.cumsum(y * y)])
    F = np.full(n + 1, np.inf)
    F[0] = 0.0
    prev = np.zeros(n + 1, dtype=np.int64)
    adm = np.zeros(0, dtype=np.int64)
    ends = [k for k in range(min_size, n)] + [n]
    for b in ends:
        adm = np.append(adm, b - min_size)
        adm = adm[np.isfinite(F[adm])]  # starts no partition reaches (0 < t < min_size) never count
        m = b - adm
        cost = (s2[b] - s2[adm]) - (s1[b] - s1[adm]) ** 2 / m
        tot = F[adm] + cost + pen
        j = int(np.argmin(tot))
        F[b], prev[b] = tot[j], adm[j]
        adm = adm[tot <= F[b] + pen]
    bkps, b = [], n
    while b > 0:
        bkps.append(b)
        b = int(prev[b])
    return bkps[::-1]


def change_points(y: np.ndarray, penalty_scale: float, min_blocks: int) -> list[int]:
    """Block indices where a new segment starts (excluding 0), by PELT."""
    n = len(y)
    if n < 2 * min_blocks:
        return []
    pen = penalty(y, penalty_scale)
    return [b for b in pelt_l2(y, pen, min_blocks) if b < n]


def penalty(y: np.ndarray, penalty_scale: float) -> float:
    sigma = noise_sigma(y)
    sigma = max(sigma, 1e-3 * max(np.std(y), 1e-6))  # a noiseless trace still needs a positive penalty
    return penalty_scale * sigma**2 * np.log(len(y))


def detect_floors(h: np.ndarray, block=100, penalty_scale=3.0, min_blocks=5, max_level=1.5,
                  min_steps=1000, merge_tol=0.15) -> tuple[pd.DataFrame, dict]:
    """(segments table, summary). Segment steps are [start, end) in experiment rows."""
    h = np.asarray(h, dtype=np.float64)
    y = block_means(h, block)
    if len(y) == 0:
        return pd.DataFrame(columns=SEGMENT_COLUMNS), _summary([], None, len(h))
    cps = change_points(y, penalty_scale, min_blocks)
    edges = [0] + [c * block for c in cps] + [len(h)]
    rows = []
    for a, b in zip(edges[:-1], edges[1:]):
        seg = h[a:b]
        rows.append({"start": a, "end": b, "level": float(seg.mean()), "std": float(seg.std()), "floor": -1})
    seg = pd.DataFrame(rows, columns=SEGMENT_COLUMNS)
    if len(seg) > 1:
        cand = seg[(seg["level"] <= max_level) & (seg["end"] - seg["start"] >= min_steps)]
        levels = np.sort(cand["level"].to_numpy())
        # group sorted levels: a gap >= merge_tol starts a new floor
        groups = np.concatenate([[0], np.cumsum(np.diff(levels) >= merge_tol)]) if levels.size else levels
        for i in cand.index:
            seg.loc[i, "floor"] = int(groups[np.searchsorted(levels, seg.loc[i, "level"])])
    floors = seg[seg["floor"] >= 0]
    return seg, _summary(floors["floor"].tolist(), floors, len(h))


def _summary(order: list[int], floors: pd.DataFrame | None, n: int) -> dict:
    visits = [f for i, f in enumerate(order) if i == 0 or order[i - 1] != f]
    if floors is None or floors.empty:
        return {"n_floors": 0, "floor_levels": "", "floor_order": "", "lowest_floor_level": float("nan"),
                "time_to_lowest_floor": float("nan")}
    levels = floors.groupby("floor")["level"].mean().sort_index()
    first_lowest = int(floors[floors["floor"] == 0]["start"].min())
    return {
        "n_floors": int(levels.size),
        "floor_levels": ",".join(f"{v:.3f}" for v in levels),
        "floor_order": ",".join(str(v) for v in visits),
        "lowest_floor_level": float(levels.iloc[0]),
        "time_to_lowest_floor": float(first_lowest),
    }
