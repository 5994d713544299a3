"""The built-in metrics, on a fake model type, session and data container (values checked
against independent computations)."""
from __future__ import annotations

import math
import types

import numpy as np
import pytest

from modelpress import hookimpl
from modelpress.components import DataContainer, InferenceSession, ModelHandle, RunContext
from modelpress.errors import UserError
from modelpress.evaluate.evaluator import evaluate_model, evaluate_with_details
from modelpress.frozen import thaw


class FakeClock:
    """A clock the fake session advances, standing in for time.perf_counter."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeSession(InferenceSession):
    """Answers from a table; each word is one token; time passes on a fake clock.

    NLL of a text: 0.5 nats per character of each word after the first
    (the first token is not predicted), so the expected values are easy to
    compute another way.
    """

    opened = 0
    last = None
    closed = 0
    clock: FakeClock | None = None

    def __init__(self, config):
        type(self).opened += 1
        type(self).last = self
        self.answers = dict(config.get("answers", {}))
        self.delays = dict(config.get("delays", {}))  # prompt -> [first token s, later token s]
        self.seen_chat = []

    def generate_stream(self, prompt, *, max_new_tokens=64, apply_chat_template=False):
        self.seen_chat.append(apply_chat_template)
        words = self.answers.get(prompt, "no idea").split(" ")[:max_new_tokens]
        for i, word in enumerate(words):
            if self.clock is not None:
                first, later = self.delays.get(prompt, (0.0, 0.0))
                self.clock.now += first if i == 0 else later
            yield word if i == 0 else " " + word

    def negative_log_likelihood(self, texts, max_length=1024):
        out = []
        for text in texts:
            words = text.split()[:max_length]
            out.append((sum(0.5 * len(w) for w in words[1:]), len(words) - 1))
        return out

    def count_tokens(self, text):
        return len(text.split())

    def close(self):
        type(self).closed += 1


class FakeModel(ModelHandle):
    """A model type whose session is a :class:`FakeSession`."""

    name = "FakeModel"
    path_fields = ("model_path", "adapters")
    schema = {"type": "object"}

    def open_session(self, accelerator):
        return FakeSession(thaw(self.config))


class ListData(DataContainer):
    """Rows given inline in the config; ``format`` is the row's ``text``."""

    name = "ListData"
    schema = {"type": "object", "properties": {"rows": {"type": "array"}}}

    def rows(self):
        return thaw(self.config["rows"])

    def format(self, row):
        return row["text"]


def plugin():
    """A plugin object registering the fakes."""
    return types.SimpleNamespace(
        register_model_types=hookimpl(lambda register: register(FakeModel)),
        register_data_containers=hookimpl(lambda register: register(ListData)),
    )


# ------------------------------------------------------------------ helpers


def fake_registry(register_plugin):
    """A registry with the fakes (the session counters reset); test_metrics_timing.py uses it too."""
    FakeSession.opened = FakeSession.closed = 0
    FakeSession.clock = FakeSession.last = None
    return register_plugin(plugin(), "metric-fakes")


@pytest.fixture
def registry(register_plugin):
    return fake_registry(register_plugin)


def evaluate(registry, metrics, rows=(), model=None, work_dir=None, details=False):
    context = RunContext(registry, data_configs={"d": {"type": "ListData", "rows": list(rows)}},
                         work_dir=work_dir)
    handle = registry.model_handle({"type": "FakeModel", **(model or {})})
    if details:
        return evaluate_with_details(handle, metrics, context)
    return evaluate_model(handle, metrics, context)


def metric(type_, subs, name=None, data="d", **user_config):
    return {"name": name or type_, "type": type_, "data_config": data, "user_config": user_config,
            "sub_types": [{"name": s} for s in subs]}


# ------------------------------------------------------------------ accuracy

TEMPLATE = "Text: {phrase}\nTone:"
# A hand-labelled mini set: the label, the model's answer, and what a reader takes from it.
LABELLED = [
    ("I won the lottery", "joy", "joy", "joy"),                          # exact
    ("my dog ran away", "sadness", "Sadness.", "sadness"),               # normalised only
    ("a storm at night", "fear", "The tone is: fear, then surprise", "fear"),  # first label wins
    ("the new house", "joy", "surprise", "surprise"),                    # wrong
    ("exam results", "surprise", "I cannot say", None),                  # no label
    ("a gift", "surprise", "surprise", "surprise"),                      # exact
    ("lost my keys", "fear", "joyful", None),                            # 'joyful' is not 'joy'
]


