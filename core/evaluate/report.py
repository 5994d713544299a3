"""The run report: a terminal table and a self-contained ``report.html``.

Reads what the engine wrote into the output folder (``footprints.json``,
``metrics.json``, ``input_model_metrics.json``, ``run.json``, optional
``pareto.json`` and ``*metric_details.json``) and each pass's
``training_log.json`` found through the footprints. The HTML needs nothing
outside itself: tables, and charts drawn as inline SVG
(:mod:`modelpress.evaluate.charts`).
"""
from __future__ import annotations

import html
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from .charts import line_chart
from .report_search import pareto_svg, trial_rows
from .report_training import loss_series, training_logs  # noqa: F401 (loss_series: part of this API)

REPORT_FILE = "report.html"
_NUMBER = re.compile(r"^-?[\d.,]+( \S+)?$")


@dataclass
class RunFiles:
    """Everything the report shows, read from one output folder."""

    folder: Path
    run: dict = field(default_factory=dict)
    nodes: list = field(default_factory=list)
    metrics: dict | None = None
    input_metrics: dict | None = None
    details: dict = field(default_factory=dict)          # "output"/"input" -> metric details
    training_logs: list = field(default_factory=list)    # (step, {series: [(x, y)]})
    pareto: dict | None = None

    @property
    def metric_configs(self) -> list[dict]:
        config = self.run.get("config") or {}
        evaluator = (config.get("evaluators") or {}).get(config.get("evaluator") or "", {})
        return list(evaluator.get("metrics") or [])

    def columns(self) -> list[tuple[str, dict]]:
        """``(title, metrics)`` per evaluated model: input, evaluated steps, output."""
        cols = []
        if self.input_metrics:
            cols.append(("input model", self.input_metrics))
        for node in self.nodes:
            if node.get("metrics") and node.get("trial") is None:
                cols.append((f"after {node.get('step')}", node["metrics"]))
        if self.metrics and not (cols and cols[-1][1] == self.metrics and len(cols) > 1):
            cols.append(("output model", self.metrics))
        return cols


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot be read ({exc}); rerun the workflow to rewrite it") from None


def load(output_dir: str | Path) -> RunFiles:
    """Read an output folder; a folder without any run file is a :class:`UserError`."""
    folder = Path(output_dir)
    if not folder.is_dir():
        raise UserError(f"report: {folder} is not a folder; give the output_dir of a run")
    files = RunFiles(folder)
    files.run = _read_json(folder / "run.json") or {}
    files.nodes = (_read_json(folder / "footprints.json") or {}).get("nodes") or []
    files.metrics = _read_json(folder / "metrics.json")
    files.input_metrics = _read_json(folder / "input_model_metrics.json")
    files.pareto = _read_json(folder / "pareto.json")
    for name, key in (("metric_details.json", "output"), ("input_model_metric_details.json", "input")):
        if (data := _read_json(folder / name)) is not None:
            files.details[key] = data
    if not (files.run or files.nodes or files.metrics or files.input_metrics):
        raise UserError(f"report: {folder} holds no run.json, footprints.json or metrics.json; "
                        f"give the output_dir of a finished run")
    files.training_logs = training_logs(files.nodes, _read_json)
    return files


# ------------------------------------------------------------------ values


def _types(configs: Sequence[Mapping[str, Any]]) -> dict[Any, Any]:
    return {m.get("name"): m.get("type") for m in configs}


def format_value(key: str, value: Any, metric_type: str | None = None) -> str:
    """A value for people: bytes as MB/GB, units for latency and throughput."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-" if value is None else str(value)
    if key.endswith("-bytes"):
        for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
            if abs(value) >= size:
                return f"{value / size:.1f} {unit}"
        return f"{value:.0f} B"
    text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    suffix = unit_of(metric_type)
    return f"{text} {suffix}" if suffix else text


def unit_of(metric_type: str | None) -> str:
    """The unit a registered metric declares (``Metric.unit``), "" if none or not registered."""
    from ..registry import get_registry

    registry = get_registry()
    name = registry.canonical_name("metric", metric_type) if metric_type else None
    return registry.get("metric", name).cls.unit if name else ""


def table_rows(files: RunFiles) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the metrics table (one row per metric value)."""
    columns = files.columns()
    types = _types(files.metric_configs)
    keys = [f"{m['name']}-{s['name']}" for m in files.metric_configs for s in m.get("sub_types") or []]
    for _, values in columns:
        keys += [k for k in values if k not in keys]
    header = ["metric"] + [title for title, _ in columns]
    rows = [[key] + [format_value(key, values.get(key), types.get(key.split("-", 1)[0])) for _, values in columns]
            for key in keys]
    return header, rows


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with aligned columns (first column left, others right)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    def line(cells):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def samples(files: RunFiles, limit: int = 5) -> list[dict]:
    """Sample generations kept by the metrics (output model first)."""
    out = []
    for which in ("output", "input"):
        for metric, details in (files.details.get(which) or {}).items():
            for ex in (details or {}).get("examples", [])[:limit]:
                out.append({"model": f"{which} model", "metric": metric, **ex})
    return out


