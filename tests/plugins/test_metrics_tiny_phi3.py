"""The built-in metrics on the tiny Phi-3, as PyTorch (HfModel) and as fp32 ONNX GenAI (ONNXModel).

Each value is checked against a computation that does not go through the
metric or the session: perplexity against transformers' own loss, accuracy
against ``model.generate`` read by hand-written rules, size against os.walk.
"""
from __future__ import annotations

import math
import os
import re
import time

import pytest

from modelpress.components import RunContext
from modelpress.evaluate.evaluator import evaluate_model, evaluate_with_details

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TEXTS = ["I am thrilled about the new job", "the storm at night is terrifying",
         "I cannot believe what just happened", "lost my keys again this is terrible",
         "### Text: I won the lottery ### The tone is: joy"]
PROMPTS = ["### Text: I am thrilled ### The tone is:", "### Text: the storm ### The tone is:",
           "### Text: lost my keys ### The tone is:", "### Text: the party ### The tone is:",
           "### Text: a gift ### The tone is:", "### Text: my dog ### The tone is:"]
NEW_TOKENS = 6


@pytest.fixture
def registry(inline_rows_registry):
    """The built-in plugins plus InlineRows (modelpress.testing)."""
    return inline_rows_registry


@pytest.fixture(scope="module")
def onnx_fp32(tiny_phi3, tmp_path_factory):
    """The tiny Phi-3 built to fp32 ONNX GenAI by the ModelBuilder pass."""
    from modelpress.frozen import Config
    from modelpress.registry import Registry, new_plugin_manager

    pytest.importorskip("onnxruntime_genai")
    registry = Registry(new_plugin_manager(autoload=False))
    out = tmp_path_factory.mktemp("tiny-phi3-onnx")
    cls = registry.require("pass", "ModelBuilder")
    defaults = {k: v["default"] for k, v in cls.get_schema()["properties"].items() if "default" in v}
    builder = cls(Config({**defaults, "precision": "fp32"}), RunContext(registry, work_dir=out))
    handle = builder.run(registry.model_handle({"type": "HfModel", "model_path": str(tiny_phi3)}), out / "model")
    return handle.config["model_path"]


@pytest.fixture(scope="module")
def reference(tiny_phi3):
    """Transformers' own loss and greedy generations for the texts and prompts."""
    tok = transformers.AutoTokenizer.from_pretrained(tiny_phi3)
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_phi3).eval()
    nll, count = 0.0, 0
    with torch.no_grad():
        for text in TEXTS:
            ids = torch.tensor([tok(text)["input_ids"]])
            n = ids.shape[1] - 1
            nll += float(model(input_ids=ids, labels=ids).loss) * n  # mean loss over n predictions
            count += n
        answers = []
        for prompt in PROMPTS:
            ids = torch.tensor([tok(prompt)["input_ids"]])
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                 max_new_tokens=NEW_TOKENS, pad_token_id=tok.pad_token_id)
            answers.append(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
    return {"perplexity": math.exp(nll / count), "answers": answers}


def labelled_rows(answers):
    """A mini set whose labels are right for the first half of the prompts by construction.

    The label of a 'right' row is the first word the reference generation
    produced; a 'wrong' row gets a word that is not in its generation.
    """
    first_words = [re.findall(r"\w+", a.lower())[:1] for a in answers]
    rows, right = [], 0
    for i, (prompt, words) in enumerate(zip(PROMPTS, first_words, strict=False)):
        # junk bytes decode differently across runtimes: take first words from clean answers only
        if i < len(PROMPTS) // 2 and words and "\ufffd" not in answers[i]:
            label, right = words[0], right + 1
        else:
            label = next(w for w in ("joy", "sadness", "fear", "surprise", "zebra") if w not in answers[i].lower())
        rows.append({"prompt": prompt, "tone": label})
    return rows, right


def hand_accuracy(answers, rows):
    """First word of each answer that is one of the labels, compared with the row's label."""
    labels = {r["tone"] for r in rows}
    hits = 0
    for answer, row in zip(answers, rows, strict=False):
        found = next((w for w in re.findall(r"\w+", answer.lower()) if w in labels), None)
        hits += found == row["tone"]
    return hits / len(rows)


def squash(text):
    """Text without whitespace and replacement characters.

    A random tiny model emits stray byte tokens; transformers decodes them to
    U+FFFD, onnxruntime-genai's token stream drops them with their piece.
    """
    return "".join(text.replace("\ufffd", "").split())


def folder_bytes(folder):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)


def run(registry, handle, metrics, rows):
    context = RunContext(registry, data_configs={"texts": {"type": "InlineRows", "rows": [{"text": t} for t in TEXTS]},
                                                 "labelled": {"type": "InlineRows", "rows": rows}})
    start = time.perf_counter()
    values, details = evaluate_with_details(registry.model_handle(handle), metrics, context)
    return values, details, time.perf_counter() - start


