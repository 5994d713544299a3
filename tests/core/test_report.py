"""The run report: table, HTML with inline SVG charts, ``modelpress report``, headless Chromium."""
from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from modelpress import report
from modelpress.errors import UserError
from modelpress.report_charts import nice_ticks

METRICS = [
    {"name": "tone", "type": "accuracy", "data_config": "eval", "user_config": {},
     "sub_types": [{"name": "accuracy", "priority": 1, "higher_is_better": True,
                    "goal": {"type": "min-improvement", "value": 0.5}}]},
    {"name": "latency", "type": "latency", "sub_types": [{"name": "avg"}, {"name": "p90"}]},
    {"name": "size", "type": "size_on_disk", "sub_types": [{"name": "bytes"}]},
]
LOG = [{"loss": 3.2, "step": 5}, {"loss": 2.5, "step": 10}, {"eval_loss": 2.7, "step": 10},
       {"loss": 1.9, "step": 15}, {"loss": 1.4, "step": 20}, {"train_loss": 2.2, "step": 20}]


def make_run(folder: Path, pareto: bool = True) -> Path:
    out = folder / "output"
    adapter = folder / "cache" / "runs" / "abc" / "model" / "adapter"
    adapter.mkdir(parents=True)
    (adapter.parent / "training_log.json").write_text(json.dumps({"log_history": LOG}))
    nodes = [
        {"step": "lora", "pass": "LoRA", "status": "ok", "duration_s": 12.5, "cache_hit": False,
         "output_model": {"type": "HfModel", "model_path": "base", "adapter_path": str(adapter)},
         "metrics": {"tone-accuracy": 0.81, "latency-avg": 250.0, "latency-p90": 300.0, "size-bytes": 540e6}},
        {"step": "build", "pass": "ModelBuilder", "status": "ok", "duration_s": 9.0, "cache_hit": True,
         "output_model": {"type": "ONNXModel", "model_path": str(folder / "nowhere")}},
    ]
    out.mkdir()
    (out / "footprints.json").write_text(json.dumps({"nodes": nodes}))
    (out / "metrics.json").write_text(json.dumps({"tone-accuracy": 0.79, "latency-avg": 61.25,
                                                  "latency-p90": 70.0, "size-bytes": 83_100_000}))
    (out / "input_model_metrics.json").write_text(json.dumps({"tone-accuracy": 0.21, "latency-avg": 240.0,
                                                              "latency-p90": 290.0, "size-bytes": 538e6}))
    (out / "metric_details.json").write_text(json.dumps({"tone": {"examples": [
        {"prompt": "Text: I won <big>\nTone:", "answer": "joy", "label": "joy", "predicted": "joy"}]}}))
    (out / "run.json").write_text(json.dumps({"config": {"evaluator": "common", "evaluators": {"common": {"metrics": METRICS}}},
                                              "finished": "2026-01-01T00:00:00", "output_model": {"type": "ONNXModel"}}))
    if pareto:
        (out / "pareto.json").write_text(json.dumps({
            "objectives": [{"name": "tone-accuracy", "higher_is_better": True}, {"name": "latency-avg", "higher_is_better": False}],
            "points": [{"trial": 0, "params": {"lora.r": 8}, "metrics": {"tone-accuracy": 0.7, "latency-avg": 50}},
                       {"trial": 3, "params": {"lora.r": 32}, "metrics": {"tone-accuracy": 0.8, "latency-avg": 60}}]}))
    return out


class Elements(HTMLParser):
    """Counts tags and collects table cells and svg polyline points."""

    def __init__(self):
        super().__init__()
        self.tags, self.cells, self.points, self.ids = {}, [], [], []
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "polyline":
            self.points.append(attrs["points"])
        if tag in ("td", "th"):
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None


def parse(text: str) -> Elements:
    p = Elements()
    p.feed(text)
    return p


def test_table_has_one_column_per_evaluated_model(tmp_path):
    files = report.load(make_run(tmp_path))
    header, rows = report.table_rows(files)
    assert header == ["metric", "input model", "after lora", "output model"]
    assert rows == [
        ["tone-accuracy", "0.21", "0.81", "0.79"],
        ["latency-avg", "240 ms", "250 ms", "61.25 ms"],
        ["latency-p90", "290 ms", "300 ms", "70 ms"],
        ["size-bytes", "538.0 MB", "540.0 MB", "83.1 MB"],
    ]
    text = report.format_table(header, rows)
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "input", "model", "after", "lora", "output", "model"]
    assert len({len(line) for line in lines}) == 1  # aligned
    assert files.training_logs == [("lora", {"loss": [(5.0, 3.2), (10.0, 2.5), (15.0, 1.9), (20.0, 1.4)],
                                             "eval_loss": [(10.0, 2.7)]})]


