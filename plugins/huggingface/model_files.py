"""Cheap checks of the files of a Hugging Face model, made before anything loads them.

A model folder's JSON files (``config.json``, the tokenizer and generation
configs, an adapter's ``adapter_config.json``, a sharded checkpoint's index)
must parse; every ``.safetensors`` file must have a readable header whose
tensors end exactly where the file ends (a truncated or overwritten file
fails this, from its first kilobytes); a ``.bin`` checkpoint must be a
complete zip archive; a ``gguf_file`` must start with the GGUF magic bytes.
Nothing here imports torch, transformers or safetensors: ``modelpress
validate`` runs these checks.
"""
from __future__ import annotations

import json
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelpress.errors import UserError

JSON_FILES = ("config.json", "generation_config.json", "tokenizer_config.json", "adapter_config.json",
              "model.safetensors.index.json", "adapter_model.safetensors.index.json")
GGUF_MAGIC = b"GGUF"
AGAIN = "copy or download the model again"
#: a safetensors header larger than this is not a header (the format's own limit is 100 MB)
MAX_HEADER = 100_000_000


def json_problem(path: Path) -> str | None:
    """Why a JSON file of a model folder cannot be read, or None."""
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        return f"{path} is damaged (not UTF-8 text at byte {exc.start}); {AGAIN}"
    except json.JSONDecodeError as exc:
        return f"{path} is damaged or cut short (invalid JSON at line {exc.lineno}: {exc.msg}); {AGAIN}"
    return None


def safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file is not complete, or None: its header and its size must agree."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return f"{path} is not a complete safetensors file ({size} bytes, no header); {AGAIN}"
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER, size - 8):
            return (f"{path} is not a complete safetensors file (its header claims {length} bytes, the file has "
                    f"{size}); {AGAIN}")
        raw = f.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
        ends = [int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"]
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError, IndexError, TypeError, ValueError):
        return f"{path} is not a complete safetensors file (its header is not readable); {AGAIN}"
    data = size - 8 - length
    if max(ends, default=0) != data:
        return (f"{path} is not a complete safetensors file (its tensors need {max(ends, default=0)} bytes of "
                f"data, the file holds {data}); {AGAIN}")
    return None


def bin_problem(path: Path) -> str | None:
    """Why a PyTorch ``.bin`` checkpoint (a zip archive) is not complete, or None."""
    with open(path, "rb") as f:
        zipped = f.read(2) == b"PK"
    if zipped and not zipfile.is_zipfile(path):
        return f"{path} is not a complete PyTorch checkpoint (a cut-short zip archive); {AGAIN}"
    return None


def folder_problems(folder: Path) -> list[str]:
    """Problems of the model files directly in ``folder`` (each a path and what is wrong)."""
    problems = [json_problem(folder / name) for name in JSON_FILES if (folder / name).is_file()]
    index = folder / "model.safetensors.index.json"
    if index.is_file() and json_problem(index) is None:
        shards = sorted(set((json.loads(index.read_text(encoding="utf-8")).get("weight_map") or {}).values()))
        problems += [f"{index} names {s}, which is not in the folder; {AGAIN}" for s in shards
                     if not (folder / s).is_file()]
    for path in sorted(folder.glob("*.safetensors")):
        problems.append(safetensors_problem(path))
    for path in sorted(folder.glob("*.bin")):
        problems.append(bin_problem(path))
    return [p for p in problems if p]


def gguf_problem(path: Path) -> str | None:
    """Why ``path`` is not a GGUF file (checked by its magic bytes), or None."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head != GGUF_MAGIC:
        return f"{path} is not a GGUF file (it starts with {head!r}, not b'GGUF'); give a .gguf file"
    return None


def model_folder(path: Path) -> Path:
    """The folder holding the weights (``data/model`` of an MLflow folder)."""
    mlflow = path / "data" / "model"
    return mlflow if not (path / "config.json").exists() and (mlflow / "config.json").exists() else path


def handle_problems(config: Mapping[str, Any]) -> list[str]:
    """``field: problem`` lines for the local files an HfModel config names (hub names are skipped)."""
    problems = []
    path = config.get("model_path")
    if isinstance(path, str) and Path(path).is_dir():
        problems += [f"model_path: {p}" for p in folder_problems(model_folder(Path(path)))]
    gguf = config.get("gguf_file")
    if isinstance(gguf, str):
        found = Path(gguf) if Path(gguf).is_file() or not isinstance(path, str) else Path(path) / gguf
        line = gguf_problem(found) if found.is_file() else None
        problems += [f"gguf_file: {line}"] if line else []
    adapter = config.get("adapter_path")
    if isinstance(adapter, str) and Path(adapter).is_dir():
        problems += [f"adapter_path: {p}" for p in folder_problems(Path(adapter))]
    return problems


def check_handle(config: Mapping[str, Any], where: str = "input_model") -> None:
    """Raise one UserError listing the damaged files of a model handle's config (before loading it)."""
    problems = handle_problems(config)
    if problems:
        raise UserError([f"{where}.{line}" for line in problems])
