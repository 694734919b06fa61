"""Window series: gzip compressibility and LZ phrase counts over the W tokens ending at each step.

Definitions (the reference ones, so results compare with the seed system):

- gzip ratio at t = len(gzip level 6 of the UTF-8 bytes of the W tokens ending at t) / len(those bytes).
  The length of ``gzip.compress(b, 6)`` is computed as the raw deflate length + 18 (gzip header and
  trailer), with the smallest deflate window that cannot change the stream (see _wbits_for); the tests
  check it against gzip.compress. NaN when the window has no bytes.
- normalised gzip ratio = gzip ratio / gzip ratio of random bytes of the same length (fixed seed).
- LZ phrase count on token ids: parse the window left to right into phrases, each the shortest not yet
  seen (LZ78; an unfinished last phrase counts). Also reported as phrases / W.

Windows end at t = W-1, W-1+stride, ... over the run's experiment rows. Equivalently they start at
s = 0, stride, 2*stride, ..., for every W, which is what lets the fast path share work across W: the
LZ78 parse of tokens[s:s+W] is the parse of tokens[s:s+Wmax] cut at W, so one parse per start to depth
Wmax gives every W's count (the number of phrases starting before s+W).

The fast LZ path parses all starts of a chunk in lockstep, one token offset per numpy step, with every
window's trie held in one open-addressing hash table keyed by (node id, token). `*_reference` are the
straightforward per-window implementations the tests and the benchmark compare against.
"""

from __future__ import annotations

import gzip
import sys
import zlib

import numpy as np

GZIP_LEVEL = 6


