"""The base of every component, and where work runs (accelerators).

A component is a class with a ``name``, optional ``aliases``, a JSON Schema
for its config (``schema``: a dict, or ``"file.json"`` inside
``modelpress.schemas``, or ``"package:path/file.json"``) and the import names
of the optional libraries it ``requires``. The core never imports a concrete
component: plugins hand their classes to ``register`` callbacks.
"""
from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar


def _importable(name: str) -> bool:
    """Whether ``name`` (possibly dotted) can be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ModuleNotFoundError, ValueError):  # the parent package of a dotted name is missing
        return False


def load_schema(spec: str) -> dict:
    """The schema file ``"package:path/file.json"`` (``"path"`` alone: inside
    ``modelpress.schemas``), with its ``x-extends`` resolved."""
    package, _, rel = spec.rpartition(":")
    package = package or "modelpress.schemas"
    schema = json.loads(resources.files(package).joinpath(rel).read_text(encoding="utf-8"))
    return extended(schema, f"{package}:{rel.rpartition('/')[0]}")


def extended(schema: Mapping[str, Any], folder: str) -> dict:
    """``schema`` on top of the schema its ``x-extends`` names, if any.

    ``x-extends`` is a file beside this one (``"LoRA.json"``) or
    ``"package:path/file.json"``. Objects merge key by key, recursively
    (``properties`` gains the new fields; ``{"description": ...}`` under a
    field replaces only its description); any other value replaces the
    base's. QLoRA's schema is LoRA's plus its quantization fields this way.
    """
    schema = dict(schema)
    base_spec = schema.pop("x-extends", None)
    if base_spec is None:
        return schema
    if ":" not in base_spec:
        package, _, rel = folder.rpartition(":")
        base_spec = f"{package}:{rel + '/' if rel else ''}{base_spec}"
    return _merged(load_schema(base_spec), schema)


def _merged(base: Any, own: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(own, Mapping):
        return {**base, **{k: _merged(base[k], v) if k in base else v for k, v in own.items()}}
    return own


class Component:
    """Base of every pluggable component."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    schema: ClassVar[dict | str] = {"type": "object", "properties": {}}
    #: import name -> install hint, e.g. {"bitsandbytes": "pip install 'modelpress[qlora]'"}
    requires: ClassVar[Mapping[str, str]] = {}
    _schema_cache: ClassVar[dict | None] = None  # per class: get_schema reads cls.__dict__ only

    @classmethod
    def get_schema(cls) -> dict:
        """The component's JSON Schema (without the ``type`` key)."""
        cached = cls.__dict__.get("_schema_cache")
        if cached is not None:
            return cached
        spec = load_schema(cls.schema) if isinstance(cls.schema, str) else extended(cls.schema, "")
        cls._schema_cache = spec
        return spec

    @classmethod
    def with_defaults(cls, config: Mapping[str, Any]) -> dict:
        """``config`` with the schema's top-level defaults filled in: validation fills them too,
        this covers a component made from a hand-written config (a job, a test)."""
        filled = dict(config)
        for key, prop in (cls.get_schema().get("properties") or {}).items():
            if key not in filled and isinstance(prop, Mapping) and "default" in prop:
                filled[key] = prop["default"]
        return filled

    @classmethod
    def missing_requirements(cls) -> list[str]:
        """Install hints for required libraries that are not importable."""
        return [
            f"{cls.name} needs {mod}: {hint}"
            for mod, hint in cls.requires.items()
            if not _importable(mod)
        ]


@dataclass(frozen=True)
class Accelerator:
    """Where work runs: a device and one ONNX Runtime execution provider."""

    device: str = "cpu"
    execution_provider: str = "CPUExecutionProvider"

    def to_json(self) -> dict:
        return {"device": self.device, "execution_provider": self.execution_provider}


#: the execution provider a device gets when a config names none
DEFAULT_PROVIDER = {"cpu": "CPUExecutionProvider", "gpu": "CUDAExecutionProvider", "npu": "QNNExecutionProvider"}


def parse_accelerators(items: Sequence[Any] | None) -> list[Accelerator]:
    """Olive's ``accelerators`` forms: ``["gpu"]`` or ``[{"device", "execution_providers"}]``."""
    found: list[Accelerator] = []
    for item in items or [{"device": "cpu"}]:
        item = {"device": item} if isinstance(item, str) else item
        device = str(item.get("device", "cpu")).lower()
        providers = item.get("execution_providers") or [DEFAULT_PROVIDER.get(device, "CPUExecutionProvider")]
        found.extend(Accelerator(device, ep) for ep in providers)
    return found
