"""Turn formatted texts into training blocks, token for token as Olive 0.13 does.

Each block is a dict of plain int lists: ``input_ids``, ``labels`` (-100
where no loss is taken) and, with ``use_attention_mask``, ``attention_mask``.

Olive's text-generation pre-processing, which an Olive config means:

- with ``add_special_tokens`` (default) every text that is not a chat becomes
  ``"{bos} {text} {eos}"`` and is tokenized without the tokenizer's own
  special tokens; empty texts are skipped.
- ``join``: texts are tokenized in batches of ``processing_batch_size``, each
  followed by the tokens of ``joiner`` (default ``"\\n\\n"``), and cut into
  consecutive blocks of ``max_seq_len``. A block is made only while more than
  ``max_seq_len`` tokens are left, so the short remainder (and a last block
  that ends exactly at the end of the stream) is dropped.
  ``keep_last_block`` (a modelpress option) keeps the remainder instead.
- ``join-sliding-window``: windows every ``stride`` tokens; the first
  ``max_seq_len - stride`` labels of each window are -100 (context).
- ``join-random``: ``max_samples`` windows starting at seeded random texts.
- ``line-by-line`` / ``line-by-line-random``: one block per text, truncated to
  ``max_seq_len`` and padded to it with ``pad_to_max_len`` (the default).
"""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from modelpress.errors import UserError

IGNORE = -100
WHERE = "data_configs.pre_process_data_config"


def with_special_tokens(texts: Sequence[str], tokenizer: Any, pre: Mapping[str, Any]) -> list[str]:
    """Olive's ``get_text``: ``"{bos} {text} {eos}"`` unless a chat template made the text."""
    if pre.get("message_col") or not pre.get("add_special_tokens", True):
        return list(texts)
    bos, eos = tokenizer.bos_token, tokenizer.eos_token
    return [f"{bos} {t} {eos}" for t in texts]


def _block(ids: list[int], mask: list[int], context: int | None, pre: Mapping[str, Any]) -> dict:
    labels = list(ids)
    if context:
        labels[:context] = [IGNORE] * min(context, len(labels))
    labels = [IGNORE if m != 1 else x for x, m in zip(labels, mask, strict=False)]
    block = {"input_ids": list(ids), "labels": labels}
    if pre.get("use_attention_mask", True):
        block["attention_mask"] = list(mask)
    return block


