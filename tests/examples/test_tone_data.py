"""The tone classifier's unseen set: phrases written apart from the training file.

Guarantees: 30 phrases per tone (joy, sadness, fear, surprise); no phrase
contains any tone word or an inflection of one (so a model cannot answer by
copying); none appears (case-insensitively) in the source data, the training
split or the held-out split; and none is a near copy of a source phrase.
"""
import difflib
import json
from collections import Counter
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "examples" / "tone-classifier" / "data"
TONES = ("joy", "sadness", "fear", "surprise")
# stems that catch the words and their inflections: joyful, enjoy, sadly, saddened, fearful, surprising...
STEMS = ("joy", "sad", "fear", "surpris")


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_unseen_has_30_phrases_per_tone():
    unseen = rows("unseen.jsonl")
    assert Counter(r["tone"] for r in unseen) == {t: 30 for t in TONES}
    assert len({r["phrase"] for r in unseen}) == 120
    assert all(set(r) == {"phrase", "tone"} for r in unseen)


def test_unseen_phrases_contain_no_tone_word():
    hits = [(r["phrase"], s) for r in rows("unseen.jsonl") for s in STEMS if s in r["phrase"].lower()]
    assert hits == []


def test_unseen_phrases_are_not_in_the_training_or_heldout_data():
    unseen = [r["phrase"].lower().strip() for r in rows("unseen.jsonl")]
    known = [r["phrase"].lower().strip()
             for name in ("dataset-classification.json", "train.jsonl", "heldout.jsonl") for r in rows(name)]
    assert set(unseen).isdisjoint(known)
    # not a light edit of a known phrase either (the closest pair measured about 0.6)
    close = [(u, k) for u in unseen for k in known
             if difflib.SequenceMatcher(None, u, k).quick_ratio() > 0.8
             and difflib.SequenceMatcher(None, u, k).ratio() > 0.8]
    assert close == []
