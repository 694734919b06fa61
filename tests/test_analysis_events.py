"""Collapse / escape events and transitions on constructed traces."""

import numpy as np
import pytest

from autoloop.analysis import events as ev


def test_runs_of():
    s, e = ev.runs_of(np.array([1, 1, 0, 1, 0, 0, 1], bool))
    assert s.tolist() == [0, 3, 6] and e.tolist() == [2, 4, 7]


def test_collapse_with_escape():
    h = np.r_[np.ones(100), np.full(600, 0.05), np.full(50, 0.2), np.full(300, 0.4)]
    c = ev.collapse_events(h)
    assert len(c) == 1
    row = c.iloc[0]
    assert (row.start, row.end, row.duration, row.escaped) == (100, 750, 650, True)
    assert row.mean_entropy == pytest.approx((600 * 0.05 + 50 * 0.2) / 650)


def test_short_low_stretch_is_not_a_collapse():
    h = np.r_[np.ones(100), np.full(499, 0.05), np.ones(300)]
    assert ev.collapse_events(h).empty


def test_collapse_without_escape_and_merging():
    # high stretch of only 150 steps (< 200) does not end the collapse; the next low stretch joins it
    h = np.r_[np.full(600, 0.05), np.full(150, 0.4), np.full(700, 0.02), np.full(100, 0.5)]
    c = ev.collapse_events(h)
    assert len(c) == 1
    assert (c.iloc[0].start, c.iloc[0].end, c.iloc[0].escaped) == (0, len(h), False)


def test_transition_hand_computed():
    h = np.r_[np.full(300, 0.05), np.full(5, 0.3), [2.0], np.full(2000, 0.2)]
    t = ev.transition_events(h)
    assert len(t) == 1
    r = t.iloc[0]
    assert (r.stretch_start, r.stretch_end, r.step) == (0, 300, 305)
    assert r.floor == pytest.approx(0.05)
    assert r.spike == pytest.approx(2.0)
    assert r.landing == pytest.approx((2.0 + 1999 * 0.2) / 2000)
    assert r.direction == "up"  # 0.2009 >= 2 x 0.05


def test_transition_deeper_and_none_without_jump():
    h = np.r_[np.full(300, 0.09), [0.6], np.full(3000, 0.05)]
    t = ev.transition_events(h)
    assert t.iloc[0].direction == "deeper"
    assert ev.transition_events(np.r_[np.full(300, 0.05), np.full(100, 0.4)]).empty
