"""Benchmark: the tone demo's accuracy, training time and peak memory across LoRA seeds (and configs).

Runs examples/tone-classifier/demo.py (train, merge, int4 build, evaluate
the base, fine-tuned PyTorch and int4 models) once per combination of
config file, ``training_args.seed`` and, when asked, ``neftune_noise_alpha``
(0: the option left out), each in its own process, all sharing one cache
(the base model's evaluation is done once; a combination already in the
cache only reads it back). Printed per combination: held-out and
unseen-phrase accuracy of the fine-tuned PyTorch model and of the int4 ONNX
model, the LoRA's training seconds, seconds per step and tokens per step
(padding included: what the steps computed), and the process's peak RSS
(``wait4``; the first run also loads the base model for its evaluation).
Each combination takes about the demo's time.

    python bench/tone_seeds.py [--config FILE ...] [--seeds 0,1] [--neftune 0,5] [--cache-dir DIR] [--work DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tone-classifier"


def variant(config: Path, seed: int, alpha: float | int | None) -> dict:
    """``config`` with the LoRA's seed set and, unless ``alpha`` is None, its NEFTune noise (0: off)."""
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    args = cfg["passes"]["lora"]["training_args"]
    args["seed"] = seed
    if alpha is not None:
        args.pop("neftune_noise_alpha", None)
        if alpha:
            args["neftune_noise_alpha"] = alpha
    return cfg


def run(cfg: dict, cache: Path, out: Path) -> dict:
    """demo.py on ``cfg`` in a child process: the three models' metrics, the training log, wall and peak RSS."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    start = time.perf_counter()
    with open(out / "demo.log", "w", encoding="utf-8") as log:
        child = subprocess.Popen([sys.executable, str(EXAMPLE / "demo.py"), "--config", str(path),
                                  "--cache-dir", str(cache), "--output-dir", str(out / "output")],
                                 stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"tone_seeds: demo.py failed ({child.returncode}); see {out / 'demo.log'}")
    nodes = json.loads((out / "output" / "footprints.json").read_text(encoding="utf-8"))["nodes"]
    lora = next(n for n in nodes if n["step"] == "lora")
    training = json.loads((Path(lora["output_model"]["adapter_path"]) / "training_log.json").read_text(encoding="utf-8"))
    return {"pytorch": next(n for n in nodes if n["step"] == "merge")["metrics"],  # demo.py adds them
            "int4": json.loads((out / "output" / "metrics.json").read_text(encoding="utf-8")),
            "training": training, "cached": bool(lora.get("cache_hit")),
            "wall_s": time.perf_counter() - start, "peak_rss_gib": usage.ru_maxrss / 2**20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", type=Path,
                        help="a config file to run (repeatable; default: the example's config.yaml)")
    parser.add_argument("--seeds", default="0,1", help="comma-separated training_args.seed values")
    parser.add_argument("--neftune", help="comma-separated neftune_noise_alpha values (0: off; default: as configured)")
    parser.add_argument("--cache-dir", help="the shared cache (default: a folder under --work)")
    parser.add_argument("--work", help="outputs (default: a temporary folder)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-tone-seeds-")).resolve()
    cache = Path(args.cache_dir).resolve() if args.cache_dir else work / "cache"
    configs = [c.resolve() for c in args.config] if args.config else [EXAMPLE / "config.yaml"]
    # 5 stays an int, as in config.yaml (the same cache keys)
    alphas = [json.loads(a) for a in args.neftune.split(",")] if args.neftune else [None]
    rows = []
    for config in configs:
        for alpha in alphas:
            for seed in (int(s) for s in args.seeds.split(",")):
                label = f"{config.stem}, seed {seed}"
                if alpha is not None:
                    label += f", NEFTune alpha {alpha:g}" if alpha else ", no NEFTune"
                tag = f"{config.stem}-seed{seed}" + ("" if alpha is None else f"-neftune{alpha:g}")
                result = run(variant(config, seed, alpha), cache, work / tag)
                rows.append((label, result))
                print(f"done: {label} ({result['wall_s']:.0f} s)", file=sys.stderr)
    print(f"{'run':36} {'held-out: PyTorch / int4':>25} {'unseen: PyTorch / int4':>23} "
          f"{'train s':>8} {'s/step':>7} {'tokens/step':>11} {'peak RSS':>9}")
    for label, r in rows:
        t = r["training"]
        timing = (f"{t['train_seconds']:8.0f} {t['train_seconds'] / t['steps']:7.2f} {t['train_tokens'] / t['steps']:11.0f}"
                  + (" (cached)" if r["cached"] else ""))
        print(f"{label:36} {r['pytorch']['tone-accuracy']:13.1%} / {r['int4']['tone-accuracy']:6.1%}"
              f" {r['pytorch']['unseen-accuracy']:12.1%} / {r['int4']['unseen-accuracy']:6.1%} {timing}"
              f" {r['peak_rss_gib']:6.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
