"""An InferenceSession over a loaded Hugging Face causal LM (PyTorch).

Generation is greedy with a key/value cache and streams decoded text:
each yielded piece is the new suffix of the decoded continuation, so the
pieces always join to ``tokenizer.decode(generated ids)`` (no broken
multi-byte characters). Generation stops at any EOS id of the model's
generation config.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from modelpress.components import InferenceSession


class HfSession(InferenceSession):
    """A PyTorch model (with or without adapter, 4-bit or not) and its tokenizer."""

    def __init__(self, model: Any, tokenizer: Any):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        eos = getattr(model.generation_config, "eos_token_id", None)
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}

    def prompt_ids(self, prompt: str, apply_chat_template: bool = False) -> list[int]:
        """Token ids of a prompt (chat template with a generation prompt when asked)."""
        if apply_chat_template:
            text = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                                      add_generation_prompt=True, tokenize=False)
            return self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self.tokenizer(prompt)["input_ids"]

    def generate_ids(self, ids: Sequence[int], max_new_tokens: int) -> Iterator[int]:
        """Greedy next-token ids after ``ids`` (EOS not yielded)."""
        import torch

        with torch.inference_mode():
            inputs = torch.tensor([list(ids)], device=self.device)
            cache: dict = {}
            for _ in range(max_new_tokens):
                out = self.model(input_ids=inputs, use_cache=True, **cache)
                # transformers 5.x names the key/value cache "cache", earlier ones "past_key_values"
                name = "cache" if "cache" in getattr(out, "__dataclass_fields__", {}) else "past_key_values"
                cache = {name: getattr(out, name)}
                token = int(out.logits[0, -1].argmax())
                if token in self.eos_ids:
                    return
                yield token
                inputs = torch.tensor([[token]], device=self.device)

    def generate_stream(self, prompt: str, *, max_new_tokens: int = 64,
                        apply_chat_template: bool = False) -> Iterator[str]:
        """Yield decoded pieces of the greedy continuation of ``prompt``."""
        generated: list[int] = []
        shown = ""
        for token in self.generate_ids(self.prompt_ids(prompt, apply_chat_template), max_new_tokens):
            generated.append(token)
            text = self.tokenizer.decode(generated, skip_special_tokens=True)
            # hold back while a multi-byte character is incomplete
            if text.endswith("\ufffd"):
                continue
            if len(text) > len(shown) and text.startswith(shown):
                yield text[len(shown):]
                shown = text
        text = self.tokenizer.decode(generated, skip_special_tokens=True)
        if len(text) > len(shown):
            yield text[len(shown):]

    def negative_log_likelihood(self, texts: Sequence[str], max_length: int = 1024) -> list[tuple[float, int]]:
        """Per text: summed next-token NLL (nats) and the number of predicted tokens."""
        import torch
        import torch.nn.functional as F

        results = []
        with torch.inference_mode():
            for text in texts:
                ids = self.tokenizer(text)["input_ids"][:max_length]
                if len(ids) < 2:
                    results.append((0.0, 0))
                    continue
                x = torch.tensor([ids], device=self.device)
                logits = self.model(input_ids=x).logits[0, :-1].float()
                nll = F.cross_entropy(logits, x[0, 1:], reduction="sum")
                results.append((float(nll), len(ids) - 1))
        return results

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` without special tokens."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def close(self) -> None:
        """Drop the model so its memory can be freed."""
        self.model = None
