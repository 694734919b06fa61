"""What to generate: a run's semantic spec, its id, and its starting context.

A run is one (model, start, T schedule, L schedule, seed); its id hashes exactly these fields, so steps
can grow without changing it and a re-launched sweep finds its runs (DESIGN §4).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from autoloop.config import ConfigError, Grid, RunConfig
from autoloop.schedule import Schedule, build


@dataclass
class RunPlan:
    spec: dict[str, Any]
    T: Schedule
    L: Schedule
    seed: int
    steps: int  # experiment steps asked for
    prefix: list[int]  # tokens in the window before the first row
    n_prefill: int  # rows generated before step 0 (L0 for start-token runs)
    rng_offset: int = 0
    parent: str | None = None
    fork_step: int | None = None
    run_id: str = field(init=False)

    def __post_init__(self):
        self.run_id = run_id(self.spec)

    @property
    def total_rows(self) -> int:
        return self.n_prefill + self.steps

    @property
    def capacity(self) -> int:
        """Widest window any step needs."""
        return max(int(self.L.max()), 1)

    @property
    def shape_key(self) -> tuple:
        """Runs with equal keys see windows of the same length at every step (same L schedule, same
        start length), so they can share a batch from the same point on."""
        return (self.L.points, len(self.prefix), self.n_prefill)

    def batch_key(self, rows_done: int) -> tuple:
        """Runs with equal keys can share a batch now: same shape, same progress, same end."""
        return (*self.shape_key, rows_done, self.total_rows)


def run_id(spec: dict[str, Any]) -> str:
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def make_spec(model: str, start: dict, T: Schedule, L: Schedule, seed: int) -> dict[str, Any]:
    return {
        "model": model,
        "start": start,
        "T_schedule": T.as_list(),
        "L_schedule": [[s, int(v)] for s, v in L.points],
        "seed": int(seed),
    }


def tile(tokens: list[int], n: int) -> list[int]:
    reps = -(-n // len(tokens))
    return (tokens * reps)[:n]


def grid_plans(cfg: RunConfig, grid: Grid, model_name: str, start_token_id: int, encode, max_positions: int) -> list[RunPlan]:
    """One plan per (T, L, seed) of the grid, in grid order."""
    prompt_ids = None
    if cfg.prompt is not None:
        prompt_ids = encode(cfg.prompt)
        if not prompt_ids:
            raise ConfigError(f"prompt {cfg.prompt!r} encodes to no tokens; give a longer prompt")
    plans = []
    for L0 in grid.Ls:
        for T0 in grid.Ts:
            for seed in grid.seeds:
                T = build(T0, grid.changes, "T")
                L = build(L0, grid.changes, "L")
                for step, value in L.points:
                    if value > max_positions:
                        raise ConfigError(
                            f"L={int(value)} (at step {step}) exceeds the model's maximum of {max_positions} positions; use L <= {max_positions}"
                        )
                L_start = int(L.at(0))
                if prompt_ids is None:
                    start = {"kind": "token", "token_id": int(start_token_id)}
                    prefix, n_prefill = [int(start_token_id)], L_start
                else:
                    start = {"kind": "prompt", "prompt": cfg.prompt}
                    prefix, n_prefill = tile(prompt_ids, L_start), 0
                spec = make_spec(model_name, start, T, L, seed)
                plans.append(RunPlan(spec, T, L, seed, cfg.steps, prefix, n_prefill))
    return plans


def fork_plan(parent_meta: dict, parent_stream: list[int], at: int, T: Schedule, L: Schedule, seed: int, steps: int) -> RunPlan:
    """A run whose window at its step 0 is the parent's window at step `at` (parent_stream: the
    parent's prefix + rows up to that step). Its RNG counter continues the parent's, so a fork with the
    parent's T, L and seed reproduces the parent's continuation token for token."""
    start = {"kind": "fork", "parent": parent_meta["run_id"], "at": int(at)}
    spec = make_spec(parent_meta["spec"]["model"], start, T, L, seed)
    capacity = max(int(L.max()), 1)
    prefix = parent_stream[-capacity:]
    return RunPlan(
        spec, T, L, seed, steps, prefix, 0,
        rng_offset=int(parent_meta.get("rng_offset", 0)) + int(at),
        parent=parent_meta["run_id"], fork_step=int(at),
    )
