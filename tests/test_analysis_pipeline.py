"""analyze end to end on a temporary store: tables, caching, filters, CLI, and values vs the reference."""

import numpy as np
import pandas as pd
import pytest
from tests.analysis_fixtures import EOS_ID, make_meta, staircase, token_text, tokens_for_entropy, write_run

from autoloop.analysis import windows
from autoloop.analysis.cli import analyze_main, parse_targets
from autoloop.analysis.config import AnalysisConfig, load_config
from autoloop.analysis.pipeline import analyze, load_metrics, load_table
from autoloop.store import RunStore

CFG = AnalysisConfig(windows=(16, 64, 256), block=50)


@pytest.fixture
def store(tmp_path):
    h = staircase([2.0, 0.05, 1.0], [600, 700, 700], noise=0.01, seed=0)
    toks = tokens_for_entropy(h, eos_at=[50, 1400])
    for T, L in [(0.5, 48), (1.0, 64)]:
        write_run(tmp_path, np.r_[[7] * L, toks], np.r_[np.ones(L), h], T=T, L=L, n_prefill=L, part_steps=500)
    return tmp_path


def test_analyze_tables_and_cache(store):
    st = analyze(store, CFG, jobs=1, progress=False)
    assert sorted(st.values()) == ["computed", "computed"]
    m = load_metrics(store)
    assert len(m) == 2 and set(m["L"]) == {48, 64}
    assert (m["n_steps"] == 2000).all()  # prefill rows excluded
    assert (m["eos_count"] == 2).all()
    assert (m["n_collapses"] == 1).all()
    w48 = load_table(store, "windows", L=48)
    assert sorted(w48["W"].unique()) == [16, 48, 64, 256]  # W = L added
    assert analyze(store, CFG, jobs=1, progress=False) == {r: "cached" for r in st}


def test_windows_table_matches_reference(store):
    analyze(store, CFG, jobs=1, progress=False, L=48)
    rows = RunStore(store).read_rows(load_metrics(store)["run_id"][0]).to_pandas()
    run = rows[rows["phase"] == "run"]
    w = load_table(store, "windows", L=48)
    for W in (16, 48):
        d = w[w["W"] == W]
        _, gz, gzn, lz = windows.window_series_reference(run["token_id"].tolist(), run["text"].tolist(), W)
        np.testing.assert_array_equal(d["gzip_ratio"], gz)
        np.testing.assert_array_equal(d["gzip_norm"], gzn)
        np.testing.assert_array_equal(d["lz_phrases"], lz)
        assert d["step"].iloc[0] == W - 1


def test_cache_recomputes_what_changed(store):
    analyze(store, CFG, jobs=1, progress=False)
    rid48 = load_metrics(store, L=48)["run_id"][0]
    s = RunStore(store)
    n = s.rows_done(rid48)
    s.write_part(rid48, n, {"step": np.arange(2000, 2100), "phase": ["run"] * 100, "token_id": np.full(100, 5, np.int32),
                            "entropy": np.full(100, 0.5, np.float32), "entropy_tempered": np.zeros(100, np.float32),
                            "logprob": np.zeros(100, np.float32), "temperature": np.full(100, 0.5, np.float32),
                            "context_length": np.full(100, 48, np.int32), "eos": np.zeros(100, bool),
                            "text": [token_text(5)] * 100})
    st = analyze(store, CFG, jobs=1, progress=False)
    assert st[rid48] == "computed" and list(st.values()).count("cached") == 1
    assert load_metrics(store, L=48)["n_steps"][0] == 2100
    st = analyze(store, AnalysisConfig(windows=(16, 64, 256), block=60), jobs=1, progress=False)
    assert set(st.values()) == {"computed"}


def test_parallel_matches_serial(store, tmp_path_factory):
    analyze(store, CFG, jobs=2, progress=False)
    a = load_metrics(store).sort_values("run_id").reset_index(drop=True)
    analyze(store, CFG, jobs=1, progress=False, force=True)
    b = load_metrics(store).sort_values("run_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_parse_targets():
    assert parse_targets(["res", "T=0.5", "L=64,128", "model=tiny"]) == ("res", {"T": 0.5, "L": [64, 128], "model": "tiny"})
    assert parse_targets(["seed=1"]) == ("results", {"seed": 1})
    assert parse_targets(["run_id=123456789012,0abc"]) == ("results", {"run_id": ["123456789012", "0abc"]})


def test_analyze_main(store, capsys):
    assert analyze_main([str(store), "L=64", "-q", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "analyzed 1 run(s): 1 computed" in out
    assert analyze_main([str(store / "missing"), "-q"]) == 2
    assert analyze_main([str(store), "nosuchfield=1", "-q"]) == 2


def test_config_rejects_unknown_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("windws: [16]\n")
    with pytest.raises(ValueError, match="windws"):
        load_config(p)
    assert load_config().windows == (16, 32, 64, 128, 256)  # analysis/default.yaml


def test_empty_run(tmp_path):
    RunStore(tmp_path).write_meta(make_meta(steps=10, steps_done=0, state="running"))
    assert set(analyze(tmp_path, CFG, jobs=1, progress=False).values()) == {"empty"}
    assert load_metrics(tmp_path).empty


def test_analyze_main_options_between_filters(store, capsys):
    assert analyze_main([str(store), "T=0.5", "-q", "--jobs", "1", "L=48"]) == 0
    assert "analyzed 1 run(s)" in capsys.readouterr().out


def test_W_equals_L_follows_the_L_schedule():
    """A run whose L changes from 16 to 32 at step 300: the W = L series uses W = 16 before, 32 after."""
    from autoloop.analysis.pipeline import compute_run

    rng = np.random.default_rng(0)
    n = 600
    tokens = rng.integers(3, 40, n)
    rows = pd.DataFrame({"step": np.arange(n), "phase": "run", "token_id": tokens,
                         "entropy": rng.uniform(0, 3, n), "entropy_tempered": 1.0, "logprob": -1.0,
                         "eos": False, "text": [token_text(t) for t in tokens]})
    cfg = load_config()
    res = compute_run(rows, 16, cfg, [(0, 16), (300, 32)])
    buf, off = windows.text_bytes(rows["text"].tolist())
    e16, r16, _ = windows.gzip_series(buf, off, 16)
    e32, r32, _ = windows.gzip_series(buf, off, 32)
    stitched = np.concatenate([r16[e16 < 300], r32[e32 >= 300]])
    assert res["metrics"]["gzip_mean_WL"] == pytest.approx(stitched.mean())
    assert res["metrics"]["gzip_mean_WL"] != pytest.approx(res["metrics"]["gzip_mean_W16"])
    constant = compute_run(rows, 16, cfg)
    assert constant["metrics"]["gzip_mean_WL"] == pytest.approx(constant["metrics"]["gzip_mean_W16"])
