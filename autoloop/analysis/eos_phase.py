"""EOS phase positions: where each EOS event sits in the run's phase plane.

The phase plane has one point per block of `block` experiment steps: x = block-mean entropy (nats),
y = block compressibility = mean gzip ratio at W = L over the windows ending in the block. For every
EOS row at step t (block k = t // block):

- coordinates: block k's point;
- local density: 1 / (distance to the k-th nearest other block), in the plane standardised per axis
  (robust to duplicate and degenerate points, unlike a KDE); `interior` if the density is >= the
  eos_interior_quantile of all the run's block densities, else periphery;
- pre / post: mean entropy over the L steps before t and the L steps after t; deep if pre < eos_deep_level;
- label: "escape_attempt" if deep (the EOS comes out of a deep attractor), else "interior" if interior,
  else "other".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EOS_COLUMNS = ["step", "block", "x_entropy", "y_gzip", "density", "interior", "pre_entropy",
               "post_entropy", "deep", "label"]
LABELS = ("interior", "escape_attempt", "other")


def phase_plane(h: np.ndarray, gz_ends: np.ndarray, gz: np.ndarray, block: int) -> pd.DataFrame:
    """One row per full block: block index, start step, x (mean entropy), y (mean gzip ratio at W=L)."""
    h = np.asarray(h, dtype=np.float64)
    nb = len(h) // block
    x = h[: nb * block].reshape(nb, block).mean(axis=1) if nb else np.array([])
    b = np.asarray(gz_ends) // block
    ok = (b < nb) & np.isfinite(gz)
    sums = np.bincount(b[ok], weights=np.asarray(gz)[ok], minlength=nb)[:nb]
    cnt = np.bincount(b[ok], minlength=nb)[:nb]
    with np.errstate(invalid="ignore"):
        y = np.where(cnt > 0, sums / np.maximum(cnt, 1), np.nan)
    return pd.DataFrame({"block": np.arange(nb), "start": np.arange(nb) * block, "x": x, "y": y})


def block_density(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    from scipy.spatial import cKDTree

    pts = np.column_stack([x, y]).astype(np.float64)
    good = np.all(np.isfinite(pts), axis=1)
    dens = np.full(len(pts), np.nan)
    if good.sum() < 2:
        return dens
    p = pts[good]
    scale = p.std(axis=0)
    p = (p - p.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    kk = min(k, len(p) - 1)
    d, _ = cKDTree(p).query(p, k=kk + 1)
    dens[good] = 1.0 / (d[:, kk] + 1e-9)
    return dens


def eos_positions(h, eos, plane: pd.DataFrame, L: int, block: int, knn=10, quantile=0.5,
                  deep_level=0.5) -> pd.DataFrame:
    h = np.asarray(h, dtype=np.float64)
    steps = np.flatnonzero(np.asarray(eos, dtype=bool))
    if steps.size == 0:
        return pd.DataFrame(columns=EOS_COLUMNS)
    dens = block_density(plane["x"].to_numpy(), plane["y"].to_numpy(), knn)
    thr = np.nanquantile(dens, quantile) if np.isfinite(dens).any() else np.nan
    nb = len(plane)
    rows = []
    for t in steps.tolist():
        k = t // block
        inb = k < nb
        d = dens[k] if inb else np.nan
        pre = h[max(t - L, 0) : t]
        post = h[t + 1 : t + 1 + L]
        pre_m = float(pre.mean()) if pre.size else np.nan
        deep = bool(pre.size and pre_m < deep_level)
        interior = bool(np.isfinite(d) and d >= thr)
        label = "escape_attempt" if deep else ("interior" if interior else "other")
        rows.append({"step": t, "block": k if inb else -1,
                     "x_entropy": float(plane["x"].iat[k]) if inb else np.nan,
                     "y_gzip": float(plane["y"].iat[k]) if inb else np.nan,
                     "density": float(d), "interior": interior, "pre_entropy": pre_m,
                     "post_entropy": float(post.mean()) if post.size else np.nan, "deep": deep,
                     "label": label})
    return pd.DataFrame(rows, columns=EOS_COLUMNS)


def eos_summary(eos_table: pd.DataFrame) -> dict[str, int]:
    counts = eos_table["label"].value_counts() if len(eos_table) else {}
    return {f"eos_{lab}": int(counts.get(lab, 0)) for lab in LABELS}
