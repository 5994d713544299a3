"""Errors a user can cause, and how they reach the command line.

Every error a user can fix is a :class:`UserError`: the CLI prints its lines
(one per problem, each starting with where the problem is) and exits with
code 2, without a traceback.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class UserError(Exception):
    """A problem in the user's input (config, file, model folder, flag).

    ``problems`` holds one line per problem, each ``"<where>: <what to do>"``.
    """

    exit_code = 2

    def __init__(self, problems: str | Iterable[str]):
        from .redact import redact_line

        # Lines often quote the offending value: never echo a secret.
        lines = [problems] if isinstance(problems, str) else list(problems)
        self.problems = [redact_line(str(line)) for line in lines]
        super().__init__("\n".join(self.problems))


class ConfigError(UserError):
    """The workflow config (or a component's config) is invalid."""


class MissingDependencyError(UserError):
    """A component is known but a library it needs is not installed."""


class PassFailed(Exception):
    """A pass raised while running; carries the step name and the log tail."""

    def __init__(self, step: str, message: str, log_tail: str = ""):
        from .redact import redact_text

        self.step, self.message, self.log_tail = step, redact_text(message), redact_text(log_tail)
        super().__init__(f"pass '{step}' failed: {message}")


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest candidate, or ``""``."""
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f"; did you mean '{lowered[word.lower()]}'?"
    match = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""
