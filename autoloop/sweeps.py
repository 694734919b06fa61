"""Named sweeps: versioned YAML presets in sweeps/, split into jobs that Hydra's launchers run.

A sweep file holds `name`, `version`, `description`, `rationale` and `grid` (values for `autoloop run`
keys). `autoloop sweep NAME [overrides]` composes conf/run.yaml + the grid + the overrides, splits the
runs into jobs (one job = one batch: runs that share an L schedule, up to batch_size of them, so seeds
and several T share every forward pass), and launches one Hydra multirun job per batch through
whatever launcher is configured: the basic one (in this process), `hydra/launcher=submitit_local`
(local subprocesses) or `hydra/launcher=submitit_slurm` (a SLURM array). The partition depends only
on the config, never on what is already stored, so a resubmitted job finds the same runs and resumes
them from their parts; claims (autoloop.claims) keep concurrent launches from writing a run twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autoloop.config import RUN_KEYS, ConfigError, RunConfig

ROOT = Path(__file__).resolve().parent.parent
SWEEPS_DIR = ROOT / "sweeps"
CONF_DIR = ROOT / "conf"
SWEEP_FIELDS = ("name", "version", "description", "rationale", "grid")


@dataclass
class Sweep:
    name: str
    version: int
    description: str
    rationale: str
    grid: dict[str, Any] = field(default_factory=dict)


@dataclass
class SweepJobConfig(RunConfig):
    """What one Hydra job of a sweep receives: the run config plus which sweep and which batch."""

    sweep: str = ""
    job: int = 0
    stale_after: float = 600.0


def available() -> list[str]:
    return sorted(p.stem for p in SWEEPS_DIR.glob("*.yaml"))


def load(name: str) -> Sweep:
    path = SWEEPS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown sweep {name!r}; sweeps in {SWEEPS_DIR}: {', '.join(available())}")
    data = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(data) - set(SWEEP_FIELDS))
    missing = sorted(set(SWEEP_FIELDS) - set(data))
    if unknown or missing:
        raise ConfigError(f"sweep file {path}: unknown fields {unknown}, missing fields {missing}; fields are {', '.join(SWEEP_FIELDS)}")
    bad = sorted(set(data["grid"]) - set(RUN_KEYS))
    if bad:
        raise ConfigError(f"sweep {name!r}: unknown grid key(s) {bad}; valid keys: {', '.join(RUN_KEYS)}")
    if data["name"] != name:
        raise ConfigError(f"sweep file {path} says name {data['name']!r}; rename the file or the field")
    return Sweep(**data)


def _hydra_value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_hydra_value(x) for x in v) + "]"
    if v is None:
        return "null"
    if isinstance(v, str) and any(c in v for c in ",:[]{}= '\""):
        return "'" + v.replace("'", "\\'") + "'"
    return str(v)


def overrides(sweep: Sweep, user: list[str]) -> list[str]:
    """The sweep's grid as Hydra overrides, with the user's overrides replacing keys they name."""
    user_keys = {u.split("=", 1)[0].lstrip("+~") for u in user if "=" in u}
    out = [f"{k}={_hydra_value(v)}" for k, v in sweep.grid.items() if k not in user_keys]
    return out + list(user)


def partition(plans: list, batch_size: int) -> list[list]:
    """Jobs: plans grouped by L schedule and start length (those can share a batch), chunked by
    batch_size, in grid order. Deterministic in the config alone."""
    groups: dict[tuple, list] = {}
    for p in plans:
        groups.setdefault(p.shape_key, []).append(p)
    jobs = []
    for group in groups.values():
        for i in range(0, len(group), batch_size):
            jobs.append(group[i:i + batch_size])
    return jobs


def plans_for(rc: RunConfig, load_model_if_needed: bool = True):
    """Expand a run config into plans (model identity from the preset; the model is loaded only when
    the start token or a prompt's tokens are not known without it)."""
    from autoloop.config import effective_model, validate
    from autoloop.plan import grid_plans

    grid = validate(rc)
    mcfg = effective_model(rc.model)
    if mcfg.start_token_id is not None and rc.prompt is None:
        max_pos = int(mcfg.arch.get("max_position_embeddings", 0)) or 1 << 30
        return grid_plans(rc, grid, mcfg.name, mcfg.start_token_id, None, max_pos), mcfg
    if not load_model_if_needed:
        raise ConfigError(f"model {mcfg.name!r} must be loaded to name its runs (no start_token_id in its preset, or a prompt)")
    import torch

    from autoloop.models import load_model

    model = load_model(mcfg, torch.device("cpu"), torch.float32)
    return grid_plans(rc, grid, mcfg.name, model.start_token_id, model.encode, model.max_positions), mcfg


def compose(name: str, user: list[str]) -> tuple[Sweep, RunConfig, list[str]]:
    """Compose conf/run.yaml + sweep grid + user overrides (hydra.* and launcher overrides ignored)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from autoloop.config import check_override_keys, from_dictconfig, register_configs

    sweep = load(name)
    ovs = overrides(sweep, user)
    run_ovs = [o for o in ovs if not o.lstrip("+~").startswith("hydra")]
    check_override_keys(run_ovs, CONF_DIR)
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name="run", overrides=run_ovs)
    GlobalHydra.instance().clear()
    return sweep, from_dictconfig(cfg), ovs


def sweep_status(name: str, user: list[str]) -> dict[str, Any]:
    """Where a sweep stands: per run and per (T, L) cell done / partial / missing, speed, ETA."""
    import statistics

    from autoloop.claims import read_owner
    from autoloop.store import RunStore

    sweep, rc, _ = compose(name, user)
    plans, _ = plans_for(rc)
    store = RunStore(rc.results_dir)
    runs = []
    for p in plans:
        entry = {"run_id": p.run_id, "T": p.T.at(0), "L": int(p.L.at(0)), "seed": p.seed,
                 "rows": p.total_rows, "rows_done": 0, "state": "missing", "tokens_per_s": None}
        if store.exists(p.run_id):
            meta = store.read_meta(p.run_id)
            entry["rows_done"] = min(store.rows_done(p.run_id), p.total_rows)
            entry["tokens_per_s"] = meta.get("tokens_per_s")
            owner = read_owner(store.run_dir(p.run_id))
            if entry["rows_done"] >= p.total_rows:
                entry["state"] = "done"
            elif owner is not None and owner["age_s"] < 600:
                entry["state"] = "running"
            else:
                entry["state"] = "partial"
        runs.append(entry)
    rates = [r["tokens_per_s"] for r in runs if r["tokens_per_s"]]
    rate = statistics.median(rates) if rates else None
    eta = None
    if rate:
        left = {r["run_id"]: r["rows"] - r["rows_done"] for r in runs}
        eta = sum(max(left[p.run_id] for p in job) for job in partition(plans, rc.batch_size)) / rate
    cells: dict[str, dict[str, int]] = {}
    for r in runs:
        cell = cells.setdefault(f"T={r['T']:g},L={r['L']}", {"done": 0, "partial": 0, "running": 0, "missing": 0})
        cell[r["state"]] += 1
    return {"sweep": name, "version": sweep.version, "results_dir": rc.results_dir, "runs": runs, "cells": cells,
            "tokens_per_s_per_run": rate, "eta_s_one_worker": eta,
            "totals": {s: sum(r["state"] == s for r in runs) for s in ("done", "running", "partial", "missing")}}


def format_status(st: dict[str, Any]) -> str:
    Ts = sorted({r["T"] for r in st["runs"]})
    Ls = sorted({r["L"] for r in st["runs"]})
    lines = [f"sweep {st['sweep']} v{st['version']} in {st['results_dir']}: cells show done/partial/missing "
             f"(running counted as partial)"]
    header = "T \\ L".ljust(8) + "".join(f"{L:>12}" for L in Ls)
    lines.append(header)
    for T in Ts:
        row = f"{T:<8g}"
        for L in Ls:
            c = st["cells"].get(f"T={T:g},L={L}")
            row += f"{c['done']}/{c['partial'] + c['running']}/{c['missing']}".rjust(12) if c else " " * 12
        lines.append(row)
    t = st["totals"]
    rate = st["tokens_per_s_per_run"]
    eta = st["eta_s_one_worker"]
    lines.append(f"{t['done']} done, {t['running']} running, {t['partial']} partial, {t['missing']} missing; "
                 + (f"{rate:.2f} tokens/s per run (median recorded); ETA for one worker {eta / 3600:.1f} h"
                    if rate else "no speed recorded yet"))
    return "\n".join(lines)
