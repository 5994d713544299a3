"""Models shared by the plugin tests."""
from __future__ import annotations

import json
import shutil

import pytest

LAYERS = 8  # enough for ModelBuilder's mixed_layers to pick some


@pytest.fixture(scope="session")
def tiny_llama(tiny_phi3, tmp_path_factory):
    """A random Llama with the tiny Phi-3's tokenizer (GQA, tied embeddings)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    for f in tiny_phi3.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens", "chat_template")):
            shutil.copy(f, folder / f.name)
    vocab = json.loads((tiny_phi3 / "config.json").read_text())["vocab_size"]
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=128, intermediate_size=256,
                                         num_hidden_layers=LAYERS, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=512, tie_word_embeddings=True,
                                         bos_token_id=0, eos_token_id=0, pad_token_id=0))
    model.save_pretrained(folder)
    return folder
