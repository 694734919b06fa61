"""`autoloop run / status / fork` end to end on the tiny model: the store contract, resume, extend,
fork, schedules, and the public readers."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import autoloop
from autoloop.store import STEP_COLUMNS, RunStore
from tests.conftest import ROOT

TINY = ["model=tiny", "batch_size=8"]


def tokens(results, run_id):
    return RunStore(results).read_rows(run_id, ["token_id"]).column("token_id").to_pylist()


def test_grid_run_store_and_readers(cli, tmp_path):
    res = str(tmp_path / "res")
    r = cli("run", *TINY, "T=[0.5,1.0]", "L=16", "seeds=[0,1]", "steps=60", "part_steps=25", f"results_dir={res}")
    assert r.code == 0, r
    assert "4 of 4 runs generated" in r.out and "mean H=" in r.out

    runs = autoloop.list_runs(res)
    assert len(runs) == 4 and set(runs["state"]) == {"done"}
    assert sorted(zip(runs["T"], runs["seed"])) == [(0.5, 0), (0.5, 1), (1.0, 0), (1.0, 1)]
    assert (runs["steps_done"] == 60).all() and (runs["n_prefill"] == 16).all()

    steps = autoloop.load_steps(res, T=0.5, seed=[1])
    assert list(steps.columns) == ["run_id", *STEP_COLUMNS]
    assert len(steps) == 16 + 60 and steps["run_id"].nunique() == 1
    assert steps["step"].tolist() == list(range(-16, 60))
    assert (steps["phase"] == "prefill").sum() == 16
    assert steps["context_length"].tolist()[:17] == list(range(1, 17)) + [16]
    assert str(steps["entropy"].dtype) == "float32" and str(steps["token_id"].dtype) == "int32"
    assert steps["eos"].tolist() == (steps["token_id"] == 257).tolist()
    assert (steps["temperature"] == 0.5).all()
    # text is the byte stream decoded whole (tiny vocab: ids < 256 are bytes)
    raw = b"".join(bytes([t]) if t < 256 else {256: b"<s>", 257: b"</s>"}.get(t, b"") for t in steps["token_id"])
    assert "".join(steps["text"]) == raw.decode("utf-8", errors="replace")

    meta = RunStore(res).read_meta(steps["run_id"][0])
    for key in ("spec", "model_info", "segments", "argv", "git_commit", "tokens_per_s", "context_prefix"):
        assert key in meta
    seg = meta["segments"][-1]
    assert seg["batch_size"] == 4 and seg["dtype"] == "float32" and seg["torch"] and seg["transformers"]
    assert meta["argv"][:2] == ["autoloop", "run"]

    with pytest.raises(ValueError, match="unknown filter"):
        autoloop.load_steps(res, temperature=0.5)

    st = cli("status", res)
    assert st.code == 0 and "60/60" in st.out and st.out.count("done") == 4

    # a second launch does nothing
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "res").rglob("*.parquet")}
    r2 = cli("run", *TINY, "T=[0.5,1.0]", "L=16", "seeds=[0,1]", "steps=60", "part_steps=25", f"results_dir={res}")
    assert r2.code == 0 and "0 of 4 runs generated" in r2.out
    assert mtimes == {p: p.stat().st_mtime_ns for p in (tmp_path / "res").rglob("*.parquet")}


def test_extend_keeps_ids_and_matches_a_longer_run(cli, tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert cli("run", *TINY, "T=1.0", "L=12", "steps=40", "part_steps=15", f"results_dir={a}").code == 0
    (rid,) = RunStore(a).run_ids()
    first = tokens(a, rid)
    assert cli("run", *TINY, "T=1.0", "L=12", "steps=90", "part_steps=15", f"results_dir={a}").code == 0
    assert RunStore(a).run_ids() == [rid]
    extended = tokens(a, rid)
    assert extended[: len(first)] == first and len(extended) == 12 + 90
    assert cli("run", *TINY, "T=1.0", "L=12", "steps=90", "part_steps=50", f"results_dir={b}").code == 0
    assert tokens(b, rid) == extended
    meta = RunStore(a).read_meta(rid)
    assert meta["steps"] == 90 and len(meta["segments"]) == 2


def test_sigkill_then_resume_gives_identical_tokens(tmp_path):
    """Kill a real `autoloop run` mid-run, resume it, and compare with an uninterrupted run."""
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    args = ["run", *TINY, "T=[0.7,1.2]", "L=16", "steps=400", "part_steps=25"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "autoloop.cli", *args, f"results_dir={killed}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(killed.rglob("part-*.parquet"))) < 4:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = RunStore(killed)
    ids = store.run_ids()
    assert len(ids) == 2
    done_at_kill = [store.rows_done(i) for i in ids]
    assert all(0 < d < 416 for d in done_at_kill), done_at_kill
    # every finished part is readable
    for i in ids:
        assert store.read_rows(i).num_rows == store.rows_done(i)

    from tests.conftest import run_subprocess

    r = run_subprocess(*args, f"results_dir={killed}")
    assert r.returncode == 0, r.stderr
    assert "2 of 2 runs generated" in r.stdout  # the dead writer's claims did not block the resume
    assert not list(killed.rglob("*.tmp")) and not list(killed.rglob(".claim"))
    r = run_subprocess(*args, f"results_dir={clean}")
    assert r.returncode == 0, r.stderr
    for i in ids:
        assert tokens(killed, i) == tokens(clean, i)
        assert len(tokens(killed, i)) == 416


def test_fork_reproduces_parent_and_branches(cli, tmp_path):
    res = str(tmp_path / "res")
    assert cli("run", *TINY, "T=1.0", "L=16", "steps=80", "part_steps=30", f"results_dir={res}").code == 0
    (parent,) = RunStore(res).run_ids()
    p_tokens = tokens(res, parent)

    # unchanged T, L, seed: the fork's continuation is the parent's, token for token
    r = cli("fork", parent, "--at", "30", f"results_dir={res}", "part_steps=20")
    assert r.code == 0, r
    forks = [i for i in RunStore(res).run_ids() if i != parent]
    (same,) = forks
    meta = RunStore(res).read_meta(same)
    assert meta["parent"] == parent and meta["fork_step"] == 30 and meta["n_prefill"] == 0
    assert meta["context_prefix"] == p_tokens[16 + 30 - 16: 16 + 30]  # the parent's window at step 30
    assert tokens(res, same) == p_tokens[16 + 30:]
    assert autoloop.list_runs(res, parent=parent)["fork_step"].tolist() == [30]

    # another T from step 0 of the fork on
    r = cli("fork", parent, "--at", "30", "T=0.3", "steps=25", f"results_dir={res}")
    assert r.code == 0, r
    (cold,) = [i for i in RunStore(res).run_ids() if i not in (parent, same)]
    rows = autoloop.load_steps(res, run_id=cold)
    assert len(rows) == 25 and (rows["temperature"] == np.float32(0.3)).all()
    assert rows["step"].tolist() == list(range(25)) and (rows["context_length"] == 16).all()


def test_schedule_changes_apply_at_the_named_step(cli, tmp_path):
    res = str(tmp_path / "res")
    r = cli("run", *TINY, "T=1.0", "L=16", "steps=60", "part_steps=7", "schedule=20:T0.3,40:L8,50:T1.5:L24",
            f"results_dir={res}")
    assert r.code == 0, r
    df = autoloop.load_steps(res)
    run = df[df["phase"] == "run"].set_index("step")
    assert (run.loc[:19, "temperature"] == 1.0).all() and (run.loc[20:49, "temperature"] == np.float32(0.3)).all()
    assert (run.loc[50:, "temperature"] == 1.5).all()
    assert (run.loc[:39, "context_length"] == 16).all() and (run.loc[40:49, "context_length"] == 8).all()
    assert (run.loc[50:, "context_length"] == 24).all()
    runs = autoloop.list_runs(res)
    assert runs["T_schedule"][0] == "0:T1,20:T0.3,50:T1.5" and runs["L_schedule"][0] == "0:L16,40:L8,50:L24"


def test_prompt_start_has_no_prefill(cli, tmp_path):
    res = str(tmp_path / "res")
    assert cli("run", *TINY, "T=1.0", "L=10", "steps=20", "prompt=abc", f"results_dir={res}").code == 0
    df = autoloop.load_steps(res)
    assert len(df) == 20 and (df["phase"] == "run").all() and (df["context_length"] == 10).all()
    meta = RunStore(res).read_meta(df["run_id"][0])
    assert meta["context_prefix"] == list(b"abcabcabca") and meta["spec"]["start"] == {"kind": "prompt", "prompt": "abc"}


BAD = [
    (["T=-0.5"], "T=-0.5 is negative"),
    (["L=0"], "L=0 is below 1"),
    (["L=5000"], "exceeds the model's maximum of 1024"),
    (["steps=-1"], "steps=-1"),
    (["prompt="], "prompt is empty"),
    (["prompt=' '"], "prompt is empty"),
    (["tempreature=1"], "unknown config key 'tempreature'"),
    (["model.pth=x"], "unknown model key 'pth'"),
    (["schedule=300:X0.5"], "malformed change"),
    (["schedule=abc"], "malformed schedule entry"),
    (["schedule=10:T-1"], "malformed change"),
    (["schedule=10:L0"], "L=0"),
    (["device=tpu"], "device='tpu'"),
    (["batch_size=0"], "batch_size=0"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[a[0] for a, _ in BAD])
def test_bad_input_fails_before_any_work(cli, tmp_path, args, message):
    res = tmp_path / "res"
    r = cli("run", *TINY, "steps=5", f"results_dir={res}", *args)
    assert r.code != 0
    assert message in r.err, r
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert not res.exists()


def test_bad_model_and_dirs(cli, tmp_path):
    r = cli("run", "model=gpt5", f"results_dir={tmp_path / 'r'}")
    assert r.code != 0 and "unknown model 'gpt5'" in r.err and "tiny" in r.err
    r = cli("run", "model.path=/nonexistent/model", f"results_dir={tmp_path / 'r'}")
    assert r.code != 0 and "does not exist" in r.err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = cli("run", *TINY, f"results_dir={blocker / 'sub'}")
    assert r.code != 0 and "is not writable" in r.err
    assert not (tmp_path / "r").exists()


def test_hub_model_fails_fast_offline(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    t = time.time()
    r = cli("run", "model=smollm-135m", f"results_dir={tmp_path / 'r'}")
    assert r.code != 0 and "not in the local Hugging Face cache" in r.err
    assert time.time() - t < 30
    assert not (tmp_path / "r").exists()


def test_bad_fork_arguments(cli, tmp_path):
    res = str(tmp_path / "res")
    assert cli("run", *TINY, "T=1.0", "L=8", "steps=10", f"results_dir={res}").code == 0
    (parent,) = RunStore(res).run_ids()
    r = cli("fork", "nosuchrun", "--at", "3", f"results_dir={res}")
    assert r.code != 0 and "no run 'nosuchrun'" in r.err
    r = cli("fork", parent, "--at", "11", f"results_dir={res}")
    assert r.code != 0 and "outside the parent's stored steps 0..10" in r.err
    r = cli("fork", parent, "--at", "3", "T=-1", f"results_dir={res}")
    assert r.code != 0 and "T must be >= 0" in r.err
    r = cli("fork", parent, "--at", "3", "colour=red", f"results_dir={res}")
    assert r.code != 0 and "unknown key 'colour'" in r.err
    assert RunStore(res).run_ids() == [parent]


def test_full_disk_loses_only_the_unsaved_part(cli, tmp_path, monkeypatch):
    """A write failing with ENOSPC mid-run: earlier parts stay whole, no temp file is left, the run is
    marked failed with the error, and a later launch resumes it to the same tokens."""
    import errno

    import pyarrow.parquet as pq

    res = str(tmp_path / "res")
    real_write = pq.write_table
    calls = {"n": 0}

    def failing_write(table, where, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            real_write(table.slice(0, 3), where, **kw)  # a partial file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(table, where, **kw)

    monkeypatch.setattr(pq, "write_table", failing_write)
    r = cli("run", *TINY, "T=1.0", "L=8", "steps=60", "part_steps=20", f"results_dir={res}")
    assert r.code != 0
    monkeypatch.setattr(pq, "write_table", real_write)
    store = RunStore(res)
    (rid,) = store.run_ids()
    assert store.rows_done(rid) == 40 and store.read_rows(rid).num_rows == 40
    assert not list((tmp_path / "res").rglob("*.tmp"))
    meta = store.read_meta(rid)
    assert meta["state"] == "failed" and "No space left" in meta["error"]
    assert cli("run", *TINY, "T=1.0", "L=8", "steps=60", "part_steps=20", f"results_dir={res}").code == 0
    ref = str(tmp_path / "ref")
    assert cli("run", *TINY, "T=1.0", "L=8", "steps=60", f"results_dir={ref}").code == 0
    assert tokens(res, rid) == tokens(ref, rid)
