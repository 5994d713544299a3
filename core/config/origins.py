"""Where each key of a migrated config was written by the user.

Migration moves and renames keys (``passes.lora.config.lora_r`` becomes
``passes.lora.r``); validation then speaks of canonical paths. An error
must name the key the user can find in the file, so the migration records
``canonical path -> original path`` here and :meth:`Origins.as_written`
turns a problem line about ``passes.lora.r`` into one about
``passes.lora.config.lora_r`` that also says the canonical name.
"""
from __future__ import annotations

import re

#: the path at the start of a problem line: ``a.b[0].c: ...``
LEADING_PATH = re.compile(r"^([A-Za-z_$][\w$-]*(?:\.[\w$-]+|\[\d+\])*)(?=: )")
#: Olive's wrapper objects, whose removal alone needs no mention
WRAPPERS = re.compile(r"^engine\.|\.(?:config|params|extra_args)(?=[.\[]|$)")


class Origins:
    """A map from canonical paths to the paths the user wrote."""

    def __init__(self) -> None:
        self._moved: dict[str, str] = {}

    def add(self, new: str, old: str) -> None:
        """The key now at ``new`` was at ``old`` (itself maybe moved before)."""
        original = self.original(old)
        if original != new:
            self._moved[new] = original

    def original(self, path: str) -> str:
        """``path`` as the user wrote it (unchanged where nothing moved)."""
        best = ""
        for new in self._moved:
            if len(new) > len(best) and (path == new or path.startswith((new + ".", new + "["))):
                best = new
        return self._moved[best] + path[len(best):] if best else path

    def as_written(self, line: str, say_canonical: bool = True) -> str:
        """A problem line whose leading path names the key as the user wrote it
        (and, with ``say_canonical``, the canonical path it became)."""
        match = LEADING_PATH.match(line)
        if not match:
            return line
        path = match.group(1)
        original = self.original(path)
        if original == path:
            return line
        rest = line[len(path):]
        moved = WRAPPERS.sub("", original) != path  # more than an unwrapped "config"/"params"
        return f"{original}{rest} (now {path})" if say_canonical and moved else original + rest

    def __bool__(self) -> bool:
        return bool(self._moved)
