"""The runner: finds what is left to do in the store, packs runs into batches, generates, writes parts.

Resume, extend and skip are one rule: a run's parts say how many rows exist; the plan says how many
are wanted; the runner generates the difference. Runs that share an L schedule and a history length
are packed into one batch (up to batch_size rows).
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from autoloop.claims import DEFAULT_STALE_AFTER, Heartbeat, pid_alive, try_claim
from autoloop.config import ConfigError, ModelConfig
from autoloop.engine import Engine, Window
from autoloop.models import LoadedModel
from autoloop.plan import RunPlan
from autoloop.store import RunStore, StoreError
from autoloop.vocab import TextDecoder


@dataclass
class ExecSettings:
    results_dir: str
    batch_size: int
    part_steps: int
    device: torch.device
    dtype: torch.dtype
    argv: list[str]
    progress: bool = True
    stale_after: float = DEFAULT_STALE_AFTER  # seconds without heartbeat before another writer's claim is taken over
    job: str | None = None  # sweep job label, recorded in claims and metadata


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def resolve_device(device: str, dtype: str) -> tuple[torch.device, torch.dtype]:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is visible to torch; use device=cpu or device=auto")
    dev = torch.device(device)
    if dtype == "auto":
        dtype = "bfloat16" if dev.type == "cuda" else "float32"
    if dev.type == "cpu" and dtype == "bfloat16":
        print("warning: bfloat16 on this CPU is ~300x slower than float32 (no bf16 units)", file=sys.stderr)
    return dev, getattr(torch, dtype)


def git_state() -> dict[str, Any]:
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return {"git_commit": commit or None, "git_dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def live_state(meta: dict[str, Any]) -> str:
    """The stored state, with `running` turned into `interrupted` when its writer is gone (same host)."""
    state = meta.get("state", "unknown")
    if state == "running" and meta.get("host") == socket.gethostname() and meta.get("pid") and not pid_alive(meta["pid"]):
        return "interrupted"
    return state


class Runner:
    def __init__(self, model: LoadedModel, model_cfg: ModelConfig, settings: ExecSettings):
        self.model = model
        self.model_cfg = model_cfg
        self.s = settings
        self.store = RunStore(settings.results_dir)
        self.engine = Engine(model.module, settings.device)
        self.git = git_state()
        self.claimed_elsewhere: set[str] = set()
        if self.git["git_dirty"]:
            print(f"warning: the autoloop checkout has uncommitted changes; runs record commit "
                  f"{self.git['git_commit']} with git_dirty=true, so they may not be reproducible from it", file=sys.stderr)

    # ------------------------------------------------------------------------------ planning
    def pending(self, plans: list[RunPlan]) -> list[tuple[RunPlan, int]]:
        """(plan, rows already stored) for every plan that still has rows to generate."""
        todo = []
        for plan in plans:
            done = 0
            if self.store.exists(plan.run_id):
                meta = self.store.read_meta(plan.run_id)
                stored_sha = meta.get("model_info", {}).get("file_sha256")
                if stored_sha != self.model.info["file_sha256"]:
                    raise ConfigError(
                        f"run {plan.run_id} was generated from a model file with sha256 {stored_sha}, but the loaded one is "
                        f"{self.model.info['file_sha256']}; use another results_dir or the original model"
                    )
                done = self.store.rows_done(plan.run_id)
            if done < plan.total_rows:
                todo.append((plan, done))
        return todo

    def batches(self, todo: list[tuple[RunPlan, int]]) -> list[list[tuple[RunPlan, int]]]:
        groups: dict[tuple, list] = {}
        for plan, done in todo:
            groups.setdefault(plan.batch_key(done), []).append((plan, done))
        out = []
        for group in groups.values():
            for i in range(0, len(group), self.s.batch_size):
                out.append(group[i:i + self.s.batch_size])
        return out

    # ------------------------------------------------------------------------------ metadata
    def _open_meta(self, plan: RunPlan, batch_size: int, row: int, start_row: int) -> dict[str, Any]:
        if self.store.exists(plan.run_id):
            meta = self.store.read_meta(plan.run_id)
            meta["steps"] = max(int(meta["steps"]), plan.steps)
        else:
            meta = {
                "format": 1,
                "run_id": plan.run_id,
                "spec": plan.spec,
                "steps": plan.steps,
                "steps_done": 0,
                "n_prefill": plan.n_prefill,
                "context_prefix": plan.prefix,
                "rng_offset": plan.rng_offset,
                "parent": plan.parent,
                "fork_step": plan.fork_step,
                "model_config": asdict(self.model_cfg),
                "model_info": self.model.info,
                "created": now(),
                "segments": [],
            }
        meta.update(state="running", updated=now(), pid=os.getpid(), host=socket.gethostname(),
                    argv=self.s.argv, git_commit=self.git["git_commit"], git_dirty=self.git["git_dirty"], job=self.s.job)
        meta.pop("error", None)
        meta["segments"].append({
            "start_row": start_row, "end_row": start_row, "batch_size": batch_size, "row": row,
            "device": str(self.s.device), "device_name": device_name(self.s.device),
            "dtype": str(self.s.dtype).removeprefix("torch."), "host": socket.gethostname(),
            "python": platform.python_version(), "torch": torch.__version__,
            "transformers": _version("transformers"), **self.git,
            "started": now(), "ended": None, "tokens_per_s": None,
        })
        self.store.remove_stale_tmp(plan.run_id)
        self.store.write_meta(meta)
        return meta

    # ----------------------------------------------------------------------------- execution
    def run(self, plans: list[RunPlan]) -> list[RunPlan]:
        """Generate every missing row of `plans`. Returns the plans this process worked on.

        One batch at a time: claim its runs (runs a live writer elsewhere holds are left to it),
        re-read their progress under the claim, generate, release. So two launches of the same grid
        split the work instead of writing a run twice.
        """
        todo = self.pending(plans)
        bar = _progress(sum(p.total_rows - d for p, d in todo), len(todo), self.s.progress)
        worked: dict[str, RunPlan] = {}
        try:
            while todo := [(p, d) for p, d in self.pending(plans) if p.run_id not in self.claimed_elsewhere]:
                claims, batch = [], []
                for plan, done in self.batches(todo)[0]:
                    claim = try_claim(self.store.run_dir(plan.run_id), self.s.stale_after, self.s.job)
                    if claim is None:
                        self.claimed_elsewhere.add(plan.run_id)
                        bar.total -= plan.total_rows - done
                        continue
                    if self.store.rows_done(plan.run_id) != done:  # progressed before we claimed it
                        claim.release()
                        continue
                    claims.append(claim)
                    batch.append((plan, done))
                if not batch:
                    continue
                try:
                    with Heartbeat(claims):
                        self._run_batch(batch, bar)
                finally:
                    for claim in claims:
                        claim.release()
                worked.update((p.run_id, p) for p, _ in batch)
        finally:
            bar.close()
        return list(worked.values())

    def _run_batch(self, batch: list[tuple[RunPlan, int]], bar) -> None:
        plans = [p for p, _ in batch]
        row0 = batch[0][1]
        B = len(plans)
        metas = [self._open_meta(p, B, i, row0) for i, p in enumerate(plans)]
        try:
            histories, decoders = [], []
            for p in plans:
                stored = self.store.tail_tokens(p.run_id, p.capacity + 8) if row0 else []
                hist = p.prefix + stored
                dec = TextDecoder(self.model.token_bytes)
                dec.prime(hist)
                histories.append(hist)
                decoders.append(dec)
            window = Window.from_histories([h[-plans[0].capacity:] for h in histories], plans[0].capacity, self.s.device)
            seeds = torch.tensor([p.seed for p in plans], dtype=torch.int64)
            offsets = torch.tensor([p.rng_offset for p in plans], dtype=torch.int64)
            end = plans[0].total_rows
            t_start, rows_gen = time.perf_counter(), 0
            for r0 in range(row0, end, self.s.part_steps):
                r1 = min(r0 + self.s.part_steps, end)
                steps = [r - plans[0].n_prefill for r in range(r0, r1)]
                temps = torch.tensor([[p.T.at(s) for s in steps] for p in plans], dtype=torch.float32)
                lengths = [int(plans[0].L.at(s)) for s in steps]
                counters = offsets[:, None] + torch.tensor(steps, dtype=torch.int64)[None, :]
                chunk = self.engine.generate(window, seeds, counters, temps, lengths,
                                             on_step=lambda j: bar.update(B))
                rows_gen += r1 - r0
                rate = rows_gen / (time.perf_counter() - t_start)
                for b, (p, meta) in enumerate(zip(plans, metas)):
                    self._write_part(p, meta, r0, steps, chunk, b, temps[b], decoders[b], rate, r1)
            for p, meta in zip(plans, metas):
                meta["state"] = "done" if self.store.rows_done(p.run_id) >= p.total_rows else "partial"
                meta["segments"][-1]["ended"] = now()
                self.store.write_meta(meta)
            bar.set_postfix_str(f"runs {bar.runs_done + B}/{bar.runs_total}", refresh=False)
            bar.runs_done += B
        except BaseException as e:
            state = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
            for p, meta in zip(plans, metas):
                meta.update(state=state, updated=now(), error=f"{type(e).__name__}: {e}")
                meta["segments"][-1]["ended"] = now()
                try:
                    self.store.write_meta(meta)
                except OSError:
                    pass
            raise

    def _write_part(self, p: RunPlan, meta, r0, steps, chunk, b, temps, decoder, rate, r1) -> None:
        tokens = chunk.token[b].tolist()
        eos = self.model.eos_token_id
        self.store.write_part(p.run_id, r0, {
            "step": steps,
            "phase": ["prefill" if s < 0 else "run" for s in steps],
            "token_id": tokens,
            "entropy": chunk.entropy[b].numpy(),
            "entropy_tempered": chunk.entropy_tempered[b].numpy(),
            "logprob": chunk.logprob[b].numpy(),
            "temperature": temps.numpy(),
            "context_length": chunk.context_length,
            "eos": [t == eos for t in tokens],
            "text": decoder.feed(tokens),
        })
        meta["steps_done"] = max(r1 - p.n_prefill, 0)
        meta["updated"] = now()
        meta["tokens_per_s"] = round(rate, 3)
        meta["segments"][-1].update(end_row=r1, tokens_per_s=round(rate, 3), batch_tokens_per_s=round(rate * len(chunk.token), 3))
        self.store.write_meta(meta)


def _version(pkg: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(pkg)
    except Exception:
        return None


def _progress(total_rows: int, n_runs: int, enabled: bool):
    from tqdm.auto import tqdm

    bar = tqdm(total=total_rows, unit="tok", unit_scale=True, dynamic_ncols=True, disable=not enabled,
               desc="generating", mininterval=1.0)
    bar.runs_done, bar.runs_total = 0, n_runs
    bar.set_postfix_str(f"runs 0/{n_runs}", refresh=False)
    return bar


def summarize(store: RunStore, plans: list[RunPlan]) -> list[dict[str, Any]]:
    """Per-run summary for the end of `autoloop run`: mean entropy, EOS count, the text's last 80 chars."""
    out = []
    for p in plans:
        if not store.exists(p.run_id):
            continue
        table = store.read_rows(p.run_id, ["phase", "entropy", "eos", "text"])
        df = table.to_pandas()
        run = df[df["phase"] == "run"]
        text = "".join(df["text"].tolist())
        out.append({
            "run_id": p.run_id, "T": p.T.at(0), "L": int(p.L.at(0)), "seed": p.seed,
            "steps": len(run), "mean_entropy": float(run["entropy"].mean()) if len(run) else float("nan"),
            "eos": int(run["eos"].sum()), "tail": text[-80:],
        })
    return out


__all__ = ["ExecSettings", "Runner", "resolve_device", "summarize", "live_state", "StoreError"]
