"""The run store: where runs live on disk, and the only code that reads or writes them.

Layout (the data contract, docs/data.md)::

    results_dir/runs/<run_id>/meta.json                          run metadata (atomic rewrite)
    results_dir/runs/<run_id>/part-<row0:09d>-<row1:09d>.parquet rows [row0, row1) of the stream

A part is written to a temporary name, fsynced and renamed, so a reader never sees a half file and a
killed writer loses only the part it had not yet renamed. The part names alone tell how far a run got,
so progress is known without opening Parquet files. This module imports no torch: analysis uses it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

FORMAT_VERSION = 1

# Per-step rows. Column order is the on-disk order; docs/data.md explains each column.
STEP_SCHEMA = pa.schema(
    [
        ("step", pa.int64()),  # experiment step; prefill rows are numbered -L0 .. -1
        ("phase", pa.string()),  # "prefill" or "run"
        ("token_id", pa.int32()),
        ("entropy", pa.float32()),  # nats, softmax(logits) at T = 1
        ("entropy_tempered", pa.float32()),  # nats, softmax(logits / T); 0 when T = 0
        ("logprob", pa.float32()),  # log p(token) under softmax(logits / T); 0 when T = 0
        ("temperature", pa.float32()),
        ("context_length", pa.int32()),  # tokens the model saw for this step
        ("eos", pa.bool_()),
        ("text", pa.string()),  # UTF-8 text this token completes (whole characters only)
    ]
)
STEP_COLUMNS = tuple(STEP_SCHEMA.names)

PART_RE = re.compile(r"^part-(\d{9})-(\d{9})\.parquet$")


class StoreError(RuntimeError):
    """A store on disk is not what the contract says it should be."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the new one, whole."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


class RunStore:
    """All runs under one results directory."""

    def __init__(self, results_dir: str | os.PathLike):
        self.root = Path(results_dir)
        self.runs_dir = self.root / "runs"

    # ----------------------------------------------------------------------------------- paths
    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def meta_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "meta.json"

    def run_ids(self) -> list[str]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.name for p in self.runs_dir.iterdir() if (p / "meta.json").is_file())

    def exists(self, run_id: str) -> bool:
        return self.meta_path(run_id).is_file()

    # ------------------------------------------------------------------------------------ meta
    def read_meta(self, run_id: str) -> dict[str, Any]:
        path = self.meta_path(run_id)
        if not path.is_file():
            raise StoreError(f"no run {run_id!r} in {self.root} (no {path})")
        return json.loads(path.read_text())

    def write_meta(self, meta: dict[str, Any]) -> None:
        run_dir = self.run_dir(meta["run_id"])
        run_dir.mkdir(parents=True, exist_ok=True)
        data = json.dumps(meta, indent=1, sort_keys=True, default=str).encode()
        atomic_write_bytes(run_dir / "meta.json", data)

    # ----------------------------------------------------------------------------------- parts
    def parts(self, run_id: str) -> list[tuple[int, int, Path]]:
        """Finished parts as (first_row, end_row, path), in order; checks they tile the stream."""
        run_dir = self.run_dir(run_id)
        if not run_dir.is_dir():
            return []
        found = []
        for p in run_dir.iterdir():
            m = PART_RE.match(p.name)
            if m:
                found.append((int(m.group(1)), int(m.group(2)), p))
        found.sort()
        expected = 0
        for start, end, path in found:
            if start != expected or end <= start:
                raise StoreError(
                    f"run {run_id}: parts do not tile the stream at {path.name} "
                    f"(expected a part starting at row {expected}); the run directory was edited by hand?"
                )
            expected = end
        return found

    def rows_done(self, run_id: str) -> int:
        found = self.parts(run_id)
        return found[-1][1] if found else 0

    def remove_stale_tmp(self, run_id: str) -> int:
        """Delete temporary files a killed writer left behind; returns how many."""
        run_dir = self.run_dir(run_id)
        n = 0
        if run_dir.is_dir():
            for p in run_dir.glob(".*.tmp"):
                p.unlink(missing_ok=True)
                n += 1
        return n

    def write_part(self, run_id: str, first_row: int, columns: dict[str, Any]) -> Path:
        """Write rows [first_row, first_row + n) atomically; `columns` maps STEP_COLUMNS to arrays."""
        table = pa.table({name: columns[name] for name in STEP_COLUMNS}, schema=STEP_SCHEMA)
        n = table.num_rows
        if n == 0:
            raise ValueError("write_part: empty part")
        done = self.rows_done(run_id)
        if first_row != done:
            raise StoreError(f"run {run_id}: part starts at row {first_row}, but the stream has {done} rows")
        run_dir = self.run_dir(run_id)
        path = run_dir / f"part-{first_row:09d}-{first_row + n:09d}.parquet"
        fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            pq.write_table(table, tmp, compression="zstd")
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(run_dir)
        return path

    def read_rows(self, run_id: str, columns: Iterable[str] | None = None, from_row: int = 0) -> pa.Table:
        """The run's rows from `from_row` on (whole parts are read, then sliced)."""
        cols = list(columns) if columns is not None else list(STEP_COLUMNS)
        tables, offset = [], None
        for start, end, path in self.parts(run_id):
            if end <= from_row:
                continue
            if offset is None:
                offset = from_row - start
            tables.append(pq.read_table(path, columns=cols))
        if not tables:
            return STEP_SCHEMA.empty_table().select(cols)
        return pa.concat_tables(tables).slice(max(offset or 0, 0))

    def tail_tokens(self, run_id: str, n: int) -> list[int]:
        """The last `n` stored token ids of a run (fewer if it has fewer rows)."""
        done = self.rows_done(run_id)
        table = self.read_rows(run_id, ["token_id"], from_row=max(done - n, 0))
        return table.column("token_id").to_pylist()


