"""The run report: a terminal table and a self-contained ``report.html``.

Reads what the engine wrote into the output folder (``footprints.json``,
``metrics.json``, ``input_model_metrics.json``, ``run.json``, optional
``pareto.json`` and ``*metric_details.json``) and each pass's
``training_log.json`` found through the footprints. The HTML needs nothing
outside itself: tables, and charts drawn as inline SVG
(:mod:`modelpress.report_charts`).
"""
from __future__ import annotations

import html
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import UserError
from .report_charts import line_chart, scatter_chart

REPORT_FILE = "report.html"
_NUMBER = re.compile(r"^-?[\d.,]+( \S+)?$")
UNITS = {"latency": "ms", "throughput": "tok/s"}


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


def loss_series(log: Any) -> dict[str, list[tuple[float, float]]]:
    """``{"loss": [(step, value)], "eval_loss": [...]}`` from a training log.

    Accepts a list of log entries (Trainer's ``log_history``) or a dict
    holding one (under ``log_history``, ``history``, ``entries`` or ``steps``),
    or a dict of lists keyed ``train``/``eval``.
    """
    if isinstance(log, Mapping):
        for key in ("log_history", "history", "entries", "steps", "logs"):
            if isinstance(log.get(key), list):
                return loss_series(log[key])
        series: dict[str, list] = {}
        for key in ("train", "eval"):
            for name, points in loss_series(log.get(key) or []).items():
                series.setdefault(name if key == "train" or name.startswith("eval") else f"eval_{name}", []).extend(points)
        return series
    series = {}
    for i, entry in enumerate(log if isinstance(log, list) else []):
        if not isinstance(entry, Mapping):
            continue
        x = entry.get("step", entry.get("global_step", i + 1))
        for key, value in entry.items():
            # train_loss is Trainer's end-of-run average, not a point on the curve
            if key.endswith("loss") and key != "train_loss" and isinstance(value, (int, float)) \
                    and isinstance(x, (int, float)) and math.isfinite(value):
                series.setdefault(key, []).append((float(x), float(value)))
    return series


def _training_logs(nodes: Sequence[Mapping[str, Any]]) -> list[tuple[str, dict]]:
    """Loss curves of the passes that kept a ``training_log.json``.

    Looked for in each pass's cache entry (two levels down) and next to the
    paths of its output model (the adapter folder), never deeper: a base
    model's folder may be large.
    """
    found, seen = [], set()
    for node in nodes:
        candidates = []
        entry = node.get("entry_dir")
        if isinstance(entry, str) and Path(entry).is_dir():
            root = Path(entry)
            candidates += [root / "training_log.json", *root.glob("*/training_log.json"),
                           *root.glob("*/*/training_log.json")]
        for value in (node.get("output_model") or {}).values():
            if isinstance(value, str) and value and Path(value).exists():
                folder = Path(value) if Path(value).is_dir() else Path(value).parent
                candidates += [folder / "training_log.json", folder.parent / "training_log.json"]
        for candidate in candidates:
            if candidate.is_file() and candidate.resolve() not in seen:
                seen.add(candidate.resolve())
                series = loss_series(_read_json(candidate))
                if series:
                    found.append((str(node.get("step", "?")), series))
    return found


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
    files.training_logs = _training_logs(files.nodes)
    return files


# ------------------------------------------------------------------ values


def _types(configs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
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
    unit = UNITS.get(metric_type or "")
    return f"{text} {unit}" if unit else text


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
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
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
        parts.append(line_chart(series, x_label="step", y_label="loss", chart_id=f"loss-{step}"))
    if files.pareto and files.pareto.get("points"):
        parts.append("<h2>Pareto front</h2>" + pareto_svg(files.pareto))
    if examples := samples(files):
        parts.append("<h2>Sample generations</h2>")
        parts.append(_table(["model", "prompt", "answer", "label"],
                            [[x["model"], x.get("prompt", ""), x.get("answer", ""), x.get("label", "")]
                             for x in examples], "samples"))
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>modelpress report</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")


def pareto_svg(pareto: Mapping[str, Any]) -> str:
    """The Pareto points on the first two objectives (one objective: by trial)."""
    objectives = [o["name"] for o in pareto.get("objectives") or []]
    points = []
    for p in pareto.get("points") or []:
        m = p.get("metrics") or {}
        x = m.get(objectives[0]) if len(objectives) > 1 else p.get("trial")
        y = m.get(objectives[1] if len(objectives) > 1 else objectives[0]) if objectives else None
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            points.append((float(x), float(y), f"trial {p.get('trial')}: {json.dumps(p.get('params'))}"))
    x_label = objectives[0] if len(objectives) > 1 else "trial"
    y_label = objectives[1] if len(objectives) > 1 else (objectives[0] if objectives else "")
    return scatter_chart(points, x_label=x_label, y_label=y_label, chart_id="pareto")


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
