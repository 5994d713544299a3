"""Turn formatted texts into training blocks (Olive's corpus strategies).

Each block is a dict of plain int lists: ``input_ids``, ``labels`` (-100
where no loss is taken) and, with ``use_attention_mask``, ``attention_mask``.

- ``join``: every text tokenized (plus EOS with ``append_eos``), concatenated
  into one stream and cut into consecutive blocks of ``max_seq_len``. No token
  is lost or repeated: the last block holds the remainder (dropped only with
  ``drop_short_sequences``). No padding is needed.
- ``join-random``: ``max_samples`` (default: as many as ``join`` makes)
  windows of ``max_seq_len`` at random offsets of the stream (``random_seed``).
- ``join-sliding-window``: windows starting every ``stride`` tokens; tokens a
  previous window already scored get label -100, so each is scored once.
- ``line-by-line``: one block per text, truncated to ``max_seq_len``,
  padded to it with ``pad_to_max_len`` (padding: label -100, mask 0).
"""
from __future__ import annotations

import random
from typing import Any, Mapping, Sequence

from modelpress.errors import UserError


def tokenize(texts: Sequence[str], tokenizer: Any, pre: Mapping[str, Any]) -> list[list[int]]:
    """Token ids of each text (special tokens and EOS as configured)."""
    if not texts:
        return []
    ids = tokenizer(list(texts), add_special_tokens=pre.get("add_special_tokens", True))["input_ids"]
    if pre.get("append_eos", True) and tokenizer.eos_token_id is not None:
        ids = [x + [tokenizer.eos_token_id] if not x or x[-1] != tokenizer.eos_token_id else x for x in ids]
    return ids


def _block(ids: list[int], labels: list[int] | None, pre: Mapping[str, Any]) -> dict:
    block = {"input_ids": ids, "labels": list(ids) if labels is None else labels}
    if pre.get("use_attention_mask", True):
        block["attention_mask"] = [1] * len(ids)
    return block


def join_blocks(stream: list[int], size: int, pre: Mapping[str, Any]) -> list[dict]:
    """Consecutive blocks of ``size`` tokens; the remainder is the last block."""
    blocks = [_block(stream[i:i + size], None, pre) for i in range(0, len(stream), size)]
    if blocks and pre.get("drop_short_sequences") and len(blocks[-1]["input_ids"]) < size:
        blocks.pop()
    return blocks


def random_blocks(stream: list[int], size: int, pre: Mapping[str, Any]) -> list[dict]:
    """Windows of ``size`` tokens at seeded random offsets."""
    if len(stream) <= size:
        return [_block(list(stream), None, pre)]
    count = pre.get("max_samples") or len(stream) // size
    rng = random.Random(pre.get("random_seed", 42))
    starts = [rng.randint(0, len(stream) - size) for _ in range(count)]
    return [_block(stream[s:s + size], None, pre) for s in starts]


def sliding_blocks(stream: list[int], size: int, stride: int, pre: Mapping[str, Any]) -> list[dict]:
    """Windows every ``stride`` tokens; each token is a target in one window only."""
    blocks, scored_until = [], 0
    for start in range(0, max(len(stream) - 1, 1), stride):
        ids = stream[start:start + size]
        # position j predicts... labels are shifted by the model, so label j is token start+j
        labels = [t if start + j >= scored_until else -100 for j, t in enumerate(ids)]
        blocks.append(_block(ids, labels, pre))
        scored_until = start + len(ids)
        if scored_until >= len(stream):
            break
    return blocks


def line_blocks(ids: list[list[int]], size: int, pad_id: int, pre: Mapping[str, Any]) -> list[dict]:
    """One block per text, truncated (and padded with ``pad_to_max_len``)."""
    blocks = []
    for x in ids:
        x = x[:size]
        if pre.get("drop_short_sequences") and len(x) < size:
            continue
        block = _block(x, None, pre)
        if pre.get("pad_to_max_len") and len(x) < size:
            pad = size - len(x)
            block["input_ids"] = x + [pad_id] * pad
            block["labels"] = x + [-100] * pad
            block["attention_mask"] = [1] * len(x) + [0] * pad
        blocks.append(block)
    return blocks


def make_blocks(texts: Sequence[str], tokenizer: Any, pre: Mapping[str, Any]) -> list[dict]:
    """Blocks of ``texts`` by ``pre["strategy"]`` (default ``join``)."""
    strategy = pre.get("strategy") or "join"
    size = int(pre.get("max_seq_len") or 1024)
    max_samples = pre.get("max_samples")
    if strategy == "line-by-line":
        if max_samples:
            texts = texts[:max_samples]
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        blocks = line_blocks(tokenize(texts, tokenizer, pre), size, pad_id, pre)
    else:
        stream = [t for x in tokenize(texts, tokenizer, pre) for t in x]
        if strategy == "join":
            blocks = join_blocks(stream, size, pre)
        elif strategy == "join-random":
            blocks = random_blocks(stream, size, pre)
        elif strategy == "join-sliding-window":
            stride = int(pre.get("stride") or max(size // 2, 1))
            if stride > size:
                raise UserError(f"data_configs.pre_process_data_config.stride: {stride} is larger than "
                                f"max_seq_len {size}; tokens would be skipped; use a stride <= max_seq_len")
            blocks = sliding_blocks(stream, size, stride, pre)
        else:
            raise UserError(f"data_configs.pre_process_data_config.strategy: unknown strategy {strategy!r}; "
                            f"use join, join-random, join-sliding-window or line-by-line")
        if max_samples and strategy != "join-random":
            blocks = blocks[:max_samples]
    if not blocks:
        raise UserError(f"data_configs.pre_process_data_config: no training examples after tokenization "
                        f"(strategy {strategy}, max_seq_len {size}); check drop_short_sequences and the data")
    return blocks
