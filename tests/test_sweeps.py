"""Named sweeps: preset composition, job partition, launch (basic and submitit_local), idempotency,
concurrent launches, claims and sweep status."""

import json
import os
import subprocess
import sys
import time

import pytest

from autoloop import claims, sweeps
from autoloop.store import RunStore

PRESET_RUNS = {"pilot": 12, "crossover": 12, "seed-replication": 56, "ldense": 15, "l256-crossover": 4, "smoke": 8}


@pytest.mark.parametrize("name", sorted(PRESET_RUNS))
def test_every_preset_composes_and_expands(name):
    sweep, rc, ovs = sweeps.compose(name, [])
    assert sweep.name == name and sweep.description.strip() and sweep.rationale.strip() and sweep.version >= 1
    plans, _ = sweeps.plans_for(rc, load_model_if_needed=False)
    assert len(plans) == PRESET_RUNS[name]
    assert len({p.run_id for p in plans}) == len(plans)


def test_presets_on_disk_are_the_documented_ones():
    assert sorted(sweeps.available()) == sorted(PRESET_RUNS)


def test_user_overrides_replace_the_grid():
    _, rc, _ = sweeps.compose("pilot", ["model=smollm2-135m", "seeds=[0,1]", "steps=10"])
    assert rc.model.name == "smollm2-135m" and rc.seeds == [0, 1] and rc.steps == 10 and rc.L == [64, 128, 192, 256]


def test_partition_packs_runs_sharing_L_up_to_batch_size():
    _, rc, _ = sweeps.compose("pilot", [])
    plans, _ = sweeps.plans_for(rc, load_model_if_needed=False)
    jobs = sweeps.partition(plans, batch_size=8)
    assert [len(j) for j in jobs] == [3, 3, 3, 3]
    assert all(len({p.L.points for p in j}) == 1 for j in jobs)
    jobs = sweeps.partition(plans, batch_size=2)
    assert [len(j) for j in jobs] == [2, 1] * 4
    _, rc, _ = sweeps.compose("seed-replication", [])
    plans, _ = sweeps.plans_for(rc, load_model_if_needed=False)
    assert [len(j) for j in sweeps.partition(plans, 64)] == [14] * 4  # 7 T x 2 seeds share each batch


def test_bad_sweep_input(cli):
    r = cli("sweep", "nosuch")
    assert r.code != 0 and "unknown sweep 'nosuch'" in r.err and "pilot" in r.err
    r = cli("sweep", "smoke", "colour=1")
    assert r.code != 0 and "unknown config key 'colour'" in r.err


def test_smoke_sweep_runs_then_second_launch_does_nothing(cli, tmp_path):
    res = tmp_path / "res"
    r = cli("sweep", "smoke", f"results_dir={res}", "steps=30")
    assert r.code == 0, r
    store = RunStore(res)
    assert len(store.run_ids()) == 8
    assert all(store.read_meta(i)["state"] == "done" for i in store.run_ids())
    meta = store.read_meta(store.run_ids()[0])
    assert meta["job"].startswith("smoke/") and "git_dirty" in meta and meta["argv"][:3] == ["autoloop", "sweep", "smoke"]
    mtimes = {p: p.stat().st_mtime_ns for p in res.rglob("*.parquet")}
    r = cli("sweep", "smoke", f"results_dir={res}", "steps=30")
    assert r.code == 0 and r.out.count("0 of 4 runs generated") == 2
    assert mtimes == {p: p.stat().st_mtime_ns for p in res.rglob("*.parquet")}

    st = cli("status", "--sweep", "smoke", str(res), "steps=30")
    assert st.code == 0 and "2/0/0" in st.out and "8 done" in st.out
    js = json.loads(cli("status", "--sweep", "smoke", str(res), "steps=30", "--json").out)
    assert js["totals"] == {"done": 8, "running": 0, "partial": 0, "missing": 0}
    st = cli("status", "--sweep", "smoke", str(res), "steps=60")  # extended: every run now partial
    assert "0/2/0" in st.out


def test_two_concurrent_launches_never_write_a_run_twice(tmp_path):
    res = tmp_path / "res"
    args = [sys.executable, "-m", "autoloop.cli", "sweep", "smoke", f"results_dir={res}", "batch_size=2", "steps=60"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    store = RunStore(res)
    assert len(store.run_ids()) == 8
    for rid in store.run_ids():
        meta = store.read_meta(rid)
        assert meta["state"] == "done" and len(meta["segments"]) == 1, meta["segments"]
        assert store.rows_done(rid) == meta["n_prefill"] + 60
        assert not (store.run_dir(rid) / ".claim").exists()
    ref = tmp_path / "ref"
    r = subprocess.run([sys.executable, "-m", "autoloop.cli", "sweep", "smoke", f"results_dir={ref}", "steps=60"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    for rid in store.run_ids():
        a = store.read_rows(rid, ["token_id"]).column("token_id").to_pylist()
        b = RunStore(ref).read_rows(rid, ["token_id"]).column("token_id").to_pylist()
        assert a == b


def test_claims_exclusive_stale_takeover_and_owner_only_release(tmp_path):
    run = tmp_path / "run"
    first = claims.try_claim(run, stale_after=60)
    assert first is not None and first.owned()
    assert claims.try_claim(run, stale_after=60) is None
    owner = claims.read_owner(run)
    assert owner["pid"] == os.getpid() and owner["age_s"] < 5
    old = time.time() - 120
    os.utime(first.path, (old, old))  # heartbeat stopped two minutes ago
    second = claims.try_claim(run, stale_after=60)
    assert second is not None and second.owned() and not first.owned()
    first.release()  # a former owner cannot release the new owner's claim
    assert second.path.exists()
    with claims.Heartbeat([second], every=0.05):
        os.utime(second.path, (old, old))
        time.sleep(0.3)
    assert time.time() - second.path.stat().st_mtime < 5
    second.release()
    assert not second.path.exists()


def test_claim_of_a_dead_local_process_is_taken_over_at_once(tmp_path):
    run = tmp_path / "run"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    first = claims.try_claim(run, stale_after=3600)
    data = json.loads(first.path.read_text())
    first.path.write_text(json.dumps({**data, "pid": pid}))  # as if that (now finished) process held it
    assert claims.try_claim(run, stale_after=3600) is not None


def test_smoke_sweep_through_submitit_local(tmp_path):
    res = tmp_path / "res"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "autoloop.cli", "sweep", "smoke", f"results_dir={res}", "steps=20",
                        "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    store = RunStore(res)
    assert len(store.run_ids()) == 8 and all(store.read_meta(i)["state"] == "done" for i in store.run_ids())
    logs = list((res / ".sweeps" / "smoke" / ".submitit").rglob("*_log.out"))
    assert len(logs) == 2  # one submitit job per batch (one per L)
    pids = {store.read_meta(i)["pid"] for i in store.run_ids()}
    assert os.getpid() not in pids and len(pids) == 2
