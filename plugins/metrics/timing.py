"""latency and throughput: timed streaming generations.

Each prompt is generated greedily through ``generate_stream``; the clock is
read before the call, at the first yielded piece and at the end. Latency
sub types are in milliseconds: the whole generation (``avg``, ``p50``, ...),
the first piece (``first_token_*``) and each later token
(``per_token_*`` = (total - first) / (tokens - 1)). Throughput is generated
tokens per second of each generation, and ``total`` over all of them.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelpress.components import Metric
from modelpress.errors import UserError

from .common import in_chunks, prompts_for, select_rows, summary

perf_counter = time.perf_counter  # module attribute, so tests can drive the clock
STATS = ("avg", "min", "max", "p50", "p75", "p90", "p95", "p99")


@dataclass(frozen=True)
class Timing:
    """One generation: seconds in all, seconds to the first piece, tokens generated."""

    total_s: float
    first_s: float
    tokens: int
    text: str


def time_generation(session: Any, prompt: str, max_new_tokens: int, apply_chat_template: bool) -> Timing:
    """Generate once, streaming, and time it."""
    pieces = []
    first = None
    start = perf_counter()
    for piece in session.generate_stream(prompt, max_new_tokens=max_new_tokens,
                                         apply_chat_template=apply_chat_template):
        if first is None:
            first = perf_counter()
        pieces.append(piece)
    end = perf_counter()
    text = "".join(pieces)
    try:
        tokens = session.count_tokens(text) if text else 0
    except NotImplementedError:  # a session without a tokenizer: one piece per token
        tokens = len(pieces)
    return Timing(end - start, (first or end) - start, tokens, text)


class _TimedGeneration(Metric):
    """Shared part: which prompts, warm-up, repeats."""

    needs_data = False

    def timings(self, data: Any, session: Any) -> list[Timing]:
        cfg = self.config
        if data is not None:
            rows = select_rows(data, cfg.get("max_samples"))
            prompts = prompts_for(data, rows, cfg.get("prompt_template"), f"{self.name}.prompt_template")
        else:
            prompts = list(cfg.get("prompts") or ())[: cfg.get("max_samples") or None]
            if not prompts:
                raise UserError(f"{self.name}.prompts: no prompts to time; give 'prompts' or a data_config")
        sess = session()
        args = dict(max_new_tokens=cfg["max_new_tokens"],
                    apply_chat_template=cfg["apply_chat_template"])
        for _ in range(cfg["warmup_runs"]):
            time_generation(sess, prompts[0], **args)
        todo = [p for _ in range(cfg["repeat"]) for p in prompts]
        runs = in_chunks(todo, lambda chunk: [time_generation(sess, p, **args) for p in chunk],
                         f"{self.name}: generations", size=1)
        self.details = {"generations": len(runs), "tokens": sum(r.tokens for r in runs),
                        "examples": [{"prompt": p, "answer": r.text} for p, r in list(zip(prompts, runs, strict=False))[:3]]}
        return runs


class Latency(_TimedGeneration):
    """Generation latency in milliseconds: whole, first token, per later token."""

    name = "latency"
    unit = "ms"
    schema = "modelpress.plugins.metrics:schemas/latency.json"
    sub_types = {**{s: False for s in STATS}, **{f"first_token_{s}": False for s in STATS},
                 **{f"per_token_{s}": False for s in STATS}}

    def evaluate(self, model, session, data, sub_types: Sequence[str]) -> dict[str, float]:
        runs = self.timings(data, session)
        out = summary([r.total_s * 1000 for r in runs])
        out.update(summary([r.first_s * 1000 for r in runs], "first_token_"))
        later = [(r.total_s - r.first_s) * 1000 / (r.tokens - 1) for r in runs if r.tokens > 1]
        if later:
            out.update(summary(later, "per_token_"))
        elif any(s.startswith("per_token_") for s in sub_types):
            raise UserError("latency: no generation made more than one token, so per-token latency "
                            "is undefined; raise max_new_tokens or use prompts the model answers at length")
        return out


class Throughput(_TimedGeneration):
    """Generated tokens per second, per generation and in total."""

    name = "throughput"
    unit = "tok/s"
    schema = "modelpress.plugins.metrics:schemas/throughput.json"
    sub_types = {**{s: True for s in STATS}, "total": True}

    def evaluate(self, model, session, data, sub_types: Sequence[str]) -> dict[str, float]:
        runs = [r for r in self.timings(data, session) if r.total_s > 0]
        if not runs or sum(r.tokens for r in runs) == 0:
            raise UserError("throughput: the model generated no tokens; check the prompts and max_new_tokens")
        out = summary([r.tokens / r.total_s for r in runs])
        out["total"] = sum(r.tokens for r in runs) / sum(r.total_s for r in runs)
        return out
