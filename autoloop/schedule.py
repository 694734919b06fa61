"""T and L schedules: piecewise-constant values that change at named experiment steps.

Grammar (one string, or a YAML list of the same entries)::

    schedule := entry ("," entry)*
    entry    := STEP ":" change (":" change)*
    change   := "T" FLOAT | "L" INT

    "3000:T0.6"                     T becomes 0.6 at step 3000
    "0:T0.9,3000:T0.6,20000:L256"   T 0.9 from step 0 (replaces the grid's T), 0.6 from 3000; L 256 from 20000
    "5000:T1.2:L128"                both at step 5000

A change applies at exactly the step it names: step 3000 is sampled at the new T; when L changes at
step s, step s's forward pass already sees the new window (cut to the last L tokens when L shrinks, or
grown from the stored history when L grows). Prefill uses the step-0 values.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

_CHANGE = re.compile(r"^(T)(\d+(?:\.\d*)?|\.\d+)$|^(L)(\d+)$")


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    """A piecewise-constant value: `points` are (step, value) with strictly increasing steps, first at 0."""

    points: tuple[tuple[int, float], ...]

    def __post_init__(self):
        steps = [s for s, _ in self.points]
        if not steps or steps[0] != 0 or any(b <= a for a, b in zip(steps, steps[1:])):
            raise ScheduleError(f"schedule points must start at step 0 and increase: {self.points}")

    @classmethod
    def constant(cls, value: float) -> "Schedule":
        return cls(((0, value),))

    def at(self, step: int) -> float:
        """Value in force at `step` (prefill steps, which are negative, get the step-0 value)."""
        i = bisect.bisect_right(self.points, (step, float("inf"))) - 1
        return self.points[max(i, 0)][1]

    def shifted(self, offset: int) -> "Schedule":
        """The schedule seen from step `offset` on, renumbered so that `offset` becomes step 0."""
        pts = [(0, self.at(offset))] + [(s - offset, v) for s, v in self.points if s > offset]
        return Schedule(tuple(pts))

    def max(self) -> float:
        return max(v for _, v in self.points)

    def as_list(self) -> list[list]:
        return [[s, v] for s, v in self.points]

    def __str__(self) -> str:
        return ",".join(f"{s}:{v:g}" for s, v in self.points)


def parse_changes(spec: str | Sequence[str] | None) -> list[tuple[int, str, float]]:
    """Parse the grammar above into (step, "T" | "L", value), sorted by step. Raises ScheduleError."""
    if spec is None:
        return []
    entries: Iterable[str]
    if isinstance(spec, str):
        entries = [e for e in spec.replace(" ", "").split(",") if e] if spec.strip() else []
    else:
        entries = [str(e).replace(" ", "") for e in spec]
    out: list[tuple[int, str, float]] = []
    seen: set[tuple[int, str]] = set()
    for entry in entries:
        fields = entry.split(":")
        if len(fields) < 2 or not fields[0].isdigit():
            raise ScheduleError(
                f"malformed schedule entry {entry!r}: expected STEP:T<float> or STEP:L<int>, e.g. '3000:T0.6' or '20000:L256'"
            )
        step = int(fields[0])
        for change in fields[1:]:
            m = _CHANGE.match(change)
            if not m:
                raise ScheduleError(
                    f"malformed change {change!r} in schedule entry {entry!r}: expected T<float> (e.g. T0.6) or L<int> (e.g. L256)"
                )
            key, value = ("T", float(m.group(2))) if m.group(1) else ("L", int(m.group(4)))
            if (step, key) in seen:
                raise ScheduleError(f"schedule sets {key} twice at step {step}")
            seen.add((step, key))
            out.append((step, key, value))
    out.sort(key=lambda c: (c[0], c[1]))
    return out


def build(initial: float, changes: list[tuple[int, str, float]], key: str) -> Schedule:
    """The schedule of one parameter: `initial` at step 0, then the changes for `key`."""
    points: dict[int, float] = {0: initial}
    for step, k, value in changes:
        if k == key:
            points[step] = value
    pts = sorted(points.items())
    # Drop changes that do not change anything, so equal schedules compare (and hash) equal.
    merged = [pts[0]]
    for s, v in pts[1:]:
        if v != merged[-1][1]:
            merged.append((s, v))
    return Schedule(tuple(merged))
