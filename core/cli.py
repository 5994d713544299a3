"""The ``modelpress`` command line.

Start-up stays light: only argparse at import; each command imports what it
needs. Errors a user can fix print one line each and exit with code 2.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from . import __version__
from .errors import PassFailed, UserError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="modelpress",
        description="Fine-tune, merge, quantize and evaluate small language models from one config.")
    p.add_argument("--version", action="version", version=f"modelpress {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a workflow config (JSON or YAML)")
    run.add_argument("config_path", nargs="?", metavar="CONFIG")
    run.add_argument("--config", dest="config_flag", metavar="CONFIG", help="the config (Olive's spelling)")
    run.add_argument("--dry-run", action="store_true", help="print the plan with cache hits and misses")
    run.add_argument("--output-dir", help="override the config's output_dir")
    run.add_argument("--cache-dir", help="override the config's cache_dir")
    run.add_argument("--clean-cache", action="store_true", help="empty the cache first")

    for name, text in (("validate", "check a config and report every problem"),
                       ("migrate", "print the canonical form of a config and what was rewritten")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("config_path", metavar="CONFIG")
        if name == "migrate":
            cmd.add_argument("--format", choices=["json", "yaml"], default="json")

    plugins = sub.add_parser("plugins", help="list every component and the plugin providing it")
    plugins.add_argument("--json", action="store_true")

    schema = sub.add_parser("schema", help="print the JSON Schema of the workflow or of one component")
    schema.add_argument("component", nargs="?", help="a component type, e.g. LoRA")

    gen = sub.add_parser("generate", help="generate text with an ONNX GenAI or Hugging Face model folder")
    gen.add_argument("--model", required=True, help="model folder (or a run's output folder)")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--max-tokens", type=int, default=128)
    gen.add_argument("--raw", action="store_true", help="do not apply the chat template")
    gen.add_argument("--adapter", help="name of an exported adapter to switch on")
    gen.add_argument("--device", default="cpu", choices=["cpu", "gpu"])

    ft = sub.add_parser("finetune", help="write and run a LoRA/QLoRA config in one command")
    ft.add_argument("--model", required=True, help="HF folder, hub name or .gguf file")
    ft.add_argument("--data", required=True, help="JSON Lines, JSON, CSV, Parquet or text file")
    ft.add_argument("--text-template", required=True, help='e.g. "### Text: {phrase}\\n### Tone: {tone}"')
    ft.add_argument("--method", choices=["lora", "qlora"], default="lora")
    ft.add_argument("--max-steps", type=int, default=100)
    ft.add_argument("--max-seq-len", type=int, default=512)
    ft.add_argument("--r", type=int, default=16)
    ft.add_argument("--merge", action="store_true", help="merge the adapter into the base afterwards")
    ft.add_argument("--output-dir", default="finetune-output")
    ft.add_argument("--save-config", help="write the config here (and still run unless --no-run)")
    ft.add_argument("--no-run", action="store_true")

    rep = sub.add_parser("report", help="print a run's metrics and (re)write its HTML report")
    rep.add_argument("output_dir", metavar="OUTPUT_DIR")

    worker = sub.add_parser("search-worker", help="run trials of a config's shared Optuna study")
    worker.add_argument("config_path", metavar="CONFIG")
    worker.add_argument("--max-trials", type=int, help="stop after this many trials")
    return p


RESUME_HINT = "finished passes stay in the cache; rerun the same command to resume"


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C, so children are stopped on the way out."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code."""
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        pass
    try:
        return _main(argv)
    except BrokenPipeError:  # `modelpress plugins | head`: the reader left, nothing is wrong
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the exit-time flush must not fail again
        return 0


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        from . import commands

        return getattr(commands, "cmd_" + args.command.replace("-", "_"))(args)
    except UserError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    except PassFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.log_tail:
            print(exc.log_tail.rstrip()[-4000:], file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: {RESUME_HINT}", file=sys.stderr)
        return 130
    except Terminated:
        print(f"terminated: {RESUME_HINT}", file=sys.stderr)
        return 143


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def config_path(args) -> Path:
    """The config named by a positional argument or ``--config``."""
    path = getattr(args, "config_flag", None) or getattr(args, "config_path", None)
    if not path:
        raise UserError("run: no config given; use 'modelpress run CONFIG' or 'modelpress run --config CONFIG'")
    return Path(path)
