"""Checks of a HuggingfaceContainer's data, made before any training starts.

At validate time, :func:`config_problems` checks the text template's syntax
and, for local JSON and JSON Lines files (read with the ``json`` module, no
``datasets`` import), that each file is not empty, parses, and gives every
column the template, ``text_cols`` or ``message_col`` uses a value in every
row. At run time :func:`check_rows` makes the same column and value checks on
the rows ``datasets`` loaded (CSV, parquet, hub data), from one place,
``HuggingfaceContainer.rows``. A missing, null or NaN value is an error naming
the row, never a silently empty text.
"""
from __future__ import annotations

import json
import math
import string
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from modelpress.errors import UserError, did_you_mean

PRE = "pre_process_data_config"
FILES = "load_dataset_config.data_files"
JSON_SUFFIXES = (".json", ".jsonl")
#: how much of a data file validate reads (a larger file's remaining rows are checked when loaded)
CHECK_BYTES = 256 << 20


def template_fields(template: str) -> list[str]:
    """The ``{column}`` names a text template uses (the template must parse)."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def template_problems(template: Any) -> list[str]:
    """Syntax problems of a ``text_template``: unbalanced braces, placeholders that name no column."""
    if not isinstance(template, str):
        return []
    where = f"{PRE}.text_template"
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [f"{where}: {exc} (unbalanced braces); write {{column}} placeholders and a literal brace as "
                f"{{{{ or }}}}"]
    problems = []
    for _, name, _, _ in parsed:
        if name is None:
            continue
        if name == "" or name.isdigit():
            problems.append(f"{where}: placeholder {{{name}}} names no column; write {{column}} with a column name")
        elif "." in name or "[" in name:
            problems.append(f"{where}: placeholder {{{name}}} reads an attribute or an index; write a plain "
                            f"{{column}} placeholder")
    return problems


def wanted_columns(pre: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(key, column)`` pairs: the columns a row needs, with the key that names each."""
    out: list[tuple[str, str]] = []
    cols = pre.get("text_cols")
    out += [("text_cols", c) for c in ([cols] if isinstance(cols, str) else list(cols or []))]
    template = pre.get("text_template")
    if isinstance(template, str) and not template_problems(template):
        out += [("text_template", c) for c in template_fields(template)]
    if pre.get("message_col"):
        out.append(("message_col", pre["message_col"]))
    return list(dict.fromkeys(out))


def _no_value(value: Any) -> str | None:
    if value is None:
        return "null"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return None


def value_problem(rows: Iterator[tuple[str, Any]], pre: Mapping[str, Any], source: str) -> str | None:
    """The first row (``(label, row)`` pairs) without a value for a wanted column, as one line."""
    wanted = wanted_columns(pre) or [("text_cols", "text")]  # the default text column
    first, count = None, 0
    for label, row in rows:
        for key, column in wanted:
            what = "missing" if not isinstance(row, Mapping) or column not in row else _no_value(row[column])
            if what:
                count += 1
                if first is None:
                    first = (label, key, column, what)
                break
    if first is None:
        return None
    label, key, column, what = first
    more = f" (and {count - 1} more rows)" if count > 1 else ""
    return (f"{PRE}.{key}: {source} {label} has no value for '{column}' ({what}){more}; fill it in or remove "
            f"the row")


def column_problem(columns: list[str], pre: Mapping[str, Any], source: str) -> str | None:
    """A line if the data lacks a column the config uses (or has no way to make a text)."""
    if pre.get("text_template") and template_problems(pre["text_template"]):
        return None  # reported as a template problem
    wanted = [c for _, c in wanted_columns(pre)]
    if not wanted and "text" not in columns:
        return (f"{PRE}: no text_cols, text_template or message_col and no 'text' column; "
                f"the data has columns {columns}")
    missing = [c for c in dict.fromkeys(wanted) if c not in columns]
    if missing:
        hint = did_you_mean(missing[0], columns) if len(missing) == 1 else ""
        return f"{PRE}: column(s) {missing} not in the data ({source}){hint}; it has columns {columns}"
    return None


