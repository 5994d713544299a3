"""Benchmark: the tone demo's LoRA steps with the answer's logits only vs every position's, side by side.

Completion-only batches are left-padded and ask the model for the logits of
the answer only (``logits_to_keep`` + ``shift_labels``, see
modelpress.plugins.huggingface.batching.collate); the plain way right-pads
and computes the vocabulary-sized logits (49k for SmolLM2) at every
position. Each run is the demo's LoRA pass (config.yaml's data, template,
batch and options) for ``--steps`` steps in a fresh process, alternating
the two ways ``--repeats`` times; ``--set`` changes training_args for both
(e.g. ``--set gradient_checkpointing=false``). Printed per way: the
median training seconds per step, the process's peak RSS (the largest of
the repeats) and the training loss, then the ratios. Same data, tokens,
dtype, threads and seed on both sides. NEFTune's noise and LoRA dropout
are drawn per position of the padded batch, so the two layouts draw
different noise and their losses differ like two noise draws; ``--exact``
turns both off, and then the losses agree to float rounding.

    python bench/answer_logits.py [--steps 12] [--repeats 2] [--threads 2] [--exact] [--set KEY=VALUE ...]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tone-classifier"


def lora_config(steps: int, overrides: dict, work: Path, exact: bool = False) -> dict:
    """config.yaml (as bench/int4_quality.py reads it) reduced to its LoRA pass, for ``steps`` steps."""
    from int4_quality import base_config

    cfg = base_config(work)
    lora = cfg["passes"]["lora"]
    cfg["data_configs"] = [d for d in cfg["data_configs"] if d["name"] == lora["train_data_config"]]
    cfg["passes"] = {"lora": lora}
    lora["training_args"].update({**overrides, "max_steps": steps, "logging_steps": steps})
    if exact:  # no noise drawn per position: the two layouts then compute the same loss
        lora["lora_dropout"] = 0.0
        lora["training_args"].pop("neftune_noise_alpha", None)
    for key in ("evaluators", "evaluator"):
        cfg.pop(key, None)
    cfg["output_dir"] = str(work / "output")
    return cfg


def child(config_path: str, answer_logits: bool) -> None:
    """One LoRA run in this process; prints its figures as JSON."""
    from modelpress import config
    from modelpress.api import run_engine
    from modelpress.engine.chain import Engine
    from modelpress.plugins.huggingface import hf_trainer

    if not answer_logits:
        hf_trainer.reads_answer_logits = lambda model: False
    cfg = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    result = run_engine(Engine(config.load(cfg, base_dir=EXAMPLE)))
    lora = next(n for n in result.footprints if n["step"] == "lora")
    log = json.loads((Path(lora["output_model"]["adapter_path"]) / "training_log.json").read_text(encoding="utf-8"))
    if log.get("answer_logits") is not answer_logits:
        sys.exit(f"answer_logits: the run was to use answer_logits={answer_logits}, its log says "
                 f"{log.get('answer_logits')}")
    peak = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM"))
    print(json.dumps({"s_per_step": log["train_seconds"] / log["steps"], "loss": log["train_loss"],
                      "tokens": log["train_tokens"], "peak_gib": peak / 2**20, "threads": log.get("torch_threads")}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", default="2", help="MODELPRESS_NUM_THREADS for both ways (the same threads)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a training_args field for both ways (YAML value)")
    parser.add_argument("--exact", action="store_true", help="no NEFTune, no LoRA dropout (losses comparable)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1] == "on")
        return 0
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    runs: dict[str, list[dict]] = {"answer only": [], "every position": []}
    with tempfile.TemporaryDirectory(prefix="bench-answer-logits-") as tmp:
        for repeat in range(args.repeats):
            for way, flag in (("answer only", "on"), ("every position", "off")):
                work = Path(tmp) / f"{flag}{repeat}"
                work.mkdir()
                path = work / "config.yaml"
                path.write_text(yaml.safe_dump(lora_config(args.steps, overrides, work, args.exact)), encoding="utf-8")
                env = {**os.environ, "MODELPRESS_NUM_THREADS": args.threads}
                out = subprocess.run([sys.executable, __file__, "--child", str(path), flag], env=env,
                                     capture_output=True, text=True, check=False)
                if out.returncode:
                    sys.exit(f"answer_logits: the '{way}' run failed:\n{out.stderr[-3000:]}")
                runs[way].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"done: {way}, repeat {repeat + 1}", file=sys.stderr)
    print(f"LoRA steps of the tone demo ({args.steps} steps, {args.threads} threads, "
          f"training_args {overrides or 'as configured'}{', no NEFTune or dropout' if args.exact else ''}), "
          f"{args.repeats} runs each:")
    summary = {}
    for way, rs in runs.items():
        summary[way] = (statistics.median(r["s_per_step"] for r in rs), max(r["peak_gib"] for r in rs))
        print(f"  {way:15} {summary[way][0]:6.2f} s/step  peak RSS {summary[way][1]:.2f} GiB  "
              f"loss {rs[0]['loss']:.6f}  tokens {rs[0]['tokens']}")
    (fast, small), (slow, big) = summary["answer only"], summary["every position"]
    print(f"  answer only vs every position: {slow / fast:.2f}x the steps' speed, peak RSS {small - big:+.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
