"""``modelpress finetune``: write a LoRA/QLoRA workflow from flags and run it.

The command lives in this plugin (not in core), added through the
``register_commands`` hook, so the core names no pass. Flags follow Olive's
``olive finetune`` where it has one: ``--text-template`` escapes (``\\n``,
``\\t``, ``\\uXXXX``) are decoded as Olive does, every documented
``transformers.TrainingArguments`` field of the LoRA schema is a flag
(``--learning_rate`` or ``--learning-rate``), ``--training-arg KEY=VALUE``
passes any other field through.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from modelpress import hookimpl
from modelpress.errors import UserError

DATA_BUILDERS = {"jsonl": "json", "json": "json", "csv": "csv", "parquet": "parquet", "txt": "text"}
CONFIG_NAME = "finetune-config.json"  # where --no-run writes the config when --save-config is not given
TYPES = {"integer": int, "number": float, "string": str}


def decode_escapes(text: str) -> str:
    """Decode backslash escapes as Olive does (``\\n`` becomes a newline).

    Characters outside Latin-1 are escaped first, so a template in any
    language survives the round trip unchanged.
    """
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean; use true or false")


def training_arg_fields() -> dict[str, dict]:
    """The TrainingArguments fields the LoRA schema documents (name -> schema)."""
    from .lora import LoRA

    return dict(LoRA.get_schema()["properties"]["training_args"].get("properties", {}))


def add_arguments(ft: argparse.ArgumentParser) -> None:
    """The flags of ``modelpress finetune``."""
    ft.add_argument("--model", required=True, help="HF folder, hub name or .gguf file")
    ft.add_argument("--data", required=True, help="JSON Lines, JSON, CSV, Parquet or text file")
    ft.add_argument("--text-template", required=True,
                    help='e.g. "### Text: {phrase}\\n### Tone: {tone}" (escapes like \\n are decoded)')
    ft.add_argument("--method", choices=["lora", "qlora"], default="lora")
    ft.add_argument("--max-steps", "--max_steps", dest="max_steps", type=int, default=100)
    ft.add_argument("--max-seq-len", type=int, default=512)
    ft.add_argument("--r", type=int, default=16)
    ft.add_argument("--train-split", default="train",
                    help="the split of --data to train on, e.g. 'train[:90%%]' (default: train)")
    ft.add_argument("--eval-split",
                    help="held-out data for eval loss: a fraction (0.1) or count (200) of the training "
                         "blocks, or a split of --data such as 'train[90%%:]'")
    ft.add_argument("--trust-remote-code", action="store_true",
                    help="let transformers run the model repository's own code (only for models you trust)")
    ft.add_argument("--merge", action="store_true", help="merge the adapter into the base afterwards")
    ft.add_argument("--output-dir", default="finetune-output")
    ft.add_argument("--save-config", help="write the config here (and still run unless --no-run)")
    ft.add_argument("--no-run", action="store_true",
                    help=f"only write the config (to --save-config, else OUTPUT_DIR/{CONFIG_NAME})")
    ft.add_argument("--training-arg", dest="training_arg", action="append", default=[], metavar="KEY=VALUE",
                    help="any other TrainingArguments field (value read as JSON, else a string); repeatable")
    group = ft.add_argument_group("TrainingArguments (each also spelled with dashes)")
    taken = set(ft._option_string_actions)  # the command's own flags win (--output-dir, --max-steps)
    for name, schema in training_arg_fields().items():
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        if taken.intersection(flags):
            continue
        kinds = schema.get("type", "string")
        kind = next((k for k in ([kinds] if isinstance(kinds, str) else kinds) if k != "null"), "string")
        if kind == "boolean":  # `--bf16` alone means true, as in transformers' own parser
            group.add_argument(*flags, dest=f"ta_{name}", type=_bool, nargs="?", const=True, metavar="BOOL")
        else:
            group.add_argument(*flags, dest=f"ta_{name}", type=TYPES.get(kind, str), metavar=kind.upper(),
                               help=schema.get("description"))


def _number(text: str) -> float | int | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def training_args(args: argparse.Namespace) -> dict[str, Any]:
    """``training_args`` of the pass: max_steps, the flags given, then --training-arg."""
    out: dict[str, Any] = {"max_steps": args.max_steps}
    out.update({k[3:]: v for k, v in vars(args).items() if k.startswith("ta_") and v is not None})
    for item in args.training_arg:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UserError(f"--training-arg {item}: expected KEY=VALUE, e.g. --training-arg warmup_ratio=0.1")
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


def finetune_config(args: argparse.Namespace) -> dict:
    """The workflow config ``modelpress finetune`` writes."""
    # A local model is written as an absolute path: the config may be saved
    # in another folder, and relative paths resolve against the config's.
    source = str(Path(args.model).resolve()) if Path(args.model).exists() else args.model
    model: dict[str, Any] = {"type": "HfModel", "model_path": source}
    if args.model.endswith(".gguf"):
        model = {"type": "HfModel", "model_path": str(Path(source).parent), "gguf_file": Path(source).name}
    if args.trust_remote_code:
        model["load_kwargs"] = {"trust_remote_code": True}
    suffix = Path(args.data).suffix.lower().lstrip(".")
    data_name = DATA_BUILDERS.get(suffix)
    if data_name is None:
        raise UserError(f"--data {args.data}: unsupported file type '.{suffix}'; "
                        "use .json/.jsonl, .csv, .parquet or .txt")

    def data_config(name: str, split: str) -> dict:
        return {"name": name, "type": "HuggingfaceContainer",
                "load_dataset_config": {"data_name": data_name, "data_files": str(Path(args.data).resolve()),
                                        "split": split},
                "pre_process_data_config": {"text_template": decode_escapes(args.text_template),
                                            "strategy": "join", "max_seq_len": args.max_seq_len}}

    lora = {"type": "QLoRA" if args.method == "qlora" else "LoRA", "r": args.r,
            "train_data_config": "train", "training_args": training_args(args)}
    data_configs = [data_config("train", args.train_split)]
    if args.eval_split:
        size = _number(args.eval_split)
        if size is not None:
            if size <= 0:
                raise UserError(f"--eval-split {args.eval_split}: give a fraction above 0 (0.1), "
                                f"a count (200) or a split such as 'train[90%:]'")
            lora["eval_dataset_size"] = size
        else:
            data_configs.append(data_config("eval", args.eval_split))
            lora["eval_data_config"] = "eval"
    passes = {"finetune": lora}
    if args.merge:
        passes["merge"] = {"type": "MergeAdapterWeights"}
    return {"input_model": model, "data_configs": data_configs, "passes": passes, "output_dir": args.output_dir}


def run_finetune(args: argparse.Namespace) -> int:
    """Write the config (when asked, or when not running) and run it."""
    config = finetune_config(args)
    target = args.save_config or (str(Path(args.output_dir) / CONFIG_NAME) if args.no_run else None)
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        print(f"config written to {target}" + ("; run it with: modelpress run " + target if args.no_run else ""))
    if args.no_run:
        return 0
    from modelpress.api import run_workflow

    overrides = {} if args.severity is None else {"log_severity_level": args.severity}
    result = run_workflow(config, **overrides)
    print(f"output model: {result.output_dir / 'model'}")
    return 0


@hookimpl
def register_commands(subparsers):
    """Add ``modelpress finetune``."""
    ft = subparsers.add_parser("finetune", help="write and run a LoRA/QLoRA config in one command")
    add_arguments(ft)
    ft.set_defaults(handler=run_finetune)
