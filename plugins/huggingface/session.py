"""An InferenceSession over a loaded Hugging Face causal LM (PyTorch).

Generation is greedy with a key/value cache and streams decoded text:
each yielded piece is the new suffix of the decoded continuation, so the
pieces always join to ``tokenizer.decode(generated ids)`` (no broken
multi-byte characters). Generation stops at any EOS id of the model's
generation config. ``generate`` runs its prompts as one batch: left padding,
an attention mask and position ids counted from each prompt's first real
token, so every row computes what it computes alone.
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

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int = 64,
                 apply_chat_template: bool = False) -> list[str]:
        """Greedy answers for ``prompts``, generated as one left-padded batch."""
        if len(prompts) <= 1:
            return super().generate(prompts, max_new_tokens=max_new_tokens, apply_chat_template=apply_chat_template)
        rows = self.generate_batch_ids([self.prompt_ids(p, apply_chat_template) for p in prompts], max_new_tokens)
        return [self.tokenizer.decode(r, skip_special_tokens=True) for r in rows]

    def generate_batch_ids(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[list[int]]:
        """Greedy new ids per prompt (EOS and what follows dropped), the prompts left-padded into one batch."""
        import torch

        longest = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([[pad] * (longest - len(p)) + list(p) for p in prompts], device=self.device)
        mask = torch.tensor([[0] * (longest - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        out: list[list[int]] = [[] for _ in prompts]
        done = [False] * len(prompts)
        cache: dict = {}
        inputs = ids
        with torch.inference_mode():
            for _ in range(max_new_tokens):
                # positions count real tokens only, as in a one-prompt run
                positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -inputs.shape[1]:]
                result = self.model(input_ids=inputs, attention_mask=mask, position_ids=positions,
                                    use_cache=True, **cache)
                name = "cache" if "cache" in getattr(result, "__dataclass_fields__", {}) else "past_key_values"
                cache = {name: getattr(result, name)}
                tokens = result.logits[:, -1].argmax(-1).tolist()
                for row, token in enumerate(tokens):
                    if not done[row]:
                        if token in self.eos_ids:
                            done[row] = True
                        else:
                            out[row].append(token)
                if all(done):
                    break
                inputs = torch.tensor([[t] for t in tokens], device=self.device)
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        return out

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
