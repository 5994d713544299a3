"""perplexity: exp(total negative log-likelihood / total predicted tokens)."""
from __future__ import annotations

import math
from collections.abc import Sequence

from modelpress.components import Metric
from modelpress.errors import UserError

from .common import in_chunks, prompts_for, select_rows


class Perplexity(Metric):
    """Token-level perplexity of the data's texts (corpus-level, not a mean of per-text values)."""

    name = "perplexity"
    schema = "modelpress.plugins.metrics:schemas/perplexity.json"
    sub_types = {"perplexity": False, "loss": False}

    def evaluate(self, model, session, data, sub_types: Sequence[str]) -> dict[str, float]:
        cfg = self.config
        rows = select_rows(data, cfg.get("max_samples"))
        texts = prompts_for(data, rows, cfg.get("text_template"), "perplexity.text_template")
        sess = session()
        scored = in_chunks(texts, lambda chunk: sess.negative_log_likelihood(
            chunk, max_length=cfg["max_length"]), "perplexity: texts")
        total_nll = sum(nll for nll, _ in scored)
        total_tokens = sum(count for _, count in scored)
        if total_tokens == 0:
            raise UserError("perplexity: the texts gave no token to predict; "
                            "use texts of at least two tokens")
        loss = total_nll / total_tokens
        self.details = {"texts": len(texts), "tokens": total_tokens}
        return {"perplexity": math.exp(loss), "loss": loss}
