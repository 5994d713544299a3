"""HfModel: the handle of a Hugging Face causal LM (alias PyTorchModel)."""
from __future__ import annotations

import json
from pathlib import Path

from modelpress.components import Accelerator, InferenceSession, ModelHandle


class HfModel(ModelHandle):
    """A Hugging Face model: folder, hub name or GGUF file, with optional adapter.

    Fields: ``model_path``, ``model_name``, ``gguf_file``, ``adapter_path``,
    ``task``, ``load_kwargs``, ``model_file_format`` and ``quantization``
    (``{"method": "bnb_4bit", "quant_type", "double_quant", "compute_dtype"}``).
    """

    name = "HfModel"
    aliases = ("PyTorchModel",)
    schema = "modelpress.plugins.huggingface:schemas/HfModel.json"
    requires = {"torch": "pip install 'modelpress[finetune]'",
                "transformers": "pip install 'modelpress[finetune]'"}
    path_fields = ("model_path", "adapter_path", "gguf_file")

    def open_session(self, accelerator: Accelerator) -> InferenceSession:
        """Load model (4-bit when the handle records it, adapter attached) and tokenizer."""
        from .loading import load_model, load_tokenizer
        from .session import HfSession

        quant = self.config.get("quantization") or {}
        model = load_model(self.config, device=accelerator.device, dtype=quant.get("load_dtype"))
        return HfSession(model, load_tokenizer(self.config))

    @classmethod
    def detect(cls, folder: Path) -> dict | None:
        """A model folder (config.json, not an ONNX GenAI folder) or a PEFT adapter folder."""
        folder = Path(folder)
        if (folder / "genai_config.json").exists():
            return None
        if (folder / "config.json").exists():
            return {"model_path": str(folder)}
        adapter_cfg = folder / "adapter_config.json"
        if adapter_cfg.exists():
            base = json.loads(adapter_cfg.read_text(encoding="utf-8")).get("base_model_name_or_path")
            if base:
                return {"model_path": base, "adapter_path": str(folder)}
        if len(ggufs := sorted(folder.glob("*.gguf"))) == 1:
            return {"gguf_file": str(ggufs[0])}
        return None

    @classmethod
    def check_inputs(cls, config) -> list[str]:
        """Damaged local files, found at validate time: JSON that does not parse, truncated
        safetensors or .bin checkpoints, a gguf_file that is not GGUF (see :mod:`.model_files`)."""
        from .model_files import handle_problems

        return handle_problems(config)
