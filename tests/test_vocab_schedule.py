"""Whole UTF-8 characters from split tokens, and the schedule grammar."""

import pytest

from autoloop.schedule import Schedule, ScheduleError, build, parse_changes
from autoloop.vocab import TextDecoder

BYTES = [bytes([i]) for i in range(256)]


def test_multibyte_character_comes_out_whole_on_its_last_token():
    ids = list("aé東🙂".encode("utf-8"))
    pieces = TextDecoder(BYTES).feed(ids)
    assert pieces == ["a", "", "é", "", "", "東", "", "", "", "🙂"]


def test_decoder_state_survives_a_resume_mid_character():
    ids = list("xx東京yy".encode("utf-8"))
    whole = TextDecoder(BYTES).feed(ids)
    for cut in range(1, len(ids)):
        first = TextDecoder(BYTES).feed(ids[:cut])
        resumed = TextDecoder(BYTES)
        resumed.prime(ids[:cut])
        assert first + resumed.feed(ids[cut:]) == whole


def test_invalid_bytes_become_replacement_characters():
    assert "".join(TextDecoder(BYTES).feed([0xFF, 0x41])) == "\ufffdA"


def test_schedule_grammar():
    changes = parse_changes("0:T0.9,3000:T0.6,20000:L256,5000:T1.2:L128")
    assert changes == [(0, "T", 0.9), (3000, "T", 0.6), (5000, "L", 128), (5000, "T", 1.2), (20000, "L", 256)]
    T = build(1.0, changes, "T")
    assert T.points == ((0, 0.9), (3000, 0.6), (5000, 1.2))
    assert T.at(-5) == 0.9 and T.at(2999) == 0.9 and T.at(3000) == 0.6 and T.at(10 ** 9) == 1.2
    L = build(64, changes, "L")
    assert L.points == ((0, 64), (5000, 128), (20000, 256)) and L.max() == 256
    assert parse_changes(["100:T0.5", "200:L32"]) == [(100, "T", 0.5), (200, "L", 32)]
    assert parse_changes(None) == [] and parse_changes("") == []
    # a change to the value already in force is dropped, so equal schedules hash equal
    assert build(0.5, parse_changes("100:T0.5"), "T") == Schedule.constant(0.5)


def test_schedule_shift_for_forks():
    T = Schedule(((0, 1.0), (100, 0.5), (300, 0.2)))
    assert T.shifted(150).points == ((0, 0.5), (150, 0.2))
    assert T.shifted(0) == T


@pytest.mark.parametrize("bad", ["abc", "10", "10:", "10:X1", "10:T", "10:L1.5", "-5:T1", "10:T1,10:T2", "10:T1:T2"])
def test_malformed_schedules_are_rejected(bad):
    with pytest.raises(ScheduleError):
        parse_changes(bad)
