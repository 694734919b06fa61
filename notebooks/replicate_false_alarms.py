"""How often does `autoloop replicate`'s rule call an anomaly where there is none?

    python notebooks/replicate_false_alarms.py [tables] [n_boot]

Draws `tables` (default 300) null metric tables per seed count, with the generator of
tests/test_replicate.py (every condition from the same distribution), and prints the share the rule
calls "holds". This is what sets replicate's min_seeds.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoloop.replicate import compare  # noqa: E402
from tests.test_replicate import NEIGHBOURS, TARGET, table  # noqa: E402

n_tables = int(sys.argv[1]) if len(sys.argv) > 1 else 300
n_boot = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
for n in (5, 8, 10, 16, 24):
    fired = sum(bool(compare(table(n=n, seed=k), TARGET, NEIGHBOURS, n_boot=n_boot, min_seeds=1).holds)
                for k in range(n_tables))
    print(f"{n:>3} seeds per condition: rule fired on {fired}/{n_tables} null tables ({100 * fired / n_tables:.1f}%)")
