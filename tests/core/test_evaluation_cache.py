"""The engine's evaluation cache: keyed by model, metric config and data content."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import modelpress
from modelpress import hookimpl
from modelpress.components import Metric

CALLS = "MODELPRESS_TEST_METRIC_CALLS"


class TextLength(Metric):
    """Length of a TextModel's text plus the number of rows of its data."""

    name = "text_length"
    sub_types = {"length": True}
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"scale": {"type": "number", "default": 1}}}

    def evaluate(self, model, session, data, sub_types):
        with open(os.environ[CALLS], "a") as f:
            f.write("x")
        text = Path(model.config["model_path"]).read_text()
        return {"length": (len(text) + len(data.rows())) * self.config.scale}


class MetricPlugin:
    @hookimpl
    def register_metrics(self, register):
        register(TextLength)


@pytest.fixture
def registry(register_plugin, tmp_path, monkeypatch):
    from tests.core import engine_plugin

    monkeypatch.setenv(CALLS, str(tmp_path / "calls"))
    register_plugin(engine_plugin, name="engine_plugin")
    return register_plugin(MetricPlugin(), name="metric_plugin")


def workflow(ws: Path, scale: float = 1) -> dict:
    return {
        "input_model": {"type": "TextModel", "model_path": str(ws / "base.txt")},
        "data_configs": [{"name": "rows", "type": "TextFile", "path": str(ws / "rows.txt")}],
        "evaluators": {"e": {"metrics": [{"name": "len", "type": "text_length", "data_config": "rows",
                                          "user_config": {"scale": scale},
                                          "sub_types": [{"name": "length"}]}]}},
        "evaluator": "e",
        "passes": {"a": {"type": "AppendText"}},
        "cache_dir": str(ws / "cache"), "output_dir": str(ws / "out"),
    }


def calls(ws: Path) -> int:
    path = ws / "calls"
    return len(path.read_text()) if path.exists() else 0


def test_evaluations_hit_and_miss(registry, tmp_path):
    (tmp_path / "base.txt").write_text("base")
    (tmp_path / "rows.txt").write_text("r1\nr2\n")
    first = modelpress.run(workflow(tmp_path))
    assert first.input_metrics == {"len-length": 6.0}  # "base" + 2 rows
    assert first.metrics == {"len-length": 7.0}  # "base!" + 2 rows
    assert calls(tmp_path) == 2
    again = modelpress.run(workflow(tmp_path))
    assert again.metrics == first.metrics and calls(tmp_path) == 2  # both from the cache
    (tmp_path / "rows.txt").write_text("r1\nr2\nr3\n")  # data content changed
    assert modelpress.run(workflow(tmp_path)).metrics == {"len-length": 8.0}
    assert calls(tmp_path) == 4
    assert modelpress.run(workflow(tmp_path, scale=2)).metrics == {"len-length": 16.0}  # metric config
    assert calls(tmp_path) == 6
    assert not list((tmp_path / "cache" / "tmp").iterdir())  # no work folders left behind
