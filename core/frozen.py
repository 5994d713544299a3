"""Read-only views of validated configs."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def freeze(value: Any) -> Any:
    """Wrap dicts as :class:`Config` and lists as tuples, recursively."""
    if isinstance(value, Mapping) and not isinstance(value, Config):
        return Config(value)
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Turn a frozen value back into plain dicts and lists (for JSON)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


class Config(Mapping):
    """A validated, read-only component config: ``cfg["r"]`` or ``cfg.r``."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None):
        object.__setattr__(self, "_data", {k: freeze(v) for k, v in dict(data or {}).items()})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(f"config has no field '{key}'") from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise TypeError("component configs are read-only")

    def __repr__(self) -> str:
        return f"Config({thaw(self)!r})"

    def to_dict(self) -> dict[str, Any]:
        """A plain, mutable deep copy."""
        return thaw(self)