def labelled_setup():
    rows = [{"phrase": p, "tone": t} for p, t, _, _ in LABELLED]
    answers = {TEMPLATE.format(phrase=p): a for p, _, a, _ in LABELLED}
    return rows, {"answers": answers}


def test_accuracy_matches_hand_labels(registry, tmp_path):
    rows, model = labelled_setup()
    m = metric("accuracy", ["accuracy", "accuracy_score", "exact_match", "f1_score", "unparsed_rate"],
               name="tone", prompt_template=TEMPLATE, label_col="tone")
    values, details = evaluate(registry, [m], rows, model, details=True)
    truth = [t for _, t, _, _ in LABELLED]
    hand = [h for _, _, _, h in LABELLED]
    n = len(LABELLED)
    assert values["tone-accuracy"] == pytest.approx(sum(h == t for h, t in zip(hand, truth, strict=False)) / n)
    assert values["tone-accuracy"] == pytest.approx(4 / 7)
    assert values["tone-accuracy_score"] == values["tone-accuracy"]
    assert values["tone-exact_match"] == pytest.approx(2 / 7)
    assert values["tone-unparsed_rate"] == pytest.approx(2 / 7)
    # macro F1 from precision and recall, per label
    f1s = []
    for label in ["joy", "sadness", "fear", "surprise"]:
        tp = sum(h == label and t == label for h, t in zip(hand, truth, strict=False))
        pred = sum(h == label for h in hand)
        true = sum(t == label for t in truth)
        p, r = (tp / pred if pred else 0), (tp / true if true else 0)
        f1s.append(2 * p * r / (p + r) if p + r else 0)
    assert values["tone-f1_score"] == pytest.approx(np.mean(f1s))
    per_class = details["tone"]["per_class"]
    assert per_class["surprise"] == {"support": 2, "predicted": 2, "correct": 1}
    assert per_class["joy"] == {"support": 2, "predicted": 1, "correct": 1}
    assert details["tone"]["unparsed"] == 2
    assert details["tone"]["examples"][1] == {"prompt": TEMPLATE.format(phrase="my dog ran away"),
                                               "answer": "Sadness.", "label": "sadness", "predicted": "sadness"}
    assert FakeSession.last.seen_chat == [False] * n


def test_accuracy_options_and_errors(registry):
    rows, model = labelled_setup()
    m = metric("accuracy", ["accuracy"], prompt_template=TEMPLATE, label_col="tone", max_samples=2,
               apply_chat_template=True)
    assert evaluate(registry, [m], rows, model)["accuracy-accuracy"] == 1.0
    assert FakeSession.last.seen_chat == [True, True]
    with pytest.raises(UserError, match="accuracy.label_col: the data has no column 'label'; its columns are 'phrase', 'tone'"):
        evaluate(registry, [metric("accuracy", ["accuracy"], prompt_template=TEMPLATE)], rows, model)
    with pytest.raises(UserError, match="accuracy.prompt_template: the data has no column 'text'"):
        evaluate(registry, [metric("accuracy", ["accuracy"], prompt_template="{text}", label_col="tone")], rows, model)
    with pytest.raises(UserError, match="'surprise'.*not in 'labels'"):
        evaluate(registry, [metric("accuracy", ["accuracy"], prompt_template=TEMPLATE, label_col="tone",
                                   labels=["joy", "sadness", "fear"])], rows, model)


# ---------------------------------------------------------------- perplexity


def test_perplexity_is_corpus_level(registry):
    texts = ["the storm came at night", "a short one", "joy and surprise and fear and more words here"]
    rows = [{"text": t} for t in texts]
    values = evaluate(registry, [metric("perplexity", ["perplexity", "loss"])], rows)
    nll = [sum(0.5 * len(w) for w in t.split()[1:]) for t in texts]
    tokens = [len(t.split()) - 1 for t in texts]
    expected = math.exp(sum(nll) / sum(tokens))
    assert values["perplexity-perplexity"] == pytest.approx(expected)
    assert values["perplexity-loss"] == pytest.approx(sum(nll) / sum(tokens))
    mean_of_texts = np.mean([math.exp(a / b) for a, b in zip(nll, tokens, strict=False)])
    assert abs(mean_of_texts - expected) > 0.1  # the data tells the two apart
    templated = evaluate(registry, [metric("perplexity", ["perplexity"], text_template="x {text}")], rows)
    nll2 = [sum(0.5 * len(w) for w in t.split()) for t in texts]
    assert templated["perplexity-perplexity"] == pytest.approx(math.exp(sum(nll2) / sum(len(t.split()) for t in texts)))