def _encode(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    return tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"] if texts else []


def join_blocks(texts: Sequence[str], tokenizer: Any, pre: Mapping[str, Any], size: int,
                stride: int | None = None) -> list[dict]:
    """Olive's ``join`` and ``join-sliding-window`` loop (same batching, same overflow)."""
    joiner = pre.get("joiner", "\n\n")
    joiner_ids = tokenizer.encode(joiner, add_special_tokens=False) if joiner else []
    step, context = (stride, size - stride) if stride else (size, None)
    batch = int(pre.get("processing_batch_size") or 1024)
    max_samples = pre.get("max_samples")
    blocks: list[dict] = []
    overflow: list[int] = []
    for first in range(0, len(texts), batch):
        if max_samples is not None and len(blocks) >= max_samples:
            break
        joined = overflow
        for ids in _encode(tokenizer, texts[first:first + batch]):
            joined += ids + joiner_ids
        end = 0
        for begin in range(0, len(joined) - size, step):
            end = begin + size
            blocks.append(_block(joined[begin:end], [1] * size, context, pre))
            if max_samples is not None and len(blocks) >= max_samples:
                break
        overflow = joined[end:]
    if pre.get("keep_last_block") and stride is None and overflow \
            and (max_samples is None or len(blocks) < max_samples):
        blocks.append(_block(overflow, [1] * len(overflow), None, pre))
    return blocks


def random_join_blocks(texts: Sequence[str], tokenizer: Any, pre: Mapping[str, Any], size: int) -> list[dict]:
    """Olive's ``join-random``: windows that start at a seeded random text."""
    joiner = pre.get("joiner", "\n\n")
    joiner_ids = tokenizer.encode(joiner, add_special_tokens=False) if joiner else []
    rng = random.Random(pre.get("random_seed"))
    cache: dict[int, list[int]] = {}
    blocks = []
    for _ in range(int(pre["max_samples"])):
        for _retry in range(int(pre.get("random_retries") or 10)):
            start = rng.randint(0, len(texts) - 1)
            joined: list[int] = []
            for i in range(start, len(texts)):
                if i not in cache:
                    cache[i] = _encode(tokenizer, [texts[i]])[0]
                joined += cache[i] + joiner_ids
                if len(joined) >= size:
                    break
            if len(joined) >= size:
                blocks.append(_block(joined[:size], [1] * size, None, pre))
                break
    return blocks


def _line(tokenizer: Any, texts: Sequence[str], pre: Mapping[str, Any], size: int) -> list[tuple[list, list]]:
    enc = tokenizer(list(texts), max_length=size, truncation=True, add_special_tokens=False,
                    padding="max_length" if pre.get("pad_to_max_len", True) else False)
    pairs = list(zip(enc["input_ids"], enc["attention_mask"], strict=False))
    if pre.get("drop_short_sequences"):
        pairs = [p for p in pairs if len(p[0]) >= size]
    return pairs


def line_blocks(texts: Sequence[str], tokenizer: Any, pre: Mapping[str, Any], size: int) -> list[dict]:
    """Olive's ``line-by-line``: one block per text, in order."""
    if pre.get("max_samples"):
        texts = texts[:pre["max_samples"]]
    return [_block(ids, mask, None, pre) for ids, mask in _line(tokenizer, texts, pre, size)] if texts else []


def random_line_blocks(texts: Sequence[str], tokenizer: Any, pre: Mapping[str, Any], size: int) -> list[dict]:
    """Olive's ``line-by-line-random``: ``max_samples`` seeded random texts."""
    rng = random.Random(pre.get("random_seed"))
    blocks = []
    for _ in range(int(pre["max_samples"])):
        pair = None
        for _retry in range(int(pre.get("random_retries") or 10)):
            pair = (_line(tokenizer, [texts[rng.randint(0, len(texts) - 1)]], {**pre, "drop_short_sequences": False},
                          size) or [None])[0]
            if not pre.get("drop_short_sequences") or len(pair[0]) >= size:
                break
        if pair:
            blocks.append(_block(pair[0], pair[1], None, pre))
    return blocks


def make_blocks(texts: Sequence[str], tokenizer: Any, pre: Mapping[str, Any]) -> list[dict]:
    """Blocks of ``texts`` (already formatted) by ``pre["strategy"]`` (default ``join``)."""
    strategy = pre.get("strategy") or "join"
    size = int(pre.get("max_seq_len") or 1024)
    tokenizer.padding_side = pre.get("padding_side") or "right"
    texts = [t for t in with_special_tokens(texts, tokenizer, pre) if t]
    if "random" in strategy and not pre.get("max_samples"):
        raise UserError(f"{WHERE}.max_samples: strategy {strategy} needs max_samples (how many examples to draw)")
    if strategy == "join":
        blocks = join_blocks(texts, tokenizer, pre, size)
    elif strategy == "join-sliding-window":
        stride = int(pre.get("stride") or max(size // 2, 1))
        if stride > size:
            raise UserError(f"{WHERE}.stride: {stride} is larger than max_seq_len {size}; tokens would be "
                            f"skipped; use a stride <= max_seq_len")
        blocks = join_blocks(texts, tokenizer, pre, size, stride)
    elif strategy == "join-random":
        blocks = random_join_blocks(texts, tokenizer, pre, size)
    elif strategy == "line-by-line":
        blocks = line_blocks(texts, tokenizer, pre, size)
    elif strategy == "line-by-line-random":
        blocks = random_line_blocks(texts, tokenizer, pre, size)
    else:
        raise UserError(f"{WHERE}.strategy: unknown strategy {strategy!r}; use join, join-random, "
                        f"join-sliding-window, line-by-line or line-by-line-random")
    if not blocks:
        raise UserError(f"{WHERE}: no training examples after tokenization (strategy {strategy}, max_seq_len "
                        f"{size}); the data is shorter than one block: lower max_seq_len, or set keep_last_block")
    return blocks


def digest(rows: Any) -> dict[str, Any]:
    """sha256 of each column of ``rows`` (dicts of int lists or tensors) as int64 bytes, and the row count.

    The same function digests modelpress's blocks and Olive's dataset, so equal
    digests mean byte-identical training tensors.
    """
    import hashlib

    import numpy as np

    hashes: dict[str, Any] = {}
    count = 0
    for row in rows:
        count += 1
        for key in ("input_ids", "labels", "attention_mask"):
            if key in row:
                value = row[key]
                value = value.tolist() if hasattr(value, "tolist") else value
                data = np.asarray(value, dtype=np.int64)
                h = hashes.setdefault(key, hashlib.sha256())
                h.update(np.int64(data.size).tobytes() + data.tobytes())
    return {"rows": count, **{k: h.hexdigest() for k, h in sorted(hashes.items())}}
