"""Benchmark: does int4 keep the fine-tune? The tone classifier, measured per build variant.

Trains the demo's LoRA once (examples/tone-classifier/config.yaml: SmolLM2-135M,
completion-only loss), then builds and measures, all through the engine and
its cache (a rerun only measures what is new):

- the fine-tuned PyTorch model (the merged adapter, float32): the reference;
- int4 variants of the merged model (algorithm, accuracy level, LM head and
  sensitive layers in int8), int8, fp32 (the ONNX runtime's own distance to
  PyTorch, without quantization), and the int4 base with the adapter kept in
  float (``export_adapter``, applied at run time);
- with ``--qa``, the quantization-aware LoRA (trained on the base as the
  demo's int4 build writes it; ``--qa ALGO``: as ModelBuilder's ALGO int4
  build at accuracy level 1 writes it), run as that int4 base plus the
  adapter in float, and merged then rebuilt; beside it the demo's LoRA run
  the same two ways.

For each: tone accuracy on the 138 held-out phrases and on the 120 unseen
phrases (data/unseen.jsonl), size on disk, and decode speed (tokens/s of a
forced 32-token greedy continuation, median of 3 prompts, prefill excluded).

    python bench/int4_quality.py [--work DIR] [--json PATH] [--only NAME,...] [--qa [ALGO]]
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tone-classifier"
sys.path.insert(0, str(EXAMPLE))
K1 = {"int4_algo_config": "k_quant", "int4_accuracy_level": 1}
#: every attention projection of SmolLM2-135M's 30 layers
ATTENTION = [f"model.layers.{i}.self_attn.{p}_proj" for i in range(30) for p in "qkvo"]
#: name -> (ModelBuilder config, whether the adapter is merged first)
VARIANTS = {
    "int4 builder defaults (algo 'default', acc 4)": ({"precision": "int4"}, True),
    "int4 rtn, acc 1": ({"precision": "int4", "int4_algo_config": "rtn", "int4_accuracy_level": 1}, True),
    "int4 k_quant, acc 1": ({"precision": "int4", **K1}, True),
    "int4 k_quant, acc 1, LM head int8": ({"precision": "int4", **K1, "int4_mixed_precision": "last_matmul:int8"},
                                          True),
    "int4 k_quant, acc 4, LM head int8": ({"precision": "int4", "int4_algo_config": "k_quant",
                                           "int4_accuracy_level": 4, "int4_mixed_precision": "last_matmul:int8"},
                                          True),
    "int4 k_quant, acc 4, LM head int8, attention int8": ({"precision": "int4", "int4_algo_config": "k_quant",
                                                          "int4_accuracy_level": 4,
                                                          "int4_mixed_precision": "last_matmul:int8",
                                                          "int8_layers": ATTENTION}, True),
    "int4 k_quant_mixed, acc 1": ({"precision": "int4", "int4_algo_config": "k_quant_mixed",
                                   "int4_accuracy_level": 1}, True),
    "int8": ({"precision": "int8"}, True),
    "fp32 (no quantization: ONNX against PyTorch)": ({"precision": "fp32"}, True),
    "int4 base + float adapter (k_quant, acc 1)": ({"precision": "int4", **K1, "export_adapter": True}, False),
}
DECODE_PROMPTS = ["### Text: The storm knocked out the lights all night.\n### The tone is:\n",
                  "Once upon a time, in a small village by the sea,",
                  "The three most important things to remember when cooking rice are"]


def base_config(work: Path) -> dict:
    """The demo config with absolute paths; the evaluator keeps accuracy (both sets) and size."""
    from demo import smollm2_gguf

    cfg = yaml.safe_load((EXAMPLE / "config.yaml").read_text(encoding="utf-8"))
    cfg["input_model"]["gguf_file"] = str(smollm2_gguf())
    for dc in cfg["data_configs"]:
        dc["load_dataset_config"]["data_files"] = str(EXAMPLE / dc["load_dataset_config"]["data_files"])
    ev = cfg["evaluators"][cfg["evaluator"]]
    ev["metrics"] = [m for m in ev["metrics"] if m["type"] in ("accuracy", "size_on_disk")]
    cfg["evaluate_input_model"] = False
    cfg["cache_dir"] = str(work / "cache")
    return cfg


def variant_config(base: dict, work: Path, name: str, build: dict, merged: bool, lora: dict | None,
                   sensitivity: bool = False) -> dict:
    cfg = copy.deepcopy(base)
    passes = {"lora": {**cfg["passes"]["lora"], **(lora or {})}}
    if merged:
        passes["merge"] = cfg["passes"]["merge"]
    if sensitivity:  # the demo's QuantizationSensitivity pass: its chosen layers stay 8-bit in the build
        passes["sensitivity"] = cfg["passes"]["sensitivity"]
    passes["build"] = {"type": "ModelBuilder", **build}
    cfg["passes"] = passes
    cfg["output_dir"] = str(work / "out" / "".join(c if c.isalnum() else "-" for c in name))
    return cfg


def decode_rate(session, new_tokens: int = 32) -> float:
    """Median tokens/s of forced greedy continuations (EOS ignored), prefill excluded."""
    rates = []
    for prompt in DECODE_PROMPTS:
        if hasattr(session, "model") and hasattr(session.model, "parameters"):  # PyTorch
            import torch

            ids = torch.tensor([session.prompt_ids(prompt)])
            with torch.inference_mode():
                out = session.model(input_ids=ids, use_cache=True)
                name = "cache" if "cache" in getattr(out, "__dataclass_fields__", {}) else "past_key_values"
                start = time.perf_counter()
                for _ in range(new_tokens):
                    token = out.logits[:, -1:].argmax(-1)
                    out = session.model(input_ids=token, use_cache=True, **{name: getattr(out, name)})
                rates.append(new_tokens / (time.perf_counter() - start))
        else:  # onnxruntime-genai
            import onnxruntime_genai as og

            ids = session.encode(prompt)
            params = og.GeneratorParams(session.model)
            total = len(ids) + new_tokens + 1
            params.set_search_options(max_length=total, min_length=total, do_sample=False)
            generator = og.Generator(session.model, params)
            if session.adapters is not None:
                generator.set_active_adapter(session.adapters, session.adapter_name)
            generator.append_tokens(ids)
            generator.generate_next_token()  # the first token comes from the prefill
            start = time.perf_counter()
            for _ in range(new_tokens):
                generator.generate_next_token()
            rates.append(new_tokens / (time.perf_counter() - start))
    return statistics.median(rates)


def measure(engine, handle, model_id: str) -> dict:
    metrics = engine.evaluate(handle, model_id) or {}
    with handle.open_session(engine.target_accelerator) as session:
        rate = decode_rate(session)
    return {"heldout": metrics.get("tone-accuracy"), "unseen": metrics.get("unseen-accuracy"),
            "size_mb": (metrics.get("size-bytes") or 0) / 1e6, "decode_tok_s": rate}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=str(ROOT / "bench" / ".int4-work"), help="cache and outputs")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--only", help="comma-separated variant names (default: all)")
    parser.add_argument("--reuse", metavar="OUTPUT_DIR",
                        help="take the trained adapter and merged model from an earlier run's output folder "
                             "(its footprints.json) and only build and measure")
    parser.add_argument("--qa", nargs="?", const="demo", metavar="ALGO",
                        help="also the quantization-aware LoRA: on the grid of the demo's build (config.yaml; "
                             "the default) or of this int4 algorithm at accuracy level 1 (rtn, k_quant, ...)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from modelpress import config
    from modelpress.api import run_engine
    from modelpress.engine.chain import Engine

    work = Path(args.work).resolve()
    base = base_config(work)
    variants = dict(VARIANTS)
    demo_build = {k: v for k, v in base["passes"]["build"].items() if k != "type"}
    variants["int4 base + float adapter (demo build)"] = ({**demo_build, "export_adapter": True}, False)
    sensed = base["passes"]["sensitivity"]
    variants[f"demo build + {sensed['num_layers']} sensitive layer groups in int8 (the demo's)"] = (
        demo_build, True, None, True)
    if args.qa:  # trained on the grid of --qa; run as that int4 base + float adapter, and merged then rebuilt
        if args.qa == "demo":
            build, grid = demo_build, "demo build"
        else:
            build = {"precision": "int4", "int4_algo_config": args.qa, "int4_accuracy_level": 1}
            grid = f"{args.qa}, acc 1"
        aware = {"quantization_aware": {"algo_config": build.get("int4_algo_config") or "default",
                                        "mixed_precision": build.get("int4_mixed_precision")}}
        variants[f"QA-LoRA ({grid}): int4 base + float adapter"] = ({**build, "export_adapter": True}, False, aware)
        variants[f"QA-LoRA ({grid}): merged, rebuilt"] = (build, True, aware)
    if args.only:
        variants = {k: v for k, v in variants.items() if any(w.strip() in k for w in args.only.split(","))}
    results: dict[str, dict] = {}
    started = time.perf_counter()
    reference_done = False
    reused = json.loads((Path(args.reuse) / "footprints.json").read_text(encoding="utf-8")) if args.reuse else None
    for name, spec in variants.items():
        build, merged, lora, sensitivity = (*spec, None, False)[:4]
        t0 = time.perf_counter()
        workflow = config.load(variant_config(base, work, name, build, merged, lora, sensitivity), base_dir=EXAMPLE)
        engine = Engine(workflow)
        if reused and not lora:  # the same adapter and merged model: the passes after it (cached) and measure
            nodes = {n["step"]: n for n in reused["nodes"]}
            source = nodes["merge" if merged else "lora"]
            output, out_id = engine.registry.model_handle(source["output_model"]), source["output_model_id"]
            for step, pass_config in workflow.resolve({}):
                if step not in ("lora", "merge"):
                    output, out_id, _ = engine.run_pass(step, pass_config, output, out_id)
            footprints = [n for n in reused["nodes"] if n["step"] in ("lora", "merge")]
        else:
            result = run_engine(engine)
            output, out_id, footprints = result.output_model, result.footprints[-1]["output_model_id"], \
                result.footprints
        if merged and not lora and not reference_done:
            node = next(n for n in footprints if n["step"] == "merge")
            logging.info("measuring the fine-tuned PyTorch model")
            results["fine-tuned PyTorch (merged, fp32)"] = measure(
                engine, engine.registry.model_handle(node["output_model"]), node["output_model_id"])
            reference_done = True
        adapters = dict(output.config.get("adapters") or {})
        if adapters and not output.config.get("active_adapter"):  # an exported adapter runs only when active
            active = next(iter(adapters))
            output, out_id = output.replace(active_adapter=active), f"{out_id}+{active}"
        results[name] = {**measure(engine, output, out_id), "build": build,
                         "seconds": round(time.perf_counter() - t0, 1)}
        logging.info("%s: %s", name, results[name])
        if args.json:  # after every variant: an interrupted run keeps what it measured
            Path(args.json).write_text(json.dumps({"results": results, "load_average": os.getloadavg()},
                                                  indent=2), encoding="utf-8")
    print(f"\n{'model':60} {'heldout':>8} {'unseen':>8} {'MB':>7} {'tok/s':>7}")
    for name, r in results.items():
        print(f"{name:60} {r['heldout']:8.1%} {r['unseen']:8.1%} {r['size_mb']:7.1f} {r['decode_tok_s']:7.1f}")
    load = os.getloadavg()
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "load_average": load,
                                               "seconds": time.perf_counter() - started}, indent=2),
                                   encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
