"""`autoloop replicate`: does an anomaly at one (T, L) hold over many seeds, against its neighbours?

    autoloop replicate T=0.5 L=192 --seeds 32 --neighbours L=176,208 [model=.. steps=.. results_dir=..]

runs (or reuses: the runner skips finished runs) seeds 0..N-1 of the target condition and of each
neighbour condition (the target with T or L changed), analyses them, and reports per condition and key
metric (mean entropy, gzip ratio at W=64 and W=L, EOS rate, time to the lowest floor) the mean with a
95% percentile-bootstrap CI over seeds, and for the regimes the fraction of seeds per label; per
neighbour the difference of means with its bootstrap CI and Hedges' g; then a verdict, a figure, and
with --observe an entry in the observation log.

Decision rule ("the anomaly holds"). The target is anomalous when, against EVERY neighbour:

  (A) some key metric differs in the SAME direction (the target above all neighbours, or below all),
      with the 95% bootstrap CI of the difference of means excluding 0 AND |Hedges' g| >= 0.8
      (a "large" effect), each condition having at least `min_seeds` valid values of that metric; or
  (B) the regime distribution (classifier (b), length-independent) differs: a permutation test of the
      total-variation distance between the two label distributions gives p < 0.05, and some label's
      fraction is higher (or lower) in the target than in every neighbour by at least 0.25.

Why: "differs from every neighbour in the same direction" is what separates an anomaly at L=192 from
a smooth trend through it (higher than L=176 but lower than L=208 is a trend, not an anomaly); the CI
alone would flag tiny but consistent differences at 32+ seeds, and |g| >= 0.8 alone is noisy at few
seeds, so both are asked. Requiring every neighbour and a large effect keeps the false-alarm rate low
even though five metrics are tried. The percentile bootstrap is too narrow at few seeds: on constructed
tables with no difference (tests/test_replicate.py's generator, 300 tables each) the rule fired for
15% of them at 5 seeds, 9% at 8, 6% at 10, 3% at 16 and 0% at 24, so a verdict needs `min_seeds` = 16
seeds per condition (32 recommended); below that it is "inconclusive", never "does not hold".
Missing values (no floor, so no time to the lowest floor) are dropped per metric and counted.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

KEY_METRICS = ("entropy_mean", "gzip_mean_W64", "gzip_mean_WL", "eos_rate", "time_to_lowest_floor")
METRIC_LABELS = {"entropy_mean": "mean entropy (nats)", "gzip_mean_W64": "gzip ratio, W=64",
                 "gzip_mean_WL": "gzip ratio, W=L", "eos_rate": "EOS rate",
                 "time_to_lowest_floor": "time to lowest floor (steps)"}
REGIME_COLUMNS = ("regime_b", "regime_ref")  # the first one is used in the decision
DEFAULT_STEPS = 100_000
RUN_KEYS = ("model", "steps", "results_dir", "batch_size", "device", "dtype", "part_steps")


# ------------------------------------------------------------------------------------ statistics
def label(cond: dict) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in cond.items())


def select(metrics: pd.DataFrame, cond: dict) -> pd.DataFrame:
    mask = np.ones(len(metrics), bool)
    for k, v in cond.items():
        col = metrics[k]
        mask &= np.isclose(col.astype(float), float(v), rtol=0, atol=1e-9) if isinstance(v, (int, float)) \
            else (col == v).to_numpy()
    return metrics[mask]


def boot_means(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """n_boot means of resamples (with replacement) of x: one vectorised draw."""
    return x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    a = (1 - level) / 2
    lo, hi = np.quantile(samples, [a, 1 - a])
    return float(lo), float(hi)


def hedges_g(x: np.ndarray, y: np.ndarray) -> float:
    """Standardised mean difference (x - y) / pooled sd, small-sample corrected."""
    n1, n2 = len(x), len(y)
    if n1 < 2 or n2 < 2:
        return float("nan")
    diff = x.mean() - y.mean()
    sp = np.sqrt(((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / (n1 + n2 - 2))
    if sp == 0:
        return 0.0 if diff == 0 else float(np.sign(diff) * np.inf)
    return float(diff / sp * (1 - 3 / (4 * (n1 + n2) - 9)))


def tv_permutation(a: np.ndarray, b: np.ndarray, n_perm: int, rng: np.random.Generator) -> tuple[float, float]:
    """Total-variation distance of two label samples and its permutation p-value."""
    labels, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    k, na = len(labels), len(a)
    onehot = np.eye(k)[codes]

    def tv(idx_a: np.ndarray) -> np.ndarray:  # idx_a: (m, n) -> TV per row, first na columns are "a"
        ca = onehot[idx_a[:, :na]].sum(axis=1) / na
        cb = onehot[idx_a[:, na:]].sum(axis=1) / (len(codes) - na)
        return 0.5 * np.abs(ca - cb).sum(axis=1)

    obs = float(tv(np.arange(len(codes))[None, :])[0])
    perms = rng.permuted(np.tile(np.arange(len(codes)), (n_perm, 1)), axis=1)
    p = (1 + np.sum(tv(perms) >= obs - 1e-12)) / (1 + n_perm)
    return obs, float(p)


@dataclass
class Comparison:
    summary: pd.DataFrame      # condition, metric, n, n_missing, mean, sd, ci_lo, ci_hi
    effects: pd.DataFrame      # neighbour, metric, diff, diff_lo, diff_hi, g, distinct
    regimes: pd.DataFrame      # condition, column, label, count, fraction
    regime_tests: pd.DataFrame  # neighbour, column, tv, p_value
    holds: bool | None         # None: inconclusive
    verdict: str
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def compare(metrics: pd.DataFrame, target: dict, neighbours: list[dict], metric_names=KEY_METRICS,
            n_boot: int = 10_000, seed: int = 0, min_seeds: int = 16, g_min: float = 0.8, alpha: float = 0.05,
            min_fraction_diff: float = 0.25) -> Comparison:
    """Compare the target condition with each neighbour over seeds (one metrics row per run).

    Pure: a table in, a Comparison out; seeded, so the same table gives the same numbers.
    Raises ValueError when a condition has no runs.
    """
    if not neighbours:
        raise ValueError("no neighbours given; compare the target with at least one neighbouring condition")
    rng = np.random.default_rng(seed)
    conds = [target, *neighbours]
    groups = {label(c): select(metrics, c) for c in conds}
    empty = [k for k, g in groups.items() if g.empty]
    if empty:
        raise ValueError(f"no runs for condition(s) {', '.join(empty)}; run them first")
    warnings = []
    small = {k: len(g) for k, g in groups.items() if len(g) < min_seeds}
    if small:
        warnings.append(f"too few seeds for a verdict: {', '.join(f'{k}: {n}' for k, n in small.items())} "
                        f"(need >= {min_seeds} per condition; use --seeds {max(min_seeds, 32)})")

    rows, boots = [], {}
    for name, g in groups.items():
        for m in metric_names:
            vals = g[m].to_numpy(float) if m in g else np.full(len(g), np.nan)
            x = vals[np.isfinite(vals)]
            r = {"condition": name, "metric": m, "n": len(x), "n_missing": len(vals) - len(x),
                 "mean": float(x.mean()) if len(x) else np.nan, "sd": float(x.std(ddof=1)) if len(x) > 1 else np.nan,
                 "ci_lo": np.nan, "ci_hi": np.nan}
            if len(x) >= 2:
                boots[name, m] = boot_means(x, n_boot, rng)
                r["ci_lo"], r["ci_hi"] = percentile_ci(boots[name, m])
            rows.append(r)
    summary = pd.DataFrame(rows)

    t = label(target)
    eff = []
    for nb in neighbours:
        n = label(nb)
        for m in metric_names:
            a = groups[t][m].to_numpy(float) if m in groups[t] else np.array([])
            b = groups[n][m].to_numpy(float) if m in groups[n] else np.array([])
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            r = {"neighbour": n, "metric": m, "n_target": len(a), "n_neighbour": len(b),
                 "diff": float(a.mean() - b.mean()) if len(a) and len(b) else np.nan,
                 "diff_lo": np.nan, "diff_hi": np.nan, "g": hedges_g(a, b)}
            if (t, m) in boots and (n, m) in boots:
                r["diff_lo"], r["diff_hi"] = percentile_ci(boots[t, m] - boots[n, m])
            r["distinct"] = bool(len(a) >= min_seeds and len(b) >= min_seeds and np.isfinite(r["diff_lo"])
                                 and (r["diff_lo"] > 0 or r["diff_hi"] < 0) and abs(r["g"]) >= g_min)
            eff.append(r)
    effects = pd.DataFrame(eff)

    reg_rows, tests = [], []
    reg_cols = [c for c in REGIME_COLUMNS if c in metrics]
    for c in reg_cols:
        for name, g in groups.items():
            counts = g[c].value_counts()
            for lab, k in counts.items():
                reg_rows.append({"condition": name, "column": c, "label": lab, "count": int(k),
                                 "fraction": k / len(g)})
        for nb in neighbours:
            tv, p = tv_permutation(groups[t][c].to_numpy(str), groups[label(nb)][c].to_numpy(str), n_boot, rng)
            tests.append({"neighbour": label(nb), "column": c, "tv": tv, "p_value": p})
    regimes = pd.DataFrame(reg_rows, columns=["condition", "column", "label", "count", "fraction"])
    regime_tests = pd.DataFrame(tests, columns=["neighbour", "column", "tv", "p_value"])

    # ---- decision
    reasons = []
    for m in metric_names:
        e = effects[effects["metric"] == m]
        signs = set(np.sign(e["diff"]))
        if e["distinct"].all() and len(signs) == 1:
            word = "higher" if signs.pop() > 0 else "lower"
            reasons.append(f"{m} is {word} than every neighbour (" + "; ".join(
                f"vs {r.neighbour}: diff {r.diff:.4g} [{r.diff_lo:.4g}, {r.diff_hi:.4g}], g={r.g:.2f}"
                for r in e.itertuples()) + ")")
    if reg_cols:
        c = reg_cols[0]
        tt = regime_tests[regime_tests["column"] == c]
        enough = all(len(g) >= min_seeds for g in groups.values())
        if enough and (tt["p_value"] < alpha).all():
            frac = regimes[regimes["column"] == c].pivot_table(index="condition", columns="label",
                                                                values="fraction", fill_value=0.0)
            for lab in frac.columns:
                d = np.array([frac.loc[t, lab] - frac.loc[label(nb), lab] for nb in neighbours])
                if (np.all(d >= min_fraction_diff) or np.all(d <= -min_fraction_diff)):
                    reasons.append(f"{c}: fraction '{lab}' {frac.loc[t, lab]:.2f} in the target vs "
                                   + ", ".join(f"{frac.loc[label(nb), lab]:.2f}" for nb in neighbours)
                                   + " (TV permutation p " + ", ".join(f"{p:.3g}" for p in tt["p_value"]) + ")")
    if reasons:
        holds, verdict = True, f"the anomaly at {t} HOLDS"
    elif small:
        holds, verdict = None, f"INCONCLUSIVE at {t}: too few seeds"
    else:
        holds, verdict = False, (f"the anomaly at {t} does NOT hold: no key metric differs from every neighbour "
                                 f"in one direction with a CI excluding 0 and |g| >= {g_min}, and the regimes do not")
    for m in metric_names:
        miss = summary[(summary["metric"] == m) & (summary["n"] < min_seeds)]
        if len(miss) and not small:
            warnings.append(f"{m}: fewer than {min_seeds} valid values in {', '.join(miss['condition'])} "
                            f"(missing: {', '.join(map(str, miss['n_missing']))}); not used in the verdict there")
    return Comparison(summary, effects, regimes, regime_tests, holds, verdict, reasons, warnings)


# ---------------------------------------------------------------------------------------- output
def _ci(mean: float, lo: float, hi: float) -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:.4g} [{lo:.4g}, {hi:.4g}]" if np.isfinite(lo) else f"{mean:.4g}"


def summary_tables(c: Comparison) -> dict[str, pd.DataFrame]:
    """Readable tables: per metric a column per condition; effects; regime fractions."""
    s = c.summary.assign(cell=[_ci(r.mean, r.ci_lo, r.ci_hi) + f" (n={r.n})" for r in c.summary.itertuples()])
    order = list(dict.fromkeys(c.summary["condition"]))
    means = s.pivot(index="metric", columns="condition", values="cell")[order]
    means = means.reindex(list(dict.fromkeys(c.summary["metric"]))).reset_index()
    eff = c.effects.assign(**{"diff [95% CI]": [_ci(r.diff, r.diff_lo, r.diff_hi) for r in c.effects.itertuples()],
                              "g": c.effects["g"].round(2)})[["neighbour", "metric", "diff [95% CI]", "g", "distinct"]]
    reg = (c.regimes.pivot_table(index=["column", "condition"], columns="label", values="fraction", fill_value=0.0)
           .round(2).reset_index() if len(c.regimes) else pd.DataFrame())
    return {"means": means, "effects": eff, "regimes": reg}


def format_report(c: Comparison) -> str:
    t = summary_tables(c)
    out = ["Mean per condition with 95% bootstrap CI over seeds:", t["means"].to_string(index=False), "",
           "Target minus neighbour (bootstrap CI of the difference, Hedges' g):", t["effects"].to_string(index=False)]
    if len(t["regimes"]):
        out += ["", "Regime fractions per condition:", t["regimes"].to_string(index=False)]
        out += ["Regime tests (TV distance, permutation p): " + "; ".join(
            f"{r.column} vs {r.neighbour}: TV={r.tv:.2f} p={r.p_value:.3g}" for r in c.regime_tests.itertuples())]
    out += [""] + [f"warning: {w}" for w in c.warnings] + [f"VERDICT: {c.verdict}"] + [f"  - {r}" for r in c.reasons]
    return "\n".join(out)


def draw_figure(metrics: pd.DataFrame, c: Comparison, target: dict, neighbours: list[dict], path: Path,
                title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from autoloop.analysis.figures import DPI, REGIME_COLORS, _save

    key = next(k for k in neighbours[0] if neighbours[0][k] != target.get(k))
    conds = sorted([target, *neighbours], key=lambda d: d[key])
    names = [label(d) for d in conds]
    metric_names = list(dict.fromkeys(c.summary["metric"]))
    reg_col = next((col for col in REGIME_COLUMNS if col in metrics), None)
    n = len(metric_names) + (reg_col is not None)
    ncol = min(n, 3)
    fig, axes = plt.subplots((n + ncol - 1) // ncol, ncol, figsize=(4.2 * ncol, 3.6 * ((n + ncol - 1) // ncol)),
                             squeeze=False)
    axes = axes.ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    ticks = [f"{key}={d[key]:g}" + (" (target)" if d is target else "") for d in conds]
    rng = np.random.default_rng(0)
    for ax, m in zip(axes, metric_names):
        for i, (d, name) in enumerate(zip(conds, names)):
            vals = select(metrics, d)[m].to_numpy(float) if m in metrics else np.array([])
            vals = vals[np.isfinite(vals)]
            ax.plot(i + rng.uniform(-0.15, 0.15, len(vals)), vals, "o", ms=3, alpha=0.45,
                    color="C3" if d is target else "C0")
            r = c.summary[(c.summary["condition"] == name) & (c.summary["metric"] == m)].iloc[0]
            if np.isfinite(r["mean"]):
                lo, hi = (r["ci_lo"], r["ci_hi"]) if np.isfinite(r["ci_lo"]) else (r["mean"], r["mean"])
                ax.errorbar(i + 0.3, r["mean"], yerr=[[r["mean"] - lo], [hi - r["mean"]]], fmt="D", ms=5,
                            capsize=4, color="k", zorder=3)
            ax.text(i, 1.0, f"n={len(vals)}", transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                    fontsize=7)
        if not np.isfinite(c.summary.loc[c.summary["metric"] == m, "mean"]).any():
            ax.text(0.5, 0.5, "no values (undefined in every run)", transform=ax.transAxes, ha="center", fontsize=8)
            ax.set_yticks([])
        ax.set_xticks(range(len(conds)), ticks, fontsize=8)
        ax.set_title(METRIC_LABELS.get(m, m), fontsize=9, pad=14)
        ax.set_xlim(-0.5, len(conds) - 0.3)
    if reg_col is not None:
        ax = axes[n - 1]
        for i, d in enumerate(conds):
            g = select(metrics, d)[reg_col]
            bottom = 0.0
            for lab, color in REGIME_COLORS.items():
                f = float((g == lab).mean()) if len(g) else 0.0
                ax.bar(i, f, bottom=bottom, color=color, label=lab if i == 0 else None, width=0.6)
                bottom += f
        ax.set_xticks(range(len(conds)), ticks, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("fraction of seeds")
        ax.set_title(f"regime ({reg_col})", fontsize=9, pad=14)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    fig.suptitle(f"{title}\ndots: seeds (target red); diamond: mean with 95% bootstrap CI. {c.verdict}",
                 fontsize=9, y=1.0)
    fig.tight_layout()
    fig.set_dpi(DPI)
    return _save(fig, path)


# ------------------------------------------------------------------------------------------- CLI
class UsageError(ValueError):
    pass


def _number(text: str, name: str, kind: type):
    try:
        v = kind(text)
    except ValueError:
        raise UsageError(f"{name}={text!r} is not {'an integer' if kind is int else 'a number'}; "
                         f"e.g. {name}={'192' if name == 'L' else '0.5'}") from None
    if kind is float and not np.isfinite(v):
        raise UsageError(f"{name}={text!r} is not finite")
    return v


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, dict, list[dict], dict]:
    """Validate everything; returns (options, target, neighbours, run keys). Raises UsageError."""
    from autoloop.cli import CONF_DIR
    from autoloop.config import model_presets

    p = argparse.ArgumentParser(
        prog="autoloop replicate",
        description="Run (or reuse) seeds 0..N-1 of a target (T, L) and its neighbours, and report whether "
        "the target's metrics differ from every neighbour (bootstrap CIs, Hedges' g; rule in "
        "autoloop/replicate.py). Keys: T, L (the target), " + ", ".join(RUN_KEYS) +
        f". steps defaults to {DEFAULT_STEPS} (the reference run length) when not given.")
    p.add_argument("targets", nargs="*", metavar="key=value", help="T=0.5 L=192 [model=.. steps=.. results_dir=..]")
    p.add_argument("--seeds", type=int, default=32, help="number of seeds, 0..N-1 (default 32)")
    p.add_argument("--neighbours", "--neighbors", required=True, metavar="K=V1,V2",
                   help="the target with T or L changed, e.g. L=176,208 or T=0.45,0.55")
    p.add_argument("--n-boot", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    p.add_argument("--min-seeds", type=int, default=16, help="fewest seeds per condition for a verdict (default 16)")
    p.add_argument("--jobs", type=int, default=-1, help="parallel analysis processes (-1: every core)")
    p.add_argument("--config", default=None, help="analysis config YAML (default: analysis/default.yaml)")
    p.add_argument("--observe", action="store_true", help="append the result to the observation log")
    p.add_argument("--title", default=None, help="title of the observation (default: generated)")
    p.add_argument("--note", default="", help="free text for the observation")
    p.add_argument("--tag", default=None, choices=["positive", "negative", "anomaly", "method"],
                   help="observation tag (default: anomaly if it holds, negative if not, method if inconclusive)")
    p.add_argument("--log", default="OBSERVATIONS.md", help="observation log (default: OBSERVATIONS.md)")
    try:
        a = p.parse_intermixed_args(argv)
    except SystemExit as e:
        raise UsageError("bad arguments (see `autoloop replicate --help`)") if e.code else e from None
    kv: dict[str, str] = {}
    for tok in a.targets:
        k, sep, v = tok.partition("=")
        if not sep or not v:
            raise UsageError(f"expected key=value, got {tok!r}; keys: T, L, {', '.join(RUN_KEYS)}")
        if k not in ("T", "L", *RUN_KEYS):
            raise UsageError(f"unknown key {k!r}; keys: T, L, {', '.join(RUN_KEYS)}")
        kv[k] = v
    for k in ("T", "L"):
        if k not in kv:
            raise UsageError(f"the target needs {k}=...; e.g. autoloop replicate T=0.5 L=192 --neighbours L=176,208")
        if "," in kv[k] or kv[k].startswith("["):
            raise UsageError(f"{k}={kv[k]} is a list; the target is one condition (put other values in --neighbours)")
    target = {"T": _number(kv["T"], "T", float), "L": _number(kv["L"], "L", int)}
    if target["T"] < 0 or target["L"] < 1:
        raise UsageError("the target needs T >= 0 and L >= 1")
    key, sep, vals = a.neighbours.partition("=")
    if key not in ("T", "L") or not sep or not vals:
        raise UsageError(f"--neighbours {a.neighbours!r}: write K=V1,V2 with K = T or L, e.g. --neighbours L=176,208")
    nvals = [_number(v, key, float if key == "T" else int) for v in vals.split(",") if v.strip()]
    if not nvals or any((v < 0 if key == "T" else v < 1) for v in nvals):
        raise UsageError(f"--neighbours {a.neighbours!r}: values must be T >= 0 or L >= 1")
    if any(abs(v - target[key]) < 1e-9 for v in nvals) or len(set(nvals)) != len(nvals):
        raise UsageError(f"--neighbours {a.neighbours!r}: values must differ from the target {key}={target[key]:g} "
                         "and from each other")
    neighbours = [{**target, key: v} for v in nvals]
    if a.seeds < 2:
        raise UsageError(f"--seeds {a.seeds}: need at least 2 seeds for a CI (32 recommended)")
    if a.n_boot < 100:
        raise UsageError(f"--n-boot {a.n_boot}: use at least 100 resamples (default 10000)")
    run = {"model": kv.get("model", "smollm2-135m"), "results_dir": kv.get("results_dir", "results")}
    if run["model"] not in model_presets(CONF_DIR):
        raise UsageError(f"unknown model {run['model']!r}; presets: {', '.join(model_presets(CONF_DIR))}")
    for k, default, lo in (("steps", DEFAULT_STEPS, 1), ("batch_size", None, 1), ("part_steps", None, 1)):
        if k in kv or default is not None:
            v = _number(kv.get(k, str(default)), k, int)
            if v < lo:
                raise UsageError(f"{k}={v}: use {k} >= {lo}")
            run[k] = v
    if kv.get("device", "auto") not in ("auto", "cpu", "cuda"):
        raise UsageError(f"device={kv['device']!r} is unknown; use auto, cpu or cuda")
    if kv.get("dtype", "auto") not in ("auto", "float32", "bfloat16"):
        raise UsageError(f"dtype={kv['dtype']!r} is unknown; use auto, float32 or bfloat16")
    run.update({k: kv[k] for k in ("device", "dtype") if k in kv})
    if a.config and not Path(a.config).is_file():
        raise UsageError(f"--config {a.config}: no such file")
    from autoloop.config import ConfigError, check_writable_dir
    try:
        check_writable_dir(run["results_dir"])
    except ConfigError as e:
        raise UsageError(str(e)) from None
    return a, target, neighbours, run


def _err(msg: str) -> int:
    print(f"autoloop replicate: error: {msg}", file=sys.stderr)
    return 2


def replicate_main(argv: list[str]) -> int:
    try:
        a, target, neighbours, run = parse_args(argv)
    except UsageError as e:
        return _err(str(e))
    except SystemExit as e:  # --help
        return int(e.code or 0)
    from autoloop.analysis.config import load_config
    from autoloop.analysis.pipeline import analyze, load_metrics
    from autoloop.cli import main as cli_main
    from autoloop.store import list_runs

    conds = [target, *neighbours]
    Ts = sorted({c["T"] for c in conds})
    Ls = sorted({c["L"] for c in conds})
    seeds = list(range(a.seeds))
    rd = run["results_dir"]
    run_args = ["run", f"model={run['model']}", f"T=[{','.join(map(str, Ts))}]",
                f"L=[{','.join(map(str, Ls))}]", f"seeds=[{','.join(map(str, seeds))}]",
                *(f"{k}={v}" for k, v in run.items() if k != "model")]
    print("autoloop " + shlex.join(run_args), flush=True)
    try:
        code = cli_main(run_args)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    if code:
        return _err(f"`autoloop run` failed (exit {code}); see the message above")

    runs = list_runs(rd, model=run["model"], T=Ts, L=Ls, seed=seeds)
    plain = runs["parent"].isna() & runs["prompt"].isna() & ~runs["T_schedule"].astype(str).str.contains(",") \
        & ~runs["L_schedule"].astype(str).str.contains(",")
    runs = runs[plain]
    runs = pd.concat([select(runs, c) for c in conds], ignore_index=True).drop_duplicates("run_id")
    ids = runs["run_id"].tolist()
    cfg = load_config(a.config)
    analyze(rd, cfg, jobs=a.jobs, progress=True, run_id=ids)
    m = load_metrics(rd, run_id=ids)
    if m.empty:
        return _err(f"no analysed runs in {rd} for these conditions")
    try:
        c = compare(m, target, neighbours, n_boot=a.n_boot, min_seeds=a.min_seeds)
    except ValueError as e:
        return _err(str(e))
    done = sorted(set(m["steps_done"]))
    if len(done) > 1 or done[0] != run["steps"]:
        c.warnings.append(f"runs have steps_done {done}, asked {run['steps']}: metrics cover the stored steps "
                          "(an earlier, longer launch extended some runs)")
    key = next(k for k in neighbours[0] if neighbours[0][k] != target[k])
    title = a.title or (f"Replicate {label(target)} vs {key}={','.join(f'{n[key]:g}' for n in neighbours)} "
                        f"({run['model']}, {a.seeds} seeds, {run['steps']} steps)")
    print(format_report(c))
    fname = (f"replicate_{run['model']}_T{target['T']:g}_L{target['L']}_vs_{key}"
             f"{'-'.join(f'{n[key]:g}' for n in neighbours)}_s{a.seeds}.png")
    fig = draw_figure(m, c, target, neighbours, Path(rd) / "figures" / fname, title)
    print(f"figure: {fig}")
    if a.observe:
        from autoloop.analysis import observe

        tag = a.tag or {True: "anomaly", False: "negative", None: "method"}[c.holds]
        t = summary_tables(c)
        note = "\n\n".join([a.note.strip() or "(none)", "Command: `autoloop replicate " + shlex.join(argv) + "`",
                            f"**Verdict:** {c.verdict}" + "".join(f"\n- {r}" for r in c.reasons),
                            "Mean per condition, 95% bootstrap CI over seeds:\n\n" + observe.md_table(t["means"]),
                            "Target minus neighbour:\n\n" + observe.md_table(t["effects"]),
                            *(["Regime fractions:\n\n" + observe.md_table(t["regimes"])] if len(t["regimes"]) else []),
                            *[f"Warning: {w}" for w in c.warnings], f"Figure: `{fig}`"])
        try:
            observe.append_entry(a.log, title, rd, {"run_id": ids}, tag=tag, note=note, figures=False,
                                 config_path=a.config)
        except (FileNotFoundError, ValueError) as e:
            return _err(f"observation not appended: {e}")
        print(f"observation appended to {a.log} (tag {tag})")
    return 0


if __name__ == "__main__":
    raise SystemExit(replicate_main(sys.argv[1:]))
