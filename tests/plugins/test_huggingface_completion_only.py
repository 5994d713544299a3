"""completion_only: the loss is taken on the answer (and EOS), never on the prompt.

Guarantees: with ``completion_only`` every token up to the end of the
response template (BOS, the phrase, the template) and every joiner token has
label -100, while the answer's tokens and the EOS keep their ids; this holds
for line-by-line (padded or not) and for packed join blocks; the model's loss
on a collated batch (what transformers.Trainer computes) equals the
cross-entropy over the answer tokens alone, and the left-padded batch that
asks for the answer's logits only (``answer_logits``) gives that loss and
the same gradients to 1e-5 while computing fewer positions' logits; a text
without the template, or no template, is a one-line UserError.
"""
from __future__ import annotations

import json

import pytest

from modelpress.components import RunContext
from modelpress.errors import UserError

TEMPLATE = "### Text: {phrase}\n### The tone is:\n{tone}"
RESPONSE = "### The tone is:\n"
ROWS = [("I won the lottery", "joy"), ("I lost my keys again", "sadness"), ("The storm at night", "fear"),
        ("What just happened", "surprise"), ("My dog is happy", "joy"), ("The exam results are terrible", "sadness")]


@pytest.fixture
def tone_file(tmp_path):
    path = tmp_path / "tone.jsonl"
    path.write_text("".join(json.dumps({"phrase": p, "tone": t}) + "\n" for p, t in ROWS), encoding="utf-8")
    return path


@pytest.fixture
def tokenizer(tiny_phi3):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_phi3)


def blocks(registry, data_file, tokenizer, **pre):
    cfg = {"type": "HuggingfaceContainer",
           "load_dataset_config": {"data_name": "json", "data_files": str(data_file), "split": "train"},
           "pre_process_data_config": {"text_template": TEMPLATE, "completion_only": True,
                                       "response_template": RESPONSE, **pre}}
    return registry.create_data_container(cfg, RunContext(registry=registry)).token_blocks(tokenizer)


def answer_ids(tokenizer, tone):
    """The tokens that must carry loss: what follows the template in the whole text, EOS included."""
    prompt = f"{tokenizer.bos_token} ### Text: x\n{RESPONSE}"
    whole = tokenizer(prompt + f"{tone} {tokenizer.eos_token}", add_special_tokens=False)["input_ids"]
    head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert whole[:len(head)] == head  # the template ends on a token boundary for this tokenizer
    return whole[len(head):]


@pytest.mark.parametrize("pad", [True, False])
def test_line_by_line_labels_only_the_answer(plugin_registry, tone_file, tokenizer, pad):
    out = blocks(plugin_registry, tone_file, tokenizer, strategy="line-by-line", max_seq_len=48, pad_to_max_len=pad)
    assert len(out) == len(ROWS)
    for block, (_, tone) in zip(out, ROWS, strict=True):
        kept = [x for x in block["labels"] if x != -100]
        assert kept == answer_ids(tokenizer, tone)
        assert kept[-1] == tokenizer.eos_token_id
        first = block["labels"].index(kept[0])
        # everything before the answer is prompt: no loss; the answer is one contiguous run at the end
        assert block["labels"][:first] == [-100] * first
        assert block["labels"][first:first + len(kept)] == block["input_ids"][first:first + len(kept)]
        assert tokenizer.decode(block["input_ids"][:first]).endswith(RESPONSE)


def test_join_blocks_keep_each_texts_mask(plugin_registry, tone_file, tokenizer):
    out = blocks(plugin_registry, tone_file, tokenizer, strategy="join", max_seq_len=16, keep_last_block=True)
    ids = [t for b in out for t in b["input_ids"]]
    labels = [t for b in out for t in b["labels"]]
    plain = blocks(plugin_registry, tone_file, tokenizer, strategy="join", max_seq_len=16, keep_last_block=True,
                   completion_only=False)
    assert ids == [t for b in plain for t in b["input_ids"]]  # same tokens, only the labels differ
    expected = [t for _, tone in ROWS for t in answer_ids(tokenizer, tone)]
    assert [x for x in labels if x != -100] == expected
    assert all(x in (-100, i) for x, i in zip(labels, ids, strict=True))