def goal_lines(files: RunFiles) -> list[str]:
    """One line per goal of the evaluator, checked on the output model's metrics."""
    from .goals import check_goals

    if not files.metrics:
        return []
    try:
        return [r.describe() for r in check_goals(files.metrics, files.input_metrics, files.metric_configs)]
    except UserError as exc:  # a relative goal without the input model's metrics
        return [f"goals not checked: {exc}"]


# -------------------------------------------------------------------- html

CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
h1{font-size:1.5em}td{vertical-align:top}h2{font-size:1.2em;margin-top:1.6em}pre{white-space:pre-wrap;margin:0}"""


class _Ids:
    """Element ids, each used once: a search has several trials of one step."""

    def __init__(self):
        self.used: set[str] = set()

    def __call__(self, base: str) -> str:
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", base).strip("-") or "x"
        found, n = slug, 2
        while found in self.used:
            found, n = f"{slug}-{n}", n + 1
        self.used.add(found)
        return found


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(h))}</th>" for h in header)
    head = f"<thead><tr>{head}</tr></thead>" if any(header) else ""
    body = "".join("<tr>" + "".join(f"<td{' class=n' if i and _NUMBER.match(str(c)) else ''}>{e(str(c))}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<table id="{table_id}">{head}<tbody>{body}</tbody></table>'


def render_html(files: RunFiles) -> str:
    """The report page (self-contained HTML5)."""
    e = html.escape
    ids = _Ids()
    ids.used.update({"run-info", "metrics", "goals", "passes", "samples"})  # the page's fixed ids
    parts = [f"<h1>modelpress run: {e(files.folder.name)}</h1>"]
    run = files.run
    info = [(k, run.get(k)) for k in ("source", "started", "finished") if run.get(k)]
    if run.get("output_model"):
        info.append(("output model", json.dumps(run["output_model"])))
    if info:
        parts.append(_table(["", ""], info, "run-info"))
    header, rows = table_rows(files)
    parts.append("<h2>Metrics</h2>")
    parts.append(_table(header, rows, "metrics") if rows else "<p>No metrics were measured.</p>")
    if goals := goal_lines(files):
        parts.append("<h2>Goals</h2><ul id=goals>" + "".join(f"<li>{e(g)}</li>" for g in goals) + "</ul>")
    if files.nodes:
        parts.append("<h2>Passes</h2>")
        parts.append(_table(["step", "pass", "status", "duration (s)", "cache"],
                            [[n.get("step"), n.get("pass"), n.get("status"), n.get("duration_s", "-"),
                              "hit" if n.get("cache_hit") else "miss"] for n in files.nodes], "passes"))
    for step, series in files.training_logs:
        parts.append(f"<h2>Training loss: {e(step)}</h2>")
        if all(len(v) == 1 for v in series.values()):
            x = next(iter(series.values()))[0][0]
            parts.append(f"<p class=note>One logged value per series (step {x:g}): no curve to draw. "
                         f"Lower <code>logging_steps</code> to log more often.</p>")
        parts.append(line_chart(series, x_label="step", y_label="loss", chart_id=ids(f"loss-{step}"),
                                integer_x=True))
    if files.pareto and (files.pareto.get("points") or files.pareto.get("trials")):
        parts.append("<h2>Search: Pareto front</h2>" + pareto_svg(files.pareto, chart_id=ids("pareto")))
        trial_header, trial_table = trial_rows(files.pareto)
        parts.append("<h2>Search: trials</h2>" + _table(trial_header, trial_table, ids("trials")))
    if examples := samples(files):
        parts.append("<h2>Sample generations</h2>")
        parts.append(_table(["model", "prompt", "answer", "label"],
                            [[x["model"], x.get("prompt", ""), x.get("answer", ""), x.get("label", "")]
                             for x in examples], "samples"))
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>modelpress report</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")


def write_report(output_dir: str | Path) -> Path:
    """Write ``output_dir/report.html`` from the run's files; returns its path."""
    files = load(output_dir)
    path = files.folder / REPORT_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_html(files), encoding="utf-8")
    tmp.replace(path)
    return path


def main(output_dir: str | Path) -> int:
    """``modelpress report OUTPUT_DIR``: print the metrics table, rewrite the HTML."""
    files = load(output_dir)
    header, rows = table_rows(files)
    print(format_table(header, rows) if rows else "no metrics in this run")
    for line in goal_lines(files):
        print(line)
    for x in samples(files, limit=3):
        print(f"\n[{x['model']}] {' '.join(x.get('prompt', '').split())}\n  -> {x.get('answer', '').strip()!r}"
              + (f" (label: {x['label']})" if x.get("label") else ""))
    path = write_report(output_dir)
    print(f"\nreport: {path}", file=sys.stderr)
    return 0
