"""Load Hugging Face models and tokenizers from an HfModel handle.

One place for everything that turns a handle into weights: local folders,
MLflow folders, hub names (with a clear error when the hub cannot be
reached), GGUF files (dequantised once, then cached as a normal folder, see
:mod:`.gguf_cache`), 4-bit bitsandbytes loading from a quantization record,
and adapters. The LoRA/QLoRA passes, the merge pass and the inference session
all use it, so they see the same weights.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from modelpress.errors import UserError

from .model_files import check_handle

DTYPES = ("float32", "float16", "bfloat16")


def default_dtype(device: str) -> str:
    """float32 on CPU; bfloat16 on a GPU that supports it, else float16."""
    if device == "cpu":
        return "float32"
    import torch

    return "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float16"


def torch_dtype(name: str | None, device: str = "cpu"):
    """The torch dtype object for a name such as ``"bfloat16"`` (None: the device default)."""
    import torch

    return getattr(torch, name or default_dtype(device))


def device_map(device: str) -> str:
    """The ``device_map`` for ``from_pretrained`` on an accelerator device."""
    return "cuda" if device == "gpu" else "cpu"


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub answers quickly; avoids transformers' long retry loop offline."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _is_cached(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:  # an invalid repo id is simply not cached
        return False


def check_source(name: str, where: str = "input_model.model_path") -> None:
    """Raise a clear UserError if ``name`` is neither local nor reachable on the hub."""
    if Path(name).exists() or _is_cached(name) or _hub_reachable():
        return
    raise UserError(f"{where}: '{name}' is not a local folder and the Hugging Face hub is unreachable "
                    f"(offline or HF_HUB_OFFLINE=1); check the path (relative paths resolve against the "
                    f"config file's folder) or connect and set HF_HUB_OFFLINE=0 to download it")


def resolve(handle_config: Mapping[str, Any]) -> tuple[str, str, dict]:
    """``(weights source, tokenizer source, extra from_pretrained kwargs)`` of a handle.

    Handles MLflow folders (``data/model`` and ``data/tokenizer``) and GGUF
    files (replaced by their cached dequantised folder).
    """
    cfg = handle_config
    path = cfg.get("model_path")
    if isinstance(path, Mapping):
        raise UserError(f"input_model.model_path: the {path.get('type')} resource was not downloaded; "
                        f"run the workflow with modelpress (which materialises resources) or give a local folder")
    check_handle(cfg)  # damaged files are one line naming the file, not a loader's traceback
    gguf = cfg.get("gguf_file")
    if gguf:
        from .gguf_cache import dequantised_folder

        gguf_path = Path(gguf) if Path(gguf).is_file() or not path else Path(path) / gguf
        if not gguf_path.is_file():
            raise UserError(f"input_model.gguf_file: '{gguf}' is not a file; give the .gguf file's path "
                            f"(or its name inside model_path)")
        folder = str(dequantised_folder(gguf_path))
        return folder, folder, {}
    if not path:
        raise UserError("input_model.model_path: no model path given; set model_path to a folder or hub name")
    path = str(path)
    tokenizer_source = path
    mlflow = Path(path) / "data" / "model"
    if (cfg.get("model_file_format") == "PyTorch.MLflow" or not (Path(path) / "config.json").exists()) \
            and (mlflow / "config.json").exists():
        tok = Path(path) / "data" / "tokenizer"
        tokenizer_source = str(tok) if tok.exists() else (cfg.get("model_name") or str(mlflow))
        path = str(mlflow)
    if not Path(path).exists():
        check_source(path)
    if not Path(tokenizer_source).exists():
        check_source(tokenizer_source, "input_model.model_name")
    return path, tokenizer_source, {}


def load_tokenizer(handle_config: Mapping[str, Any]):
    """The handle's tokenizer, with a pad token (the EOS token when it has none)."""
    from transformers import AutoTokenizer

    _, source, _ = resolve(handle_config)
    kwargs = {k: v for k, v in (handle_config.get("load_kwargs") or {}).items()
              if k in ("trust_remote_code", "revision", "token")}
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def bnb_config(quantization: Mapping[str, Any], device: str = "cpu"):
    """A ``BitsAndBytesConfig`` from a quantization record (what QLoRA trained on)."""
    from transformers import BitsAndBytesConfig

    if quantization.get("method", "bnb_4bit") != "bnb_4bit":
        raise UserError(f"input_model.quantization.method: unknown method {quantization.get('method')!r}; "
                        f"expected 'bnb_4bit'")
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quantization.get("quant_type", "nf4"),
        bnb_4bit_use_double_quant=bool(quantization.get("double_quant", False)),
        bnb_4bit_compute_dtype=torch_dtype(quantization.get("compute_dtype"), device),
    )


def load_model(handle_config: Mapping[str, Any], *, device: str = "cpu", dtype: str | None = None,
               quantization: Mapping[str, Any] | bool | None = True, adapter: bool = True,
               trainable_adapter: bool = False):
    """Load the handle's causal LM.

    ``dtype`` overrides the handle's ``load_kwargs`` dtype (default: float32
    on CPU). ``quantization=True`` uses the handle's quantization record,
    ``None``/``False`` loads full precision, a dict loads 4-bit with it.
    ``adapter`` attaches the handle's ``adapter_path`` with peft.
    """
    from transformers import AutoModelForCausalLM

    source, _, extra = resolve(handle_config)
    kwargs = dict(handle_config.get("load_kwargs") or {})
    kwargs.update(extra)
    for key in ("torch_dtype", "dtype"):
        given = kwargs.pop(key, None)
        if dtype is None and given not in (None, "auto"):
            dtype = given
    kwargs["dtype"] = torch_dtype(dtype, device)
    kwargs.setdefault("device_map", device_map(device))
    if quantization is True:
        quantization = handle_config.get("quantization")
    if quantization:
        kwargs["quantization_config"] = bnb_config(quantization, device)
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if adapter and handle_config.get("adapter_path"):
        from peft import PeftModel

        adapter_path = handle_config["adapter_path"]
        if not (Path(adapter_path) / "adapter_config.json").exists():
            raise UserError(f"input_model.adapter_path: '{adapter_path}' holds no adapter_config.json; "
                            f"point it at a PEFT adapter folder")
        model = PeftModel.from_pretrained(model, adapter_path, is_trainable=trainable_adapter)
    return model
