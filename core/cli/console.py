"""What the command line shows of the library's log records.

The library only logs (logger ``"modelpress"``); a program that embeds it
decides where records go. The CLI is such a program: it sends them to stderr,
one plain line each, so stdout stays for results a script may parse.

Levels follow Olive's ``log_severity_level`` numbers (0 verbose, 1 info,
2 warning, 3 error, 4 fatal). ``-v`` and ``-q`` move one step each way from
info and, when given, win over the config's value.
"""
from __future__ import annotations

import logging
import sys

LOGGER = "modelpress"
DEFAULT_SEVERITY = 1
LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR, 4: logging.CRITICAL}


class _Format(logging.Formatter):
    """Info lines plain; warnings and worse say so (the user must notice them)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {text}"


class _CliHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record.

    Looked up per record, not bound once: a test (or an embedding program)
    that swaps stderr never leaves the handler writing to a closed stream.
    Also the marker type by which a second install replaces the first.
    """

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; the property wins
        pass


def severity_from_flags(verbose: int, quiet: int) -> int | None:
    """The severity level ``-v``/``-q`` ask for, or None when neither was given."""
    if not verbose and not quiet:
        return None
    return max(0, min(4, DEFAULT_SEVERITY - verbose + quiet))


def configure(severity: int | None) -> None:
    """Send ``modelpress`` log records to stderr at ``severity`` (default: info).

    Called once per CLI invocation; a repeated call (tests call ``main`` many
    times in one process) replaces the handler instead of adding a second.
    """
    logger = logging.getLogger(LOGGER)
    for handler in [h for h in logger.handlers if isinstance(h, _CliHandler)]:
        logger.removeHandler(handler)
    handler = _CliHandler()
    handler.setFormatter(_Format("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(LEVELS[DEFAULT_SEVERITY if severity is None else severity])
