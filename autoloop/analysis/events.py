"""Collapse / escape events and floor transitions in the entropy trace (reference definitions).

- collapse: a stretch of >= collapse_min_steps (500) steps with entropy < collapse_level (0.1). It is
  ended (an escape) at the first step e after the stretch from which >= escape_min_steps (200)
  consecutive steps have entropy >= escape_level (0.3). Low stretches before that escape belong to the
  same collapse. A collapse with no escape runs to the end of the run (escaped = False).
- transition: a low stretch (< collapse_level, >= transition_low_min_steps = 200 steps) followed by
  the first step i with entropy > transition_jump (0.5). floor = mean entropy over the stretch,
  spike = max over [i-10, i+50), landing = mean over [i, i+2000); direction = "deeper" if
  landing < 2 x floor, else "up".

Steps are positions in the run's experiment rows (0 = the run's step 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLLAPSE_COLUMNS = ["start", "end", "duration", "escaped", "mean_entropy"]
TRANSITION_COLUMNS = ["stretch_start", "stretch_end", "step", "floor", "spike", "landing", "direction"]


def runs_of(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximal runs of True as (starts, ends), ends exclusive."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.diff(m.astype(np.int8))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _first_sustained(mask: np.ndarray, start: int, length: int) -> int:
    """First index e >= start with mask[e:e+length] all True, or -1."""
    s, e = runs_of(mask[start:])
    ok = np.flatnonzero(e - s >= length)
    return int(s[ok[0]]) + start if ok.size else -1


def collapse_events(h: np.ndarray, level=0.1, min_steps=500, escape_level=0.3, escape_steps=200) -> pd.DataFrame:
    h = np.asarray(h, dtype=np.float64)
    starts, ends = runs_of(h < level)
    keep = ends - starts >= min_steps
    starts, ends = starts[keep], ends[keep]
    high = h >= escape_level
    rows, k = [], 0
    while k < len(starts):
        s, e = int(starts[k]), int(ends[k])
        esc = _first_sustained(high, e, escape_steps)
        end = esc if esc >= 0 else len(h)
        rows.append({"start": s, "end": end, "duration": end - s, "escaped": esc >= 0,
                     "mean_entropy": float(h[s:end].mean())})
        k += 1
        while k < len(starts) and starts[k] < end:  # later low stretches inside the same collapse
            k += 1
    return pd.DataFrame(rows, columns=COLLAPSE_COLUMNS)


def transition_events(h: np.ndarray, level=0.1, min_steps=200, jump=0.5, before=10, after=50,
                      landing_steps=2000) -> pd.DataFrame:
    h = np.asarray(h, dtype=np.float64)
    starts, ends = runs_of(h < level)
    rows = []
    above = np.flatnonzero(h > jump)
    for s, e in zip(starts, ends):
        if e - s < min_steps:
            continue
        j = np.searchsorted(above, e)
        if j >= above.size:
            continue
        i = int(above[j])
        floor = float(h[s:e].mean())
        landing = float(h[i : i + landing_steps].mean())
        rows.append({"stretch_start": int(s), "stretch_end": int(e), "step": i, "floor": floor,
                     "spike": float(h[max(i - before, 0) : i + after].max()), "landing": landing,
                     "direction": "deeper" if landing < 2 * floor else "up"})
    return pd.DataFrame(rows, columns=TRANSITION_COLUMNS)
