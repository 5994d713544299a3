"""Built-in plugin: ONNX Runtime GenAI models (ONNXModel), the ModelBuilder pass and ``generate()``.

onnxruntime-genai, onnx-ir and torch are imported only when a model is built
or opened.
"""
from __future__ import annotations

from modelpress import hookimpl

from .generate import generate
from .model import ONNXModel
from .model_builder import ModelBuilder

__all__ = ["ModelBuilder", "ONNXModel", "generate"]


@hookimpl
def register_model_types(register):
    register(ONNXModel)


@hookimpl
def register_passes(register):
    register(ModelBuilder)
