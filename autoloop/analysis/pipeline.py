"""`analyze`: every metric of every selected run, cached as Parquet tables under results_dir/analysis/.

Layout::

    results_dir/analysis/runs/<run_id>/key.json          what the tables were computed from (written last)
    results_dir/analysis/runs/<run_id>/<table>.parquet   metrics, windows, plane, collapses, transitions,
                                                         segments, eos
    results_dir/analysis/run_metrics.parquet             one row per analysed run (all runs, rebuilt)

A run is recomputed only when its key changes: the names of its finished parts (they say how many rows
are done) and the hash of the analysis config (which includes ANALYSIS_VERSION). Runs are analysed in
parallel with joblib (one process per core) and a tqdm bar. Reads only through autoloop.store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoloop.analysis.config import AnalysisConfig, load_config
from autoloop.analysis import eos_phase, events, floors, regimes, runstats, windows
from autoloop.store import RunStore, _select, atomic_write_bytes

TABLES = ("metrics", "windows", "plane", "collapses", "transitions", "segments", "eos")
READ_COLUMNS = ["step", "phase", "token_id", "entropy", "entropy_tempered", "logprob", "eos", "text"]


def analysis_dir(results_dir) -> Path:
    return Path(results_dir) / "analysis"


def run_analysis_dir(results_dir, run_id: str) -> Path:
    return analysis_dir(results_dir) / "runs" / run_id


def cache_key(store: RunStore, run_id: str, cfg: AnalysisConfig) -> dict[str, Any]:
    parts = store.parts(run_id)
    return {"parts": [p.name for _, _, p in parts], "rows_done": parts[-1][1] if parts else 0,
            "config_hash": cfg.hash()}


def is_cached(results_dir, run_id: str, key: dict) -> bool:
    path = run_analysis_dir(results_dir, run_id) / "key.json"
    try:
        return json.loads(path.read_text()) == key
    except (OSError, ValueError):
        return False


# ------------------------------------------------------------------------------- one run, in memory
def parse_L_schedule(text: str) -> list[tuple[int, int]]:
    """"0:L64,20000:L256" (list_runs' L_schedule column) -> [(0, 64), (20000, 256)]."""
    return [(int(a), int(b.lstrip("L"))) for a, b in (e.split(":") for e in text.split(",") if e)]


def compute_run(rows: pd.DataFrame, L: int, cfg: AnalysisConfig,
                L_schedule: list[tuple[int, int]] | None = None) -> dict[str, Any]:
    """All analysis tables of one run from its rows (any rows; only phase == "run" ones are used).

    `L_schedule` ((step, L) pairs; default: L throughout) makes "W = L" follow the run's L changes.

    Returns {"metrics": dict, "windows": DataFrame, ...}. Pure: no files, no run metadata.
    """
    run = rows[rows["phase"] == "run"] if "phase" in rows else rows
    steps = run["step"].to_numpy(np.int64)
    h = run["entropy"].to_numpy(np.float64)
    tokens = run["token_id"].to_numpy(np.int64)
    texts = run["text"].tolist()
    eos = run["eos"].to_numpy(bool)
    n = len(run)

    m: dict[str, Any] = runstats.run_stats(h, run["entropy_tempered"].to_numpy(), run["logprob"].to_numpy(),
                                           eos, texts, cfg.heaps_checkpoints, cfg.acf_threshold)
    m["collapse_occupancy"] = float(np.mean(h < cfg.collapse_level)) if n else float("nan")

    # window series, all W sharing one text buffer and one LZ parse. "W = L" follows the run's L
    # schedule: every L the run used gets a series, and the W = L series takes, at each window end,
    # the one whose W is the L in force at that step.
    sched = sorted(L_schedule or [(0, L)])
    idx = np.searchsorted([s for s, _ in sched], steps, side="right") - 1
    ctx = np.asarray([v for _, v in sched], dtype=np.int64)[np.maximum(idx, 0)]  # the L in force per step
    run_Ls = sorted({int(x) for x in np.unique(ctx)}) or [L]
    Ws = sorted(set(cfg.windows_for(L)) | set(run_Ls))
    buf, off = windows.text_bytes(texts)
    lz = windows.lz_phrase_counts(tokens, Ws, cfg.stride)
    frames, memo = [], {}
    at_L: list[tuple[np.ndarray, ...]] = []
    for W in Ws:
        ends, ratio, norm = windows.gzip_series(buf, off, W, cfg.stride, memo)
        dens = lz[W] / W
        frames.append(pd.DataFrame({"W": np.full(len(ends), W, np.int32), "step": steps[ends],
                                    "gzip_ratio": ratio, "gzip_norm": norm, "lz_phrases": lz[W],
                                    "lz_density": dens}))
        for name, v in (("gzip_mean", ratio), ("gzip_norm_mean", norm), ("lz_density_mean", dens)):
            m[f"{name}_W{W}"] = float(np.nanmean(v)) if len(v) and np.isfinite(v).any() else float("nan")
        if W in run_Ls:
            keep = ctx[ends] == W
            at_L.append((ends[keep], ratio[keep], norm[keep], dens[keep]))
        if W == cfg.b_window:
            m["lz_density_b"] = float(np.median(dens)) if len(dens) else float("nan")
    m["gzip256_mean"] = m["gzip_mean_W256"]
    win = pd.concat(frames, ignore_index=True)
    ends_L, gz_L, norm_L, dens_L = (np.concatenate(c) for c in zip(*at_L))
    order = np.argsort(ends_L, kind="stable")
    ends_L, gz_L, norm_L, dens_L = ends_L[order], gz_L[order], norm_L[order], dens_L[order]
    for name, v in (("gzip_mean", gz_L), ("gzip_norm_mean", norm_L), ("lz_density_mean", dens_L)):
        m[f"{name}_WL"] = float(np.nanmean(v)) if len(v) and np.isfinite(v).any() else float("nan")

    # events
    col = events.collapse_events(h, cfg.collapse_level, cfg.collapse_min_steps, cfg.escape_level,
                                 cfg.escape_min_steps)
    tra = events.transition_events(h, cfg.collapse_level, cfg.transition_low_min_steps, cfg.transition_jump,
                                   cfg.spike_before, cfg.spike_after, cfg.landing_steps)
    for df in (col, tra):
        for c in ("start", "end", "stretch_start", "stretch_end", "step"):
            if c in df and len(df):
                df[c] = [int(steps[i]) if i < n else int(steps[-1]) + 1 for i in df[c]]
    m.update(n_collapses=len(col), n_escapes=int(col["escaped"].sum()) if len(col) else 0,
             collapse_steps=int(col["duration"].sum()) if len(col) else 0, n_transitions=len(tra),
             n_transitions_deeper=int((tra["direction"] == "deeper").sum()) if len(tra) else 0)

    # staircase floors
    seg, fsum = floors.detect_floors(h, cfg.block, cfg.floor_penalty_scale, cfg.floor_min_blocks,
                                     cfg.floor_max_level, cfg.floor_min_steps, cfg.floor_merge_tol)
    m.update(fsum)
    m["n_segments"] = len(seg)

    # phase plane and EOS positions
    plane = eos_phase.phase_plane(h, ends_L, gz_L, cfg.block)
    eos_t = eos_phase.eos_positions(h, eos, plane, L, cfg.block, cfg.eos_knn, cfg.eos_interior_quantile,
                                    cfg.eos_deep_level)
    m.update(eos_phase.eos_summary(eos_t))
    if len(eos_t):
        eos_t["step"] = steps[eos_t["step"].to_numpy()]

    m["regime_ref"] = regimes.regime_reference(m["heaps_beta"], m.get("entropy_mean", np.nan), m["gzip256_mean"], cfg)
    m["regime_b"] = regimes.regime_b(m["collapse_occupancy"], m.get("lz_density_b", np.nan),
                                     m.get("entropy_mean", np.nan), cfg)
    m["regimes_agree"] = m["regime_ref"] == m["regime_b"]
    return {"metrics": m, "windows": win, "plane": plane, "collapses": col, "transitions": tra,
            "segments": seg, "eos": eos_t}


# ------------------------------------------------------------------------------- one run, on disk
def _write_table(df: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp, compression="zstd")
    os.replace(tmp, path)


def analyze_run(results_dir, run_id: str, cfg: AnalysisConfig, force: bool = False) -> str:
    """Analyse one run unless its cache is current; returns "cached", "computed" or "empty"."""
    windows.speed_up_allocator()
    store = RunStore(results_dir)
    key = cache_key(store, run_id, cfg)
    if not force and is_cached(results_dir, run_id, key):
        return "cached"
    from autoloop.store import flatten_meta

    flat = flatten_meta(store.read_meta(run_id))
    rows = store.read_rows(run_id, READ_COLUMNS).to_pandas()
    out_dir = run_analysis_dir(results_dir, run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "key.json").unlink(missing_ok=True)
    if (rows["phase"] == "run").sum() == 0:
        return "empty"
    res = compute_run(rows, int(flat["L"]), cfg, parse_L_schedule(flat["L_schedule"]))
    metrics = {**flat, **res.pop("metrics"), "rows_done": key["rows_done"], "config_hash": key["config_hash"]}
    _write_table(pd.DataFrame([metrics]), out_dir / "metrics.parquet")
    for name, df in res.items():
        df = df.copy()
        df.insert(0, "run_id", run_id)
        _write_table(df, out_dir / f"{name}.parquet")
    atomic_write_bytes(out_dir / "key.json", json.dumps(key, sort_keys=True).encode())
    return "computed"


# ------------------------------------------------------------------------------------- many runs
def analyze(results_dir="results", cfg: AnalysisConfig | None = None, jobs: int = -1, force: bool = False,
            progress: bool = True, **filters: Any) -> dict[str, str]:
    """Analyse the selected runs (filters as in list_runs); returns {run_id: status}."""
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    cfg = cfg or load_config()
    run_ids = [r["run_id"] for r in _select(results_dir, filters)]
    status: dict[str, str] = {}
    if run_ids:
        n_jobs = 1 if len(run_ids) == 1 else jobs
        par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        it = par(delayed(_job)(str(results_dir), rid, cfg, force) for rid in run_ids)
        for rid, st in tqdm(it, total=len(run_ids), desc="analyze", unit="run", disable=not progress):
            status[rid] = st
    _rebuild_run_metrics(results_dir)
    return status


def _job(results_dir: str, run_id: str, cfg: AnalysisConfig, force: bool) -> tuple[str, str]:
    return run_id, analyze_run(results_dir, run_id, cfg, force)


def _rebuild_run_metrics(results_dir) -> None:
    base = analysis_dir(results_dir) / "runs"
    present = set(RunStore(results_dir).run_ids())  # a run deleted from the store leaves the table too
    frames = [pd.read_parquet(p / "metrics.parquet") for p in sorted(base.glob("*")) if p.name in present
              and (p / "key.json").is_file() and (p / "metrics.parquet").is_file()] if base.is_dir() else []
    if frames:
        analysis_dir(results_dir).mkdir(parents=True, exist_ok=True)
        _write_table(pd.concat(frames, ignore_index=True), analysis_dir(results_dir) / "run_metrics.parquet")


# --------------------------------------------------------------------------------------- reading
def load_table(results_dir="results", table: str = "metrics", **filters: Any) -> pd.DataFrame:
    """One analysis table (see TABLES) for the selected, analysed runs, concatenated."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    frames = []
    for r in _select(results_dir, filters):
        d = run_analysis_dir(results_dir, r["run_id"])
        if (d / "key.json").is_file() and (d / f"{table}.parquet").is_file():
            df = pd.read_parquet(d / f"{table}.parquet")
            if table == "metrics":  # metadata as it is now (state, steps, ... change without new parts)
                for k, v in r.items():
                    df[k] = [v] * len(df)
            frames.append(df)
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_metrics(results_dir="results", **filters: Any) -> pd.DataFrame:
    """The run-metrics table (one row per analysed run), filtered like list_runs, e.g. T=0.5, L=[64, 128].

    Runs not yet analysed are left out: run `autoloop analyze` first.
    """
    return load_table(results_dir, "metrics", **filters)
