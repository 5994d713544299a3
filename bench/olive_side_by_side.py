"""Benchmark: the Phi-3 Cookbook chain run by Olive 0.13.0 and by modelpress on the same config file.

The chain is the Cookbook's (tests/data/olive-0.6.1-tone.json: LoRA r 64 on
``qkv_proj``/``o_proj``, lr 1e-4, batch 1 x 4 accumulation, 1024-token
blocks -> MergeAdapterWeights -> ModelBuilder int4), on a tiny Phi-3 built
locally (hidden size 128 and 256, as the tests build it). Olive 0.13 cannot
read the Cookbook's 0.6.1 form, so both sides run its current form, which
``modelpress migrate`` writes, with one rewrite Olive 0.13 needs: its hold-out
``eval_dataset_size: 0.3`` (which Olive 0.13 would silently ignore) becomes
the 70 % / 30 % split of the data config. Only ``max_steps`` is shortened
(``--max-steps``, the same on both sides) so that the bench fits in minutes.

Olive runs in .olive-venv (``make olive-venv olive-venv-builder``) through
tests/plugins/olive_driver.py, which records its Trainer's tokens, training
seconds and losses and seeds the adapter's initial weights as modelpress
does, so that both sides train the same tokens to the same loss. Each run is
a fresh process on a cold cache, Olive and modelpress alternated (ABBA),
``--repeats`` times per size; peak RSS is the process tree's maximum.

``--threads own`` lets each side choose (Olive: torch's default; modelpress:
its thread tuner); ``--threads N`` fixes N threads on both sides
(``OMP_NUM_THREADS`` and ``MODELPRESS_NUM_THREADS``); several comma-separated
settings run one after the other.

    python bench/olive_side_by_side.py [--repeats 3] [--sizes 128,256] [--max-steps 3]
                                       [--threads own,2] [--json PATH] [--work DIR]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OLIVE_PY = ROOT / ".olive-venv" / "bin" / "python"
DRIVER = ROOT / "tests" / "plugins" / "olive_driver.py"
COOKBOOK = ROOT / "tests" / "data" / "olive-0.6.1-tone.json"
DATA = ROOT / "tests" / "data" / "tone-sample.jsonl"
#: runs a command and writes the peak RSS (KiB) of its process tree to a file
PEAK_RSS = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
            "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); sys.exit(rc)")


def cookbook(model: Path, max_steps: int) -> tuple[dict, dict]:
    """The Cookbook config on ``model``: (its 0.6.1 form, the current form both sides run)."""
    from modelpress.config import migrate
    from modelpress.registry import get_registry

    old = json.loads(COOKBOOK.read_text(encoding="utf-8"))
    old["input_model"]["config"]["hf_config"]["model_name"] = str(model)
    old["data_configs"][0]["params_config"]["data_files"] = str(DATA)
    old["passes"]["lora"]["config"]["training_args"]["max_steps"] = max_steps
    current, _ = migrate(copy.deepcopy(old), get_registry())
    train = current["data_configs"][0]
    held = 1 - current["passes"]["lora"].pop("eval_dataset_size")
    evaluation = copy.deepcopy(train)
    train["load_dataset_config"]["split"] = f"train[:{round(held * 100)}%]"
    evaluation["name"] = "dataset_default_eval"
    evaluation["load_dataset_config"]["split"] = f"train[{round(held * 100)}%:]"
    current["data_configs"].append(evaluation)
    current["passes"]["lora"]["eval_data_config"] = evaluation["name"]
    return old, current


def write_config(config: dict, folder: Path) -> Path:
    """``config`` with its cache and output in ``folder`` (cold), written as ``folder/config.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {**config, "cache_dir": str(folder / "cache"), "output_dir": str(folder / "output"),
              "log_severity_level": 2}
    path = folder / "config.json"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return path


