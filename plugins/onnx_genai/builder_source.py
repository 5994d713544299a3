"""The model folder ModelBuilder reads: where an HfModel record points, a GGUF file dequantised,
and the LM-head check the builder needs."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelpress.errors import UserError

log = logging.getLogger(__name__)


def source_folder(fields: Mapping[str, Any]) -> Path:
    """The local folder of an HfModel record (a GGUF file's folder when only the file is given)."""
    path = fields.get("model_path") or fields.get("model_name") or ""
    if not path and fields.get("gguf_file"):
        return Path(str(fields["gguf_file"])).parent
    return Path(str(path))


def from_gguf(gguf: Path, target: Path) -> Path:
    """Dequantise a GGUF checkpoint with transformers into a plain fp32 Hugging Face folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    if not gguf.is_file():
        raise UserError(f"ModelBuilder: gguf_file {gguf} does not exist; fix the input model's gguf_file")
    log.info("ModelBuilder: converting %s to a Hugging Face folder", gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32,
                                                 quantization_config=GgufConfig(dequantize=True))
    # Every tensor is dense now; without this transformers refuses to save the model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(target)
    del model
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(target)
    return target


def check_lm_head(source: Path) -> None:
    """Refuse models whose layers the builder would mistake for the LM head.

    Used when :func:`lm_head_by_identity` cannot correct the installed builder:
    it takes every linear layer with ``vocab_size`` outputs for the LM head,
    so such a layer silently corrupts the graph. The check builds the model on
    the meta device (no weights, no memory).
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(str(source))
        with torch.device("meta"):
            skeleton = AutoModelForCausalLM.from_config(config)
    except (ValueError, KeyError, TypeError, OSError, ImportError) as exc:
        log.debug("ModelBuilder: LM-head check skipped (%s)", exc)
        return
    vocab = getattr(config, "vocab_size", None)
    head = skeleton.get_output_embeddings()
    clashes = [name for name, module in skeleton.named_modules()
               if isinstance(module, torch.nn.Linear) and module.out_features == vocab and module is not head]
    if clashes:
        raise UserError(f"ModelBuilder: {clashes[0]} has {vocab} outputs, as many as the vocabulary, and "
                        "onnxruntime-genai's builder would take it for the LM head and build a wrong model; "
                        "use a model whose layer widths differ from vocab_size")
