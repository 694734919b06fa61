"""The observation log (OBSERVATIONS.md): dated, reproducible, append-only, tamper-evident.

Each entry is framed by two HTML comments (invisible when rendered)::

    <!-- obs:begin n=<k> prev=<sha256 of every byte of the file before this line> -->
    ...entry...
    <!-- obs:end n=<k> sha256=<sha256 of the entry from its begin line up to this line> -->

`verify` recomputes both hashes for every entry: editing anything before an entry (the header or an
earlier entry) breaks that entry's `prev`; editing the entry itself breaks its `sha256`. Entries are
only ever appended; nothing here rewrites the file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

HEADER = """# Observations

A dated, append-only log of what the runs showed, negative results and anomalies included. Entries are
written by `autoloop observe --title "..." [results_dir] [filters] --tag positive|negative|anomaly|method
--note "..."`; each records the commands and data fingerprint that reproduce it. Never edit an entry:
`autoloop observe --verify` checks the hash chain. Correct a past entry by appending a new one.
"""

BEGIN_RE = re.compile(r"^<!-- obs:begin n=(\d+) prev=([0-9a-f]{64}) -->$", re.M)
END_RE = re.compile(r"^<!-- obs:end n=(\d+) sha256=([0-9a-f]{64}) -->$", re.M)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def code_version() -> str:
    head = _git("rev-parse", "HEAD")
    if head is None:
        return "unknown (not a git checkout)"
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return head + (" (dirty: uncommitted changes)" if dirty else "")


def data_fingerprint(results_dir, run_ids: list[str]) -> str:
    """sha256 over (run id, part name, part sha256) of every part of the selected runs."""
    from autoloop.store import RunStore

    store = RunStore(results_dir)
    h = hashlib.sha256()
    for rid in sorted(run_ids):
        for _, _, path in store.parts(rid):
            h.update(f"{rid}/{path.name}:{_sha(path.read_bytes())}\n".encode())
    return h.hexdigest()


def md_table(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    if df.empty:
        return "(none)"

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "" if pd.isna(v) else format(v, floatfmt)
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def regime_table(m: pd.DataFrame) -> pd.DataFrame:
    """Rows L, columns T; a cell lists per seed 'ref/b' (one label when both agree)."""
    def cell(g: pd.DataFrame) -> str:
        return ", ".join(f"s{s}: {a}" if a == b else f"s{s}: {a}/{b}"
                         for s, a, b in zip(g["seed"], g["regime_ref"], g["regime_b"]))

    rows = []
    for L in sorted(m["L"].unique()):
        row = {"L \\ T": L}
        for T in sorted(m["T"].unique()):
            g = m[(m["L"] == L) & (m["T"] == T)].sort_values("seed")
            row[f"{T:g}"] = cell(g) if len(g) else ""
        rows.append(row)
    return pd.DataFrame(rows)


def build_entry(n: int, title: str, tag: str, results_dir, filters: dict, note: str, figure_paths: list[Path],
                log_dir: Path, config_hash: str, config_path: str | None) -> str:
    from autoloop.analysis.cli import format_targets
    from autoloop.analysis.pipeline import load_metrics
    from autoloop.store import RunStore

    m = load_metrics(results_dir, **filters).sort_values(["T", "L", "seed"])
    store = RunStore(results_dir)
    run_ids = m["run_id"].tolist()
    metas = [store.read_meta(r) for r in run_ids]
    argvs = sorted({shlex.join(map(str, mt.get("argv") or [])) for mt in metas if mt.get("argv")})
    gen_commits = sorted({str(mt.get("git_commit")) for mt in metas})
    targets = format_targets(str(results_dir), filters)
    cfg_opt = f" --config {config_path}" if config_path else ""
    now = dt.datetime.now(dt.timezone.utc)
    out = [f"## {now:%Y-%m-%d} {title}", "",
           f"- **Date:** {now:%Y-%m-%d %H:%M} UTC",
           f"- **Tag:** {tag}",
           f"- **Code (analysis):** `{code_version()}`",
           f"- **Code (generation):** {', '.join(f'`{c}`' for c in gen_commits)}", "",
           "Reproduce the data (command line of each run's last launch, from meta.json):", "", "```"]
    out += argvs or ["(no argv recorded in the runs' metadata)"]
    out += ["```", "", "Reproduce the analysis:", "", "```",
            f"autoloop analyze {targets}{cfg_opt}    # analysis config {config_hash}",
            f"autoloop figures {targets}", "```", "",
            f"**Data:** {len(run_ids)} run(s), fingerprint `sha256:{data_fingerprint(results_dir, run_ids)}`"
            " (over every part file of the runs)", "",
            "Runs: " + ", ".join(f"`{r}`" for r in run_ids), "",
            "**Regime map** (per seed: reference rule (a), or (a)/(b) where classifier (b) disagrees):", "",
            md_table(regime_table(m)), "", "**Run metrics:**", "",
            md_table(m[["run_id", "T", "L", "seed", "steps_done", "entropy_mean", "gzip256_mean", "heaps_beta",
                        "lz_density_b", "collapse_occupancy", "regime_ref", "regime_b"]]), "",
            "**Floors:**", "",
            md_table(m[["run_id", "T", "L", "seed", "n_floors", "floor_levels", "floor_order",
                        "time_to_lowest_floor", "n_collapses", "n_escapes", "n_transitions"]]), "",
            "**EOS summary:**", "",
            md_table(m[["run_id", "T", "L", "seed", "eos_count", "eos_rate", "eos_gap_median", "eos_interior",
                        "eos_escape_attempt", "eos_other"]]), "",
            "EOS rate by regime (classifier (b)):", "",
            md_table(m.groupby("regime_b")["eos_rate"].agg(["count", "mean"]).reset_index()), ""]
    if figure_paths:
        out += ["**Figures:**", ""]
        for p in figure_paths:
            rel = os.path.relpath(Path(p).resolve(), log_dir.resolve())
            out.append(f"- [{Path(p).name}]({rel})")
        out.append("")
    out += ["**Note:** " + (note.strip() or "(none)"), ""]
    return "\n".join(out)


def append_entry(log, title: str, results_dir="results", filters: dict | None = None, tag: str = "method",
                 note: str = "", figures: bool = True, config_path: str | None = None) -> str:
    """Analyse (cached), draw figures, and append one entry to the log; returns the entry text."""
    from autoloop.analysis.config import load_config
    from autoloop.analysis.pipeline import analyze, load_metrics

    filters = filters or {}
    cfg = load_config(config_path)
    analyze(results_dir, cfg, progress=False, **filters)
    if load_metrics(results_dir, **filters).empty:
        raise ValueError(f"no analysed runs in {results_dir} match {filters}")
    log = Path(log)
    problems = verify(log) if log.exists() else []
    if problems:
        raise ValueError(f"{log} fails verification; not appending:\n" + "\n".join(problems))
    paths: list[Path] = []
    if figures:
        from autoloop.analysis.figures import make_figures

        paths = make_figures(results_dir, config_path=config_path, **filters)
    if not log.exists():
        log.write_text(HEADER)
    data = log.read_bytes()
    if data and not data.endswith(b"\n"):
        data += b"\n"
        with open(log, "ab") as f:
            f.write(b"\n")
    n = count_entries(log) + 1
    body = build_entry(n, title, tag, results_dir, filters, note, paths, log.parent, cfg.hash(), config_path)
    prev = _sha(data + b"\n")  # the hash covers the blank line written before the marker
    begin = f"<!-- obs:begin n={n} prev={prev} -->\n"
    end = f"<!-- obs:end n={n} sha256={_sha((begin + body).encode())} -->\n"
    with open(log, "ab") as f:
        f.write(("\n" + begin + body + end).encode())
        f.flush()
        os.fsync(f.fileno())
    return body


def count_entries(log) -> int:
    p = Path(log)
    return len(BEGIN_RE.findall(p.read_text())) if p.exists() else 0


def verify(log) -> list[str]:
    """Problems found in the log's hash chain (empty list: intact)."""
    p = Path(log)
    if not p.exists():
        return [f"{p}: no such file"]
    text = p.read_bytes().decode("utf-8")
    problems = []
    begins = list(BEGIN_RE.finditer(text))
    ends = list(END_RE.finditer(text))
    if len(begins) != len(ends):
        problems.append(f"{p}: {len(begins)} entry starts but {len(ends)} entry ends (a marker was edited)")
    for k, (b, e) in enumerate(zip(begins, ends), start=1):
        title = text[b.end() : e.start()].strip().splitlines()[0] if e.start() > b.end() else "?"
        if int(b.group(1)) != k or int(e.group(1)) != k or e.start() < b.end():
            problems.append(f"entry {k}: numbering or markers out of order")
            continue
        if _sha(text[: b.start()].encode()) != b.group(2):
            problems.append(f"entry {k} ({title}): the text before it changed since it was written "
                            f"(an earlier entry or the header was edited)")
        if _sha(text[b.start() : e.start()].encode()) != e.group(2):
            problems.append(f"entry {k} ({title}): its own text was edited")
    if ends and text[ends[-1].end() :].strip():
        problems.append(f"{p}: text after the last entry that no entry covers (append with `autoloop observe`)")
    return problems