def timed(cmd: list, env: dict, folder: Path) -> tuple[float, float]:
    """Run ``cmd``; (wall seconds, peak RSS MiB of its process tree). Exits with its log on failure."""
    rss = folder / "peak_rss_kib"
    with open(folder / "log.txt", "w") as log:
        start = time.perf_counter()
        code = subprocess.call([sys.executable, "-c", PEAK_RSS, str(rss), *map(str, cmd)], env=env,
                               stdout=log, stderr=subprocess.STDOUT, cwd=folder)
        wall = time.perf_counter() - start
    if code:
        sys.exit(f"olive_side_by_side: {' '.join(map(str, cmd[:4]))} failed; see {folder / 'log.txt'}:\n"
                 + (folder / "log.txt").read_text()[-3000:])
    return wall, int(rss.read_text()) / 1024


def run_olive(config: dict, folder: Path, env: dict) -> dict:
    path = write_config(config, folder)
    wall, rss = timed([OLIVE_PY, DRIVER, folder / "record.json", path], env, folder)
    record = json.loads((folder / "record.json").read_text())
    trainer = record["trainers"][0]
    return {"wall": wall, "rss": rss, "tokens": trainer["train_tokens"], "steps": trainer["steps"],
            "train_seconds": trainer["seconds"], "loss": trainer["log_history"][-1]["train_loss"],
            "threads": None}


def run_modelpress(config: dict, folder: Path, env: dict) -> dict:
    path = write_config(config, folder)
    wall, rss = timed([sys.executable, "-m", "modelpress", "run", "--config", path], env, folder)
    log = json.loads(next((folder / "cache").rglob("training_log.json")).read_text())
    return {"wall": wall, "rss": rss, "tokens": log["train_tokens"], "steps": log["steps"],
            "train_seconds": log["wall_seconds"], "loss": log["train_loss"], "threads": log["torch_threads"],
            "rerun_config": str(path)}


def startup(cmd: list, env: dict, n: int = 3) -> float:
    """Median wall seconds of ``cmd`` (a light command: --help, validate)."""
    walls = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(list(map(str, cmd)), env=env, capture_output=True, check=True)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def environment(threads: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OLIVE_DISABLE_TELEMETRY": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore"}
    for var in ("OMP_NUM_THREADS", "MODELPRESS_NUM_THREADS"):
        env.pop(var, None)
        if threads != "own":
            env[var] = threads
    return env


def summarize(runs: dict[str, list[dict]]) -> dict:
    """Medians per side and the ratios modelpress / Olive."""
    def med(side, key):
        return statistics.median(r[key] for r in runs[side])

    out = {}
    for side in ("olive", "modelpress"):
        rs = runs[side]
        out[side] = {"wall_s": med(side, "wall"), "train_s": med(side, "train_seconds"),
                     "tokens_per_s": statistics.median(r["tokens"] / r["train_seconds"] for r in rs),
                     "peak_rss_mib": med(side, "rss"), "train_tokens": sorted({r["tokens"] for r in rs}),
                     "steps": sorted({r["steps"] for r in rs}), "final_loss": sorted({r["loss"] for r in rs}),
                     "walls_s": [round(r["wall"], 2) for r in rs]}
    out["modelpress"]["torch_threads"] = sorted({r["threads"] for r in runs["modelpress"]})
    o, m = out["olive"], out["modelpress"]
    out["ratio"] = {"wall": m["wall_s"] / o["wall_s"], "train_s": m["train_s"] / o["train_s"],
                    "tokens_per_s": m["tokens_per_s"] / o["tokens_per_s"], "peak_rss": m["peak_rss_mib"] / o["peak_rss_mib"]}
    out["equal_tokens"] = o["train_tokens"] == m["train_tokens"] and len(o["train_tokens"]) == 1
    out["loss_gap"] = max(abs(a - b) for a in o["final_loss"] for b in m["final_loss"])
    return out


