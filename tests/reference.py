"""The plain loop every fast path is checked against: one row, re-run the model on the last L tokens
of the stream each step, full logits, entropies in float64, argmax(logits / T + Gumbel) with the same
counter RNG. Slow and obvious on purpose."""

from __future__ import annotations

import torch

from autoloop import rng


@torch.inference_mode()
def naive_generate(module, prefix, n_rows, n_prefill, T_at, L_at, seed, rng_offset=0):
    stream = list(prefix)
    rows = []
    for r in range(n_rows):
        step = r - n_prefill
        L = int(L_at(step))
        window = stream[-L:]
        logits = module(torch.tensor([window])).logits[0, -1].double()
        p = torch.softmax(logits, -1)
        entropy = -(p[p > 0] * p[p > 0].log()).sum().item()
        T = float(T_at(step))
        if T == 0:
            token, logprob, h_t = int(logits.argmax()), 0.0, 0.0
        else:
            g = rng.gumbel(torch.tensor([seed]), torch.tensor([rng_offset + step]), logits.shape[0])[0].double()
            token = int((logits / T + g).argmax())
            pt = torch.softmax(logits / T, -1)
            logprob = pt[token].log().item()
            h_t = -(pt[pt > 0] * pt[pt > 0].log()).sum().item()
        rows.append({"step": step, "token_id": token, "entropy": entropy, "entropy_tempered": h_t,
                     "logprob": logprob, "temperature": T, "context_length": len(window)})
        stream.append(token)
    return rows
