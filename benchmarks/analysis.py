"""Benchmark: the full analysis suite on one realistic 100k-step run vs a straightforward implementation.

    .venv/bin/python benchmarks/analysis.py [--steps 100000] [--L 64] [--stride 1]

Both sides run in this one process on one core (BLAS/OpenMP threads pinned to 1) on the same stream
(tests/analysis_fixtures.realistic_stream: rich text, loops, plateaus, EOS). The fast side is
`compute_run` (every table of `autoloop analyze`). The straightforward side computes the same window
definitions with one gzip.compress call and one set-based LZ parse per window, position and W, joining
the window's text each time, and the decorrelation lag by direct dot products lag by lag; the rest of
the suite (stats, events, floors, EOS) is the same code on both sides and is counted on both.

It runs first, with the default allocator. The fast side then sets the glibc allocator thresholds
(windows.speed_up_allocator: a 10x cheaper zlib call here), which is process-wide, so the
straightforward gzip loop is timed once more with that fix, to report the gain from the algorithms
alone as well. Values are compared exactly. Target: fast <= 15 s and >= 4x faster.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import gzip  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autoloop.analysis import runstats, windows  # noqa: E402
from autoloop.analysis.config import AnalysisConfig  # noqa: E402
from autoloop.analysis.pipeline import compute_run  # noqa: E402
from tests.analysis_fixtures import realistic_stream  # noqa: E402


def straightforward(tokens, texts, h, Ws, stride, threshold):
    """The same window definitions, one window at a time; returns (series per W, lag, gzip seconds, LZ seconds)."""
    out, t_gz, t_lz = {}, 0.0, 0.0
    for W in Ws:
        t0 = time.perf_counter()
        ends = windows.window_ends(len(tokens), W, stride)
        gz, gzn = [], []
        for t in ends:
            b = "".join(texts[t - W + 1 : t + 1]).encode("utf-8")
            r = len(gzip.compress(b, 6)) / len(b) if b else float("nan")
            rnd = len(gzip.compress(windows._RANDOM_BYTES[: len(b)], 6)) / len(b) if b else float("nan")
            gz.append(r)
            gzn.append(r / rnd)
        t1 = time.perf_counter()
        lz = [windows.lz_phrases_reference(tokens[t - W + 1 : t + 1]) for t in ends]
        t2 = time.perf_counter()
        t_gz += t1 - t0
        t_lz += t2 - t1
        out[W] = (ends, np.array(gz), np.array(gzn), np.array(lz, dtype=np.int32))
    lag = float("nan")
    for k in range(len(h)):
        if runstats.acf_reference(h, k) < threshold:
            lag = float(k)
            break
    return out, lag, t_gz, t_lz


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--L", type=int, default=64)
    p.add_argument("--stride", type=int, default=1)
    a = p.parse_args()
    cfg = AnalysisConfig(stride=a.stride)
    Ws = cfg.windows_for(a.L)
    toks, ent, texts = realistic_stream(a.steps, seed=0)
    rows = pd.DataFrame({"step": np.arange(a.steps), "phase": "run", "token_id": toks, "entropy": ent,
                         "entropy_tempered": ent, "logprob": -ent, "eos": toks == 2, "text": texts})
    print(f"stream: {a.steps} steps, L={a.L}, W={list(Ws)}, stride={a.stride}, "
          f"{sum(len(t.encode()) for t in texts)} text bytes, {len(set(toks.tolist()))} distinct tokens")

    # 1. straightforward, first, with the default allocator (as plain code would run)
    t0 = time.perf_counter()
    ref, lag, t_gz_plain, t_lz_plain = straightforward(toks.tolist(), texts, ent.astype(np.float64), Ws, a.stride,
                                                       cfg.acf_threshold)
    t_ref_windows = time.perf_counter() - t0

    # 2. the fast suite (sets the allocator thresholds for this process)
    windows.speed_up_allocator()
    t0 = time.perf_counter()
    res = compute_run(rows, a.L, cfg)
    t_fast = time.perf_counter() - t0
    t_rest = _rest_time(rows, a.L, cfg)  # stats, events, floors, EOS, tables: the same code on both sides
    t_fast_windows = t_fast - t_rest

    # 3. the straightforward gzip loop again, now with the allocator fix, to separate the two gains
    t0 = time.perf_counter()
    for W in Ws:
        for t in windows.window_ends(len(texts), W, a.stride):
            b = "".join(texts[t - W + 1 : t + 1]).encode("utf-8")
            len(gzip.compress(b, 6))
            len(gzip.compress(windows._RANDOM_BYTES[: len(b)], 6))
    t_gz_fixed = time.perf_counter() - t0

    t_ref = t_ref_windows + t_rest
    t_ref_fixed = t_ref - t_gz_plain + t_gz_fixed
    print(f"fast suite (compute_run, every table):        {t_fast:7.2f} s   (window series + ACF {t_fast_windows:.2f} s, "
          f"rest {t_rest:.2f} s)")
    print(f"straightforward suite:                        {t_ref:7.2f} s   (gzip {t_gz_plain:.2f} s, LZ {t_lz_plain:.2f} s, "
          f"ACF+rest {t_ref - t_gz_plain - t_lz_plain:.2f} s)")
    print(f"straightforward, with the allocator fix too:  {t_ref_fixed:7.2f} s   (gzip {t_gz_fixed:.2f} s)")

    win = res["windows"]
    same = True
    for W in Ws:
        d = win[win["W"] == W]
        ends, gz, gzn, lz = ref[W]
        ok = (np.array_equal(d["step"].to_numpy(), ends)
              and np.array_equal(d["gzip_ratio"].to_numpy(), gz, equal_nan=True)
              and np.array_equal(d["gzip_norm"].to_numpy(), gzn, equal_nan=True)
              and np.array_equal(d["lz_phrases"].to_numpy(), lz))
        same &= ok
        if not ok:
            print(f"  W={W}: values differ")
    fl = res["metrics"]["decorrelation_lag"]
    same &= lag == fl or (np.isnan(lag) and np.isnan(fl))
    print(f"identical values: {same} (gzip ratio, normalised gzip, LZ phrases at every W; decorrelation lag {lag:g})")
    print(f"speed-up: {t_ref / t_fast:.1f}x vs straightforward, {t_ref_fixed / t_fast:.1f}x vs straightforward + "
          f"allocator fix   (target: fast <= 15 s, >= 4x)")
    return 0 if same else 1


def _rest_time(rows, L, cfg) -> float:
    """compute_run with the window series and ACF replaced by their precomputed results: the time of the rest."""
    lz = windows.lz_phrase_counts(rows["token_id"].to_numpy(), cfg.windows_for(L), cfg.stride)
    buf, off = windows.text_bytes(rows["text"].tolist())
    gz = {W: windows.gzip_series(buf, off, W, cfg.stride) for W in cfg.windows_for(L)}
    lag = runstats.decorrelation_lag(rows["entropy"].to_numpy(np.float64), cfg.acf_threshold)
    saved = windows.lz_phrase_counts, windows.gzip_series, runstats.decorrelation_lag
    windows.lz_phrase_counts = lambda *a, **k: lz
    windows.gzip_series = lambda buf, off, W, *a, **k: gz[W]
    runstats.decorrelation_lag = lambda *a, **k: lag
    try:
        t0 = time.perf_counter()
        compute_run(rows, L, cfg)
        return time.perf_counter() - t0
    finally:
        windows.lz_phrase_counts, windows.gzip_series, runstats.decorrelation_lag = saved


if __name__ == "__main__":
    raise SystemExit(main())
