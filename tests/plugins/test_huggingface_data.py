"""HuggingfaceContainer: loading, slices, templates, chat templates, strategies, errors."""
from __future__ import annotations

import json

import pytest

from modelpress.components import RunContext
from modelpress.errors import UserError

TONES = ["joy", "sadness", "fear", "surprise"]
PHRASES = ["I won the lottery", "I lost my keys again", "The storm at night is frightening",
           "What just happened", "My dog is happy", "The exam results are terrible",
           "This party is wonderful", "I cannot believe the news", "The movie was sad", "A new job"]
TEMPLATE = "### Text: {phrase}\n### The tone is:\n{tone}"


@pytest.fixture
def tone_file(tmp_path):
    """Twenty tone rows as JSON Lines (the tone dataset's shape)."""
    path = tmp_path / "tone.json"
    rows = [{"phrase": f"{PHRASES[i % 10]} {i}", "tone": TONES[i % 4]} for i in range(20)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def tokenizer(tiny_phi3):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_phi3)


def container(registry, data_file, split="train", **pre):
    cfg = {"type": "HuggingfaceContainer",
           "load_dataset_config": {"data_name": "json", "data_files": str(data_file), "split": split},
           "pre_process_data_config": {"text_cols": ["phrase", "tone"], "text_template": TEMPLATE, **pre}}
    return registry.create_data_container(cfg, RunContext(registry=registry))


def stream(tokenizer, texts, joiner="\n\n"):
    """Olive's joined stream: each text as "{bos} {text} {eos}", tokenized plainly, then the joiner's tokens."""
    join = tokenizer.encode(joiner, add_special_tokens=False)
    return [t for text in texts
            for t in tokenizer(f"{tokenizer.bos_token} {text} {tokenizer.eos_token}",
                               add_special_tokens=False)["input_ids"] + join]


def test_rows_template_and_files(plugin_registry, tone_file):
    data = container(plugin_registry, tone_file)
    rows = data.rows()
    assert len(rows) == 20 and rows[1] == {"phrase": "I lost my keys again 1", "tone": "sadness"}
    assert data.format(rows[1]) == "### Text: I lost my keys again 1\n### The tone is:\nsadness"
    assert [p.name for p in data.files()] == ["tone.json"]


def test_text_cols_without_template(plugin_registry, tone_file):
    data = container(plugin_registry, tone_file, text_template=None)
    assert data.format(data.rows()[0]) == "I won the lottery 0 joy"


@pytest.mark.parametrize("split,expected", [("train[:70%]", 14), ("train[2:5]", 3), ("train[-25%:]", 5)])
def test_split_slices(plugin_registry, tone_file, split, expected):
    rows = container(plugin_registry, tone_file, split=split).rows()
    assert len(rows) == expected


def test_join_packs_like_olive(plugin_registry, tone_file, tokenizer):
    data = container(plugin_registry, tone_file, strategy="join", max_seq_len=32, use_attention_mask=False)
    blocks = data.token_blocks(tokenizer)
    s = stream(tokenizer, data.texts())
    assert s[0] == tokenizer.bos_token_id and tokenizer.encode("\n\n", add_special_tokens=False)
    # a block is cut only while more than max_seq_len tokens remain: the short remainder is dropped
    assert [b["input_ids"] for b in blocks] == [s[i:i + 32] for i in range(0, len(s) - 32, 32)]
    assert all(b["labels"] == b["input_ids"] and "attention_mask" not in b for b in blocks)
    kept = container(plugin_registry, tone_file, max_seq_len=32, keep_last_block=True).token_blocks(tokenizer)
    assert [t for b in kept for t in b["input_ids"]] == s  # opt-in: nothing lost, nothing repeated
    assert len(kept) == len(blocks) + 1


def test_join_batches_and_max_samples(plugin_registry, tone_file, tokenizer):
    full = container(plugin_registry, tone_file, max_seq_len=32).token_blocks(tokenizer)
    # Olive tokenizes processing_batch_size texts at a time and carries the overflow: same blocks
    assert container(plugin_registry, tone_file, max_seq_len=32, processing_batch_size=3).token_blocks(tokenizer) \
        == full
    assert container(plugin_registry, tone_file, max_seq_len=32, max_samples=3).token_blocks(tokenizer) == full[:3]
    assert all(b["attention_mask"] == [1] * 32 for b in full)
    bare = container(plugin_registry, tone_file, max_seq_len=32, add_special_tokens=False, joiner=None)
    plain = [t for text in bare.texts() for t in tokenizer(text, add_special_tokens=False)["input_ids"]]
    assert bare.token_blocks(tokenizer)[0]["input_ids"] == plain[:32]


