"""Run Olive itself on a config and record what its training passes did (run in the Olive venv).

Usage: ``python olive_driver.py RECORD.json CONFIG.json...`` (the configs run one
after the other in one process, so Olive's start-up is paid once). The record lists, for
every ``transformers.Trainer`` Olive builds: the sha256 digests of its train
and eval datasets (:func:`modelpress.plugins.huggingface.packing.digest`), the
training arguments that matter, the steps, the tokens trained on and the log
history. Two changes to Olive's run, both to make the comparison exact, not
to help either side: the adapter's initial weights are seeded with the
config's ``training_args.seed`` (Olive leaves them to the global RNG;
modelpress seeds them), and Trainer counts input tokens (a counter only).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OLIVE_DISABLE_TELEMETRY", "1")


def main(record_path: str, config_paths: list[str]) -> None:
    """Run the Olive workflows in ``config_paths``; write the record to ``record_path``."""
    import peft
    import torch
    import transformers

    from modelpress.plugins.huggingface.hf_trainer import key_args
    from modelpress.plugins.huggingface.packing import digest

    configs = [json.loads(Path(path).read_text(encoding="utf-8")) for path in config_paths]
    trainers: list[dict] = []
    seeds = [int((p.get("training_args") or {}).get("seed", 42)) for c in configs for p in c["passes"].values()
             if p["type"] in ("LoRA", "QLoRA")]

    get_peft_model = peft.get_peft_model

    def seeded_get_peft_model(model, peft_config, *args, **kwargs):
        torch.manual_seed(seeds[len(trainers)] if len(trainers) < len(seeds) else 42)
        return get_peft_model(model, peft_config, *args, **kwargs)

    peft.get_peft_model = seeded_get_peft_model
    trainer_init, trainer_train = transformers.Trainer.__init__, transformers.Trainer.train

    def init(self, *args, **kwargs):
        kwargs["args"].include_num_input_tokens_seen = "all"
        trainer_init(self, *args, **kwargs)
        self._olive_record = {
            "train": digest(kwargs["train_dataset"]), "eval": digest(kwargs.get("eval_dataset") or []),
            "args": key_args(self.args),
            "model_dtype": str(next(self.model.parameters()).dtype).replace("torch.", "")}
        trainers.append(self._olive_record)

    def train(self, *args, **kwargs):
        start = time.perf_counter()
        out = trainer_train(self, *args, **kwargs)
        self._olive_record.update(steps=self.state.global_step, train_tokens=int(self.state.num_input_tokens_seen),
                                  seconds=time.perf_counter() - start, log_history=self.state.log_history)
        return out

    transformers.Trainer.__init__, transformers.Trainer.train = init, train
    from olive.workflows import run

    walls = []
    for config in configs:
        start = time.perf_counter()
        run(config)
        walls.append(time.perf_counter() - start)
    with open(record_path, "w", encoding="utf-8") as f:
        json.dump({"trainers": trainers, "wall_seconds": walls}, f, indent=1, default=str)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
