"""Per-step derived columns and per-run statistics (experiment rows only).

Definitions (reference):

- surprisal = -logprob; surprisal gap = entropy + logprob (entropy at T = 1 minus surprisal under the
  tempered distribution), and the tempered gap = entropy_tempered + logprob (same temperature on both
  sides; its mean is ~0 for a calibrated sampler).
- entropy mean / std / min / max; surprisal mean / variance / skewness / excess kurtosis (scipy, biased).
- EOS count, rate (per step), inter-EOS gaps (steps between consecutive EOS rows: mean, median, max).
- Heaps beta: words = whitespace split of the decoded text, lowercased, length > 1; V(n) distinct words
  among the first n, at n_k = floor(k N / 20), k = 1..20; OLS slope of log V on log n.
- type-token ratio: distinct words / words (same words as Heaps).
- decorrelation lag: first lag with autocorrelation of the entropy series < 1/e (ACF by FFT); NaN when
  it never drops below.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def surprisal_columns(entropy, entropy_tempered, logprob) -> dict[str, np.ndarray]:
    lp = np.asarray(logprob, dtype=np.float64)
    return {
        "surprisal": -lp,
        "surprisal_gap": np.asarray(entropy, dtype=np.float64) + lp,
        "surprisal_gap_tempered": np.asarray(entropy_tempered, dtype=np.float64) + lp,
    }


def words_of(text: str) -> list[str]:
    return [w for w in text.lower().split() if len(w) > 1]


def heaps_beta(words: list[str], checkpoints: int = 20) -> float:
    n = len(words)
    if n < checkpoints or checkpoints < 2:
        return float("nan")
    _, first = np.unique(np.array(words, dtype=object), return_index=True)
    new = np.zeros(n, dtype=np.int64)
    new[first] = 1
    vocab = np.cumsum(new)
    ns = (np.arange(1, checkpoints + 1) * n) // checkpoints
    V = vocab[ns - 1]
    slope = np.polyfit(np.log(ns), np.log(V), 1)[0]
    return float(slope)


def type_token_ratio(words: list[str]) -> float:
    return len(set(words)) / len(words) if words else float("nan")


def acf_fft(x: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """Autocorrelation (biased, normalised so acf[0] = 1) by zero-padded FFT."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        return np.array([])
    x = x - x.mean()
    size = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(x, size)
    ac = np.fft.irfft(f * np.conj(f), size)[:n]
    if ac[0] <= 0:
        return np.full(n if max_lag is None else min(n, max_lag + 1), np.nan)
    ac = ac / ac[0]
    return ac if max_lag is None else ac[: max_lag + 1]


def acf_reference(x: np.ndarray, lag: int) -> float:
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    d = np.dot(x, x)
    return float(np.dot(x[: len(x) - lag], x[lag:]) / d)


def decorrelation_lag(x: np.ndarray, threshold: float = 1 / np.e) -> float:
    ac = acf_fft(x)
    below = np.flatnonzero(ac < threshold)
    return float(below[0]) if below.size else float("nan")


def eos_stats(eos: np.ndarray) -> dict[str, float]:
    eos = np.asarray(eos, dtype=bool)
    n = len(eos)
    pos = np.flatnonzero(eos)
    gaps = np.diff(pos)
    return {
        "eos_count": int(pos.size),
        "eos_rate": pos.size / n if n else float("nan"),
        "eos_gap_mean": float(gaps.mean()) if gaps.size else float("nan"),
        "eos_gap_median": float(np.median(gaps)) if gaps.size else float("nan"),
        "eos_gap_max": float(gaps.max()) if gaps.size else float("nan"),
    }


def run_stats(entropy, entropy_tempered, logprob, eos, texts, checkpoints: int = 20,
              acf_threshold: float = 1 / np.e) -> dict[str, float]:
    """All per-run scalar statistics of one run's experiment rows."""
    h = np.asarray(entropy, dtype=np.float64)
    cols = surprisal_columns(entropy, entropy_tempered, logprob)
    s = cols["surprisal"]
    n = len(h)
    out: dict[str, float] = {"n_steps": n}
    if n:
        out.update(entropy_mean=h.mean(), entropy_std=h.std(), entropy_min=h.min(), entropy_max=h.max(),
                   entropy_tempered_mean=float(np.mean(entropy_tempered)),
                   surprisal_mean=s.mean(), surprisal_var=s.var(),
                   surprisal_skew=float(stats.skew(s)) if s.std() > 0 else float("nan"),
                   surprisal_kurtosis=float(stats.kurtosis(s)) if s.std() > 0 else float("nan"),
                   surprisal_gap_mean=cols["surprisal_gap"].mean(),
                   surprisal_gap_tempered_mean=cols["surprisal_gap_tempered"].mean())
    out.update(eos_stats(eos))
    words = words_of("".join(texts))
    out["n_words"] = len(words)
    out["heaps_beta"] = heaps_beta(words, checkpoints)
    out["ttr"] = type_token_ratio(words)
    out["decorrelation_lag"] = decorrelation_lag(h, acf_threshold) if n > 1 else float("nan")
    return {k: (float(v) if not isinstance(v, int) else v) for k, v in out.items()}