def speed_up_allocator() -> None:
    """Keep freed zlib state in the heap instead of returning it to the OS (glibc only).

    A deflate stream allocates ~270 KB; glibc may serve that with mmap and unmap it on free, so each
    small gzip call pays for fresh zeroed pages (seen here in a tight loop: ~60 us a call instead of
    ~5 us; in other loops glibc's adaptive threshold avoids it by itself). Raising the mmap and trim
    thresholds makes every call reuse heap memory. Output is unaffected.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _wbits_for(n: int) -> int:
    """Smallest deflate window that changes nothing for an input of n bytes.

    zlib only limits match distances to w_size - 262 (MAX_DIST) and slides the window once the input
    passes it; for n <= 2**wbits - 262 neither happens, so the deflate stream is byte-identical to the
    one made with the default 32 KB window (the tests check this against gzip.compress), while the
    per-call set-up is smaller.
    """
    wb = 9
    while (1 << wb) - 262 < n and wb < 15:
        wb += 1
    return wb


_WBITS = [_wbits_for(n) for n in range(1 << 15)]


def gzip_len(data: bytes) -> int:
    """len(gzip.compress(data, 6)): raw deflate length + 18 bytes of gzip header and trailer."""
    n = len(data)
    return len(zlib.compress(data, GZIP_LEVEL, -(_WBITS[n] if n < len(_WBITS) else 15))) + 18


_RANDOM_RATIO: dict[int, float] = {}
_RANDOM_BYTES = np.random.default_rng(20240601).bytes(1 << 16)


def random_ratio(n: int) -> float:
    """gzip ratio of n random bytes (a fixed random string, so the value is reproducible)."""
    r = _RANDOM_RATIO.get(n)
    if r is None:
        if n <= 0:
            return float("nan")
        data = (_RANDOM_BYTES * (n // len(_RANDOM_BYTES) + 1))[:n]
        r = _RANDOM_RATIO[n] = len(gzip.compress(data, GZIP_LEVEL)) / n
    return r


def random_ratios(lengths: np.ndarray) -> np.ndarray:
    """random_ratio for an array of lengths (each distinct length compressed once)."""
    if len(lengths) == 0:
        return np.zeros(0)
    uniq, inv = np.unique(lengths, return_inverse=True)
    return np.array([random_ratio(int(m)) for m in uniq], dtype=np.float64)[inv]


def text_bytes(texts) -> tuple[bytes, np.ndarray]:
    """The stream's UTF-8 bytes and offsets: token i's bytes are buf[off[i]:off[i+1]]."""
    enc = [t.encode("utf-8") if t else b"" for t in texts]
    off = np.zeros(len(enc) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in enc], out=off[1:])
    return b"".join(enc), off


def window_ends(n: int, W: int, stride: int) -> np.ndarray:
    """Steps t (0-based row index) at which a full window of W tokens ends."""
    return np.arange(W - 1, n, stride, dtype=np.int64)


def gzip_series(buf: bytes, off: np.ndarray, W: int, stride: int = 1, memo: dict | None = None):
    """(ends, gzip ratio, normalised ratio) for windows of W tokens. Repeated windows are compressed once."""
    n = len(off) - 1
    ends = window_ends(n, W, stride)
    lo = off[ends - W + 1].tolist()
    hi = off[ends + 1].tolist()
    memo = {} if memo is None else memo
    glens = []
    compress, wbits, nw = zlib.compress, _WBITS, len(_WBITS)
    for a, b in zip(lo, hi):
        data = buf[a:b]
        key = (hash(data), b - a)  # 64-bit hash + length: a collision among one run's windows is ~1e-10
        c = memo.get(key)
        if c is None:
            m = b - a
            c = memo[key] = len(compress(data, GZIP_LEVEL, -(wbits[m] if m < nw else 15))) + 18
        glens.append(c)
    glen = np.array(glens, dtype=np.float64)
    blen = (off[ends + 1] - off[ends - W + 1]).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(blen > 0, glen / np.maximum(blen, 1), np.nan)
    rnd = random_ratios(blen.astype(np.int64))
    return ends, ratio, ratio / rnd


# ------------------------------------------------------------------------------------- LZ78, fast
_EMPTY = -1
_LOAD = 2  # table size >= _LOAD x entries (load <= 1/2; double hashing keeps probes short)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class _Table:
    """Open-addressing hash map int64 key -> int64 value (double hashing), vectorised lookups and inserts."""

    def __init__(self, bits: int):
        self.bits = bits
        self.mask = (1 << bits) - 1
        self.keys = np.full(1 << bits, _EMPTY, dtype=np.int64)
        self.vals = np.empty(1 << bits, dtype=np.int32)  # node ids < chunk x Wmax
        self.size = 0

    def clear(self) -> None:
        self.keys.fill(_EMPTY)
        self.size = 0

    def _probe(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = keys.astype(np.uint64) * _GOLDEN
        slot = (h >> np.uint64(64 - self.bits)).astype(np.int64)
        step = (h & np.uint64(self.mask)).astype(np.int64) | 1  # odd step: visits every slot
        return slot, step

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        return self._find(keys)[0]

    def _find(self, keys: np.ndarray):
        """(values or -1, slot, step): for a missing key, slot is the empty slot its probe ended on."""
        res = np.empty(len(keys), dtype=np.int64)
        res.fill(-1)
        slot, step = self._probe(keys)
        k = self.keys[slot]
        hit = k == keys
        res[hit] = self.vals[slot[hit]]
        cont = np.flatnonzero(~hit & (k != _EMPTY))
        while cont.size:
            slot_c = (slot[cont] + step[cont]) & self.mask
            slot[cont] = slot_c
            k = self.keys[slot_c]
            hit = k == keys[cont]
            res[cont[hit]] = self.vals[slot_c[hit]]
            cont = cont[~hit & (k != _EMPTY)]
        return res, slot, step

    def lookup_or_insert(self, keys: np.ndarray, first_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Values of keys (distinct); missing ones are inserted with ids first_id, first_id+1, ...

        Returns (values, missing mask); values of missing keys are their new ids. The insertion starts
        at the empty slot the lookup ended on, so a miss costs no second probe.
        """
        if _LOAD * (self.size + len(keys)) > len(self.keys):
            self._grow(self.size + len(keys))
        res, slot, step = self._find(keys)
        miss = np.flatnonzero(res < 0)
        if miss.size:
            ids = np.arange(first_id, first_id + miss.size, dtype=np.int64)
            self._place(keys[miss], ids, slot[miss], step[miss])
            res[miss] = ids
        return res, res >= first_id

    def insert(self, keys: np.ndarray, vals: np.ndarray) -> None:
        """Insert keys known to be absent and distinct."""
        if _LOAD * (self.size + len(keys)) > len(self.keys):
            self._grow(self.size + len(keys))
        slot, step = self._probe(keys)
        self._place(keys, vals, slot, step)

    def _place(self, keys, vals, slot, step) -> None:
        self.size += len(keys)
        idx = np.arange(len(keys))
        while idx.size:
            s = slot[idx]
            free = self.keys[s] == _EMPTY
            fi, fs = idx[free], s[free]
            self.keys[fs] = keys[fi]  # two keys on one slot: one write wins, found by reading back
            won = self.keys[fs] == keys[fi]
            self.vals[fs[won]] = vals[fi[won]]
            rest = np.ones(len(idx), dtype=bool)
            rest[np.flatnonzero(free)[won]] = False
            idx = idx[rest]
            slot[idx] = (slot[idx] + step[idx]) & self.mask

    def _grow(self, need: int) -> None:
        used = self.keys != _EMPTY
        old_k, old_v = self.keys[used], self.vals[used]
        bits = self.bits + 1
        while _LOAD * 2 * need > (1 << bits):  # room to spare: a rehash is expensive
            bits += 1
        self.__init__(bits)
        if len(old_k):
            self.insert(old_k, old_v)


