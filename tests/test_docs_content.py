"""Meta-tests of the documentation's content (see also test_docs.py).

- code the plugin-author guide shows is the example plugin's real code, the
  config guide's excerpts are the brief's config, every JSON/YAML block
  parses and every whole workflow in them validates;
- docs/troubleshooting.md explains every error message the code can raise;
- the site builds with ``mkdocs build --strict``.
"""
from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_docs import DOCS, ROOT, _markdown_files

# ------------------------------------------------------- shown code is real


def test_code_shown_in_the_docs_is_the_real_code():
    marker = re.compile(r"^<!-- (file|excerpt): (\S+) -->\n```\w*\n(.*?)^```", re.M | re.S)
    checked = 0
    for path in _markdown_files():
        for kind, rel, shown in marker.findall(path.read_text(encoding="utf-8")):
            real = (ROOT / rel).read_text(encoding="utf-8")
            if kind == "file":
                assert shown.rstrip("\n") == real.rstrip("\n"), f"{path.name}: the copy of {rel} is stale"
            else:
                lines, pos = [ln for ln in shown.splitlines() if ln.strip()], 0
                for line in lines:
                    pos = real.find(line, pos)
                    assert pos >= 0, f"{path.name}: '{line}' is not in {rel} (or out of order)"
            checked += 1
    assert checked >= 3


def _blocks(lang: str) -> list[tuple[Path, str]]:
    pattern = re.compile(rf"^```{lang}\n(.*?)^```", re.M | re.S)
    return [(p, body) for p in _markdown_files() for body in pattern.findall(p.read_text(encoding="utf-8"))]


def test_config_examples_parse_and_whole_workflows_validate():
    from modelpress.config import load
    from modelpress.errors import ConfigError
    from modelpress.registry import Registry, new_plugin_manager

    registry = Registry(new_plugin_manager(autoload=True))
    workflows = 0
    for path, body in _blocks("json") + _blocks("yaml"):
        try:
            data = yaml.safe_load(body)  # JSON is YAML too
        except yaml.YAMLError as exc:
            pytest.fail(f"{path.name}: a code block does not parse: {exc}")
        if isinstance(data, dict) and "input_model" in data and "passes" in data:
            try:
                load(data, registry=registry, base_dir=ROOT)
            except ConfigError as exc:  # the reader's own data files are not in the repository
                others = [p for p in exc.problems if "no such file or folder" not in p]
                assert not others, f"{path.name}: a workflow shown does not validate: {others}"
            workflows += 1
    assert workflows >= 1


def test_excerpts_of_the_briefs_config_are_faithful():
    marker = re.compile(r"^<!-- json-excerpt: (\S+) -->\n```json\n(.*?)^```", re.M | re.S)
    checked = 0
    for path in _markdown_files():
        for rel, shown in marker.findall(path.read_text(encoding="utf-8")):
            source = json.loads((ROOT / rel).read_text(encoding="utf-8"))
            for key, value in json.loads(shown).items():
                assert source.get(key) == value, f"{path.name}: '{key}' differs from {rel}"
                checked += 1
    assert checked >= 4


def test_the_example_pass_is_under_30_lines():
    source = inspect.getsource(__import__("modelpress_magnitude_prune.prune", fromlist=["MagnitudePrune"]).MagnitudePrune)
    assert len(source.splitlines()) < 30


# ------------------------------------------------------- error messages

ERRORS = {"UserError", "ConfigError", "MissingDependencyError"}
#: lists whose lines a user sees: problems (``error:`` lines) and a pass's deliberate differences from Olive
#: (``note:`` lines, ``Pass.config_notes``)
NOTE_LISTS = {"problems", "differences"}


def _message_parts(node) -> list | None:
    """Literal pieces of a message expression (None for a placeholder); None if not literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value if isinstance(v, ast.Constant) else None for v in node.values]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _message_parts(node.left), _message_parts(node.right)
        return None if left is None or right is None else left + right
    return None


def _error_messages() -> list[tuple[str, list]]:
    """``(file:line, parts)`` of every error raised (or problem or note line collected) with a literal message."""
    files = [*sorted((ROOT / "core").rglob("*.py")), *sorted((ROOT / "plugins").rglob("*.py")),
             *sorted((ROOT / "examples").glob("*/*/*.py"))]
    found = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            name = getattr(func, "id", None) or getattr(func, "attr", None)
            collects = (name == "append" and isinstance(func, ast.Attribute)
                        and (getattr(func.value, "attr", None) or getattr(func.value, "id", None)) in NOTE_LISTS)
            if name in ERRORS or collects:
                parts = _message_parts(node.args[0])
                if parts is not None:
                    found.append((f"{path.relative_to(ROOT)}:{node.lineno}", parts))
    return found


def _phrase(parts: list) -> list[str]:
    """The literal words of a message's "what is wrong" clause (after "<where>: ", before ";")."""
    text = "".join("\0" if p is None else p for p in parts)
    text = " ".join(text.split())
    if ": " in text:
        text = text.split(": ", 1)[1]
    text = text.split(";", 1)[0]
    return [piece.strip() for piece in text.split("\0") if piece.strip()]


def test_troubleshooting_explains_every_error_message():  # and every note
    doc = " ".join((DOCS / "troubleshooting.md").read_text(encoding="utf-8").split())
    messages = _error_messages()
    assert len(messages) > 50
    missing = []
    for where, parts in messages:
        words = _phrase(parts)
        if sum(len(w) for w in words) < 6:
            continue  # nothing distinctive to look for (e.g. a message that is all placeholders)
        if not re.search(".{0,120}?".join(re.escape(w) for w in words), doc):
            missing.append(f"{where}: {' ... '.join(words)}")
    assert not missing, "docs/troubleshooting.md does not explain:\n" + "\n".join(missing)


# ------------------------------------------------------- the site


def test_site_builds_without_warnings(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                           "--site-dir", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not proc.stderr.strip(), proc.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").is_file()