def test_join_random_is_seeded(plugin_registry, tone_file, tokenizer):
    def blocks(seed):
        return container(plugin_registry, tone_file, strategy="join-random", max_seq_len=16,
                         max_samples=7, random_seed=seed).token_blocks(tokenizer)

    a, b, c = blocks(1), blocks(1), blocks(2)
    assert len(a) == 7 and a == b and a != c
    texts = container(plugin_registry, tone_file).texts()
    starts = [stream(tokenizer, texts[i:])[:16] for i in range(len(texts))]
    assert all(block["input_ids"] in starts for block in a)  # windows start at a text, as in Olive


def test_sliding_window_masks_the_context(plugin_registry, tone_file, tokenizer):
    data = container(plugin_registry, tone_file, strategy="join-sliding-window", max_seq_len=24, stride=10)
    blocks = data.token_blocks(tokenizer)
    s = stream(tokenizer, data.texts())
    assert len(blocks) == len(range(0, len(s) - 24, 10))
    for k, b in enumerate(blocks):
        assert b["input_ids"] == s[k * 10:k * 10 + 24]
        assert b["labels"] == [-100] * 14 + s[k * 10 + 14:k * 10 + 24]  # the overlap is context only


def test_line_by_line_truncates_and_pads(plugin_registry, tone_file, tokenizer):
    blocks = container(plugin_registry, tone_file, strategy="line-by-line", max_seq_len=12,
                       pad_to_max_len=True).token_blocks(tokenizer)
    texts = container(plugin_registry, tone_file).texts()
    assert len(blocks) == 20
    for b, text in zip(blocks, texts, strict=False):
        ids = stream(tokenizer, [text], joiner="")[:12]
        n = len(ids)
        assert b["input_ids"][:n] == ids and len(b["input_ids"]) == 12
        assert b["attention_mask"] == [1] * n + [0] * (12 - n)
        assert b["labels"] == ids + [-100] * (12 - n)
    unpadded = container(plugin_registry, tone_file, strategy="line-by-line", max_seq_len=400,
                         add_special_tokens=False, pad_to_max_len=False).token_blocks(tokenizer)
    assert unpadded[0]["input_ids"] == tokenizer(texts[0], add_special_tokens=False)["input_ids"]


def test_chat_messages(plugin_registry, tmp_path, tokenizer):
    path = tmp_path / "chat.json"
    rows = [{"messages": [{"role": "user", "content": "How is the weather"},
                          {"role": "assistant", "content": "joy"}]}]
    path.write_text(json.dumps(rows[0]) + "\n")
    cfg = {"type": "HuggingfaceContainer",
           "load_dataset_config": {"data_name": "json", "data_files": str(path)},
           "pre_process_data_config": {"message_col": "messages"}}
    data = plugin_registry.create_data_container(cfg, RunContext(registry=plugin_registry))
    assert data.format(data.rows()[0], tokenizer) == \
        "<|user|>\nHow is the weather<|end|>\n<|assistant|>\njoy<|end|>\n<|endoftext|>"
    custom = dict(cfg, pre_process_data_config={"message_col": "messages",
                                                "chat_template": "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"})
    custom["pre_process_data_config"]["keep_last_block"] = True  # one short row: less than a block
    data = plugin_registry.create_data_container(custom, RunContext(registry=plugin_registry))
    assert data.format(data.rows()[0]) == "[user] How is the weather\n[assistant] joy\n"
    assert data.token_blocks(tokenizer)[0]["input_ids"][:3] == tokenizer("[user] How")["input_ids"][:3]


def test_missing_column_names_existing_ones(plugin_registry, tone_file):
    data = container(plugin_registry, tone_file, text_template="{phrase} -> {label}")
    with pytest.raises(UserError) as err:
        data.rows()
    assert "['label'] not in the data" in str(err.value) and "['phrase', 'tone']" in str(err.value)


def test_empty_split_says_so(plugin_registry, tone_file):
    with pytest.raises(UserError, match="split 'train\\[:0\\]' of 'json' has no rows"):
        container(plugin_registry, tone_file, split="train[:0]").rows()


def test_unknown_split_and_missing_file(plugin_registry, tone_file, tmp_path):
    with pytest.raises(UserError, match="load_dataset_config.split: .*use a split the data has"):
        container(plugin_registry, tone_file, split="validation").rows()
    with pytest.raises(UserError, match="data_files: '.*nowhere.json' does not exist"):
        container(plugin_registry, tmp_path / "nowhere.json").rows()


def test_hub_dataset_offline_is_clear(plugin_registry, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = {"type": "HuggingfaceContainer", "load_dataset_config": {"data_name": "someone/tone-data"},
           "pre_process_data_config": {"text_cols": "text"}}
    data = plugin_registry.create_data_container(cfg, RunContext(registry=plugin_registry))
    with pytest.raises(UserError, match="'someone/tone-data' is not a local file .* hub is unreachable"):
        data.rows()


def test_bad_stride_is_clear(plugin_registry, tone_file, tokenizer):
    data = container(plugin_registry, tone_file, strategy="join-sliding-window", max_seq_len=8, stride=9)
    with pytest.raises(UserError, match="stride: 9 is larger than max_seq_len 8"):
        data.token_blocks(tokenizer)
