"""The built-in metrics, on a fake model type, session and data container (values checked
against independent computations)."""
from __future__ import annotations

import math
import os
import types

import numpy as np
import pytest

from modelpress import hookimpl
from modelpress.components import DataContainer, InferenceSession, ModelHandle, RunContext
from modelpress.errors import UserError
from modelpress.evaluate.evaluator import evaluate_model, evaluate_with_details
from modelpress.frozen import thaw
from modelpress.plugins.metrics import timing


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


@pytest.fixture
def registry(register_plugin):
    FakeSession.opened = FakeSession.closed = 0
    FakeSession.clock = FakeSession.last = None
    return register_plugin(plugin(), "metric-fakes")


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


# ------------------------------------------------------- latency, throughput

DELAYS = {"p1": (0.20, 0.010), "p2": (0.05, 0.020), "p3": (0.40, 0.015), "p4": (0.10, 0.030)}
ANSWERS = {"p1": "a b c d e", "p2": "a b", "p3": "a b c d e f g h", "p4": "a b c"}


def test_latency_and_throughput_against_the_clock(registry, monkeypatch):
    clock = FakeClock()
    FakeSession.clock = clock
    monkeypatch.setattr(timing, "perf_counter", clock)
    rows = [{"text": p} for p in DELAYS]
    lat_subs = ["avg", "p50", "p90", "p99", "first_token_avg", "first_token_p90", "per_token_avg", "per_token_p99"]
    values = evaluate(registry, [metric("latency", lat_subs, name="lat", max_new_tokens=32),
                                 metric("throughput", ["avg", "p50", "total"], name="tp")],
                      rows, {"answers": ANSWERS, "delays": DELAYS})
    n = {p: len(ANSWERS[p].split()) for p in DELAYS}
    total = {p: DELAYS[p][0] + DELAYS[p][1] * (n[p] - 1) for p in DELAYS}
    ms = np.array([total[p] for p in DELAYS]) * 1000
    assert values["lat-avg"] == pytest.approx(ms.mean())
    for q in (50, 90, 99):
        assert values[f"lat-p{q}"] == pytest.approx(np.percentile(ms, q))
    firsts = np.array([DELAYS[p][0] for p in DELAYS]) * 1000
    assert values["lat-first_token_avg"] == pytest.approx(firsts.mean())
    assert values["lat-first_token_p90"] == pytest.approx(np.percentile(firsts, 90))
    later = np.array([DELAYS[p][1] for p in DELAYS]) * 1000
    assert values["lat-per_token_avg"] == pytest.approx(later.mean())
    assert values["lat-per_token_p99"] == pytest.approx(np.percentile(later, 99))
    rates = np.array([n[p] / total[p] for p in DELAYS])
    assert values["tp-avg"] == pytest.approx(rates.mean())
    assert values["tp-p50"] == pytest.approx(np.median(rates))
    assert values["tp-total"] == pytest.approx(sum(n.values()) / sum(total.values()))
    assert FakeSession.opened == 1 and FakeSession.closed == 1


def test_timing_without_data_uses_prompts(registry, monkeypatch):
    clock = FakeClock()
    FakeSession.clock = clock
    monkeypatch.setattr(timing, "perf_counter", clock)
    m = metric("latency", ["avg"], data=None, prompts=["p2"], max_new_tokens=1, warmup_runs=0, repeat=3)
    values = evaluate(registry, [m], model={"answers": ANSWERS, "delays": DELAYS})
    assert values["latency-avg"] == pytest.approx(50.0)  # one token: the first-token delay only
    with pytest.raises(UserError, match="per-token latency is undefined"):
        evaluate(registry, [metric("latency", ["per_token_avg"], data=None, prompts=["p2"], max_new_tokens=1)],
                 model={"answers": ANSWERS, "delays": DELAYS})


# --------------------------------------------------------------- size_on_disk


def test_size_on_disk_counts_every_file_and_loads_nothing(registry, tmp_path):
    model_dir = tmp_path / "model"
    (model_dir / "sub").mkdir(parents=True)
    (model_dir / "weights.bin").write_bytes(b"x" * 1000)
    (model_dir / "sub" / "tokenizer.json").write_bytes(b"y" * 37)
    adapter = tmp_path / "a.onnx_adapter"
    adapter.write_bytes(b"z" * 5)
    values = evaluate(registry, [metric("size_on_disk", ["bytes", "megabytes"], data=None)],
                      model={"model_path": str(model_dir), "adapters": {"a": str(adapter)}})
    expected = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(model_dir) for f in fs)
    expected += os.path.getsize(adapter)
    assert values["size_on_disk-bytes"] == expected == 1042
    assert values["size_on_disk-megabytes"] == pytest.approx(1042 / 1e6)
    assert FakeSession.opened == 0
    with pytest.raises(UserError, match="size_on_disk: the FakeModel model has no local files"):
        evaluate(registry, [metric("size_on_disk", ["bytes"], data=None)], model={"model_path": "org/hub-name"})


# -------------------------------------------------------------------- custom


def test_custom_function_from_user_script(registry, tmp_path):
    script = tmp_path / "my_metric.py"
    script.write_text(
        "def score(model, session, rows, scale=1):\n"
        "    s = session()\n"
        "    words = sum(len(s.generate_stream(r['text']).__next__()) for r in rows)\n"
        "    return {'chars': words * scale, 'rows': len(rows)}\n"
        "def single(model, session, rows):\n"
        "    return 7\n")
    rows = [{"text": "p1"}, {"text": "p2"}]
    m = {"name": "mine", "type": "custom", "data_config": "d",
         "user_config": {"user_script": str(script), "evaluate_func": "score", "evaluate_func_kwargs": {"scale": 10}},
         "sub_types": [{"name": "chars"}, {"name": "rows"}]}
    values = evaluate(registry, [m], rows, {"answers": {"p1": "abc d", "p2": "hello"}})
    assert values == {"mine-chars": (3 + 5) * 10, "mine-rows": 2}
    one = {**m, "data_config": None, "sub_types": [{"name": "seven"}],
           "user_config": {"user_script": str(script), "evaluate_func": "single"}}
    assert evaluate(registry, [one]) == {"mine-seven": 7.0}
    missing = {**one, "user_config": {"user_script": str(script), "evaluate_func": "nope"}}
    with pytest.raises(UserError, match="has no function 'nope'; it defines score, single"):
        evaluate(registry, [missing])
    wrong_sub = {**m, "sub_types": [{"name": "words"}]}
    with pytest.raises(UserError, match="custom gave no value for words; it gave chars, rows"):
        evaluate(registry, [wrong_sub], rows, {"answers": {}})
    with pytest.raises(UserError, match="custom.user_script: .* is not a file"):
        evaluate(registry, [{**one, "user_config": {"user_script": str(tmp_path / "no.py"), "evaluate_func": "f"}}])
