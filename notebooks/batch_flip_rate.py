"""How often does batch shape change a token? (DESIGN §3: measure, don't assume.)

    python notebooks/batch_flip_rate.py [steps] [results_root] [model]

Runs the same grid twice, once with batch_size=1 (each run alone) and once with every run in one
batch (batch_size=6), CPU float32, then reports per run the first step where the token streams
differ. Logits differ by ~1e-6 between batch shapes; a flip needs a near-tie in the Gumbel-max
scores, after which the trajectories part ways.
"""

import sys

import numpy as np

import autoloop
from autoloop.cli import main

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
root = sys.argv[2] if len(sys.argv) > 2 else "results/flip"
model = sys.argv[3] if len(sys.argv) > 3 else "tiny"
grid = [f"model={model}", "T=[0.8,1.0,1.2]", "L=32", "seeds=[0,1]", f"steps={steps}", "part_steps=2000"]
for bs in (1, 6):
    code = main(["run", *grid, f"batch_size={bs}", f"results_dir={root}/b{bs}"])
    assert code == 0
a = autoloop.load_steps(f"{root}/b1", columns=["step", "token_id"])
b = autoloop.load_steps(f"{root}/b6", columns=["step", "token_id"])
rows = 0
flips = 0
for rid, ga in a.groupby("run_id"):
    ta = ga["token_id"].to_numpy()
    tb = b[b["run_id"] == rid]["token_id"].to_numpy()
    diff = np.nonzero(ta != tb)[0]
    first = int(ga["step"].iloc[diff[0]]) if len(diff) else None
    meta = autoloop.list_runs(f"{root}/b1", run_id=rid).iloc[0]
    print(f"run {rid} T={meta['T']:g} seed={meta['seed']}: first differing step {first} of {steps}")
    rows += (diff[0] if len(diff) else len(ta))
    flips += bool(len(diff))
print(f"{flips} of {a['run_id'].nunique()} runs diverged; {flips} flips in {rows} identical-history steps "
      f"(rate {flips / rows:.2e} per step)")
