"""GGUF files, dequantised once and cached as normal Hugging Face folders.

transformers loads a GGUF file by dequantising every tensor, which takes
seconds to minutes. The first load saves the result (safetensors, config,
tokenizer) under the cache folder, keyed by the file's SHA-256, so later
loads read a plain folder. The cache folder is ``$MODELPRESS_GGUF_CACHE``,
else ``$XDG_CACHE_HOME/modelpress/gguf``, else ``~/.cache/modelpress/gguf``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path


def cache_root() -> Path:
    """Where dequantised GGUF folders live."""
    if os.environ.get("MODELPRESS_GGUF_CACHE"):
        return Path(os.environ["MODELPRESS_GGUF_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "modelpress" / "gguf"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dequantised_folder(gguf_path: Path) -> Path:
    """The cached HF folder for ``gguf_path``, creating it on first use."""
    from filelock import FileLock

    gguf_path = Path(gguf_path).resolve()
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"{gguf_path.stem}-{file_sha256(gguf_path)[:16]}"
    with FileLock(str(folder) + ".lock"):
        if (folder / "config.json").exists():
            return folder
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

        tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=root))
        try:
            tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
            model = AutoModelForCausalLM.from_pretrained(
                gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32,
                quantization_config=GgufConfig(dequantize=True))
            # every weight is dense now: save it as a plain (unquantized) model
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            # rename is atomic: a reader never sees a half-written folder
            tmp.rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder
