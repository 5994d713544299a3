"""Accelerators this host cannot provide, refused at validation.

A config that keeps Olive's GPU accelerator (``"device": "gpu"``,
``CUDAExecutionProvider``) for a system that runs jobs on this machine
would validate on a CPU-only host and then fail in the middle of ``run``
with torch's "Torch not compiled with CUDA enabled". CUDA is detected
without importing torch (``modelpress validate`` never does): an NVIDIA
driver on the host, and an installed torch built with CUDA.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path
from typing import Any

from ..components import RunContext
from ..frozen import Config

#: execution providers that run on CUDA
CUDA_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider", "NvTensorRTRTXExecutionProvider")
FIX = ('run on a GPU host, or keep the CPU path: set the accelerator to '
       '{"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}')


def host_problems(cfg: dict, systems: dict[str, Any], registry: Any) -> list[str]:
    """One line per host/target system (running here) whose accelerator needs a CUDA this host lacks."""
    problems: list[str] = []
    for name in dict.fromkeys(cfg.get(key) for key in ("host", "target")):
        entry = systems.get(name) if isinstance(name, str) else None
        cls = _system_class(entry, registry)
        if cls is None or not isinstance(entry, dict) or not getattr(cls, "runs_here", False):
            continue
        try:
            accelerators = cls(Config({k: v for k, v in entry.items() if k != "type"}),
                               RunContext(registry)).accelerators()
        except Exception:
            continue
        needing = [a for a in accelerators if a.execution_provider in CUDA_PROVIDERS]
        reason = cuda_missing() if needing else ""
        if reason:
            a = needing[0]
            problems.append(f"systems.{name}.accelerators: {a.device} with {a.execution_provider} needs CUDA, "
                            f"which this host cannot provide ({reason}); {FIX}")
        providers = cfg.get("execution_providers") or []
        wanted = [p for p in providers if p in CUDA_PROVIDERS] if name == cfg.get("target") else []
        reason = cuda_missing() if wanted and not needing else ""
        if reason:
            problems.append(f"execution_providers: {wanted[0]} needs CUDA, which this host cannot provide "
                            f"({reason}); run on a GPU host, or keep the CPU path: set "
                            f"\"execution_providers\": [\"CPUExecutionProvider\"]")
    return problems


def _system_class(entry: Any, registry: Any):
    if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
        return None
    name = registry.canonical_name("system", entry["type"])
    if name is None:
        return None
    reg = registry.get("system", name)
    return None if reg.missing else reg.cls


def cuda_missing() -> str:
    """Why this host cannot run CUDA work ("" when it can)."""
    if not nvidia_driver_present():
        return "no NVIDIA GPU driver found"
    if torch_cuda_version() is None:
        return "the installed torch is built without CUDA"
    return ""


def nvidia_driver_present() -> bool:
    """An NVIDIA kernel driver or its command-line tool on this host."""
    return (Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None
            or bool(list(Path("/dev").glob("nvidia[0-9]*"))) if os.name != "nt"
            else shutil.which("nvidia-smi") is not None)


def torch_cuda_version(version_file: Path | None = None) -> str | None:
    """The CUDA version the installed torch was built for (None: a CPU build);
    ``"unknown"`` when torch is absent or its build cannot be read (not refused here)."""
    if version_file is None:
        spec = importlib.util.find_spec("torch")
        if spec is None or not spec.submodule_search_locations:
            return "unknown"
        version_file = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        text = version_file.read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    match = re.search(r"^cuda\s*(?::[^=\n]*)?=\s*(.+?)\s*$", text, re.MULTILINE)
    if match is None:
        return "unknown"
    value = match.group(1).strip("'\"")
    return None if value == "None" else value
