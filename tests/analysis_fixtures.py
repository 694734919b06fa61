"""Synthetic runs in the data contract, with known structure, for the analysis tests and benchmark.

`write_run` writes meta.json + parts through RunStore exactly as the generator would. `staircase`,
`stream_from_entropy` build streams whose collapses, floors and EOS positions are chosen by hand.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from autoloop.store import RunStore

EOS_ID = 2
EOS_TEXT = "<|im_end|>"
WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "was", "very", "happy", "dog", "ran",
         "far", "away", "from", "home", "über", "naïve", ".", ","]
VOCAB = {i + 3: (" " + w) for i, w in enumerate(WORDS)}  # ids 3.. ; 0,1 unused; 2 = EOS
VOCAB[EOS_ID] = EOS_TEXT


def token_text(tok: int) -> str:
    return VOCAB.get(int(tok), f" w{int(tok)}")


def make_meta(T=1.0, L=64, seed=0, steps=1000, steps_done=None, n_prefill=0, model="synthetic",
              state="done", argv=None) -> dict:
    spec = {"model": model, "seed": seed, "start": {"kind": "token", "token_id": 1},
            "T_schedule": [[0, float(T)]], "L_schedule": [[0, int(L)]]}
    run_id = hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]
    return {
        "format_version": 1, "run_id": run_id, "spec": spec, "steps": steps,
        "steps_done": steps if steps_done is None else steps_done, "state": state, "n_prefill": n_prefill,
        "parent": None, "fork_step": None, "context_prefix": [1], "rng_offset": 0,
        "model_info": {"name": model, "vocab_size": 64, "eos_token_id": EOS_ID, "start_token_id": 1},
        "segments": [{"start_row": 0, "end_row": steps + n_prefill, "device": "cpu", "dtype": "float32",
                      "git_commit": "0" * 40, "dirty": False, "tokens_per_s": 100.0}],
        "argv": argv or ["autoloop", "run", f"model={model}", f"T={T}", f"L={L}", f"seed={seed}", f"steps={steps}"],
        "git_commit": "0" * 40, "created": "2025-01-01T00:00:00Z", "updated": "2025-01-01T00:00:00Z",
        "tokens_per_s": 100.0,
    }


def write_run(root, tokens, entropy, eos=None, T=1.0, L=64, seed=0, n_prefill=0, part_steps=None,
              texts=None, **meta_kw) -> str:
    """Write one run (prefill rows first when n_prefill > 0); returns its run_id."""
    tokens = np.asarray(tokens, dtype=np.int32)
    entropy = np.asarray(entropy, dtype=np.float32)
    n = len(tokens)
    eos = (tokens == EOS_ID) if eos is None else np.asarray(eos, dtype=bool)
    texts = [token_text(t) for t in tokens] if texts is None else list(texts)
    steps = n - n_prefill
    meta = make_meta(T=T, L=L, seed=seed, steps=steps, n_prefill=n_prefill, **meta_kw)
    store = RunStore(root)
    store.write_meta(meta)
    step = np.concatenate([np.arange(-n_prefill, 0), np.arange(steps)]).astype(np.int64)
    cols = {
        "step": step, "phase": ["prefill"] * n_prefill + ["run"] * steps, "token_id": tokens,
        "entropy": entropy, "entropy_tempered": entropy / max(T, 1e-3) if T > 0 else np.zeros(n, np.float32),
        "logprob": -np.abs(entropy - 0.1).astype(np.float32), "temperature": np.full(n, T, np.float32),
        "context_length": np.minimum(np.arange(1, n + 1), L).astype(np.int32), "eos": eos, "text": texts,
    }
    cols["entropy_tempered"] = np.asarray(cols["entropy_tempered"], dtype=np.float32)
    ps = part_steps or n
    for a in range(0, n, ps):
        store.write_part(meta["run_id"], a, {k: v[a : a + ps] for k, v in cols.items()})
    return meta["run_id"]


def staircase(levels, lengths, noise=0.02, seed=0) -> np.ndarray:
    """Piecewise-constant entropy with Gaussian noise (clipped at 0)."""
    rng = np.random.default_rng(seed)
    h = np.concatenate([np.full(n, lv) for lv, n in zip(levels, lengths)])
    return np.clip(h + noise * rng.standard_normal(len(h)), 0, None)


def tokens_for_entropy(h: np.ndarray, seed=0, eos_at=()) -> np.ndarray:
    """Tokens whose diversity follows the entropy: low entropy -> a short loop, high -> random words."""
    rng = np.random.default_rng(seed)
    n = len(h)
    loop = np.array([3, 4, 5, 6])  # " the cat sat on"
    rand = rng.integers(3, 3 + len(WORDS), n)
    toks = np.where(h < 0.5, loop[np.arange(n) % len(loop)], rand)
    toks[list(eos_at)] = EOS_ID
    return toks.astype(np.int32)


def realistic_stream(n=100_000, seed=0, vocab=5000):
    """A long stream mixing rich text, loops (collapse), a staircase and EOS events (benchmark input)."""
    rng = np.random.default_rng(seed)
    toks, ent = [], []
    zipf = rng.zipf(1.3, 4 * n) % vocab + 3
    zi = 0
    while len(toks) < n:
        kind = rng.choice(["rich", "loop", "floor"], p=[0.5, 0.3, 0.2])
        m = int(rng.integers(500, 5000))
        if kind == "rich":
            toks += zipf[zi : zi + m].tolist(); zi += m
            ent += (3.5 + rng.standard_normal(m)).clip(0).tolist()
        elif kind == "loop":
            cyc = zipf[zi : zi + int(rng.integers(3, 40))].tolist(); zi += len(cyc)
            toks += (cyc * (m // len(cyc) + 1))[:m]
            ent += (0.05 * rng.random(m)).tolist()
        else:
            lv = float(rng.choice([0.3, 0.8, 1.4]))
            toks += np.where(rng.random(m) < 0.2, zipf[zi : zi + m], 7).tolist(); zi += m
            ent += (lv + 0.1 * rng.standard_normal(m)).clip(0).tolist()
    toks = np.array(toks[:n], dtype=np.int32)
    toks[rng.random(n) < 0.002] = EOS_ID
    words = [""] + WORDS
    texts = [EOS_TEXT if t == EOS_ID else (" " + words[t - 3] if t - 3 < len(WORDS) else f" w{t}") for t in toks]
    return toks, np.array(ent[:n], dtype=np.float32), texts
