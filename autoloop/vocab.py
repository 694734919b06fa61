"""Tokens as bytes, and bytes as whole UTF-8 characters.

Byte-level BPE splits multi-byte characters across tokens, so a single token's text may be half a
character. We map every token id to its raw bytes once, then run an incremental UTF-8 decoder over the
stream: each row's `text` is what that token completes, and "".join(text) is the decoded stream.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache
from typing import Sequence


@lru_cache(maxsize=1)
def _gpt2_byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode table (byte-level BPE's printable alias of every byte)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def hf_token_bytes(tokenizer) -> list[bytes]:
    """Raw bytes of every token id of a Hugging Face tokenizer.

    Handles byte-level BPE (GPT-2 / SmolLM / Llama-3 style) and SentencePiece with byte fallback;
    special tokens map to their literal text.
    """
    n = len(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(n)))
    special = set(tokenizer.all_special_tokens)
    dec = _gpt2_byte_decoder()
    byte_level = sum(all(ch in dec for ch in p) for p in pieces if p and p not in special) > 0.99 * n
    out: list[bytes] = []
    for i, piece in enumerate(pieces):
        if piece is None:
            out.append(b"")
        elif piece in special:
            out.append(piece.encode("utf-8"))
        elif byte_level and all(ch in dec for ch in piece):
            out.append(bytes(dec[ch] for ch in piece))
        elif m := _BYTE_FALLBACK.match(piece):
            out.append(bytes([int(m.group(1), 16)]))
        else:
            out.append(piece.replace("\u2581", " ").encode("utf-8"))
    return out


class TextDecoder:
    """Incremental token -> text for one run; state survives across parts and resumes."""

    def __init__(self, token_bytes: Sequence[bytes]):
        self.token_bytes = token_bytes
        self._dec = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, token_ids: Sequence[int]) -> list[str]:
        return [self._dec.decode(self.token_bytes[t]) for t in token_ids]

    def prime(self, history: Sequence[int]) -> None:
        """Restore the state after `history` (the last few tokens suffice: UTF-8 resynchronises
        within 4 bytes, so 8 tokens of >= 1 byte give the exact pending state)."""
        self._dec.reset()
        for t in history[-8:]:
            self._dec.decode(self.token_bytes[t])