def test_html_report_is_self_contained_with_charts(tmp_path):
    out = make_run(tmp_path)
    path = report.write_report(out)
    text = path.read_text()
    assert path == out / "report.html"
    assert not re.search(r"(src|href)=", text)  # nothing loaded from elsewhere
    page = parse(text)
    assert {"metrics", "goals", "passes", "samples", "loss-lora", "pareto"} <= set(page.ids)
    assert "0.81" in page.cells and "83.1 MB" in page.cells and "Text: I won <big>\nTone:" in page.cells
    assert "&lt;big&gt;" in text  # escaped
    assert len(page.points) == 2  # loss and eval_loss
    loss_xy = [tuple(map(float, p.split(","))) for p in page.points[0].split()]
    assert len(loss_xy) == 4
    assert [y for _, y in loss_xy] == sorted(y for _, y in loss_xy)  # falling loss: y grows downwards
    assert [x for x, _ in loss_xy] == sorted(x for x, _ in loss_xy)
    assert text.count('class="point"') == 2  # the two Pareto trials


def test_report_without_optional_files(tmp_path):
    out = make_run(tmp_path, pareto=False)
    for name in ("input_model_metrics.json", "metric_details.json"):
        (out / name).unlink()
    page = parse(report.write_report(out).read_text())
    assert "pareto" not in page.ids and "samples" not in page.ids
    assert "goals not checked: tone-accuracy: goal min-improvement needs the input model's value" in report.goal_lines(report.load(out))[0]
    assert report.table_rows(report.load(out))[0] == ["metric", "after lora", "output model"]


def test_main_prints_table_and_rewrites_html(tmp_path, capsys):
    out = make_run(tmp_path)
    assert report.main(out) == 0
    printed = capsys.readouterr().out
    assert "tone-accuracy" in printed and "83.1 MB" in printed and "-> 'joy'" in printed
    assert "tone-accuracy 0.79 >= 0.71 (min-improvement 0.5): met" in printed
    assert (out / "report.html").is_file()
    with pytest.raises(UserError, match="holds no run.json, footprints.json or metrics.json"):
        report.main(tmp_path / "cache")
    with pytest.raises(UserError, match="is not a folder"):
        report.main(tmp_path / "missing")


def test_loss_series_forms():
    assert report.loss_series(LOG) == report.loss_series({"log_history": LOG})
    assert report.loss_series({"train": [{"step": 1, "loss": 2.0}], "eval": [{"step": 1, "loss": 2.5}]}) == \
        {"loss": [(1.0, 2.0)], "eval_loss": [(1.0, 2.5)]}
    assert report.loss_series([{"loss": 1.0}, {"loss": 0.5}]) == {"loss": [(1.0, 1.0), (2.0, 0.5)]}
    assert report.loss_series("nonsense") == {}
    for low, high in ((0, 7.4), (1.23, 1.31), (-3, 2.2), (5, 5)):
        ticks = nice_ticks(low, high)
        assert ticks[0] <= low and ticks[-1] >= high and len(ticks) <= 8


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--enable-logging=stderr", "--v=0"]


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium); "
                                             "the HTML report's browser check is skipped")
def test_report_renders_in_headless_chromium(tmp_path):
    path = report.write_report(make_run(tmp_path)).resolve()
    run = subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert errors == []
    dom = parse(run.stdout)
    source = parse(path.read_text())
    assert {"metrics", "passes", "loss-lora", "pareto", "samples"} <= set(dom.ids)
    # the browser built the same tables and SVG elements the file holds
    for tag in ("table", "tr", "svg", "polyline", "circle", "text"):
        assert dom.tags.get(tag) == source.tags.get(tag), tag
    assert dom.cells == source.cells
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *FLAGS, "--window-size=1000,1400", f"--screenshot={shot}", path.as_uri()],
                   capture_output=True, timeout=120, check=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1000, 1400)
    assert len(data) > 20_000  # a blank page compresses to far less
