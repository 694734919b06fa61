"""How far apart are entropies (hence logits) of one run computed alone and inside a batch?

    python notebooks/batch_entropy_diff.py [rows]

Tiny model, CPU float32, L=16, T 0.7 and 1.2, seed 0: each run alone (B=1) vs both in one batch
(B=2), `rows` rows (default 416) including prefill. Prints the first differing token (None if none)
and the largest entropy difference before it.
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoloop.models import load_model  # noqa: E402
from autoloop.schedule import Schedule  # noqa: E402
from tests.conftest import tiny_config  # noqa: E402
from tests.test_engine import engine_rows  # noqa: E402

torch.set_num_threads(1)
rows = int(sys.argv[1]) if len(sys.argv) > 1 else 416
tiny = load_model(tiny_config(), torch.device("cpu"), torch.float32)
L = 16
Ts = [Schedule.constant(0.7).at, Schedule.constant(1.2).at]
both = engine_rows(tiny, [[256]] * 2, rows, L, Ts, lambda s: L, [0, 0], chunk=25)
for b, T in enumerate((0.7, 1.2)):
    alone = engine_rows(tiny, [[256]], rows, L, [Ts[b]], lambda s: L, [0], chunk=25)
    diff = np.nonzero(alone["token"][0] != both["token"][b])[0]
    upto = diff[0] if len(diff) else rows
    dh = np.abs(alone["entropy"][0][:upto] - both["entropy"][b][:upto]).max()
    print(f"T={T}: first differing token row {diff[0] if len(diff) else None} of {rows}; max |entropy diff| {dh:.2e} nats")
