"""What the installed onnxruntime-genai model builder accepts, read from its source.

The builder documents its ``extra_options`` keys, the accepted quantization
algorithms and the valid precision/provider pairs in its command-line help.
Reading that text (without importing the builder, which imports torch) lets
``modelpress validate`` check a config against the builder actually installed.
"""
from __future__ import annotations

import ast
import functools
import importlib.util
import re
import textwrap
from pathlib import Path

#: ONNX Runtime execution provider -> the builder's ``execution_provider`` name
PROVIDERS = {
    "CPUExecutionProvider": "cpu",
    "CUDAExecutionProvider": "cuda",
    "DmlExecutionProvider": "dml",
    "WebGpuExecutionProvider": "webgpu",
    "NvTensorRTRTXExecutionProvider": "NvTensorRtRtx",
}
_HELP_PROVIDER_WORDS = {"CPU": "cpu", "CUDA": "cuda", "DML": "dml", "WEBGPU": "webgpu", "TRT-RTX": "NvTensorRtRtx"}

# Used when the builder's source cannot be read (e.g. a compiled or moved builder).
FALLBACK_PAIRS = frozenset({
    ("fp32", "cpu"), ("fp32", "cuda"), ("fp16", "cuda"), ("fp16", "dml"), ("bf16", "cuda"),
    ("int8", "cpu"), ("int8", "cuda"), ("int8", "webgpu"),
    ("int4", "cpu"), ("int4", "cuda"), ("int4", "dml"), ("int4", "webgpu"),
    ("fp16", "NvTensorRtRtx"), ("bf16", "NvTensorRtRtx"),
})


def builder_source() -> Path | None:
    """Path of the installed ``onnxruntime_genai/models/builder.py`` (not imported)."""
    spec = importlib.util.find_spec("onnxruntime_genai")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "builder.py"
    return path if path.is_file() else None


@functools.lru_cache(maxsize=4)
def _parse(path: str) -> tuple[str, str]:
    """(dedented help text of ``--extra_options``, whole source) of the builder."""
    source = Path(path).read_text(encoding="utf-8")
    help_text = ""
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and node.args
                and isinstance(node.args[0], ast.Constant) and node.args[0].value == "--extra_options"):
            continue
        for kw in node.keywords:
            if kw.arg != "help":
                continue
            value = kw.value
            if isinstance(value, ast.Call) and value.args:  # textwrap.dedent("...")
                value = value.args[0]
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                help_text = textwrap.dedent(value.value)
    return help_text, source


def _texts() -> tuple[str, str]:
    path = builder_source()
    return _parse(str(path)) if path else ("", "")


def known_options() -> dict[str, str]:
    """``extra_options`` keys the builder documents -> first line of their help."""
    help_text, _ = _texts()
    options = {}
    for line in help_text.splitlines():
        # Option lines sit one level in ("    key = text"); their details sit deeper.
        match = re.match(r"^ {4}([A-Za-z][A-Za-z0-9_]*) = (.*)$", line)
        if match:
            options[match.group(1)] = match.group(2).strip()
    return options


def quantization_option(field: str) -> str:
    """The builder's name for one of our ``int4_*`` fields (``int4_block_size`` -> ``block_size``).

    onnxruntime-genai 0.18 renamed the ``int4_`` options when int8 joined them;
    older builders still use the prefixed names.
    """
    options = known_options()
    if field == "int4_mixed_precision":  # the builder's name says what it selects: MatMul groups
        return "matmul_mixed_precision"
    bare = field.removeprefix("int4_")
    if bare in options or not options:
        return bare
    return field


def algo_configs() -> list[str]:
    """Values the builder accepts for ``algo_config`` (base methods and legacy aliases)."""
    help_text, _ = _texts()
    found: list[str] = []
    block = re.search(r"^ {4}(?:int4_)?algo_config = (.*?)(?=^ {4}\S)", help_text, re.S | re.M)
    if not block:
        return found
    text = block.group(1)
    methods = re.search(r"supported base methods are: ([^\n]*)", text)
    if methods:
        found += re.findall(r"'([A-Za-z0-9_]+)'", methods.group(1))
    found += [m for m in re.findall(r"^\s+- ([A-Za-z0-9_]+) = ", text, re.M) if m not in found]
    return found


def valid_pairs() -> frozenset[tuple[str, str]]:
    """(precision, builder provider) pairs the builder declares valid."""
    _, source = _texts()
    match = re.search(r"Valid precision \+ execution provider combinations are: ([^\"]+)\"", source)
    if not match:
        return FALLBACK_PAIRS
    pairs = set()
    for item in match.group(1).split(","):
        words = item.split()
        if len(words) == 2 and words[1].upper() in _HELP_PROVIDER_WORDS:
            pairs.add((words[0].lower(), _HELP_PROVIDER_WORDS[words[1].upper()]))
    return frozenset(pairs) or FALLBACK_PAIRS
