"""Figures, drawn only from stored data (run rows and the analysis tables), for any L and W.

Per run: entropy trace with EOS ticks; compressibility over time at several W; phase portrait
(block-mean entropy vs block gzip ratio at W = L, EOS blocks marked); staircase overlay (segments and
floors on the trace). Across runs: T x L regime maps (one panel per seed, both classifiers) and
transfer functions (T -> mean entropy, gzip ratio at W = 64, EOS rate; one line per L, seed band =
min..max over seeds). PNG, Agg backend.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from autoloop.analysis.pipeline import load_table, run_analysis_dir  # noqa: E402
from autoloop.analysis.regimes import REGIMES  # noqa: E402
from autoloop.store import RunStore, _select  # noqa: E402

REGIME_COLORS = {"collapse": "#3b4cc0", "suppressed": "#8db0fe", "rich": "#f4a582", "noise": "#b40426"}
DPI = 110


def _smooth(y: np.ndarray, k: int) -> np.ndarray:
    if k <= 1 or len(y) < k:
        return y
    c = np.cumsum(np.insert(np.nan_to_num(y), 0, 0.0))
    out = (c[k:] - c[:-k]) / k
    return np.concatenate([np.full(k - 1, np.nan), out])


def _run_title(r: dict) -> str:
    return f"run {r['run_id']}  ({r['model']}, T={r['T']:g}, L={r['L']}, seed={r['seed']})"


def _legend_below(ax, ncol: int = 3) -> None:
    """Legend under the axes, so it never hides data or EOS ticks."""
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.2), ncol=ncol, fontsize=8, frameon=False)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def entropy_trace(r: dict, rows: pd.DataFrame, block: int, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(11, 3.6))
    ax.plot(rows["step"], rows["entropy"], lw=0.3, color="0.6", label="entropy per step")
    ax.plot(rows["step"], _smooth(rows["entropy"].to_numpy(float), block), lw=1.2, color="C0",
            label=f"running mean ({block} steps)")
    eos = rows.loc[rows["eos"], "step"]
    ymax = float(np.nanmax(rows["entropy"])) if len(rows) else 1.0
    if len(eos):
        ax.plot(eos, np.full(len(eos), ymax * 1.04), "|", color="C3", ms=10, mew=1.2, label=f"EOS ({len(eos)})")
    ax.set_xlabel("step")
    ax.set_ylabel("entropy at T = 1 (nats)")
    ax.set_ylim(0, ymax * 1.1 + 1e-6)
    ax.set_title(_run_title(r) + ": entropy trace")
    _legend_below(ax)
    return _save(fig, path)


def compressibility(r: dict, win: pd.DataFrame, Ws, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(11, 3.6))
    avail = sorted(win["W"].unique())
    Ws = [w for w in (Ws or avail) if w in avail]
    cmap = plt.get_cmap("viridis")
    for i, W in enumerate(Ws):
        d = win[win["W"] == W]
        k = max(1, len(d) // 500)  # keep ~500 points per curve
        y = _smooth(d["gzip_ratio"].to_numpy(float), k)[::k]
        lab = f"W = {W}" + (" (= L)" if W == r["L"] else "")
        ax.plot(d["step"].to_numpy()[::k], y, lw=1.0, color=cmap(i / max(len(Ws) - 1, 1)), label=lab)
    ax.set_xlabel("step (window end)")
    ax.set_ylabel("gzip ratio (compressed / raw bytes)")
    ax.set_title(_run_title(r) + ": compressibility over time")
    _legend_below(ax, ncol=min(len(Ws), 7))
    return _save(fig, path)


def phase_portrait(r: dict, plane: pd.DataFrame, eos: pd.DataFrame, block: int, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    sc = ax.scatter(plane["x"], plane["y"], c=plane["start"], s=10, cmap="viridis", alpha=0.8)
    fig.colorbar(sc, ax=ax, label="block start (step)")
    if len(eos):
        for lab, mk, col in (("interior", "o", "k"), ("escape_attempt", "X", "C3"), ("other", "^", "C1")):
            e = eos[eos["label"] == lab]
            if len(e):
                ax.scatter(e["x_entropy"], e["y_gzip"], marker=mk, s=60, facecolors="none" if mk == "o" else col,
                           edgecolors=col, linewidths=1.3, label=f"EOS block: {lab.replace('_', ' ')} ({len(e)})")
        ax.legend(fontsize=8, loc="best")
    ax.set_xlabel(f"block-mean entropy (nats, blocks of {block} steps)")
    ax.set_ylabel(f"block gzip ratio at W = L = {r['L']}")
    ax.set_title(f"phase portrait: T={r['T']:g}, L={r['L']}, seed={r['seed']}\nrun {r['run_id']}", fontsize=10)
    return _save(fig, path)


def staircase_overlay(r: dict, rows: pd.DataFrame, seg: pd.DataFrame, block: int, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(11, 3.6))
    h = rows["entropy"].to_numpy(float)
    nb = len(h) // block
    if nb:
        bm = h[: nb * block].reshape(nb, block).mean(axis=1)
        ax.plot(rows["step"].to_numpy()[: nb * block : block] + block / 2, bm, lw=0.8, color="0.5",
                label=f"block mean ({block} steps)")
    for _, s in seg.iterrows():
        fl = s["floor"] >= 0
        ax.hlines(s["level"], s["start"], s["end"], colors="C3" if fl else "C0", lw=2.5 if fl else 1.5)
        if fl:
            ax.text((s["start"] + s["end"]) / 2, s["level"], f"floor {int(s['floor'])}: {s['level']:.2f}",
                    ha="center", va="bottom", fontsize=8, color="C3")
    ax.plot([], [], color="C0", lw=1.5, label="segment level (PELT)")
    ax.plot([], [], color="C3", lw=2.5, label="floor")
    ax.set_xlabel("step")
    ax.set_ylabel("entropy (nats)")
    ax.set_ylim(bottom=0)
    ax.set_title(_run_title(r) + f": staircase ({int((seg['floor'] >= 0).sum())} floor segments)")
    _legend_below(ax)
    return _save(fig, path)


def regime_map(m: pd.DataFrame, path: Path) -> Path:
    seeds = sorted(m["seed"].unique())
    Ts = sorted(m["T"].unique())
    Ls = sorted(m["L"].unique())
    codes = {g: i for i, g in enumerate(REGIMES)}
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap([REGIME_COLORS[g] for g in REGIMES])
    fig, axes = plt.subplots(2, len(seeds), figsize=(1.2 + 0.9 * len(Ts) * len(seeds), 1.6 + 1.2 * len(Ls)),
                             squeeze=False)
    for j, seed in enumerate(seeds):
        for i, (col, name) in enumerate((("regime_ref", "reference rule (a)"), ("regime_b", "classifier (b)"))):
            ax = axes[i, j]
            d = m[m["seed"] == seed].drop_duplicates(["T", "L"]).pivot(index="L", columns="T", values=col)
            d = d.reindex(index=Ls, columns=Ts)
            z = d.apply(lambda c: c.map(codes)).to_numpy(dtype=float)
            ax.imshow(np.ma.masked_invalid(z), cmap=cmap, vmin=-0.5, vmax=len(REGIMES) - 0.5, aspect="auto",
                      origin="lower")
            for (yi, xi), lab in np.ndenumerate(d.to_numpy(dtype=object)):
                if isinstance(lab, str):
                    ax.text(xi, yi, lab, ha="center", va="center", fontsize=7,
                            color="white" if lab in ("collapse", "noise") else "black")
            ax.set_xticks(range(len(Ts)), [f"{t:g}" for t in Ts])
            ax.set_yticks(range(len(Ls)), [str(v) for v in Ls])
            ax.set_xlabel("temperature T")
            ax.set_ylabel("window L (tokens)")
            ax.set_title(f"seed {seed}: {name}", fontsize=9)
    fig.suptitle("regime map (T x L)")
    fig.tight_layout()
    return _save(fig, path)


def transfer_functions(m: pd.DataFrame, path: Path) -> Path:
    ys = [("entropy_mean", "mean entropy (nats)"), ("gzip_mean_W64", "mean gzip ratio at W = 64"),
          ("eos_rate", "EOS rate (per step)")]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    Ls = sorted(m["L"].unique())
    cmap = plt.get_cmap("plasma")
    for ax, (col, lab) in zip(axes, ys):
        if col not in m:
            ax.set_title(f"{col}: not analysed")
            continue
        for i, L in enumerate(Ls):
            g = m[m["L"] == L].groupby("T")[col].agg(["mean", "min", "max", "count"]).sort_index()
            c = cmap(0.85 * i / max(len(Ls) - 1, 1))
            ax.plot(g.index, g["mean"], "o-", color=c, ms=3, label=f"L = {L} (n = {int(g['count'].max())})")
            ax.fill_between(g.index, g["min"], g["max"], color=c, alpha=0.2, lw=0)
        ax.set_xlabel("temperature T")
        ax.set_ylabel(lab)
    axes[0].legend(fontsize=8, title="seed band: min..max", title_fontsize=8)
    fig.suptitle("transfer functions (line = mean over seeds)")
    fig.tight_layout()
    return _save(fig, path)


def make_figures(results_dir="results", out=None, Ws=None, max_runs: int = 50, config_path=None,
                 **filters) -> list[Path]:
    """Draw every figure for the selected, analysed runs; returns the PNG paths."""
    from autoloop.analysis.config import load_config

    out = Path(out) if out is not None else Path(results_dir) / "figures"
    m = load_table(results_dir, "metrics", **filters)
    if m.empty:
        raise ValueError(f"no analysed runs in {results_dir} match {filters or 'the (empty) filter'}; "
                         "run `autoloop analyze` first")
    block = load_config(config_path).block
    store = RunStore(results_dir)
    paths = []
    sel = [r for r in _select(results_dir, filters) if r["run_id"] in set(m["run_id"])]
    for r in sel[:max_runs]:
        rid = r["run_id"]
        d = run_analysis_dir(results_dir, rid)
        rows = store.read_rows(rid, ["step", "phase", "entropy", "eos"]).to_pandas()
        rows = rows[rows["phase"] == "run"].reset_index(drop=True)
        win = pd.read_parquet(d / "windows.parquet")
        stem = out / f"T{r['T']:g}_L{r['L']}_seed{r['seed']}_{rid}"
        paths.append(entropy_trace(r, rows, block, Path(f"{stem}_entropy.png")))
        paths.append(compressibility(r, win, Ws, Path(f"{stem}_compressibility.png")))
        paths.append(phase_portrait(r, pd.read_parquet(d / "plane.parquet"), pd.read_parquet(d / "eos.parquet"),
                                    block, Path(f"{stem}_phase.png")))
        paths.append(staircase_overlay(r, rows, pd.read_parquet(d / "segments.parquet"), block,
                                       Path(f"{stem}_staircase.png")))
    paths.append(regime_map(m, out / "regime_map.png"))
    paths.append(transfer_functions(m, out / "transfer_functions.png"))
    return paths
