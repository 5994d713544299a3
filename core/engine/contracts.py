"""The model types a pass declares: ``Pass.accepts`` (input) and ``Pass.produces`` (output).

The engine checks a whole chain before its first pass runs (a chain that
would feed an ONNX model to LoRA fails at once, not after the first pass
trained for an hour), and each pass's actual output after it runs.
"""
from __future__ import annotations

from typing import Any

from ..components import Pass
from ..errors import UserError


def _canonical(registry: Any, names: tuple[str, ...]) -> list[str]:
    return [registry.canonical_name("model_type", n) or n for n in names]


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def check_chain(chain: list[tuple[str, dict]], input_type: str, registry: Any) -> None:
    """Refuse a chain in which a pass gets a model type it does not accept.

    A pass that declares no ``produces`` leaves the type unknown, and an
    unknown type is accepted everywhere (its output is checked when it runs).
    """
    current: str | None = input_type
    for step, config in chain:
        cls = registry.get("pass", config["type"]).cls
        check_input(step, cls, current, registry)
        produces = _canonical(registry, tuple(cls.produces))
        current = produces[0] if len(produces) == 1 else None


def check_input(step: str, cls: type[Pass], model_type: str | None, registry: Any) -> None:
    """One-line error when ``cls`` does not accept ``model_type``."""
    accepts = _canonical(registry, tuple(cls.accepts))
    if model_type is None or not accepts or model_type in accepts:
        return
    raise UserError(f"passes.{step}: {cls.name} takes {_either(accepts)} models but would get a {model_type} "
                    f"model; put a pass that produces {_either(accepts)} before it, or change input_model")


def check_output(step: str, cls: type[Pass], model_type: str, registry: Any) -> None:
    """One-line error when a pass returns a model type it does not declare in ``produces``."""
    produces = _canonical(registry, tuple(cls.produces))
    if produces and model_type not in produces:
        raise UserError(f"passes.{step}: {cls.name} returned a {model_type} model but declares that it produces "
                        f"{_either(produces)}; report it to the author of the plugin that provides {cls.name}")