# ------------------------------------------------------------------------------- public reading
# Flat, one-row-per-run view of meta.json used by list_runs and filters.
RUN_FIELDS = (
    "run_id", "model", "T", "L", "seed", "steps", "steps_done", "state", "parent", "fork_step",
    "prompt", "T_schedule", "L_schedule", "n_prefill", "tokens_per_s", "device", "dtype",
    "created", "updated", "git_commit",
)


def _schedule_str(pairs: list[list[float]], key: str) -> str:
    return ",".join(f"{int(s)}:{key}{v:g}" for s, v in pairs)


def flatten_meta(meta: dict[str, Any]) -> dict[str, Any]:
    spec = meta["spec"]
    last = (meta.get("segments") or [{}])[-1]
    return {
        "run_id": meta["run_id"],
        "model": spec["model"],
        "T": float(spec["T_schedule"][0][1]),
        "L": int(spec["L_schedule"][0][1]),
        "seed": int(spec["seed"]),
        "steps": int(meta["steps"]),
        "steps_done": int(meta.get("steps_done", 0)),
        "state": meta.get("state", "unknown"),
        "parent": meta.get("parent"),
        "fork_step": meta.get("fork_step"),
        "prompt": spec["start"].get("prompt"),
        "T_schedule": _schedule_str(spec["T_schedule"], "T"),
        "L_schedule": _schedule_str(spec["L_schedule"], "L"),
        "n_prefill": int(meta.get("n_prefill", 0)),
        "tokens_per_s": meta.get("tokens_per_s"),
        "device": last.get("device"),
        "dtype": last.get("dtype"),
        "created": meta.get("created"),
        "updated": meta.get("updated"),
        "git_commit": meta.get("git_commit"),
    }


def _match(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, (list, tuple, set, frozenset)):
        return any(_match(value, w) for w in wanted)
    if isinstance(wanted, float) or isinstance(value, float):
        try:
            return abs(float(value) - float(wanted)) < 1e-9
        except (TypeError, ValueError):
            return False
    return value == wanted


def _select(results_dir: str | os.PathLike, filters: dict[str, Any]) -> list[dict[str, Any]]:
    unknown = sorted(set(filters) - set(RUN_FIELDS))
    if unknown:
        raise ValueError(f"unknown filter field(s) {unknown}; valid fields: {', '.join(RUN_FIELDS)}")
    store = RunStore(results_dir)
    if not store.root.is_dir():
        raise FileNotFoundError(f"results_dir {store.root} does not exist; pass the directory `autoloop run` wrote to")
    rows = []
    for run_id in store.run_ids():
        flat = flatten_meta(store.read_meta(run_id))
        if all(_match(flat[k], v) for k, v in filters.items()):
            rows.append(flat)
    return rows


def list_runs(results_dir: str | os.PathLike = "results", **filters: Any):
    """One row per run (metadata only), optionally filtered, e.g. ``list_runs("results", T=0.5, L=[64, 128])``."""
    import pandas as pd

    rows = _select(results_dir, filters)
    return pd.DataFrame(rows, columns=list(RUN_FIELDS))


def load_steps(results_dir: str | os.PathLike = "results", columns: Iterable[str] | None = None, **filters: Any):
    """Per-step rows of the selected runs, with a leading ``run_id`` column.

    Filters are run metadata fields (see ``list_runs``); only the selected runs' files are read.
    ``columns`` restricts the step columns read (default: all of STEP_COLUMNS).
    """
    import pandas as pd

    cols = list(columns) if columns is not None else list(STEP_COLUMNS)
    bad = [c for c in cols if c not in STEP_COLUMNS]
    if bad:
        raise ValueError(f"unknown column(s) {bad}; step columns are: {', '.join(STEP_COLUMNS)}")
    store = RunStore(results_dir)
    frames = []
    for row in _select(results_dir, filters):
        table = store.read_rows(row["run_id"], cols)
        df = table.to_pandas()
        df.insert(0, "run_id", row["run_id"])
        frames.append(df)
    if not frames:
        empty = STEP_SCHEMA.empty_table().select(cols).to_pandas()
        empty.insert(0, "run_id", pd.Series([], dtype=object))
        return empty
    return pd.concat(frames, ignore_index=True)
