"""Data the Hugging Face plugin reads, checked without false alarms and at run time.

Every JSON form ``datasets`` loads passes the JSON check with the same rows;
data that validate does not read (CSV) is checked when it is loaded, naming
the row. (The damaged-input cases are in test_huggingface_bad_input.py.)
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.plugins.test_huggingface_bad_input import TEMPLATE

GOOD_ROWS = [{"phrase": "a\u2028b", "tone": "joy"}, {"phrase": "x" * 70_000, "tone": "fear"}]
GOOD_FORMS = {
    "bom.jsonl": "\ufeff" + "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in GOOD_ROWS),
    "separator-and-long-line.jsonl": "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in GOOD_ROWS),
    "crlf.jsonl": "".join(json.dumps(r) + "\r\n" for r in GOOD_ROWS),
    "blank-lines.jsonl": "\n" + "\n\n".join(json.dumps(r) for r in GOOD_ROWS),
    "pretty-list.json": json.dumps(GOOD_ROWS, indent=2),
    "one-object.json": json.dumps({"phrase": "p", "tone": "joy"}, indent=2),
}


@pytest.mark.parametrize("name", list(GOOD_FORMS))
def test_json_forms_that_datasets_reads_pass_with_the_same_rows(tmp_path, name):
    """No false alarm: every JSON form ``datasets`` loads passes the check, with as many rows."""
    import datasets

    from modelpress.plugins.huggingface.data_checks import read_json_rows

    path = tmp_path / name
    path.write_text(GOOD_FORMS[name], encoding="utf-8")
    rows, problem = read_json_rows(path)
    loaded = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))
    assert problem is None and len(rows) == len(loaded) and [r for _, r in rows] == loaded.to_list()


def csv_container(registry, path: Path, **pre):
    from modelpress.components import RunContext

    cfg = {"type": "HuggingfaceContainer", "load_dataset_config": {"data_name": "csv", "data_files": str(path)},
           "pre_process_data_config": {"text_template": TEMPLATE, **pre}}
    return registry.create_data_container(cfg, RunContext(registry=registry))


@pytest.mark.parametrize("text, expected", [
    ("phrase,tone\nhello,joy\nbye,\nhi,fear\n", "split 'train' row 2 has no value for 'tone' (null)"),
    ("phrase,tone\nhello,joy\n,fear\n,joy\n", "split 'train' row 2 has no value for 'phrase' (null) (and 1 more rows)"),
    ("phrase\nhello\n", "column(s) ['tone'] not in the data (split 'train'); it has columns ['phrase']"),
])
def test_rows_loaded_by_datasets_are_checked_at_run_time(plugin_registry, tmp_path, text, expected):
    """Data that validate does not read (CSV here) is checked when loaded: the row is named, never skipped."""
    from modelpress.errors import UserError

    (tmp_path / "tone.csv").write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as info:
        csv_container(plugin_registry, tmp_path / "tone.csv").rows()
    message = str(info.value)
    assert message.startswith("data_configs.pre_process_data_config") and expected in message, message
    assert "\n" not in message
