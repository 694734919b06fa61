"""Command-line entry points of the analysis stage: `autoloop analyze`, `autoloop figures`, `autoloop observe`.

Each takes argv (without the subcommand) and returns an exit status. Positional arguments are an
optional results directory (default `results`) and filters as key=value tokens over the run metadata
fields of list_runs, a comma making a list: `autoloop analyze results T=0.5 L=64,128 seed=0`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

NONE_WORDS = {"none", "null"}
# metadata fields that are text even when they look like numbers (a run id can be all digits)
TEXT_FIELDS = {"run_id", "model", "state", "parent", "prompt", "T_schedule", "L_schedule", "device", "dtype",
               "created", "updated", "git_commit"}


def parse_value(text: str, key: str = "") -> Any:
    if text.lower() in NONE_WORDS:
        return None
    if key in TEXT_FIELDS:
        return text
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_targets(tokens: list[str]) -> tuple[str, dict[str, Any]]:
    """Split positional tokens into (results_dir, filters)."""
    results_dir, filters = None, {}
    for tok in tokens:
        if "=" in tok:
            key, _, val = tok.partition("=")
            vals = [parse_value(v, key) for v in val.split(",") if v != ""]
            filters[key] = vals if len(vals) != 1 else vals[0]
        elif results_dir is None:
            results_dir = tok
        else:
            raise SystemExit(f"error: two results directories given ({results_dir!r}, {tok!r}); filters are key=value")
    return results_dir or "results", filters


def format_targets(results_dir: str, filters: dict[str, Any]) -> str:
    """The inverse of parse_targets, for reproduction command lines."""
    parts = [str(results_dir)]
    for k, v in sorted(filters.items()):
        vals = v if isinstance(v, (list, tuple)) else [v]
        parts.append(f"{k}={','.join(str(x) for x in vals)}")
    return " ".join(parts)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="*", metavar="[results_dir] [key=value ...]",
                   help="results directory (default: results) and run filters, e.g. T=0.5 L=64,128")
    p.add_argument("--config", default=None, help="analysis config YAML (default: analysis/default.yaml)")


def analyze_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="autoloop analyze", description="Compute and cache run metrics, window "
                                "series, regimes, events, staircase floors and EOS phase positions.")
    _common(p)
    p.add_argument("--stride", type=int, default=None, help="window-series stride (overrides the config)")
    p.add_argument("--jobs", type=int, default=-1, help="parallel runs (joblib; -1 = every core)")
    p.add_argument("--force", action="store_true", help="recompute even when the cache is current")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    a = p.parse_intermixed_args(argv)
    results_dir, filters = parse_targets(a.targets)
    from autoloop.analysis.config import load_config
    from autoloop.analysis.pipeline import analyze, load_metrics

    cfg = load_config(a.config, stride=a.stride)
    try:
        status = analyze(results_dir, cfg, jobs=a.jobs, force=a.force, progress=not a.quiet, **filters)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n_comp = sum(s == "computed" for s in status.values())
    n_cached = sum(s == "cached" for s in status.values())
    n_empty = sum(s == "empty" for s in status.values())
    print(f"analyzed {len(status)} run(s): {n_comp} computed, {n_cached} cached, {n_empty} without experiment rows "
          f"(config {cfg.hash()}); tables under {results_dir}/analysis/")
    m = load_metrics(results_dir, **filters)
    if len(m):
        cols = [c for c in ("run_id", "T", "L", "seed", "steps_done", "entropy_mean", "gzip256_mean", "heaps_beta",
                            "eos_rate", "n_floors", "regime_ref", "regime_b") if c in m]
        with __import__("pandas").option_context("display.width", 200, "display.max_columns", 20):
            print(m[cols].sort_values(["T", "L", "seed"]).to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    return 0


def figures_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="autoloop figures", description="Draw every figure from the stored analysis.")
    _common(p)
    p.add_argument("--out", default=None, help="output folder (default: <results_dir>/figures)")
    p.add_argument("--W", default=None, help="window sizes of the compressibility plot, e.g. 16,64,256 "
                   "(default: every analysed W)")
    p.add_argument("--max-runs", type=int, default=50, help="per-run figures for at most this many runs")
    a = p.parse_intermixed_args(argv)
    results_dir, filters = parse_targets(a.targets)
    from autoloop.analysis.figures import make_figures

    Ws = [int(w) for w in a.W.split(",")] if a.W else None
    try:
        paths = make_figures(results_dir, out=a.out, Ws=Ws, max_runs=a.max_runs, config_path=a.config, **filters)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


def observe_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="autoloop observe", description="Append a dated, reproducible entry to "
                                "OBSERVATIONS.md, or verify that earlier entries are unchanged.")
    _common(p)
    p.add_argument("--title", help="one-line title of the observation")
    p.add_argument("--tag", default="method", choices=["positive", "negative", "anomaly", "method"])
    p.add_argument("--note", default="", help="free text: what was seen and what it means")
    p.add_argument("--log", default="OBSERVATIONS.md", help="the observation log (default: OBSERVATIONS.md)")
    p.add_argument("--no-figures", action="store_true", help="do not draw and link figures")
    p.add_argument("--verify", action="store_true", help="check the hash chain of the log and exit")
    a = p.parse_intermixed_args(argv)
    from autoloop.analysis import observe

    if a.verify:
        problems = observe.verify(a.log)
        if problems:
            for line in problems:
                print(line, file=sys.stderr)
            return 1
        print(f"{a.log}: {observe.count_entries(a.log)} entries, hash chain intact")
        return 0
    if not a.title:
        p.error("--title is required (unless --verify)")
    results_dir, filters = parse_targets(a.targets)
    try:
        entry = observe.append_entry(a.log, a.title, results_dir, filters, tag=a.tag, note=a.note,
                                     figures=not a.no_figures, config_path=a.config)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(entry)
    return 0


if __name__ == "__main__":  # python -m autoloop.analysis.cli analyze|figures|observe ...
    cmds = {"analyze": analyze_main, "figures": figures_main, "observe": observe_main}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(f"usage: python -m autoloop.analysis.cli {{{','.join(cmds)}}} ...", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(cmds[sys.argv[1]](sys.argv[2:]))
