"""The `autoloop` command.

    autoloop run [hydra overrides]                 run a (model, T, L, seed) grid; resumes and extends
    autoloop sweep NAME [overrides]                a named sweep from sweeps/, one Hydra job per batch
    autoloop status [results_dir] [--sweep NAME]   table of runs, or a sweep's T x L grid
    autoloop fork RUN_ID --at STEP [k=v ...]       new run from a parent's window at STEP
    autoloop replicate T=.. L=.. --seeds N --neighbours L=..,..   settle an anomaly over seeds
    autoloop analyze | figures | observe           the analysis stage (autoloop/analysis)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from autoloop.config import ConfigError

USAGE = __doc__
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def _fail(msg: str, code: int = 2) -> None:
    print(f"autoloop: error: {msg}", file=sys.stderr)
    raise SystemExit(code)


# ------------------------------------------------------------------------------------------ run
def _task_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:
        return []


def _prepare(cfg):
    """DictConfig -> (run config, model config, loaded model, plans, device, dtype); exits on bad input."""
    from autoloop.config import effective_model, from_dictconfig, validate
    from autoloop.models import load_model
    from autoloop.plan import grid_plans
    from autoloop.runner import resolve_device

    try:
        rc = from_dictconfig(cfg)
        grid = validate(rc)
        mcfg = effective_model(rc.model)
        device, dtype = resolve_device(rc.device, rc.dtype)
        model = load_model(mcfg, device, dtype)
        plans = grid_plans(rc, grid, mcfg.name, model.start_token_id, model.encode, model.max_positions)
    except ConfigError as e:
        _fail(str(e))
    return rc, mcfg, model, plans, device, dtype


def _run_task(cfg) -> None:
    from autoloop.runner import ExecSettings, Runner

    rc, mcfg, model, plans, device, dtype = _prepare(cfg)
    settings = ExecSettings(rc.results_dir, rc.batch_size, rc.part_steps, device, dtype, ["autoloop", "run", *_task_overrides()])
    execute(Runner(model, mcfg, settings), plans)


def _sweep_task(cfg) -> None:
    """One Hydra job of `autoloop sweep`: the runs of batch `job` of the sweep."""
    from omegaconf import open_dict

    from autoloop.runner import ExecSettings, Runner
    from autoloop.sweeps import partition

    with open_dict(cfg):
        name, job, stale_after = cfg.pop("sweep"), int(cfg.pop("job")), float(cfg.pop("stale_after", 600.0))
    rc, mcfg, model, plans, device, dtype = _prepare(cfg)
    jobs = partition(plans, rc.batch_size)
    if not 0 <= job < len(jobs):
        _fail(f"sweep {name!r} has jobs 0..{len(jobs) - 1}, not {job}")
    argv = ["autoloop", "sweep", name, *[o for o in _task_overrides() if not o.startswith(("+sweep=", "+job="))]]
    settings = ExecSettings(rc.results_dir, rc.batch_size, rc.part_steps, device, dtype, argv,
                            stale_after=stale_after, job=f"{name}/{job}")
    print(f"sweep {name} job {job}/{len(jobs)}: {len(jobs[job])} runs at L={int(jobs[job][0].L.at(0))}")
    execute(Runner(model, mcfg, settings), jobs[job])


def execute(runner, plans) -> None:
    from autoloop.runner import summarize

    n_all = len(plans)
    worked = runner.run(plans)
    busy = len(runner.claimed_elsewhere)
    print(f"{len(worked)} of {n_all} runs generated ({n_all - len(worked) - busy} already complete"
          + (f", {busy} left to another live writer" if busy else "") + f"); data in {runner.store.runs_dir}")
    for s in summarize(runner.store, plans):
        print(f"  {s['run_id']}  T={s['T']:<5g} L={s['L']:<5d} seed={s['seed']:<4d} steps={s['steps']:<7d} "
              f"mean H={s['mean_entropy']:.3f} nats  EOS={s['eos']:<5d} ...{s['tail']!r}")


def _quote_schedule(arg: str) -> str:
    """`schedule=0:T0.9,3000:T0.6` is one value, not a Hydra sweep over commas: quote it for Hydra
    (a value already quoted or written as a [list] is left alone)."""
    key, sep, value = arg.partition("=")
    if sep and key.lstrip("+") == "schedule" and value and value[0] not in "'\"[":
        return f"{key}='{value}'"
    return arg


def run_main(argv: list[str]) -> int:
    from autoloop.config import check_override_keys

    try:
        check_override_keys(argv, CONF_DIR)
    except ConfigError as e:
        _fail(str(e))
    argv = [_quote_schedule(a) for a in argv]
    _hydra(_run_task, ["autoloop run", *argv])
    return 0


def _hydra(task, argv: list[str]) -> None:
    import hydra
    from hydra.core.global_hydra import GlobalHydra

    from autoloop.config import register_configs

    register_configs()
    GlobalHydra.instance().clear()  # allow several runs in one process (tests, notebooks)
    main = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="run")(task)
    saved, sys.argv = sys.argv, argv
    try:
        main()
    finally:
        sys.argv = saved


# ---------------------------------------------------------------------------------------- sweep
def sweep_main(argv: list[str]) -> int:
    from autoloop import sweeps

    if not argv or argv[0].startswith("-") or "=" in argv[0]:
        _fail(f"usage: autoloop sweep NAME [overrides]; sweeps: {', '.join(sweeps.available())}")
    name, user = argv[0], [_quote_schedule(a) for a in argv[1:]]
    stale = [u for u in user if u.startswith("stale_after=")]
    user = [u for u in user if not u.startswith("stale_after=")]
    try:
        sweep, rc, ovs = sweeps.compose(name, user)
        plans, _ = sweeps.plans_for(rc)
    except ConfigError as e:
        _fail(str(e))
    jobs = sweeps.partition(plans, rc.batch_size)
    sweep_dir = Path(rc.results_dir).absolute() / ".sweeps" / name
    print(f"sweep {name} v{sweep.version}: {len(plans)} runs in {len(jobs)} jobs (batch_size={rc.batch_size}); "
          f"launcher logs in {sweep_dir}")
    hydra_argv = ["autoloop sweep", "--multirun", *ovs, f"+sweep={name}", "+job=" + ",".join(str(i) for i in range(len(jobs))),
                  f"hydra.sweep.dir={sweep_dir}"]
    if stale:
        hydra_argv.append("+" + stale[-1])
    _hydra(_sweep_task, hydra_argv)
    return 0


# --------------------------------------------------------------------------------------- status
def status_main(argv: list[str]) -> int:
    from autoloop.runner import live_state
    from autoloop.store import RunStore, flatten_meta

    ap = argparse.ArgumentParser(prog="autoloop status", description="Table of the runs in a results directory, "
                                 "or with --sweep NAME the sweep's T x L grid (done/partial/missing per cell, speed, ETA).")
    ap.add_argument("results_dir", nargs="?", default=None)
    ap.add_argument("overrides", nargs="*", help="with --sweep: overrides the sweep was launched with (e.g. model=...)")
    ap.add_argument("--sweep", default=None)
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    args = ap.parse_intermixed_args(argv)
    if args.results_dir and "=" in args.results_dir:
        args.overrides.insert(0, args.results_dir)
        args.results_dir = None
    if args.sweep:
        import json

        from autoloop import sweeps

        user = args.overrides + ([f"results_dir={args.results_dir}"] if args.results_dir else [])
        try:
            st = sweeps.sweep_status(args.sweep, user)
        except ConfigError as e:
            _fail(str(e))
        print(json.dumps(st, indent=1) if args.json else sweeps.format_status(st))
        return 0
    if args.overrides:
        _fail("overrides are only meaningful with --sweep")
    store = RunStore(args.results_dir or "results")
    if not store.root.is_dir():
        _fail(f"results_dir {args.results_dir!r} does not exist; pass the directory `autoloop run` wrote to")
    rows = []
    for run_id in store.run_ids():
        meta = store.read_meta(run_id)
        flat = flatten_meta(meta)
        state = live_state(meta)
        if state != "done" and flat["steps_done"] >= flat["steps"] and state != "running":
            state = "done"
        rows.append([run_id, flat["model"], f"{flat['T']:g}", str(flat["L"]), str(flat["seed"]),
                     f"{flat['steps_done']}/{flat['steps']}", state,
                     f"{flat['tokens_per_s']:.2f}" if flat["tokens_per_s"] else "-",
                     meta.get("parent") and f"{meta['parent']}@{meta['fork_step']}" or ""])
    header = ["run_id", "model", "T", "L", "seed", "steps", "state", "tok/s", "parent"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    if args.json:
        import json

        print(json.dumps([dict(zip(header, r)) for r in rows], indent=1))
        return 0
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(f"{len(rows)} runs in {store.runs_dir}")
    return 0


# ----------------------------------------------------------------------------------------- fork
FORK_KEYS = ("T", "L", "seed", "steps", "schedule", "results_dir", "batch_size", "device", "dtype", "part_steps")


def _parse_kv(tokens: list[str], allowed: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for tok in tokens:
        if "=" not in tok:
            _fail(f"expected key=value, got {tok!r}; valid keys: {', '.join(allowed)}")
        k, v = tok.split("=", 1)
        if k not in allowed:
            _fail(f"unknown key {k!r}; valid keys: {', '.join(allowed)}")
        out[k] = v
    return out


def fork_main(argv: list[str]) -> int:
    from autoloop.config import ModelConfig, check_writable_dir
    from autoloop.models import load_model
    from autoloop.plan import fork_plan
    from autoloop.runner import ExecSettings, Runner, resolve_device
    from autoloop.schedule import Schedule, ScheduleError, build, parse_changes
    from autoloop.store import RunStore

    ap = argparse.ArgumentParser(
        prog="autoloop fork",
        description="Start a new run from a parent's window at a step. Overrides: " + ", ".join(FORK_KEYS)
        + ". Unchanged T, L and seed reproduce the parent exactly (the RNG counter continues).")
    ap.add_argument("run_id")
    ap.add_argument("--at", type=int, required=True, help="parent step whose window becomes the fork's step-0 window")
    ap.add_argument("overrides", nargs="*", help="key=value")
    args = ap.parse_intermixed_args(argv)
    kv = _parse_kv(args.overrides, FORK_KEYS)
    store = RunStore(kv.get("results_dir", "results"))
    try:
        if not store.exists(args.run_id):
            raise ConfigError(f"no run {args.run_id!r} in {store.root}; `autoloop status {store.root}` lists the runs")
        parent = store.read_meta(args.run_id)
        done = store.rows_done(args.run_id) - int(parent["n_prefill"])
        if not 0 <= args.at <= done:
            raise ConfigError(f"--at {args.at} is outside the parent's stored steps 0..{done}; fork at a step it has")
        T_par = Schedule(tuple((int(s), float(v)) for s, v in parent["spec"]["T_schedule"]))
        L_par = Schedule(tuple((int(s), float(v)) for s, v in parent["spec"]["L_schedule"]))
        try:
            T = build(float(kv["T"]), [], "T") if "T" in kv else T_par.shifted(args.at)
            L = build(int(kv["L"]), [], "L") if "L" in kv else L_par.shifted(args.at)
            if "schedule" in kv:
                changes = parse_changes(kv["schedule"])
                T = build(T.at(0), changes, "T") if any(c[1] == "T" for c in changes) else T
                L = build(L.at(0), changes, "L") if any(c[1] == "L" for c in changes) else L
        except (ValueError, ScheduleError) as e:
            raise ConfigError(f"bad override: {e}") from None
        L = Schedule(tuple((s, int(v)) for s, v in L.points))
        if any(v < 0 for _, v in T.points):
            raise ConfigError("T must be >= 0 (T=0 is greedy)")
        if any(v < 1 for _, v in L.points):
            raise ConfigError("L must be >= 1")
        seed = int(kv.get("seed", parent["spec"]["seed"]))
        steps = int(kv.get("steps", int(parent["steps"]) - args.at))
        if steps < 1:
            raise ConfigError(f"the fork would run {steps} steps; pass steps=N with N >= 1")
        if L.max() > parent["model_info"]["max_positions"]:
            raise ConfigError(f"L={int(L.max())} exceeds the model's maximum of {parent['model_info']['max_positions']} positions")
        batch_size = int(kv.get("batch_size", 8))
        part_steps = int(kv.get("part_steps", 1000))
        if batch_size < 1 or part_steps < 1:
            raise ConfigError("batch_size and part_steps must be >= 1")
        check_writable_dir(str(store.root))
        device, dtype = resolve_device(kv.get("device", "auto"), kv.get("dtype", "auto"))
        mcfg = ModelConfig(**parent["model_config"])
        model = load_model(mcfg, device, dtype)
        rows = parent["n_prefill"] + args.at
        stored = store.read_rows(args.run_id, ["token_id"]).column("token_id").to_pylist()
        stream = parent["context_prefix"] + stored[:rows]
        plan = fork_plan(parent, stream, args.at, T, L, seed, steps)
    except (ConfigError, ValueError) as e:
        _fail(str(e))
    argv_full = ["autoloop", "fork", args.run_id, "--at", str(args.at), *args.overrides]
    settings = ExecSettings(str(store.root), batch_size, part_steps, device, dtype, argv_full)
    print(f"fork {plan.run_id}: parent {args.run_id} at step {args.at}, T {T}, L {L}, seed {seed}, {steps} steps")
    execute(Runner(model, mcfg, settings), [plan])
    return 0


# ----------------------------------------------------------------------------------------- main
def _analysis_commands() -> dict[str, Any]:
    try:
        from autoloop.analysis import cli as acli
    except ImportError:
        return {}
    return {"analyze": acli.analyze_main, "figures": acli.figures_main, "observe": acli.observe_main}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from autoloop.replicate import replicate_main

    commands = {"run": run_main, "sweep": sweep_main, "status": status_main, "fork": fork_main,
                "replicate": replicate_main, **_analysis_commands()}
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE.strip())
        print("commands: " + ", ".join(commands))
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd not in commands:
        _fail(f"unknown command {cmd!r}; commands: {', '.join(commands)}")
    try:
        return int(commands[cmd](rest) or 0)
    except ConfigError as e:
        _fail(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
