"""accuracy: classification by generation.

Each data row becomes a prompt (``prompt_template`` over the row); the model
generates a short answer and the label is read from it. Prompts are sorted
by token length and generated ``batch_size`` at a time (the session's
``generate`` takes one batch); the answers are put back in row order. Two readings are
scored: *exact* (the stripped answer equals the label) and *normalised*
(case, punctuation and extra words ignored: the label that appears first as
a whole word in the answer). ``accuracy`` uses the normalised reading.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from modelpress.components import Metric
from modelpress.errors import UserError

from .common import by_length, in_chunks, prompts_for, select_rows

_NON_WORD = re.compile(r"[^\w]+")


def normalise(text: str) -> str:
    """Lower case, punctuation to spaces, whitespace collapsed."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def read_label(answer: str, labels: Sequence[str]) -> str | None:
    """The label that occurs first (as whole words) in the normalised answer, or None."""
    text = f" {normalise(answer)} "
    best, best_at = None, len(text)
    # Longer labels first, so "very happy" wins over "happy" at the same place.
    for label in sorted(labels, key=len, reverse=True):
        at = text.find(f" {normalise(label)} ")
        if at != -1 and at < best_at:
            best, best_at = label, at
    return best


def class_counts(truth: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]) -> dict:
    """Per label: support (true rows), predicted, correct."""
    counts = {label: {"support": 0, "predicted": 0, "correct": 0} for label in labels}
    for t, p in zip(truth, predicted, strict=False):
        counts.setdefault(t, {"support": 0, "predicted": 0, "correct": 0})["support"] += 1
        if p is not None:
            counts.setdefault(p, {"support": 0, "predicted": 0, "correct": 0})["predicted"] += 1
            if p == t:
                counts[p]["correct"] += 1
    return counts


def macro_f1(counts: Mapping[str, Mapping[str, int]]) -> float:
    """Unweighted mean of per-label F1 (0 where a label is never predicted or never true)."""
    scores = []
    for c in counts.values():
        if c["support"] == 0 and c["predicted"] == 0:
            continue
        denominator = c["support"] + c["predicted"]
        scores.append(2 * c["correct"] / denominator if denominator else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


class Accuracy(Metric):
    """Accuracy of labels read from greedy generations (classification by generation)."""

    name = "accuracy"
    schema = "modelpress.plugins.metrics:schemas/accuracy.json"
    sub_types = {"accuracy": True, "accuracy_score": True, "exact_match": True,
                 "f1_score": True, "unparsed_rate": False}

    def evaluate(self, model, session, data, sub_types: Sequence[str]) -> dict[str, float]:
        cfg = self.config
        rows = select_rows(data, cfg.get("max_samples"))
        label_col = cfg["label_col"]
        if label_col not in rows[0]:
            raise UserError(f"accuracy.label_col: the data has no column {label_col!r}; "
                            f"its columns are {', '.join(map(repr, rows[0]))}")
        truth = [str(row[label_col]).strip() for row in rows]
        labels = list(cfg.get("labels") or dict.fromkeys(truth))
        unknown = sorted(set(truth) - set(labels))
        if unknown:
            raise UserError(f"accuracy.labels: the data has labels {', '.join(map(repr, unknown))} "
                            f"that are not in 'labels'; add them or drop 'labels' to take them from the data")
        prompts = prompts_for(data, rows, cfg.get("prompt_template"), "accuracy.prompt_template")
        sess = session()
        # batches of similar length waste little on padding (ONNX GenAI batches equal lengths only)
        order = by_length(sess, prompts)
        ordered = in_chunks([prompts[i] for i in order], lambda chunk: sess.generate(
            chunk, max_new_tokens=cfg["max_new_tokens"],
            apply_chat_template=cfg["apply_chat_template"]), "accuracy: generations",
            size=cfg.get("batch_size", 16))
        answers = [""] * len(prompts)
        for i, answer in zip(order, ordered, strict=True):
            answers[i] = answer
        predicted = [read_label(a, labels) for a in answers]
        exact = [a.strip() == t for a, t in zip(answers, truth, strict=False)]
        counts = class_counts(truth, predicted, labels)
        n = len(rows)
        accuracy = sum(p == t for p, t in zip(predicted, truth, strict=False)) / n
        self.details = {
            "samples": n,
            "per_class": counts,
            "unparsed": sum(p is None for p in predicted),
            "examples": [{"prompt": p, "answer": a, "label": t, "predicted": pr}
                         for p, a, t, pr in list(zip(prompts, answers, truth, predicted, strict=False))[:cfg["examples"]]],
        }
        return {"accuracy": accuracy, "accuracy_score": accuracy, "exact_match": sum(exact) / n,
                "f1_score": macro_f1(counts), "unparsed_rate": self.details["unparsed"] / n}
