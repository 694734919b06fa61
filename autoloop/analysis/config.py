"""The analysis configuration: one typed dataclass, read once from YAML at the entry point.

`analysis/default.yaml` (at the repository root) mirrors the defaults below; `--config` names another
file. A key that is not a field is an error, so a misspelt threshold fails at start instead of being
ignored. `config_hash` keys the per-run cache: change any value and the affected runs are recomputed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ANALYSIS_VERSION = 1  # bump when a metric definition changes: invalidates every cached result

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "analysis" / "default.yaml"


@dataclass(frozen=True)
class AnalysisConfig:
    windows: tuple[int, ...] = (16, 32, 64, 128, 256)
    include_L: bool = True
    stride: int = 1
    block: int = 100

    heaps_checkpoints: int = 20
    acf_threshold: float = 0.36787944117144233

    collapse_level: float = 0.1
    collapse_min_steps: int = 500
    escape_level: float = 0.3
    escape_min_steps: int = 200
    transition_low_min_steps: int = 200
    transition_jump: float = 0.5
    spike_before: int = 10
    spike_after: int = 50
    landing_steps: int = 2000

    floor_penalty_scale: float = 3.0
    floor_min_blocks: int = 5
    floor_max_level: float = 1.5
    floor_min_steps: int = 1000
    floor_merge_tol: float = 0.15

    eos_knn: int = 10
    eos_interior_quantile: float = 0.5
    eos_deep_level: float = 0.5

    ref_beta_collapse: float = 0.40
    ref_entropy_rich: float = 3.5
    ref_gzip256_noise: float = 0.65

    b_window: int = 64
    b_collapse_occupancy: float = 0.5
    b_collapse_lz: float = 0.35
    b_noise_lz: float = 0.9
    b_noise_entropy: float = 5.0
    b_rich_entropy: float = 3.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(sorted({int(w) for w in self.windows})))
        if not self.windows or min(self.windows) < 1:
            raise ValueError(f"windows must be positive integers, got {self.windows}")
        if self.stride < 1 or self.block < 1:
            raise ValueError("stride and block must be >= 1")
        if 256 not in self.windows:
            # The reference regime rule reads the mean gzip ratio at W = 256.
            raise ValueError("windows must include 256 (the reference regime rule uses it)")
        if self.b_window not in self.windows:
            raise ValueError(f"b_window={self.b_window} must be one of windows {self.windows}")

    def windows_for(self, L: int) -> tuple[int, ...]:
        """The W values computed for a run whose window is L (W = L added once, not twice)."""
        ws = set(self.windows)
        if self.include_L and L > 0:
            ws.add(int(L))
        return tuple(sorted(ws))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["windows"] = list(d["windows"])
        return d

    def hash(self) -> str:
        payload = {"version": ANALYSIS_VERSION, **self.to_dict()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AnalysisConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown analysis config key(s) {unknown}; valid keys: {', '.join(sorted(names))}")
        return cls(**d)


def load_config(path: str | Path | None = None, **overrides: Any) -> AnalysisConfig:
    """Read the YAML config (default: analysis/default.yaml when present), then apply overrides."""
    data: dict[str, Any] = {}
    p = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    if path is not None and not p.is_file():
        raise FileNotFoundError(f"analysis config {p} does not exist")
    if p.is_file():
        import yaml

        data = yaml.safe_load(p.read_text()) or {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return AnalysisConfig.from_dict(data)
