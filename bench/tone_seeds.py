"""Benchmark: how the tone demo's accuracy moves with the LoRA seed, with and without NEFTune.

Runs examples/tone-classifier/demo.py (train, merge, int4 build, evaluate
the base, fine-tuned PyTorch and int4 models) once per combination of
``training_args.seed`` and ``neftune_noise_alpha`` (0: the option left
out), every run sharing one cache (the base model's evaluation is done
once). Printed: held-out and unseen-phrase accuracy of the fine-tuned
PyTorch model and of the int4 ONNX model, per combination. Each run takes
the demo's time (about 11 minutes on 2 cores).

    python bench/tone_seeds.py [--seeds 0,1] [--neftune 0,5] [--cache-dir DIR] [--work DIR]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tone-classifier"
sys.path.insert(0, str(EXAMPLE))


def variant(seed: int, alpha: float | int) -> dict:
    """config.yaml with the LoRA's seed and NEFTune noise set."""
    cfg = yaml.safe_load((EXAMPLE / "config.yaml").read_text(encoding="utf-8"))
    args = cfg["passes"]["lora"]["training_args"]
    args["seed"] = seed
    args.pop("neftune_noise_alpha", None)
    if alpha:
        args["neftune_noise_alpha"] = alpha
    return cfg


def run(cfg: dict, cache: Path, out: Path) -> dict:
    """demo.py on ``cfg``; the metrics of the three models from its footprints."""
    import demo

    name = f"_bench_{out.name}.yaml"
    (EXAMPLE / name).write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    original = demo.load_workflow
    demo.load_workflow = lambda cache_dir, output_dir, _name="config.yaml": original(cache_dir, output_dir, name)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            demo.main(["--cache-dir", str(cache), "--output-dir", str(out)])
    finally:
        demo.load_workflow = original
        (EXAMPLE / name).unlink()
    nodes = json.loads((out / "footprints.json").read_text(encoding="utf-8"))["nodes"]
    merged = next(n for n in nodes if n["step"] == "merge")["metrics"]  # demo.py adds them
    return {"pytorch": merged, "int4": json.loads((out / "metrics.json").read_text(encoding="utf-8"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1", help="comma-separated training_args.seed values")
    parser.add_argument("--neftune", default="0,5", help="comma-separated neftune_noise_alpha values (0: off)")
    parser.add_argument("--cache-dir", help="the shared cache (default: a folder under --work)")
    parser.add_argument("--work", help="outputs (default: a temporary folder)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-tone-seeds-")).resolve()
    cache = Path(args.cache_dir).resolve() if args.cache_dir else work / "cache"
    rows = []
    for alpha in (json.loads(a) for a in args.neftune.split(",")):  # 5 stays an int, as in config.yaml
        for seed in (int(s) for s in args.seeds.split(",")):
            label = f"seed {seed}, " + (f"NEFTune alpha {alpha:g}" if alpha else "no NEFTune")
            result = run(variant(seed, alpha), cache, work / f"seed{seed}-neftune{alpha:g}")
            rows.append((label, result))
            print(f"done: {label}", file=sys.stderr)
    print(f"{'LoRA':28} {'held-out: PyTorch / int4':>26} {'unseen: PyTorch / int4':>24}")
    for label, r in rows:
        print(f"{label:28} {r['pytorch']['tone-accuracy']:12.1%} / {r['int4']['tone-accuracy']:6.1%}"
              f" {r['pytorch']['unseen-accuracy']:13.1%} / {r['int4']['unseen-accuracy']:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
