"""Search through the real config layer and engine: the toy pass, then LoRA on the tiny Phi-3."""
from __future__ import annotations

import json

import pytest

import modelpress
from tests.plugins import test_optuna_search_support as toy


@pytest.fixture
def registry(register_plugin):
    return register_plugin(toy, name="toy_search_plugin")


def run(tmp_path, passes, search, sub_types=None):
    cfg = toy.toy_config(tmp_path, passes, search, sub_types)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    result = modelpress.run(str(path))
    out = tmp_path / "output"
    return result, out, json.loads((out / "footprints.json").read_text())["nodes"]


def test_search_runs_every_point_and_writes_every_trial(tmp_path, registry):
    passes = {"q": {"type": "Quadratic", "x": [1, 2, 3, 4], "y": {"search": {"low": 0.0, "high": 1.0, "step": 0.5}}}}
    result, out, nodes = run(tmp_path, passes, {"sampler": "exhaustive"})
    assert len(result.search.trials) == 12
    assert result.search.best[0].point == {"q.x": 3, "q.y": 0.5}
    assert json.loads((out / "metrics.json").read_text()) == {"toy-score": 0.0}
    assert json.loads((out / "model" / "model.json").read_text()) == {"x": 3, "y": 0.5}
    assert sorted(n["trial"] for n in nodes) == list(range(12))
    pareto = json.loads((out / "pareto.json").read_text())
    assert [p["params"] for p in pareto["points"]] == [{"q.x": 3, "q.y": 0.5}]


def test_failing_pass_is_recorded_not_cached_and_the_search_goes_on(tmp_path, registry):
    passes = {"q": {"type": "Quadratic", "x": [2, 3, 4], "fail_at": 3}}
    result, _, _ = run(tmp_path, passes, {"sampler": "exhaustive"})
    states = {t["params"]["q.x"]: (t["state"], t["error"]) for t in result.search.trials}
    assert states[2][0] == states[4][0] == "COMPLETE"
    assert states[3][0] == "FAIL" and "x=3 breaks the toy pass" in states[3][1]
    # the failure was not cached: a second run tries x=3 again (and fails again)
    again, _, _ = run(tmp_path, passes, {"sampler": "exhaustive", "study_name": "second"})
    assert [t["state"] for t in again.search.trials if t["params"]["q.x"] == 3] == ["FAIL"]


def test_alternative_pass_configs_and_pass_by_pass(tmp_path, registry):
    passes = {"a": [{"type": "Quadratic", "x": 1}, {"type": "Quadratic", "x": [2, 3]}],
              "b": {"type": "Quadratic", "x": 3, "y": [0.0, 0.5, 1.0]}}
    result, _, _ = run(tmp_path, passes, {"sampler": "exhaustive", "execution_order": "pass-by-pass"})
    params = [t["params"] for t in result.search.trials]
    # step a: its three alternatives/points with b at its first candidate; then b's three with a fixed
    assert [p["a"] for p in params[:3]] == [0, 1, 1] and {p["b.y"] for p in params[:3]} == {0.0}
    assert len(params) == 6 and all(p.get("a") == params[3]["a"] for p in params[3:])
    assert result.search.best[0].point["b.y"] == 0.5


