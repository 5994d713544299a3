"""Benchmark of the search: how fast tpe finds a known best, and how workers scale.

    python bench/search.py                 # all parts
    python bench/search.py --part known    # tpe vs exhaustive on a known function
    python bench/search.py --part lora     # tpe vs exhaustive on a LoRA space, tiny Phi-3
    python bench/search.py --part workers  # trial throughput, one worker vs two

``known``: a pass writes ``x`` (0..15) and ``y`` (0..1, step 0.1); the metric
is ``100 - (x - 13)**2 - 50 * (y - 0.35)**2``, best 99.875 at (13, 0.3/0.4).
Both samplers stop at the first trial within 1 % of the best (a threshold
goal with ``stop_when_goals_met``): the figure is the number of trials that
took, for several seeds. ``lora``: LoRA r x alpha on the tiny Phi-3,
perplexity; exhaustive first (it names the best), then tpe on the same cache.
``workers``: each trial's pass sleeps a fixed time (standing in for work done
elsewhere: on this shared 2-core machine CPU-bound trials cannot scale);
throughput is trials over the span from the first trial's start to the last
trial's end in the study, so process start-up is excluded.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from modelpress import hookimpl
from modelpress.components import Metric, ModelHandle, Pass

BEST = 100 - 50 * 0.05 ** 2  # 99.875


def known(x: float, y: float) -> float:
    return 100 - (x - 13) ** 2 - 50 * (y - 0.35) ** 2


class BenchModel(ModelHandle):
    name = "BenchModel"
    path_fields = ("model_path",)
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"model_path": {"type": "string", "x-path": True}}}


class Paraboloid(Pass):
    """Writes its parameters into the model file (after ``sleep`` seconds)."""

    name = "Paraboloid"
    schema = {"type": "object", "additionalProperties": False, "properties": {
        "x": {"type": "integer", "default": 0}, "y": {"type": "number", "default": 0.0},
        "sleep": {"type": "number", "default": 0.0}, "tag": {"type": "string", "default": ""}}}

    def run(self, model, output_dir):
        time.sleep(self.config.sleep)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "m.json").write_text(json.dumps({"x": self.config.x, "y": self.config.y}))
        return model.replace(model_path=str(output_dir / "m.json"))


class KnownScore(Metric):
    name = "bench_score"
    sub_types = {"value": True}
    needs_data = False
    schema = {"type": "object", "additionalProperties": False, "properties": {}}

    def evaluate(self, model, session, data, sub_types):
        d = json.loads(Path(model.config.model_path).read_text())
        return {"value": known(d["x"], d["y"])}


@hookimpl
def register_model_types(register):
    register(BenchModel)


@hookimpl
def register_passes(register):
    register(Paraboloid)


@hookimpl
def register_metrics(register):
    register(KnownScore)


def use_bench_plugin() -> None:
    from modelpress import registry as reg

    pm = reg.new_plugin_manager(autoload=False)
    pm.register(sys.modules[__name__], name="bench_search")
    reg.set_registry(reg.Registry(pm))


def known_config(ws: Path, search: dict, sleep: float = 0.0, goal: float | None = None, tag: str = "") -> Path:
    (ws / "in.json").write_text("{}")
    sub = {"name": "value", "priority": 1}
    if goal is not None:
        sub["goal"] = {"type": "threshold", "value": goal}
    cfg = {"input_model": {"type": "BenchModel", "model_path": "in.json"},
           "evaluators": {"e": {"metrics": [{"name": "f", "type": "bench_score", "sub_types": [sub]}]}},
           "evaluator": "e", "evaluate_input_model": False, "log_severity_level": 2,
           "passes": {"p": {"type": "Paraboloid", "x": {"search": {"low": 0, "high": 15}},
                            "y": {"search": {"low": 0.0, "high": 1.0, "step": 0.1}}, "sleep": sleep, "tag": tag}},
           "search_strategy": search, "cache_dir": "cache", "output_dir": f"output-{search.get('study_name', 'x')}"}
    path = ws / f"config-{search.get('study_name', 'x')}.json"
    path.write_text(json.dumps(cfg))
    return path


def trials_to_goal(result) -> int:
    """How many trials ran until (and including) the first within 1 % of the best."""
    return len(result.search.trials) if result.search.stopped_by == "goals" else -1


def summary(counts: list[int]) -> str:
    """Median of the seeds that reached the goal, and how many did not (-1)."""
    reached = [c for c in counts if c > 0]
    median = statistics.median(reached) if reached else float("nan")
    return f"(median {median} of {len(reached)} that reached it; {len(counts) - len(reached)} did not)"


def part_known(seeds: int) -> None:
    import modelpress

    use_bench_plugin()
    goal = BEST * 0.99
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        full = modelpress.run(str(known_config(ws, {"sampler": "exhaustive", "study_name": "full"})))
        found = max(t["metrics"]["f-value"] for t in full.search.trials)
        print(f"known: exhaustive ran {len(full.search.trials)} trials; best {found:.3f} (expected {BEST})")
        grid = modelpress.run(str(known_config(ws, {"sampler": "exhaustive", "study_name": "grid-goal",
                                                   "stop_when_goals_met": True}, goal=goal)))
        print(f"known: exhaustive reaches within 1% of the best after {trials_to_goal(grid)} trials (grid order)")
        for sampler in ("tpe", "random"):
            counts = []
            for seed in range(seeds):
                search = {"sampler": sampler, "max_samples": 176, "seed": seed, "stop_when_goals_met": True,
                          "study_name": f"{sampler}-{seed}"}
                result = modelpress.run(str(known_config(ws, search, goal=goal)))
                counts.append(trials_to_goal(result))
            print(f"known: {sampler} trials to within 1% over {seeds} seeds: {counts} {summary(counts)}")


def part_lora(seeds: int) -> None:
    import modelpress
    from modelpress.testing import build_tiny_phi3

    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        model = build_tiny_phi3(ws / "tiny-phi3")
        rows = [{"text": f"### Text: sentence {i} is {'happy' if i % 2 else 'sad'}\n### The tone is:\n"
                         f"{'joy' if i % 2 else 'sadness'}"} for i in range(64)]
        (ws / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

        def config(search: dict, goal: float | None = None) -> Path:
            sub = {"name": "perplexity", "priority": 1}
            if goal is not None:
                sub["goal"] = {"type": "threshold", "value": goal}
            cfg = {"input_model": {"type": "HfModel", "model_path": str(model)},
                   "data_configs": [{"name": "train", "type": "HuggingfaceContainer",
                                     "load_dataset_config": {"data_name": "json", "data_files": "train.jsonl",
                                                             "split": "train"},
                                     "pre_process_data_config": {"text_cols": ["text"], "strategy": "join",
                                                                 "max_seq_len": 64}}],
                   "evaluators": {"ppl": {"metrics": [{"name": "ppl", "type": "perplexity", "data_config": "train",
                                                       "user_config": {"max_samples": 16}, "sub_types": [sub]}]}},
                   "evaluator": "ppl", "evaluate_input_model": False, "log_severity_level": 2,
                   "passes": {"lora": {"type": "LoRA", "r": [4, 8, 16], "alpha": [8, 32, 128], "train_data_config": "train",
                                       "target_modules": ["qkv_proj", "o_proj"],
                                       "training_args": {"max_steps": 8, "per_device_train_batch_size": 8,
                                                         "learning_rate": 3e-3, "seed": 0,
                                                         "disable_tqdm": True}}},
                   "search_strategy": search, "cache_dir": "cache", "output_dir": f"out-{search['study_name']}"}
            path = ws / f"{search['study_name']}.json"
            path.write_text(json.dumps(cfg))
            return path

        start = time.perf_counter()
        full = modelpress.run(str(config({"sampler": "exhaustive", "study_name": "full"})))
        wall = time.perf_counter() - start
        ppl = {json.dumps(t["params"], sort_keys=True): t["metrics"]["ppl-perplexity"] for t in full.search.trials}
        best = min(ppl.values())
        print(f"lora: exhaustive {len(ppl)} trials in {wall:.1f} s; best perplexity {best:.3f} at "
              f"{min(ppl, key=ppl.get)}; worst {max(ppl.values()):.3f}")
        counts = []
        for seed in range(seeds):  # on the same cache: every point is a lookup now
            result = modelpress.run(str(config({"sampler": "tpe", "max_samples": 9, "seed": seed,
                                                "n_startup_trials": 3, "stop_when_goals_met": True,
                                                "study_name": f"tpe-{seed}"}, goal=best * 1.01)))
            counts.append(trials_to_goal(result))
        print(f"lora: tpe trials to within 1% of the best perplexity over {seeds} seeds: {counts} "
              f"{summary(counts)} (exhaustive: {len(ppl)})")


def part_workers(trials: int, sleep: float, storages: list[str]) -> None:
    from modelpress import config as config_mod
    from modelpress.plugins.optuna_search.storage import open_storage
    from modelpress.search.study import prepare_study, strategy_config

    use_bench_plugin()
    from modelpress.registry import get_registry

    for kind in storages:
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as tmp, _storage(kind, Path(tmp)) as url:
                ws = Path(tmp)
                search = {"sampler": "random", "max_samples": trials, "seed": 0, "storage": url,
                          "study_name": f"w{workers}"}
                path = known_config(ws, search, sleep=sleep, tag=f"{kind}-{workers}")
                workflow = config_mod.load(path, get_registry())
                prepare_study(workflow, get_registry())
                barrier = ws / "barrier"
                barrier.mkdir()
                procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(path), str(barrier),
                                           str(i), str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          text=True) for i in range(workers)]
                for p in procs:
                    _, err = p.communicate()
                    if p.returncode:
                        raise SystemExit(f"worker failed:\n{err[-2000:]}")
                import optuna

                cfg = strategy_config(workflow)
                study = optuna.load_study(study_name=cfg["study_name"], storage=open_storage(cfg["storage"]))
                done = [t for t in study.get_trials() if t.state.name == "COMPLETE"]
                span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
                by = {}
                for t in done:
                    w = t.user_attrs["modelpress"]["worker"]
                    by[w] = by.get(w, 0) + 1
                rate = len(done) / span
                print(f"workers: {kind}, {workers} worker(s): {len(done)} trials in {span:.2f} s = "
                      f"{rate:.2f} trials/s (per worker: {sorted(by.values())})")
                if workers == 1:
                    one = rate
                else:
                    print(f"workers: {kind}: two workers / one = {rate / one:.2f}x")


class _storage:
    """A storage URL for a kind: a journal file, or a throw-away PostgreSQL server."""

    def __init__(self, kind: str, folder: Path):
        self.kind, self.folder = kind, folder

    def __enter__(self) -> str:
        if self.kind == "journal":
            return str(self.folder / "study.journal")
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.plugins.test_optuna_search_distributed import postgres_url

        self.gen = postgres_url.__wrapped__()
        return next(self.gen)

    def __exit__(self, *exc):
        if self.kind != "journal":
            next(self.gen, None)


def worker_main(config: str, barrier: str, name: str, count: str) -> int:
    use_bench_plugin()
    (Path(barrier) / name).write_text("ready")
    while len(list(Path(barrier).iterdir())) < int(count):
        time.sleep(0.01)
    from modelpress.api import search_worker_main

    return search_worker_main(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["known", "lora", "workers", "all"], default="all")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--sleep", type=float, default=0.5)
    parser.add_argument("--storages", default="journal,postgresql")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        sys.exit(worker_main(*args.worker))
    os.environ.setdefault("MODELPRESS_DISABLE_PLUGIN_AUTOLOAD", "1")
    if args.part in ("known", "all"):
        part_known(args.seeds)
    if args.part in ("lora", "all"):
        part_lora(min(args.seeds, 3))
    if args.part in ("workers", "all"):
        part_workers(args.trials, args.sleep, args.storages.split(","))


if __name__ == "__main__":
    main()