METRICS = [
    {"name": "ppl", "type": "perplexity", "data_config": "texts", "sub_types": [{"name": "perplexity"}]},
    {"name": "tone", "type": "accuracy", "data_config": "labelled",
     "user_config": {"prompt_template": "{prompt}", "label_col": "tone", "max_new_tokens": NEW_TOKENS,
                     "examples": 10},
     "sub_types": [{"name": "accuracy"}, {"name": "exact_match"}]},
    {"name": "lat", "type": "latency", "data_config": "texts",
     "user_config": {"max_new_tokens": 8, "max_samples": 3, "warmup_runs": 1},
     "sub_types": [{"name": "avg"}, {"name": "p90"}, {"name": "first_token_avg"}, {"name": "per_token_avg"}]},
    {"name": "tps", "type": "throughput", "data_config": "texts",
     "user_config": {"max_new_tokens": 8, "max_samples": 3, "warmup_runs": 0},
     "sub_types": [{"name": "total"}, {"name": "p50"}]},
    {"name": "size", "type": "size_on_disk", "sub_types": [{"name": "bytes"}]},
]


def check(values, details, wall, reference, rows, right, folder, ppl_tolerance):
    assert values["ppl-perplexity"] == pytest.approx(reference["perplexity"], rel=ppl_tolerance)
    answers = [x["answer"] for x in details["tone"]["examples"]]
    assert len(answers) == len(PROMPTS)
    assert list(map(squash, answers)) == list(map(squash, reference["answers"]))  # transformers' greedy output
    assert values["tone-accuracy"] == pytest.approx(hand_accuracy(answers, rows))
    assert values["tone-accuracy"] >= right / len(rows) > 0
    assert values["size-bytes"] == folder_bytes(folder)
    # timings: ordered as they must be, and within the wall time of the evaluation
    assert 0 < values["lat-first_token_avg"] <= values["lat-avg"] <= values["lat-p90"] * 1.5
    assert 0 < values["lat-per_token_avg"] < values["lat-avg"]
    assert values["lat-avg"] * details["lat"]["generations"] / 1000 < wall
    assert details["tps"]["tokens"] / values["tps-total"] < wall
    assert values["tps-p50"] > 0


def test_metrics_on_pytorch_model(registry, tiny_phi3, reference):
    rows, right = labelled_rows(reference["answers"])
    values, details, wall = run(registry, {"type": "HfModel", "model_path": str(tiny_phi3)}, METRICS, rows)
    check(values, details, wall, reference, rows, right, tiny_phi3, 1e-5)


def test_metrics_on_onnx_model(registry, onnx_fp32, reference):
    rows, right = labelled_rows(reference["answers"])
    values, details, wall = run(registry, {"type": "ONNXModel", "model_path": str(onnx_fp32)}, METRICS, rows)
    check(values, details, wall, reference, rows, right, onnx_fp32, 1e-4)


def test_custom_metric_gets_a_real_session(registry, tiny_phi3, tmp_path):
    script = tmp_path / "count.py"
    script.write_text("def tokens(model, session, rows):\n"
                      "    s = session()\n"
                      "    return {'tokens': sum(s.count_tokens(r['text']) for r in rows),\n"
                      "            'same': float(s is session())}\n")
    metric = {"name": "c", "type": "custom", "data_config": "texts",
              "user_config": {"user_script": str(script), "evaluate_func": "tokens"},
              "sub_types": [{"name": "tokens"}, {"name": "same"}]}
    context = RunContext(registry, data_configs={"texts": {"type": "InlineRows", "rows": [{"text": t} for t in TEXTS]}})
    values = evaluate_model(registry.model_handle({"type": "HfModel", "model_path": str(tiny_phi3)}), [metric], context)
    tok = transformers.AutoTokenizer.from_pretrained(tiny_phi3)
    assert values["c-tokens"] == sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in TEXTS)
    assert values["c-same"] == 1.0


def test_perplexity_with_adapter_matches_peft(registry, tiny_phi3, tmp_path, reference):
    peft = pytest.importorskip("peft")
    torch.manual_seed(1)
    base = transformers.AutoModelForCausalLM.from_pretrained(tiny_phi3)
    # random A and B, so the adapter really changes the logits
    lora = peft.get_peft_model(base, peft.LoraConfig(r=4, lora_alpha=8, target_modules=["qkv_proj", "o_proj"],
                                                     init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")
    tok = transformers.AutoTokenizer.from_pretrained(tiny_phi3)
    nll, count = 0.0, 0
    with torch.no_grad():
        for text in TEXTS:
            ids = torch.tensor([tok(text)["input_ids"]])
            nll += float(lora.eval()(input_ids=ids, labels=ids).loss) * (ids.shape[1] - 1)
            count += ids.shape[1] - 1
    metric = [{"name": "ppl", "type": "perplexity", "data_config": "texts", "sub_types": [{"name": "perplexity"}]}]
    handle = {"type": "HfModel", "model_path": str(tiny_phi3), "adapter_path": str(tmp_path / "adapter")}
    values, _, _ = run(registry, handle, metric, [])
    assert values["ppl-perplexity"] == pytest.approx(math.exp(nll / count), rel=1e-5)
    assert abs(values["ppl-perplexity"] - reference["perplexity"]) > 1.0
