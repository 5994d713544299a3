"""Cache keys from content, never from paths or secrets.

A key names what a result was computed from: the content of the input model
and of the data files, the component's config with local paths and secrets
taken out, and the component's version and its distribution's. The same
rules apply on the way back: a cached handle that points at the input model
(a LoRA adapter's base) is re-pointed at where that content lives *now*, and
the secrets removed before the entry was written are put back from the
current input, so moving a folder or rotating a token changes nothing.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..redact import MASK, redact

LOCAL = "<local>"


def content_identity(value: Any, content_paths: Any = ()) -> Any:
    """``value`` redacted, with the paths in ``content_paths`` (and folders above them
    that ``value`` names) replaced by ``"<local>"``.

    Only paths whose content digests the caller adds to the key may be
    masked: any other path in a config is part of what the config means.
    """
    files = [str(p) for p in content_paths]
    return _mask(redact(value), files)


def _mask(value: Any, files: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, files) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, files) for v in value]
    if isinstance(value, str) and os.path.isabs(value) and any(is_inside(f, value) for f in files):
        return LOCAL
    return value


def rebase_on_input(handle: dict, recorded: dict | None, current: dict, path_fields: tuple[str, ...]) -> dict:
    """Re-point the fields of ``handle`` that lay in the input model when it was cached.

    ``recorded`` is the input handle stored with the entry, ``current`` the
    input handle of this run (same content: the key says so).
    """
    if not recorded:
        return handle
    out = dict(handle)
    for field in path_fields:
        old, new = recorded.get(field), current.get(field)
        if not (isinstance(old, str) and isinstance(new, str)) or old == new:
            continue
        for name, value in out.items():
            if isinstance(value, str) and (value == old or value.startswith(old.rstrip("/") + "/")):
                out[name] = new + value[len(old):]
    return out


def restore_secrets(handle: Any, source: Any) -> Any:
    """``handle`` with every ``"***"`` taken from the same place in ``source`` when it has one."""
    if isinstance(handle, dict) and isinstance(source, dict):
        return {k: (source[k] if v == MASK and k in source else restore_secrets(v, source.get(k)))
                for k, v in handle.items()}
    return handle


def is_inside(path: str, folder: str | Path) -> bool:
    """Whether ``path`` is ``folder`` or below it."""
    folder = str(folder).rstrip("/")
    return path == folder or path.startswith(folder + "/")
