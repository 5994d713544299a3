"""The ``modelpress`` command line.

Start-up stays light: only argparse at import; each command imports what it
needs. Errors a user can fix print one line each and exit with code 2.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys

from .. import __version__
from ..errors import PassFailed, UserError
from . import console


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="modelpress",
        description="Fine-tune, merge, quantize and evaluate small language models from one config.")
    p.add_argument("--version", action="version", version=f"modelpress {__version__}")
    _verbosity_flags(p, 0)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    # Each sub-command takes -v/-q too (after its name, where users type them);
    # SUPPRESS keeps a sub-command from resetting a count given before it.
    common = argparse.ArgumentParser(add_help=False)
    _verbosity_flags(common, argparse.SUPPRESS)
    sub.add_parser = _checked_add_parser(sub, common)  # type: ignore[method-assign]

    run = sub.add_parser("run", help="run a workflow config (JSON or YAML)")
    run.add_argument("config_path", nargs="?", metavar="CONFIG")
    run.add_argument("--config", dest="config_flag", metavar="CONFIG", help="the config (Olive's spelling)")
    run.add_argument("--dry-run", action="store_true", help="print the plan with cache hits and misses")
    run.add_argument("--output-dir", help="override the config's output_dir")
    run.add_argument("--cache-dir", help="override the config's cache_dir")
    run.add_argument("--clean-cache", action="store_true", help="empty the cache first")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override one config value before validation, e.g. --set passes.lora.r=32 "
                          "(dotted path; VALUE read as JSON/YAML, else a string); repeatable")

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

    rep = sub.add_parser("report", help="print a run's metrics and (re)write its HTML report")
    rep.add_argument("output_dir", metavar="OUTPUT_DIR")

    worker = sub.add_parser("search-worker", help="run trials of a config's shared Optuna study")
    worker.add_argument("config_path", metavar="CONFIG")
    worker.add_argument("--max-trials", type=int, help="stop after this many trials")
    _plugin_commands(sub)
    return p


def _checked_add_parser(sub, common: argparse.ArgumentParser):
    """``sub.add_parser`` that adds the common flags and refuses a taken name.

    argparse before 3.11 lets a second parser of the same name silently
    replace the first: a plugin could hide ``run``.
    """
    add = sub.add_parser

    def add_parser(name: str, **kwargs):
        if name in sub.choices:
            raise ValueError(f"command '{name}' already exists")
        kwargs["parents"] = [common, *kwargs.get("parents", [])]
        return add(name, **kwargs)

    return add_parser


def _verbosity_flags(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="more log lines (debug); overrides the config's log_severity_level")
    parser.add_argument("-q", "--quiet", action="count", default=default,
                        help="fewer log lines (-q warnings only, -qq errors only)")


def _plugin_commands(sub) -> None:
    """Sub-commands that plugins add through the ``register_commands`` hook.

    Each implementation is called by hand (not through ``pm.hook``) so that a
    plugin whose command clashes or breaks is named in the error.
    """
    from ..registry import get_registry

    for impl in get_registry().pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(subparsers=sub)
        except (argparse.ArgumentError, ValueError, TypeError) as exc:
            raise UserError(f"plugin '{impl.plugin_name}': register_commands failed: {exc}; "
                            f"upgrade or uninstall the plugin") from None


RESUME_HINT = "finished passes stay in the cache; rerun the same command to resume"


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C, so children are stopped on the way out."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code."""
    with contextlib.suppress(ValueError):  # not the main thread (embedded use): leave signals alone
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _main(argv)
    except BrokenPipeError:  # `modelpress plugins | head`: the reader left, nothing is wrong
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the exit-time flush must not fail again
        return 0


def _main(argv: list[str] | None) -> int:
    try:
        parser = _parser()
    except UserError as exc:  # a broken plugin: the message names it
        return _user_error(exc)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    args.severity = console.severity_from_flags(args.verbose, args.quiet)
    console.configure(args.severity)
    try:
        if hasattr(args, "handler"):  # a plugin's command (register_commands)
            return args.handler(args)
        from . import commands

        return getattr(commands, "cmd_" + args.command.replace("-", "_"))(args)
    except UserError as exc:
        return _user_error(exc)
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


def _user_error(exc: UserError) -> int:
    for line in exc.problems:
        print(f"error: {line}", file=sys.stderr)
    return exc.exit_code
