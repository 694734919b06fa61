"""Figures render for L outside {32, 64, 128, 256}; observe appends, verify catches edits; no torch needed."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.analysis_fixtures import staircase, tokens_for_entropy, write_run

from autoloop.analysis import observe
from autoloop.analysis.cli import figures_main, observe_main
from autoloop.analysis.config import AnalysisConfig
from autoloop.analysis.pipeline import analyze

CFG = AnalysisConfig(windows=(16, 64, 256), block=50)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("res")
    for seed in (0, 1):
        for T in (0.7, 1.3):
            for L in (24, 100):
                h = staircase([2.0 + T, 0.3, 1.0], [500, 500, 500], noise=0.2, seed=seed)
                write_run(root, tokens_for_entropy(h, seed=seed, eos_at=[20, 900]), h, T=T, L=L, seed=seed)
    analyze(root, CFG, jobs=1, progress=False)
    return root


def test_figures_render(results, tmp_path):
    assert figures_main([str(results), "L=24,100", "--out", str(tmp_path), "--W", "16,24,100,256", "--max-runs", "2"]) == 0
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(pngs) == 2 * 4 + 2
    assert "regime_map.png" in pngs and "transfer_functions.png" in pngs
    for p in tmp_path.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_observe_append_and_verify(results, tmp_path):
    log = tmp_path / "OBS.md"
    argv = [str(results), "T=0.7", "--log", str(log), "--no-figures"]
    assert observe_main(argv + ["--title", "first", "--tag", "negative", "--note", "nothing here"]) == 0
    assert observe_main([str(results), "--log", str(log), "--title", "second"]) == 0
    text = log.read_text()
    assert text.startswith("# Observations") and text.count("<!-- obs:begin") == 2
    assert "autoloop run model=synthetic T=0.7 L=24 seed=0 steps=1500" in text
    assert f"autoloop analyze {results} T=0.7" in text
    assert "**Tag:** negative" in text and "nothing here" in text and "fingerprint `sha256:" in text
    assert "](" in text  # second entry links its figures
    assert observe.verify(log) == []
    assert observe_main(["--verify", "--log", str(log)]) == 0

    log.write_text(text.replace("nothing here", "something here"))
    problems = observe.verify(log)
    assert any("entry 1" in p and "edited" in p for p in problems)
    assert any("entry 2" in p for p in problems)
    assert observe_main(["--verify", "--log", str(log)]) == 1
    # appending to a log that fails verification is refused
    assert observe_main(argv + ["--title", "third"]) == 2


def test_verify_catches_header_edit_and_trailing_text(results, tmp_path):
    log = tmp_path / "OBS.md"
    observe.append_entry(log, "one", results, {"L": 24}, figures=False)
    text = log.read_text()
    log.write_text(text.replace("append-only", "editable"))
    assert any("entry 1" in p for p in observe.verify(log))
    log.write_text(text + "\nsneaked in\n")
    assert any("after the last entry" in p for p in observe.verify(log))


def test_analysis_runs_without_torch(tmp_path):
    h = staircase([1.0, 0.05], [300, 300], seed=0)
    write_run(tmp_path, tokens_for_entropy(h), h, L=32)
    code = (
        # any `import torch` raises ImportError (a finder, not sys.modules['torch'] = None, which scipy's
        # array-API helpers trip over when they look for torch in sys.modules)
        "import sys, importlib.abc\n"
        "class NoTorch(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'torch': raise ImportError('torch is blocked in this test')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "import autoloop.analysis as A\n"
        "from autoloop.analysis.config import AnalysisConfig\n"
        f"st = A.analyze({str(tmp_path)!r}, AnalysisConfig(windows=(16, 64, 256)), jobs=1, progress=False)\n"
        "assert set(st.values()) == {'computed'}, st\n"
        f"assert len(A.load_metrics({str(tmp_path)!r})) == 1\n"
        "import autoloop.analysis.figures, autoloop.analysis.observe, autoloop.analysis.cli\n"
        "assert 'torch' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
