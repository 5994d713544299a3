"""Secrets never reach a file or a log: the one function that removes them.

Everything modelpress writes (cache ``result.json``, ``run.json``,
``footprints.json``, job files, error lines) goes through :func:`redact`
first, and cache keys are computed from the redacted form, so rotating a
token does not change a key. What counts as a secret:

- the value of any key whose name says so (``token``, ``hf_token``,
  ``password``, ``secret``, ``api_key``, ``access_key``, ``credential``,
  ``authorization``, ``connection_string``, ``sas``...);
- every value of ``environment_variables`` (they carry keys as often as not);
- the password part of a URL (``scheme://user:PASSWORD@host``);
- a Hugging Face token (``hf_`` and 20 or more letters and digits) anywhere.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"
_SECRET_KEY = re.compile(
    r"(^|_|-)(token|password|passwd|pwd|secret|api_?key|access_?key|account_?key|credentials?|"
    r"authorization|auth|connection_?string|sas)$", re.IGNORECASE)
# Tokenizer special tokens are model settings, not secrets.
_NOT_SECRET = re.compile(r"^(pad|eos|bos|unk|sep|cls|mask|add_eos|add_bos)_token$", re.IGNORECASE)
_ALL_VALUES_SECRET = ("environment_variables", "env_vars", "environment")
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@/\s]+)(?P<at>@)")
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{20,}\b")
# "systems.aml.hf_token: expected true or false, got "...": quoted values after a secret key
_QUOTED = re.compile(r"(\"[^\"]*\"|'[^']*')")


def is_secret_key(name: Any) -> bool:
    """Whether a config key names a secret (its value must never be written)."""
    return isinstance(name, str) and bool(_SECRET_KEY.search(name)) and not _NOT_SECRET.match(name)


def redact_text(text: str) -> str:
    """A string with URL passwords and Hugging Face tokens masked."""
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK + m["at"], text)
    return _HF_TOKEN.sub(MASK, text)


def redact_line(line: str) -> str:
    """An error or log line, with any quoted value after a secret key's path masked."""
    where, sep, rest = line.partition(": ")
    last = where.rsplit(".", 1)[-1].split("[")[0]
    if sep and is_secret_key(last):
        rest = _QUOTED.sub(f'"{MASK}"', rest)
    return redact_text(where + sep + rest)


def redact(value: Any) -> Any:
    """A deep copy of ``value`` (JSON-like) with every secret replaced by ``"***"``.

    Booleans and ``None`` under secret keys are kept (``hf_token: true`` only
    says a token is used; it is not one).
    """
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if is_secret_key(key) and not (item is None or isinstance(item, bool)):
                out[key] = MASK
            elif key in _ALL_VALUES_SECRET and isinstance(item, Mapping):
                out[key] = {k: MASK for k in item}
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
