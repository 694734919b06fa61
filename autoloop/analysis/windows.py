"""Window series: gzip compressibility and LZ phrase counts over the W tokens ending at each step.

Definitions (the reference ones, so results compare with the seed system):

- gzip ratio at t = len(gzip level 6 of the UTF-8 bytes of the W tokens ending at t) / len(those bytes).
  The length of ``gzip.compress(b, 6)`` is ``len(zlib.compress(b, 6)) + 12`` (same deflate stream; a
  gzip wrapper is 18 bytes, a zlib wrapper 6), which the tests check. NaN when the window has no bytes.
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
_GZIP_OVERHEAD = 12  # len(gzip.compress(b)) - len(zlib.compress(b)) for the same level


def speed_up_allocator() -> None:
    """Keep freed zlib state in the heap instead of returning it to the OS (glibc only).

    A deflate stream allocates ~270 KB; glibc serves that with mmap and unmaps it on free, so each
    small gzip call pays for fresh zeroed pages (~60 us instead of ~5 us here). Raising the mmap and
    trim thresholds makes later calls reuse the same heap memory. Output is unaffected.
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


def gzip_len(data: bytes) -> int:
    """len(gzip.compress(data, 6)) without building the gzip wrapper."""
    return len(zlib.compress(data, GZIP_LEVEL)) + _GZIP_OVERHEAD


_RANDOM_RATIO: dict[int, float] = {}
_RANDOM_BYTES = np.random.default_rng(20240601).bytes(1 << 16)


def random_ratio(n: int) -> float:
    """gzip ratio of n random bytes (a fixed random string, so the value is reproducible)."""
    r = _RANDOM_RATIO.get(n)
    if r is None:
        if n <= 0:
            return float("nan")
        data = (_RANDOM_BYTES * (n // len(_RANDOM_BYTES) + 1))[:n]
        r = _RANDOM_RATIO[n] = gzip_len(data) / n
    return r


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
    glen = np.empty(len(ends), dtype=np.float64)
    blen = np.empty(len(ends), dtype=np.float64)
    compress = zlib.compress
    for k, (a, b) in enumerate(zip(lo, hi)):
        data = buf[a:b]
        key = (hash(data), b - a)  # 64-bit hash + length: a collision among one run's windows is ~1e-10
        c = memo.get(key)
        if c is None:
            c = memo[key] = len(compress(data, GZIP_LEVEL)) + _GZIP_OVERHEAD
        glen[k] = c
        blen[k] = b - a
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(blen > 0, glen / np.maximum(blen, 1), np.nan)
    rnd = np.array([random_ratio(int(m)) for m in blen], dtype=np.float64) if len(blen) else blen
    return ends, ratio, ratio / rnd


# ------------------------------------------------------------------------------------- LZ78, fast
_EMPTY = -1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class _Table:
    """Open-addressing hash map int64 key -> int64 value (double hashing), vectorised lookups and inserts."""

    def __init__(self, bits: int):
        self.bits = bits
        self.mask = (1 << bits) - 1
        self.keys = np.full(1 << bits, _EMPTY, dtype=np.int64)
        self.vals = np.empty(1 << bits, dtype=np.int64)
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
        res = np.full(len(keys), -1, dtype=np.int64)
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
        return res

    def insert(self, keys: np.ndarray, vals: np.ndarray) -> None:
        """Insert keys known to be absent and distinct."""
        if 2 * (self.size + len(keys)) > len(self.keys):
            self._grow(self.size + len(keys))
        self.size += len(keys)
        slot, step = self._probe(keys)
        idx = np.arange(len(keys))
        while idx.size:
            s = slot[idx]
            free = self.keys[s] == _EMPTY
            fi, fs = idx[free], s[free]
            self.keys[fs] = keys[fi]  # duplicates: one write wins, found by reading back
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
        while 2 * need > (1 << bits):
            bits += 1
        self.__init__(bits)
        if len(old_k):
            self.insert(old_k, old_v)


def lz_phrase_counts(tokens, Ws, stride: int = 1, chunk: int = 8192) -> dict[int, np.ndarray]:
    """LZ78 phrase counts of the windows of each W ending at W-1, W-1+stride, ... (see module doc)."""
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
    pad = V - 1
    Wmax = Ws[-1]
    padded = np.concatenate([tokens, np.full(Wmax, pad, dtype=np.int64)])
    starts_all = np.arange(0, n - Ws[0] + 1, stride, dtype=np.int64)
    record = set(Ws)
    table = None
    for c0 in range(0, len(starts_all), chunk):
        st = starts_all[c0 : c0 + chunk]
        C = len(st)
        depth = min(Wmax, n - int(st[0]))  # no window of this chunk is longer
        root = np.arange(C, dtype=np.int64)
        node = root.copy()
        count = np.zeros(C, dtype=np.int32)
        next_id = C
        if table is None:
            table = _Table(max(12, int(np.ceil(np.log2(4 * C * 8)))))
        else:
            table.clear()  # keeps the size the previous chunk needed
        for r in range(depth):
            count += node < C  # at a root: a phrase starts at this offset
            key = node * V + padded[st + r]
            val = table.lookup(key)
            miss = val < 0
            k = int(np.count_nonzero(miss))
            if k:
                table.insert(key[miss], np.arange(next_id, next_id + k, dtype=np.int64))
                next_id += k
                val[miss] = root[miss]
            node = val
            W = r + 1
            if W in record:
                m = len(out[W]) - c0
                if m > 0:
                    out[W][c0 : c0 + min(C, m)] = count[: min(C, m)]
    return out


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