def check_rows(rows: list[dict], columns: list[str], pre: Mapping[str, Any], split: str) -> None:
    """Raise a one-line UserError if the loaded rows lack a column or a value the config uses."""
    problems = template_problems(pre.get("text_template"))
    source = f"split '{split}'"
    line = problems[0] if problems else column_problem(columns, pre, source)
    line = line or value_problem(((f"row {i}", r) for i, r in enumerate(rows, 1)), pre, source)
    if line:
        raise UserError(f"data_configs.{line}")


# -- validate time: local JSON files -------------------------------------------


def file_list(data_files: Any) -> list[str]:
    """The file names in a ``data_files`` value (a name, a list, or a mapping of split -> names)."""
    if isinstance(data_files, str):
        return [data_files]
    if isinstance(data_files, (list, tuple)):
        return list(data_files)
    if isinstance(data_files, Mapping) and "type" not in data_files:
        return [f for v in data_files.values() for f in file_list(v)]
    return []


def json_files(load_cfg: Mapping[str, Any]) -> list[Path]:
    """The local files that ``datasets`` would read as JSON (builder 'json' or a .json/.jsonl name)."""
    name = load_cfg.get("data_name")
    found = []
    for f in file_list(load_cfg.get("data_files")):
        if any(c in f for c in "*?[") or "://" in f:
            continue
        path = Path(f)
        if path.is_file() and (name == "json" or path.suffix.lower() in JSON_SUFFIXES):
            found.append(path)
    if isinstance(name, str) and name.lower().endswith(JSON_SUFFIXES) and Path(name).is_file():
        found.append(Path(name))
    return found


def read_json_rows(path: Path) -> tuple[list[tuple[str, Any]], str | None]:
    """``(rows as (label, row) pairs, problem)`` of a JSON or JSON Lines file.

    A JSON Lines file is read line by line up to :data:`CHECK_BYTES`; a larger
    one has its first rows checked here and the rest when the data is loaded.
    """
    where = f"{FILES}: {path}"
    try:
        with open(path, encoding="utf-8-sig") as f:
            first = next((line for line in f if line.strip()), "")
            if not first:
                return [], f"{where} is empty; give one JSON object per line (JSON Lines) or a JSON list of objects"
            f.seek(0)
            if first.lstrip()[0] == "[" or (first.lstrip()[0] == "{" and not _parses(first)):
                if path.stat().st_size > CHECK_BYTES:
                    return [], None  # one large document: checked when the data is loaded
                return _document_rows(f.read(), where)
            return _lines_rows(f, where)
    except UnicodeDecodeError as exc:
        return [], f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start}); give a JSON Lines file"


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def _document_rows(text: str, where: str) -> tuple[list[tuple[str, Any]], str | None]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], f"{where} is not valid JSON (line {exc.lineno}: {exc.msg}); fix the file"
    if isinstance(doc, dict):  # one row, as datasets reads it
        doc = [doc]
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        return [], f"{where} is JSON but not a list of objects (rows); give a list of objects or JSON Lines"
    return [(f"row {i}", r) for i, r in enumerate(doc, 1)], None


def _lines_rows(lines: Iterable[str], where: str) -> tuple[list[tuple[str, Any]], str | None]:
    rows, read = [], 0
    for number, line in enumerate(lines, 1):
        read += len(line)
        if read > CHECK_BYTES:
            break
        if not line.strip():
            continue
        try:
            row = json.loads(line.rstrip("\n"))
        except json.JSONDecodeError as exc:
            return [], f"{where} is not JSON Lines (line {number}: {exc.msg}); give one JSON object per line"
        if not isinstance(row, dict):
            return [], f"{where} is not JSON Lines (line {number} is not an object); give one JSON object per line"
        rows.append((f"line {number}", row))
    return rows, None


def config_problems(config: Mapping[str, Any]) -> list[str]:
    """Problems found before anything runs: template syntax; empty, unparsable or incomplete JSON data files."""
    pre = config.get(PRE) or {}
    problems = template_problems(pre.get("text_template"))
    if problems:
        return problems
    for path in json_files(config.get("load_dataset_config") or {}):
        rows, problem = read_json_rows(path)
        if problem:
            problems.append(problem)
            continue
        columns = list(dict.fromkeys(k for _, r in rows for k in r))
        line = column_problem(columns, pre, str(path))
        line = line or value_problem(iter(rows), pre, str(path))
        if line:
            problems.append(line)
    return problems