def test_model_loss_is_the_answer_cross_entropy(plugin_registry, tone_file, tokenizer, tiny_phi3):
    """What transformers.Trainer minimises with these blocks: the answer tokens' cross-entropy only."""
    import torch
    from transformers import AutoModelForCausalLM

    from modelpress.plugins.huggingface.batching import collate

    out = blocks(plugin_registry, tone_file, tokenizer, strategy="line-by-line", max_seq_len=48,
                 pad_to_max_len=False)
    batch = collate(out, tokenizer.pad_token_id or 0, "cpu")
    model = AutoModelForCausalLM.from_pretrained(tiny_phi3).eval()
    with torch.no_grad():
        loss = model(**batch).loss
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    terms = []
    for row, block in enumerate(out):
        for pos, (token, label) in enumerate(zip(block["input_ids"], block["labels"], strict=True)):
            if pos and label != -100:
                terms.append(-torch.log_softmax(logits[row, pos - 1].double(), -1)[token])
    assert len(terms) == sum(len(answer_ids(tokenizer, t)) for _, t in ROWS)
    assert abs(loss.item() - torch.stack(terms).mean().item()) < 1e-4


def test_answer_logits_give_the_same_loss_and_gradients(plugin_registry, tone_file, tokenizer, tiny_phi3):
    """Left padding + logits_to_keep + shift_labels: the loss and the gradients of the right-padded batch."""
    import torch
    from transformers import AutoModelForCausalLM

    from modelpress.plugins.huggingface.batching import collate
    from modelpress.plugins.huggingface.hf_trainer import reads_answer_logits

    out = blocks(plugin_registry, tone_file, tokenizer, strategy="line-by-line", max_seq_len=48,
                 pad_to_max_len=False)
    model = AutoModelForCausalLM.from_pretrained(tiny_phi3, dtype=torch.float32).eval()
    assert reads_answer_logits(model)
    pad = tokenizer.pad_token_id or 0
    results = []
    for answer_logits in (False, True):
        batch = collate(out, pad, "cpu", answer_logits)
        model.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        results.append((batch, loss.item(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (plain, loss, grads), (answer, answer_loss, answer_grads) = results
    longest = plain["input_ids"].shape[1]
    assert "logits_to_keep" not in plain
    assert answer["logits_to_keep"] < longest - 5  # the prompt's positions are left out
    assert answer["shift_labels"].shape == (len(out), answer["logits_to_keep"])
    # the same targets: every answer token once, in order
    assert answer["shift_labels"][answer["shift_labels"] != -100].tolist() == \
        plain["labels"][plain["labels"] != -100].tolist()
    assert abs(answer_loss - loss) < 1e-5
    assert len(answer_grads) == len(grads)
    for a, b in zip(answer_grads, grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_answer_logits_only_where_the_loss_is_a_suffix():
    """Blocks with loss from the front (plain causal LM, Olive's default) stay right-padded."""
    from modelpress.plugins.huggingface.batching import answer_span, collate

    full = [{"input_ids": [5, 6, 7, 8], "labels": [5, 6, 7, 8]}, {"input_ids": [5, 6], "labels": [5, 6]}]
    assert answer_span(full) == 4
    assert "logits_to_keep" not in collate(full, 0, "cpu", True)
    suffix = [{"input_ids": [5, 6, 7, 8], "labels": [-100, -100, 7, 8]}, {"input_ids": [5, 9], "labels": [-100, 9]}]
    batch = collate(suffix, 0, "cpu", True)
    assert batch["logits_to_keep"] == 3
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8], [0, 0, 5, 9]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3], [0, 0, 0, 1]]
    assert batch["shift_labels"].tolist() == [[7, 8, -100], [-100, 9, -100]]


def test_missing_template_is_a_user_error(plugin_registry, tone_file, tokenizer):
    with pytest.raises(UserError, match="response_template: '### Answer:' is not in text 0"):
        blocks(plugin_registry, tone_file, tokenizer, strategy="line-by-line", response_template="### Answer:")
    with pytest.raises(UserError, match="completion_only needs the text that ends the prompt"):
        blocks(plugin_registry, tone_file, tokenizer, response_template=None)
