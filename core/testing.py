"""Fixtures for testing modelpress plugins (a pytest plugin, ``pytest11``).

- ``tiny_phi3``: a folder with a tiny Phi-3 (random weights, a byte-level BPE
  tokenizer trained on the fly, the Phi-3 chat template), built once a session.
- ``plugin_registry``: a fresh registry with the built-in plugins only.
- ``register_plugin``: ``register_plugin(module_or_object)`` adds a plugin for
  one test and returns the registry that includes it; the process-wide
  registry is restored afterwards.
- ``inline_rows_registry``: the built-in plugins plus :class:`InlineRows`, a data
  container whose rows are written in the config
  (``{"type": "InlineRows", "rows": [{"text": ...}, ...]}``): metrics and
  passes tested without a data file.

``build_tiny_phi3(folder)`` is also usable outside pytest (benchmarks).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

PHI3_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
_WORDS = ["I", "am", "thrilled", "happy", "excited", "delighted", "glad", "scared", "afraid", "terrified", "worried", "anxious", "sad", "lonely", "heartbroken", "shocked", "amazed", "surprised", "cannot", "believe", "what", "just", "happened", "the", "new", "job", "house", "dog", "friend", "movie", "storm", "night", "trip", "party", "news", "results", "exam", "gift", "this", "is", "wonderful", "terrible", "frightening", "unexpected", "lost", "my", "keys", "again", "won", "lottery", "###", "Text:", "The", "tone", "is:", "joy", "sadness", "fear", "surprise"]


def corpus(n: int = 400, seed: int = 0) -> list[str]:
    """Deterministic short sentences for training the tokenizer and tiny models."""
    import random

    rng = random.Random(seed)
    return [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 14))) for _ in range(n)]


def build_tiny_phi3(folder: str | Path, *, hidden_size: int = 128, layers: int = 2,
                    vocab_size: int = 512, seed: int = 0) -> Path:
    """Write a tiny random Phi-3 with tokenizer and chat template into ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Phi3Config, Phi3ForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                   eos_token="<|endoftext|>", unk_token="<unk>",
                                   pad_token="<|endoftext|>")
    fast.chat_template = PHI3_CHAT_TEMPLATE
    fast.save_pretrained(folder)
    # onnxruntime-genai's tokenizer reads the class name to pick the algorithm.
    cfg_path = folder / "tokenizer_config.json"
    tok_cfg = json.loads(cfg_path.read_text())
    tok_cfg["tokenizer_class"] = "GPT2Tokenizer"
    tok_cfg["chat_template"] = PHI3_CHAT_TEMPLATE
    cfg_path.write_text(json.dumps(tok_cfg, indent=2))

    torch.manual_seed(seed)
    config = Phi3Config(
        vocab_size=tok.get_vocab_size(), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
        max_position_embeddings=4096, original_max_position_embeddings=4096,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
    )
    model = Phi3ForCausalLM(config)
    model.generation_config.pad_token_id = fast.pad_token_id
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_phi3(tmp_path_factory) -> Path:
    """Path of a tiny random Phi-3 folder (built once per test session)."""
    return build_tiny_phi3(tmp_path_factory.mktemp("tiny-phi3"))


@pytest.fixture
def plugin_registry(monkeypatch):
    """A fresh registry with only the built-in plugins, installed process-wide."""
    from modelpress import registry as reg

    fresh = reg.Registry(reg.new_plugin_manager(autoload=False))
    old = reg._default
    reg.set_registry(fresh)
    yield fresh
    reg.set_registry(old)


@pytest.fixture
def register_plugin(plugin_registry):
    """``register_plugin(plugin)`` -> a registry with ``plugin`` added (this test only)."""
    from modelpress import registry as reg

    pm = plugin_registry.pm

    def add(plugin, name: str | None = None):
        pm.register(plugin, name=name or getattr(plugin, "__name__", None))
        pm.check_pending()
        fresh = reg.Registry(pm)
        reg.set_registry(fresh)
        return fresh

    yield add


def _inline_rows_class():
    from modelpress.components import DataContainer
    from modelpress.frozen import thaw

    class InlineRows(DataContainer):
        """Rows given inline in the config; a row's text is its ``text`` field."""

        name = "InlineRows"
        schema = {"type": "object", "properties": {"rows": {"type": "array", "items": {"type": "object"}}},
                  "required": ["rows"]}

        def rows(self):
            return thaw(self.config["rows"])

        def format(self, row, tokenizer=None):
            return row["text"]

    return InlineRows


@pytest.fixture
def inline_rows_registry(register_plugin):
    """The built-in plugins plus the ``InlineRows`` data container (this test only)."""
    import types

    from modelpress.hookspecs import hookimpl

    rows = _inline_rows_class()
    return register_plugin(types.SimpleNamespace(register_data_containers=hookimpl(lambda register: register(rows))),
                           "inline-rows")