def show(size: int, threads: str, s: dict, n: int) -> None:
    o, m, r = s["olive"], s["modelpress"], s["ratio"]
    print(f"\nh{size}, threads {threads}, n={n} (medians)          Olive   modelpress   modelpress/Olive")
    print(f"  wall (whole process), s            {o['wall_s']:8.2f}   {m['wall_s']:10.2f}   {r['wall']:6.2f}")
    print(f"  training (Trainer.train), s        {o['train_s']:8.2f}   {m['train_s']:10.2f}   {r['train_s']:6.2f}")
    print(f"  training tokens/s                  {o['tokens_per_s']:8.0f}   {m['tokens_per_s']:10.0f}   "
          f"{r['tokens_per_s']:6.2f}")
    print(f"  peak RSS, MiB                      {o['peak_rss_mib']:8.0f}   {m['peak_rss_mib']:10.0f}   "
          f"{r['peak_rss']:6.2f}")
    print(f"  training tokens                    {o['train_tokens']}   {m['train_tokens']}   "
          f"equal: {s['equal_tokens']}")
    print(f"  final training loss                {[round(x, 6) for x in o['final_loss']]}   "
          f"{[round(x, 6) for x in m['final_loss']]}   gap {s['loss_gap']:.2e}")
    print(f"  walls, s: Olive {o['walls_s']}, modelpress {m['walls_s']}; "
          f"modelpress torch threads {m['torch_threads']}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="the Cookbook chain, Olive 0.13.0 vs modelpress")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="128,256", help="hidden sizes of the tiny Phi-3")
    parser.add_argument("--max-steps", type=int, default=3, help="LoRA steps (the Cookbook's: 150)")
    parser.add_argument("--threads", default="own", help="'own' and/or thread counts, comma-separated")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--work", help="work folder (default: a temporary one)")
    args = parser.parse_args()
    if not (ROOT / ".olive-venv" / ".installed").exists():
        sys.exit("olive_side_by_side: Olive is not installed: run make olive-venv olive-venv-builder")
    from modelpress.testing import build_tiny_phi3

    work = Path(args.work or tempfile.mkdtemp(prefix="mp-olive-")).resolve()
    print(f"load averages before: {os.getloadavg()}; work {work}", flush=True)
    results: dict = {"max_steps": args.max_steps, "repeats": args.repeats, "sizes": {}}
    runners = {"olive": run_olive, "modelpress": run_modelpress}
    for size in map(int, args.sizes.split(",")):
        model = build_tiny_phi3(work / f"h{size}" / "model", hidden_size=size)
        old, current = cookbook(model, args.max_steps)
        (work / f"h{size}" / "cookbook-0.6.1.json").write_text(json.dumps(old, indent=1), encoding="utf-8")
        for threads in args.threads.split(","):
            env = environment(threads)
            runs: dict[str, list[dict]] = {"olive": [], "modelpress": []}
            for i in range(args.repeats):
                for side in (("olive", "modelpress") if i % 2 == 0 else ("modelpress", "olive")):
                    runs[side].append(runners[side](current, work / f"h{size}" / f"t{threads}-{side}-{i}", env))
            summary = summarize(runs)
            show(size, threads, summary, args.repeats)
            results["sizes"].setdefault(f"h{size}", {})[f"threads_{threads}"] = {**summary, "runs": runs}
        # the no-op rerun (everything cached), each side's own threads
        env = environment("own")
        last = work / f"h{size}" / f"t{threads}-olive-{args.repeats - 1}" / "config.json"
        reruns = {"modelpress_rerun_s": startup([sys.executable, "-m", "modelpress", "run", "--config",
                                                 runs["modelpress"][-1]["rerun_config"]], env, 1),
                  "olive_rerun_s": startup([OLIVE_PY, "-m", "olive", "run", "--config", last], env, 1)}
        results["sizes"][f"h{size}"]["no_op_rerun"] = reruns
        print("  no-op rerun: " + ", ".join(f"{k} {v:.2f}" for k, v in reruns.items()), flush=True)
    env = environment("own")
    results["startup"] = {
        "modelpress_help_s": startup([sys.executable, "-m", "modelpress", "--help"], env),
        "olive_help_s": startup([OLIVE_PY, "-m", "olive", "--help"], env),
        "modelpress_validate_cookbook_0.6.1_s": startup([sys.executable, "-m", "modelpress", "validate",
                                                         work / f"h{size}" / "cookbook-0.6.1.json"], env)}
    print("start-up (median of 3): " + ", ".join(f"{k} {v:.2f}" for k, v in results["startup"].items()))
    results["load_averages_after"] = os.getloadavg()
    print(f"\nload averages after: {results['load_averages_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
