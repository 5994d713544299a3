"""GenaiSession: generation and scoring with onnxruntime-genai."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from modelpress.components import Accelerator, InferenceSession
from modelpress.errors import UserError

from .builder_options import PROVIDERS

log = logging.getLogger(__name__)


def chat_template(folder: Path) -> str | None:
    """The model's chat template: ``chat_template.jinja`` or ``tokenizer_config.json``'s."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    cfg = folder / "tokenizer_config.json"
    if cfg.is_file():
        template = json.loads(cfg.read_text(encoding="utf-8")).get("chat_template")
        if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
            template = named.get("default") or next(iter(named.values()), None)
        if isinstance(template, str) and template.strip():
            return template
    return None


class GenaiSession(InferenceSession):
    """An onnxruntime-genai model, tokenizer and optional active adapter.

    Generation is greedy. ``generate`` batches prompts of equal token length
    only: the CPU attention of ModelBuilder's models counts left padding in
    the rotary positions, so a padded row would not compute what it computes
    alone (measured: other answers). Scores come from the ``logits`` output
    of the prompt pass (or token by token when the model only returns the
    last position's logits, e.g. built with ``prune_lm_head``).
    """

    def __init__(self, folder: Path, accelerator: Accelerator, adapter: tuple[str, str] | None = None):
        import onnxruntime_genai as og

        self.folder = Path(folder)
        self._og = og
        config = og.Config(str(self.folder))
        # The accelerator decides, not the providers the build wrote into genai_config.json.
        config.clear_providers()
        provider = PROVIDERS.get(accelerator.execution_provider)
        if provider is None:
            raise UserError(f"accelerator: onnxruntime-genai cannot run on {accelerator.execution_provider}; "
                            f"use one of {', '.join(PROVIDERS)}")
        if provider != "cpu":
            config.append_provider(provider)
        self.model = og.Model(config)
        self.tokenizer = og.Tokenizer(self.model)
        genai = json.loads((self.folder / "genai_config.json").read_text(encoding="utf-8"))
        self.context_length = int(genai.get("model", {}).get("context_length") or 2048)
        self.adapter_name = None
        self.adapters = None
        if adapter is not None:
            self.adapter_name, path = adapter
            self.adapters = og.Adapters(self.model)
            self.adapters.load(str(path), self.adapter_name)

    # ----------------------------------------------------------- helpers

    def _generator(self, max_length: int, batch_size: int = 1):
        og = self._og
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=max_length, do_sample=False, num_beams=1, batch_size=batch_size)
        generator = og.Generator(self.model, params)
        if self.adapters is not None:
            generator.set_active_adapter(self.adapters, self.adapter_name)
        return generator

    def encode(self, prompt: str, apply_chat_template: bool = False) -> list[int]:
        """Token ids of ``prompt`` (inside the model's chat template when asked)."""
        if apply_chat_template:
            template = chat_template(self.folder)
            if template is None:
                raise UserError(f"model: {self.folder} has no chat template (chat_template.jinja or "
                                "tokenizer_config.json); generate without it (--raw)")
            messages = json.dumps([{"role": "user", "content": prompt}])
            prompt = self.tokenizer.apply_chat_template(messages, template_str=template,
                                                        add_generation_prompt=True)
        return [int(t) for t in self.tokenizer.encode(prompt)]

    def generate_ids(self, input_ids: Sequence[int], max_new_tokens: int = 64) -> Iterator[int]:
        """Yield greedily generated token ids after ``input_ids`` (stops at end of sequence)."""
        input_ids = list(input_ids)
        if not input_ids:
            raise UserError("prompt: it makes no tokens; give a non-empty prompt")
        if len(input_ids) >= self.context_length:
            raise UserError(f"prompt: {len(input_ids)} tokens do not fit the model's context of "
                            f"{self.context_length}; shorten the prompt")
        max_length = min(len(input_ids) + max_new_tokens, self.context_length)
        generator = self._generator(max_length)
        generator.append_tokens(input_ids)
        while not generator.is_done():
            generator.generate_next_token()
            yield int(generator.get_next_tokens()[0])

    def generate_batch_ids(self, prompts: Sequence[Sequence[int]], max_new_tokens: int = 64) -> list[list[int]]:
        """Greedy ids per prompt, as ``generate_ids`` gives them; prompts of one length run as one batch."""
        out: list[list[int]] = [[] for _ in prompts]
        groups: dict[int, list[int]] = {}
        for row, ids in enumerate(prompts):
            groups.setdefault(len(ids), []).append(row)
        eos = {int(t) for t in self.tokenizer.eos_token_ids}
        for length, rows in groups.items():
            if len(rows) == 1 or not length or length >= self.context_length:
                for row in rows:  # one prompt, or one the checks of generate_ids should refuse
                    out[row] = list(self.generate_ids(prompts[row], max_new_tokens))
                continue
            import numpy as np

            generator = self._generator(min(length + max_new_tokens, self.context_length), len(rows))
            generator.append_tokens(np.asarray([list(prompts[r]) for r in rows], dtype=np.int32))
            done = [False] * len(rows)
            while not generator.is_done() and not all(done):
                generator.generate_next_token()
                for k, token in enumerate(np.asarray(generator.get_next_tokens()).reshape(-1).tolist()):
                    if not done[k]:
                        out[rows[k]].append(int(token))
                        done[k] = int(token) in eos
        return out

    # ---------------------------------------------------------- contract

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int = 64,
                 apply_chat_template: bool = False) -> list[str]:
        """Greedy answers for ``prompts`` (batched by token length), decoded as ``generate_stream`` does."""
        rows = self.generate_batch_ids([self.encode(p, apply_chat_template) for p in prompts], max_new_tokens)
        answers = []
        for ids in rows:
            stream = self.tokenizer.create_stream()
            answers.append("".join(stream.decode(t) for t in ids))
        return answers

    def generate_stream(self, prompt: str, *, max_new_tokens: int = 64,
                        apply_chat_template: bool = False) -> Iterator[str]:
        """Yield decoded pieces of a greedy generation as they are produced."""
        stream = self.tokenizer.create_stream()
        for token in self.generate_ids(self.encode(prompt, apply_chat_template), max_new_tokens):
            piece = stream.decode(token)
            if piece:
                yield piece

    def logits(self, input_ids: Sequence[int]):
        """Logits (numpy, ``[len(input_ids), vocab]``) for every position of ``input_ids``."""
        import numpy as np

        input_ids = list(input_ids)
        generator = self._generator(min(len(input_ids) + 1, self.context_length))
        generator.append_tokens(input_ids)
        logits = np.asarray(generator.get_output("logits"))[0]
        if logits.shape[0] == len(input_ids):
            return logits.astype(np.float32)
        # Only the last position came back: score one token at a time.
        generator = self._generator(min(len(input_ids) + 1, self.context_length))
        rows = []
        for token in input_ids:
            generator.append_tokens([token])
            rows.append(np.asarray(generator.get_output("logits"))[0, -1])
        return np.stack(rows).astype(np.float32)

    def negative_log_likelihood(self, texts: Sequence[str], max_length: int = 1024) -> list[tuple[float, int]]:
        """For each text: (sum of next-token NLL in nats, number of predicted tokens)."""
        import numpy as np

        limit = min(max_length, self.context_length - 1)
        results = []
        for text in texts:
            ids = self.encode(text)[:limit]
            if len(ids) < 2:
                results.append((0.0, 0))
                continue
            logits = self.logits(ids)[:-1].astype(np.float64)
            top = logits.max(axis=-1, keepdims=True)
            log_norm = np.log(np.exp(logits - top).sum(axis=-1)) + top[:, 0]
            targets = np.asarray(ids[1:])
            nll = log_norm - logits[np.arange(len(targets)), targets]
            results.append((float(nll.sum()), len(targets)))
        return results

    def count_tokens(self, text: str) -> int:
        """Number of tokens the model's tokenizer makes of ``text``."""
        return len(self.tokenizer.encode(text))

    def close(self) -> None:
        """Drop the model (onnxruntime-genai frees it with the last reference)."""
        self.adapters = None
        self.tokenizer = None
        self.model = None
