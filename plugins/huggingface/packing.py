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

``completion_only`` (a modelpress option) takes the loss on the completion
only: every token that ends at or before the end of the last
``response_template`` in its text (BOS, the prompt, the template itself) and
the joiner's tokens get label -100; a token that reaches past the template
(the answer, the EOS) keeps its label. It works with every strategy: packed
blocks keep the mask of each text they hold.
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


def _block(ids: list[int], mask: list[int], context: int | None, pre: Mapping[str, Any],
           loss: list[int] | None = None) -> dict:
    labels = list(ids)
    if context:
        labels[:context] = [IGNORE] * min(context, len(labels))
    labels = [IGNORE if m != 1 else x for x, m in zip(labels, mask, strict=False)]
    if loss is not None:
        labels = [x if keep else IGNORE for x, keep in zip(labels, loss, strict=True)]
    block = {"input_ids": list(ids), "labels": labels}
    if pre.get("use_attention_mask", True):
        block["attention_mask"] = list(mask)
    return block


def _encode(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    return tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"] if texts else []


def completion_flags(texts: Sequence[str], offsets: Sequence[Sequence], pre: Mapping[str, Any]) -> list[list[int]]:
    """Per token, 1 where it takes loss: it ends past the last ``response_template`` of its text."""
    template = pre.get("response_template")
    if not template:
        raise UserError(f"{WHERE}.response_template: completion_only needs the text that ends the prompt, "
                        f"e.g. '### The tone is:\\n'")
    flags = []
    for n, (text, spans) in enumerate(zip(texts, offsets, strict=True)):
        at = text.rfind(template)
        if at < 0:
            raise UserError(f"{WHERE}.response_template: {template!r} is not in text {n} ({text[:60]!r}); "
                            f"every training text needs it (check text_template)")
        cut = at + len(template)
        flags.append([int(end > cut) for _, end in spans])
    return flags


def _encode_with_loss(tokenizer: Any, texts: Sequence[str], pre: Mapping[str, Any]) -> list[tuple[list, list]]:
    """(ids, loss flags) per text; every token takes loss unless ``completion_only``."""
    if not pre.get("completion_only"):
        return [(ids, [1] * len(ids)) for ids in _encode(tokenizer, texts)]
    if not texts:
        return []
    enc = _offsets(tokenizer, texts, add_special_tokens=False, truncation=False)
    return list(zip(enc["input_ids"], completion_flags(texts, enc["offset_mapping"], pre), strict=True))


def _offsets(tokenizer: Any, texts: Sequence[str], **kwargs) -> Any:
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(f"{WHERE}.completion_only: needs a fast tokenizer (character offsets); this model's "
                        f"tokenizer is a slow one: set completion_only to false")
    return tokenizer(list(texts), return_offsets_mapping=True, **kwargs)


def join_blocks(texts: Sequence[str], tokenizer: Any, pre: Mapping[str, Any], size: int,
                stride: int | None = None) -> list[dict]:
    """Olive's ``join`` and ``join-sliding-window`` loop (same batching, same overflow)."""
    joiner = pre.get("joiner", "\n\n")
    joiner_ids = tokenizer.encode(joiner, add_special_tokens=False) if joiner else []
    step, context = (stride, size - stride) if stride else (size, None)
    batch = int(pre.get("processing_batch_size") or 1024)
    max_samples = pre.get("max_samples")
    only = bool(pre.get("completion_only"))
    blocks: list[dict] = []
    overflow: list[int] = []
    overflow_loss: list[int] = []
    for first in range(0, len(texts), batch):
        if max_samples is not None and len(blocks) >= max_samples:
            break
        joined, loss = overflow, overflow_loss
        for ids, flags in _encode_with_loss(tokenizer, texts[first:first + batch], pre):
            joined += ids + joiner_ids
            loss += flags + [0 if only else 1] * len(joiner_ids)
        end = 0
        for begin in range(0, len(joined) - size, step):
            end = begin + size
            blocks.append(_block(joined[begin:end], [1] * size, context, pre, loss[begin:end] if only else None))
            if max_samples is not None and len(blocks) >= max_samples:
                break
        overflow, overflow_loss = joined[end:], loss[end:]
    if pre.get("keep_last_block") and stride is None and overflow \
            and (max_samples is None or len(blocks) < max_samples):
        blocks.append(_block(overflow, [1] * len(overflow), None, pre, overflow_loss if only else None))
    return blocks


def random_join_blocks(texts: Sequence[str], tokenizer: Any, pre: Mapping[str, Any], size: int) -> list[dict]:
    """Olive's ``join-random``: windows that start at a seeded random text."""
    joiner = pre.get("joiner", "\n\n")
    joiner_ids = tokenizer.encode(joiner, add_special_tokens=False) if joiner else []
    rng = random.Random(pre.get("random_seed"))
    only = bool(pre.get("completion_only"))
    cache: dict[int, tuple[list, list]] = {}
    blocks = []
    for _ in range(int(pre["max_samples"])):
        for _retry in range(int(pre.get("random_retries") or 10)):
            start = rng.randint(0, len(texts) - 1)
            joined: list[int] = []
            loss: list[int] = []
            for i in range(start, len(texts)):
                if i not in cache:
                    cache[i] = _encode_with_loss(tokenizer, [texts[i]], pre)[0]
                joined += cache[i][0] + joiner_ids
                loss += cache[i][1] + [0 if only else 1] * len(joiner_ids)
                if len(joined) >= size:
                    break
            if len(joined) >= size:
                blocks.append(_block(joined[:size], [1] * size, None, pre, loss[:size] if only else None))
                break
    return blocks


def _line(tokenizer: Any, texts: Sequence[str], pre: Mapping[str, Any], size: int) -> list[tuple]:
    """(ids, attention mask, loss flags or None) per text."""
    kwargs = dict(max_length=size, truncation=True, add_special_tokens=False,
                  padding="max_length" if pre.get("pad_to_max_len", True) else False)
    if pre.get("completion_only"):
        enc = _offsets(tokenizer, texts, **kwargs)
        flags = completion_flags(texts, enc["offset_mapping"], pre)
    else:
        enc = tokenizer(list(texts), **kwargs)
        flags = [None] * len(enc["input_ids"])
    triples = list(zip(enc["input_ids"], enc["attention_mask"], flags, strict=True))
    if pre.get("drop_short_sequences"):
        triples = [t for t in triples if len(t[0]) >= size]
    return triples


def line_blocks(texts: Sequence[str], tokenizer: Any, pre: Mapping[str, Any], size: int) -> list[dict]:
    """Olive's ``line-by-line``: one block per text, in order."""
    if pre.get("max_samples"):
        texts = texts[:pre["max_samples"]]
    return [_block(ids, mask, None, pre, loss) for ids, mask, loss in _line(tokenizer, texts, pre, size)] \
        if texts else []


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
            blocks.append(_block(pair[0], pair[1], None, pre, pair[2]))
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