def lz_phrase_counts(tokens, Ws, stride: int = 1, chunk: int = 8192) -> dict[int, np.ndarray]:
    """LZ78 phrase counts of the windows of each W ending at W-1, W-1+stride, ... (see module doc).

    Windows whose Wmax tokens repeat an earlier window exactly (loops) are parsed once.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    n = len(tokens)
    Ws = sorted({int(w) for w in Ws})
    out = {W: np.zeros(len(window_ends(n, W, stride)), dtype=np.int32) for W in Ws}
    Ws = [W for W in Ws if W <= n]
    if not Ws:
        return out
    if tokens.min() < 0:
        raise ValueError("token ids must be >= 0")
    V = int(tokens.max()) + 2
    Wmax = Ws[-1]
    padded = np.concatenate([tokens, np.full(Wmax, V - 1, dtype=np.int64)])
    starts = np.arange(0, n - Ws[0] + 1, stride, dtype=np.int64)
    rep, inv = _distinct_windows(padded, starts, Wmax)
    counts = _lz_lockstep(padded, starts[rep], Ws, V, n, chunk)
    for W in Ws:
        out[W][:] = counts[W][inv][: len(out[W])]
    return out


_HASH_BASE = np.uint64(0x100000001B3)  # odd, so invertible mod 2**64


def _distinct_windows(padded: np.ndarray, starts: np.ndarray, Wmax: int) -> tuple[np.ndarray, np.ndarray]:
    """(rep, inv): starts[rep] are the distinct windows padded[s:s+Wmax], and window k equals starts[rep[inv[k]]].

    Candidates come from a polynomial hash mod 2**64; every claimed duplicate is then compared token by
    token, and a window that differs from its representative keeps its own (exactness never rests on
    the hash).
    """
    m = len(padded)
    inv_base = pow(int(_HASH_BASE), -1, 1 << 64)
    with np.errstate(over="ignore"):
        pw = np.cumprod(np.full(m, _HASH_BASE, dtype=np.uint64))  # B^(j+1)
        pw_inv = np.cumprod(np.full(m, np.uint64(inv_base), dtype=np.uint64))  # B^-(j+1)
        csum = np.concatenate([[np.uint64(0)], np.cumsum((padded.astype(np.uint64) + np.uint64(1)) * pw_inv)])
        h = (csum[starts + Wmax] - csum[starts]) * pw[starts + Wmax - 1]
    _, first, inv = np.unique(h, return_index=True, return_inverse=True)
    inv = inv.ravel()
    same = np.ones(len(starts), dtype=bool)
    other = starts[first[inv]]
    for i in range(Wmax):
        same &= padded[starts + i] == padded[other + i]
    if not same.all():  # hash collisions: the differing windows become their own representatives
        bad = np.flatnonzero(~same)
        first = np.concatenate([first, bad])
        inv[bad] = len(first) - len(bad) + np.arange(len(bad))
    order = np.argsort(first, kind="stable")  # representatives in stream order (the lockstep wants sorted starts)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return first[order], rank[inv]


def _lz_lockstep(padded, st_all, Ws, V, n, chunk) -> dict[int, np.ndarray]:
    """Phrase counts at every W for the (sorted) starts st_all, parsed in lockstep chunks."""
    Wmax = Ws[-1]
    record = set(Ws)
    res = {W: np.zeros(len(st_all), dtype=np.int32) for W in Ws}
    table = None
    for c0 in range(0, len(st_all), chunk):
        st = st_all[c0 : c0 + chunk]
        C = len(st)
        depth = min(Wmax, n - int(st[0]))  # no window of this chunk is longer
        root = np.arange(C, dtype=np.int64)
        node = root.copy()
        count = np.zeros(C, dtype=np.int32)
        next_id = C
        if table is None:
            # room for Wmax phrases per window (at most 256; grows if needed, then keeps its size)
            table = _Table(max(12, int(np.ceil(np.log2(_LOAD * C * min(max(Wmax, 4), 256))))))
        else:
            table.clear()  # keeps the size the previous chunk needed
        for r in range(depth):
            count += node < C  # at a root: a phrase starts at this offset
            key = node * V + padded[st + r]  # distinct: node ids are unique across the chunk's windows
            val, miss = table.lookup_or_insert(key, next_id)
            next_id += int(np.count_nonzero(miss))
            val[miss] = root[miss]  # a new phrase ended: back to the window's root
            node = val
            if r + 1 in record:
                res[r + 1][c0 : c0 + C] = count
    return res


# ----------------------------------------------------------------------------- reference versions
def lz_phrases_reference(seq) -> int:
    """LZ78 phrase count of one sequence, set-based (each phrase the shortest not yet seen)."""
    seen = set()
    i, n, c = 0, len(seq), 0
    while i < n:
        j = i + 1
        while j <= n and tuple(seq[i:j]) in seen:
            j += 1
        seen.add(tuple(seq[i:j]))
        c += 1
        i = j
    return c


def gzip_ratio_reference(text: str) -> float:
    b = text.encode("utf-8")
    return len(gzip.compress(b, GZIP_LEVEL)) / len(b) if b else float("nan")


def window_series_reference(tokens, texts, W: int, stride: int = 1):
    """Straightforward per-window loop: one gzip call and one set-based LZ parse per window."""
    tokens = list(tokens)
    texts = list(texts)
    ends = window_ends(len(tokens), W, stride)
    gz, gzn, lz = [], [], []
    for t in ends:
        text = "".join(texts[t - W + 1 : t + 1])
        r = gzip_ratio_reference(text)
        n = len(text.encode("utf-8"))
        gz.append(r)
        gzn.append(r / (len(gzip.compress((_RANDOM_BYTES * (n // len(_RANDOM_BYTES) + 1))[:n], GZIP_LEVEL)) / n)
                   if n else float("nan"))
        lz.append(lz_phrases_reference(tokens[t - W + 1 : t + 1]))
    return ends, np.array(gz), np.array(gzn), np.array(lz, dtype=np.int32)
