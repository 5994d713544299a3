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

from modelpress.errors import UserError
from modelpress.evaluate import report
from modelpress.evaluate.charts import nice_ticks, tick_labels
from modelpress.search.pareto import pareto_document

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
        self.tags, self.cells, self.points, self.ids, self.classes = {}, [], [], [], []
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "polyline":
            self.points.append(attrs["points"])
        if "class" in attrs:
            self.classes.append((tag, attrs["class"]))
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
    # loss is a line; eval_loss has one point: a marker, not a line; the front joins its 2 trials
    assert [c for t, c in page.classes if t == "polyline"] == ["series", "front"]
    assert ("circle", "marker") in page.classes and "eval_loss (one point)" in text
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


def tick_texts(svg_text: str, axis: str) -> list[str]:
    return re.findall(rf'<text class="{axis}tick"[^>]*>([^<]*)</text>', svg_text)


def test_tick_labels_are_never_repeated():
    assert tick_labels([1024, 1024.5, 1025, 1025.5, 1026]) == ["1024", "1024.5", "1025", "1025.5", "1026"]
    assert tick_labels([0.1, 0.2, 0.3]) == ["0.1", "0.2", "0.3"]
    assert tick_labels([1.00001, 1.00002]) == ["1.00001", "1.00002"]
    # a loss logged at steps 1024..1026: integer step ticks, each label once
    from modelpress.evaluate.charts import line_chart

    svg = line_chart({"loss": [(1024, 2.0), (1025, 1.99991), (1026, 1.99982)]}, x_label="step", y_label="loss",
                     integer_x=True)
    xs, ys = tick_texts(svg, "x"), tick_texts(svg, "y")
    assert len(set(xs)) == len(xs) >= 2 and all(float(x).is_integer() for x in xs)
    assert len(set(ys)) == len(ys) >= 2


def test_a_one_point_loss_log_is_a_marker_and_a_note(tmp_path):
    out = make_run(tmp_path, pareto=False)
    log = next((tmp_path / "cache").rglob("training_log.json"))
    log.write_text(json.dumps({"log_history": [{"loss": 2.5, "step": 10}, {"train_loss": 2.5, "step": 10}]}))
    text = report.write_report(out).read_text()
    page = parse(text)
    assert "polyline" not in page.tags
    assert page.classes.count(("circle", "marker")) == 1
    assert "One logged value per series (step 10): no curve to draw" in text


def search_pareto(records) -> dict:
    from modelpress.components import SubMetric

    objectives = [SubMetric("acc", True, 1), SubMetric("lat", False, 2)]
    return pareto_document(records, objectives)


RECORDS = [
    {"number": 0, "state": "COMPLETE", "params": {"lora.r": 8}, "metrics": {"acc": 0.7, "lat": 50}},
    {"number": 1, "state": "COMPLETE", "params": {"lora.r": 16}, "metrics": {"acc": 0.6, "lat": 70}},  # dominated
    {"number": 2, "state": "COMPLETE", "params": {"lora.r": 32}, "metrics": {"acc": 0.8, "lat": 60}},
    {"number": 3, "state": "FAIL", "params": {"lora.r": 64}, "metrics": None, "error": "out of memory"},
]


def test_pareto_json_lists_every_trial_and_marks_the_front():
    doc = search_pareto(RECORDS)
    assert [p["trial"] for p in doc["points"]] == [0, 2]
    assert [(t["trial"], t["state"], t["on_front"]) for t in doc["trials"]] == [
        (0, "COMPLETE", True), (1, "COMPLETE", False), (2, "COMPLETE", True), (3, "FAIL", False)]


def test_search_report_shows_dominated_trials_a_trial_table_and_unique_ids(tmp_path):
    out = make_run(tmp_path, pareto=False)
    (out / "pareto.json").write_text(json.dumps(search_pareto(RECORDS)))
    # two trials trained the same step: two loss charts, two distinct ids
    nodes = json.loads((out / "footprints.json").read_text())["nodes"]
    trial_nodes = [{**nodes[0], "trial": n} for n in (0, 2)]
    (out / "footprints.json").write_text(json.dumps({"nodes": trial_nodes}))
    other = tmp_path / "cache" / "runs" / "def" / "model" / "adapter"
    other.mkdir(parents=True)
    (other.parent / "training_log.json").write_text(json.dumps({"log_history": LOG}))
    trial_nodes[1]["output_model"] = {**trial_nodes[1]["output_model"], "adapter_path": str(other)}
    (out / "footprints.json").write_text(json.dumps({"nodes": trial_nodes}))
    text = report.write_report(out).read_text()
    page = parse(text)
    assert len(page.ids) == len(set(page.ids)), sorted(page.ids)
    assert {"loss-lora-trial-0", "loss-lora-trial-2", "pareto", "trials"} <= set(page.ids)
    assert "Training loss: lora (trial 0)" in text and "Training loss: lora (trial 2)" in text
    assert page.classes.count(("circle", "point")) == 2 and page.classes.count(("circle", "dominated")) == 1
    header, rows = report_search_rows(out)
    assert header == ["trial", "state", "front", "lora.r", "acc", "lat", "error"]
    assert rows == [["0", "COMPLETE", "yes", "8", "0.7", "50", ""], ["1", "COMPLETE", "", "16", "0.6", "70", ""],
                    ["2", "COMPLETE", "yes", "32", "0.8", "60", ""], ["3", "FAIL", "", "64", "-", "-", "out of memory"]]
    for row in rows:  # every cell of the trial table is on the page
        assert all(cell in page.cells for cell in row if cell)


def report_search_rows(out):
    from modelpress.evaluate.report_search import trial_rows

    return trial_rows(json.loads((out / "pareto.json").read_text()))


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
