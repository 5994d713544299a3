"""Hugging Face plugin: HfModel, HuggingfaceContainer, LoRA, QLoRA, MergeAdapterWeights, QuantizationSensitivity.

The component modules import torch, transformers, peft and datasets only
inside the functions that use them, so registering them stays cheap.
"""
from __future__ import annotations

from modelpress import hookimpl

from .data import HuggingfaceContainer
from .lora import LoRA, QLoRA
from .merge import MergeAdapterWeights
from .model import HfModel
from .sensitivity import QuantizationSensitivity


@hookimpl
def register_model_types(register):
    register(HfModel)


@hookimpl
def register_data_containers(register):
    register(HuggingfaceContainer)


@hookimpl
def register_passes(register):
    register(LoRA)
    register(QLoRA)
    register(MergeAdapterWeights)
    register(QuantizationSensitivity)
