"""The built-in timing, size and custom metrics, on the fake model type, session and data
container of test_metrics.py (values checked against independent computations)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from modelpress.errors import UserError
from modelpress.plugins.metrics import timing
from tests.plugins.test_metrics import FakeClock, FakeSession, evaluate, fake_registry, metric


@pytest.fixture
def registry(register_plugin):
    return fake_registry(register_plugin)

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


def test_the_timing_metrics_declare_their_units():
    # the report shows latency values in ms and throughput values in tok/s (Metric.unit)
    assert (timing.Latency.unit, timing.Throughput.unit) == ("ms", "tok/s")