@pytest.mark.slow
def test_lora_rank_search_on_the_tiny_phi3(tmp_path, plugin_registry, tiny_phi3):
    rows = [{"text": f"### Text: sentence {i} is happy\n### The tone is:\njoy"} for i in range(24)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = {"type": "HuggingfaceContainer",
            "load_dataset_config": {"data_name": "json", "data_files": "train.jsonl", "split": "train"},
            "pre_process_data_config": {"text_cols": ["text"], "strategy": "join", "max_seq_len": 32}}
    cfg = {
        "input_model": {"type": "HfModel", "model_path": str(tiny_phi3)},
        "data_configs": [{"name": "train", **data}],
        "evaluators": {"ppl": {"metrics": [{"name": "ppl", "type": "perplexity", "data_config": "train",
                                            "user_config": {"max_samples": 8},
                                            "sub_types": [{"name": "perplexity", "priority": 1}]}]}},
        "evaluator": "ppl", "evaluate_input_model": False,
        "passes": {"lora": {"type": "LoRA", "r": [4, 8], "alpha": 16, "train_data_config": "train",
                            "target_modules": ["qkv_proj"],
                            "training_args": {"max_steps": 2, "per_device_train_batch_size": 4,
                                              "learning_rate": 3e-3, "seed": 0, "disable_tqdm": True}}},
        "search_strategy": {"sampler": "exhaustive", "output_model_num": 2},
        "cache_dir": "cache", "output_dir": "output",
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    result = modelpress.run(str(path))
    trials = result.search.trials
    assert sorted(t["params"]["lora.r"] for t in trials) == [4, 8]
    assert all(t["state"] == "COMPLETE" for t in trials)
    ppl = {t["params"]["lora.r"]: t["metrics"]["ppl-perplexity"] for t in trials}
    best = min(ppl, key=ppl.get)
    assert result.search.best[0].point == {"lora.r": best} and len(result.search.best) == 2
    assert (tmp_path / "output" / "candidates" / "model-2").is_dir()
    adapter = json.loads((tmp_path / "output" / "model.json").read_text())
    assert adapter.get("adapter_path")


def test_conditional_candidates_through_the_config(tmp_path, registry):
    passes = {"q": {"type": "Quadratic", "x": [1, 2, 3],
                    "y": {"search": {"depends_on": "x", "cases": {"1": [0.0], "3": [0.25, 0.5]}}}}}
    result, _, nodes = run(tmp_path, passes, {"sampler": "exhaustive"})
    assert sorted(json.dumps(t["params"], sort_keys=True) for t in result.search.trials) == sorted(
        json.dumps(p, sort_keys=True) for p in [{"q.x": 1, "q.y": 0.0}, {"q.x": 2}, {"q.x": 3, "q.y": 0.25},
                                                 {"q.x": 3, "q.y": 0.5}])
    configs = {n["trial"]: n["config"] for n in nodes}
    assert all(c.get("y", 0.0) == 0.0 for t, c in configs.items() if c["x"] == 2)  # inactive: the default
    assert result.search.best[0].point == {"q.x": 3, "q.y": 0.5}


def test_the_password_of_a_storage_url_reaches_optuna_but_no_file_or_log(tmp_path, registry, monkeypatch, capsys,
                                                                          caplog):
    """A server storage URL is used as given; run.json, footprints.json, the report and the logs mask it.

    The server is stood in for by one in-memory Optuna storage (the URL names no reachable host).
    """
    import logging

    import optuna

    from modelpress.plugins.optuna_search import strategies

    url, used, storage = "postgresql://mp:pa55word-xyz@db.invalid:5432/optuna", [], optuna.storages.InMemoryStorage()
    monkeypatch.setattr(strategies, "open_storage", lambda given: used.append(given) or storage)
    caplog.set_level(logging.DEBUG, logger="modelpress")
    passes = {"q": {"type": "Quadratic", "x": [1, 2, 3]}}
    result, out, _ = run(tmp_path, passes, {"sampler": "exhaustive", "storage": url, "study_name": "s"})
    assert len(result.search.trials) == 3 and set(used) == {url}
    assert json.loads((out / "run.json").read_text())["config"]["search_strategy"]["storage"] == \
        "postgresql://mp:***@db.invalid:5432/optuna"
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "config.json"]
    assert {"run.json", "footprints.json", "report.html"} <= {p.name for p in written}
    assert not [p for p in written if b"pa55word" in p.read_bytes()]
    captured = capsys.readouterr()
    assert "pa55word" not in captured.out + captured.err + caplog.text
