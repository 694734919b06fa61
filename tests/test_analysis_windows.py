"""Window series: gzip and LZ against hand-computed values and the per-window reference."""

import gzip

import numpy as np
import pytest

from autoloop.analysis import windows as w


@pytest.mark.parametrize("data", [b"", b"a", b"hello hello hello", "naïve über".encode() * 20, bytes(range(256))])
def test_gzip_len_equals_gzip_module(data):
    assert w.gzip_len(data) == len(gzip.compress(data, 6))


@pytest.mark.parametrize("seq,expected", [
    ([], 0),
    ([7], 1),
    ([1, 2, 3], 3),            # 1 | 2 | 3
    ([1, 1, 1, 1], 3),         # 1 | 11 | 1 (unfinished, counted)
    ([1, 2, 1, 2, 1, 2], 4),   # 1 | 2 | 12 | 12 (unfinished)
    ([0, 0, 1, 0, 0, 1, 1], 5),  # 0 | 01 | 00 | 1 | 1 (unfinished)
])
def test_lz_hand_computed(seq, expected):
    assert w.lz_phrases_reference(seq) == expected
    if seq:
        assert w.lz_phrase_counts(seq, [len(seq)])[len(seq)].tolist() == [expected]


@pytest.mark.parametrize("stride", [1, 3])
def test_lz_fast_matches_reference(stride):
    rng = np.random.default_rng(1)
    toks = np.concatenate([rng.integers(0, 4, 300), np.tile([5, 6, 7], 100), rng.integers(0, 1000, 300)])
    Ws = [4, 16, 50, 128]
    fast = w.lz_phrase_counts(toks, Ws, stride, chunk=97)  # odd chunk: exercises chunk edges
    for W in Ws:
        ref = [w.lz_phrases_reference(list(toks[t - W + 1 : t + 1])) for t in w.window_ends(len(toks), W, stride)]
        assert fast[W].tolist() == ref


def test_lz_window_longer_than_stream():
    out = w.lz_phrase_counts([1, 2, 3], [2, 8])
    assert out[2].tolist() == [2, 2] and out[8].tolist() == []


def test_gzip_series_hand_computed_and_reference():
    texts = ["ab", "", "é", " cat", "ab", "ab"]
    buf, off = w.text_bytes(texts)
    assert buf == "abé catabab".encode() and off.tolist() == [0, 2, 2, 4, 8, 10, 12]
    ends, ratio, norm = w.gzip_series(buf, off, 2)
    assert ends.tolist() == [1, 2, 3, 4, 5]
    assert ratio[0] == len(gzip.compress(b"ab", 6)) / 2
    assert ratio[2] == len(gzip.compress("é cat".encode(), 6)) / 6
    assert norm[2] == ratio[2] / w.random_ratio(6)
    e2, r2, n2, _ = w.window_series_reference(range(6), texts, 2)
    np.testing.assert_array_equal(ratio, r2)
    np.testing.assert_array_equal(norm, n2)


def test_gzip_empty_window_is_nan():
    buf, off = w.text_bytes(["", "", "x"])
    _, ratio, _ = w.gzip_series(buf, off, 2)
    assert np.isnan(ratio[0]) and ratio[1] == len(gzip.compress(b"x", 6))


def test_random_ratio_is_about_one():
    assert 1.0 < w.random_ratio(1000) < 1.05


def test_gzip_len_small_window_is_exact_over_many_inputs():
    rng = np.random.default_rng(7)
    alphabet = [b"the ", b"cat ", b"\xc3\xa9", b"\n", b"w1234 ", b"x"]
    for n in list(range(0, 60)) + [249, 250, 251, 761, 762, 763, 1785, 1786, 1787, 5000, 40000]:
        parts = rng.choice(len(alphabet), size=n)
        data = b"".join(alphabet[i] for i in parts)[:n]
        assert w.gzip_len(data) == len(gzip.compress(data, 6)), n
        noise = rng.bytes(n)
        assert w.gzip_len(noise) == len(gzip.compress(noise, 6)), n


def test_distinct_windows_are_exact():
    rng = np.random.default_rng(3)
    toks = np.concatenate([np.tile([4, 5, 6], 200), rng.integers(0, 3, 400), np.tile([1, 2], 100)])
    Wmax = 16
    padded = np.concatenate([toks, np.full(Wmax, 99)])
    starts = np.arange(0, len(toks))
    rep, inv = w._distinct_windows(padded, starts, Wmax)
    assert len(rep) < len(starts)
    win = np.stack([padded[s : s + Wmax] for s in starts])
    np.testing.assert_array_equal(win, win[rep][inv])
    assert len(np.unique(win[rep], axis=0)) == len(rep)
