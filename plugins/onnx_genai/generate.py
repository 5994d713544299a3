"""``generate()``: greedy text generation from an ONNX Runtime GenAI model folder."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from modelpress.components import Accelerator
from modelpress.errors import UserError

from .model import GENAI_CONFIG, ONNXModel


def generate(model_folder: str | Path, prompt: str, max_tokens: int = 128, raw: bool = False,
             adapter: str | None = None, stream: Callable[[str], None] | None = None,
             accelerator: Accelerator | None = None) -> str:
    """Generate greedily from the model in ``model_folder`` and return the text.

    The prompt goes through the model's chat template unless ``raw``;
    ``adapter`` names an ``.onnx_adapter`` exported next to the model;
    ``stream`` receives each decoded piece as soon as it is produced.
    """
    config = ONNXModel.detect(Path(model_folder))
    if config is None:
        raise UserError(f"--model: {model_folder} has no {GENAI_CONFIG}; give a folder written by ModelBuilder")
    if adapter:
        config["active_adapter"] = adapter
    pieces = []
    with ONNXModel(config).open_session(accelerator or Accelerator()) as session:
        for piece in session.generate_stream(prompt, max_new_tokens=max_tokens, apply_chat_template=not raw):
            pieces.append(piece)
            if stream is not None:
                stream(piece)
    return "".join(pieces)
