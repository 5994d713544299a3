"""Errors a user can cause, and how they reach the command line.

Every error a user can fix is a :class:`UserError`: the CLI prints its lines
(one per problem, each starting with where the problem is) and exits with
code 2, without a traceback.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


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
    """Return ``"; did you mean 'x'?"`` for the closest candidate, or ``""``.

    Whole words the two names share (``_args`` in ``extra_args`` and
    ``optim_args``) are no evidence of a typo: a candidate must also be close
    once they are set aside, or be the same words with some left out or added
    (``num_epochs`` / ``num_train_epochs``).
    """
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f"; did you mean '{lowered[word.lower()]}'?"
    for match in difflib.get_close_matches(word, candidates, n=3, cutoff=0.6):
        if _differing_parts_close(word, match):
            return f"; did you mean '{match}'?"
    return ""


def _differing_parts_close(word: str, candidate: str) -> bool:
    """Whether what differs between two names, past their shared leading and
    trailing ``_``-separated words, is itself a likely typo."""
    a, b = word.lower().split("_"), candidate.lower().split("_")
    while len(a) > 1 and len(b) > 1 and a[0] == b[0]:
        a, b = a[1:], b[1:]
    while len(a) > 1 and len(b) > 1 and a[-1] == b[-1]:
        a, b = a[:-1], b[:-1]
    left, right = "_".join(a), "_".join(b)
    if left in right or right in left:
        return True
    return difflib.SequenceMatcher(None, left, right).ratio() >= 0.6
