"""Shared fixtures: the tiny model (built in code, no download) and an in-process CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from autoloop.config import ModelConfig
from autoloop.models import load_model

ROOT = Path(__file__).resolve().parent.parent
torch.set_num_threads(1)


def tiny_config() -> ModelConfig:
    return ModelConfig(**OmegaConf.to_container(OmegaConf.load(ROOT / "conf/model/tiny.yaml")))


@pytest.fixture(scope="session")
def tiny():
    return load_model(tiny_config(), torch.device("cpu"), torch.float32)


class CLIResult:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"CLIResult(code={self.code}, out={self.out[-2000:]!r}, err={self.err[-2000:]!r})"


@pytest.fixture
def cli(capsys):
    """Run `autoloop ARGS...` in this process; returns code, stdout, stderr."""
    from autoloop.cli import main

    def run(*args: str) -> CLIResult:
        try:
            code = main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return CLIResult(code, out, err)

    return run


def run_subprocess(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """Run `autoloop ARGS...` as a real process (for kill tests)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "autoloop.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, **kw)
