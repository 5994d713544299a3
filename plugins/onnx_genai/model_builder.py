"""ModelBuilder: a Hugging Face model -> an ONNX Runtime GenAI model, with onnxruntime-genai's builder."""
from __future__ import annotations

import contextlib
import io
import logging
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelpress.components import Accelerator, ModelHandle, Pass
from modelpress.errors import ConfigError, UserError, did_you_mean

from . import builder_options as bo
from .builder_patches import layer_parts
from .builder_source import check_lm_head, from_gguf, source_folder
from .model import ADAPTER_SUFFIX, GENAI_CONFIG, INSTALL

log = logging.getLogger(__name__)

QUANTIZED = ("int4", "int8")
INT4_FIELDS = ("int4_block_size", "int4_accuracy_level", "int4_is_symmetric", "int4_algo_config",
               "int4_mixed_precision")
#: builder options that have a field of their own (or that the pass sets itself)
RESERVED = {
    "adapter_path": "it comes from the input model's adapter_path",
    "exclude_embeds": "use the exclude_embeds field",
    "exclude_lm_head": "use the exclude_lm_head field",
    "config_only": "it writes no model; ModelBuilder always builds one",
    "filename": "the model file is always model.onnx",
    **{name: f"use the {field} field" for field in INT4_FIELDS
       for name in (field, field.removeprefix("int4_"))},
    "matmul_mixed_precision": "use the int4_mixed_precision field",
}


def _is_search(value: Any) -> bool:
    return isinstance(value, Mapping) and "$search" in value


def _either(words: list[str]) -> str:
    if not words:
        return "another execution provider"
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ModelBuilder(Pass):
    """Build ``model.onnx``, ``genai_config.json`` and tokenizer files from an HfModel.

    The execution provider is the target accelerator's; an input adapter is
    built into the graph, or exported as an ``.onnx_adapter`` file with
    ``export_adapter``. Runs offline from a local folder.
    """

    name = "ModelBuilder"
    schema = "modelpress.plugins.onnx_genai:schemas/ModelBuilder.json"
    requires = {"onnxruntime_genai": INSTALL, "onnx_ir": INSTALL}
    libraries = ("onnxruntime-genai", "onnx", "onnx-ir", "transformers", "torch")
    accepts = ("HfModel",)
    produces = ("ONNXModel",)
    version = "1"

    @classmethod
    def check_config(cls, config: Mapping[str, Any], accelerator: Accelerator) -> list[str]:
        """Precision/provider pair, int4 fields and extra_options against the installed builder."""
        problems = []
        provider = bo.PROVIDERS.get(accelerator.execution_provider)
        precision = config.get("precision")
        if provider is None:
            problems.append(f"precision: onnxruntime-genai's builder has no target for "
                            f"{accelerator.execution_provider}; run it on one of {', '.join(bo.PROVIDERS)}")
        elif isinstance(precision, str):
            pairs = bo.valid_pairs()
            if (precision, provider) not in pairs:
                usable = sorted(p for p, e in pairs if e == provider)
                problems.append(f"precision: {precision} is not supported on {accelerator.execution_provider} "
                                f"by onnxruntime-genai's builder; use {_either(usable)}")
        if isinstance(precision, str) and precision not in QUANTIZED:
            for field in INT4_FIELDS:
                if config.get(field) is not None and not _is_search(config.get(field)):
                    problems.append(f"{field}: applies to int4 and int8 precision only; "
                                    f"remove it or set precision to int4")
        layers = config.get("int8_layers")
        if layers and isinstance(precision, str) and precision != "int4":
            problems.append("int8_layers: applies to int4 precision only (the layers named stay 8-bit in an "
                            "int4 body); remove it or set precision to int4")
        for name in layers or []:
            if isinstance(name, str) and layer_parts(name) is None:
                problems.append(f"int8_layers: '{name}' is not a decoder linear layer; name one as the "
                                f"model does, e.g. model.layers.3.mlp.down_proj (the LM head: "
                                f"int4_mixed_precision last_matmul:int8)")
        algo = config.get("int4_algo_config")
        known_algos = bo.algo_configs()
        if isinstance(algo, str) and known_algos and algo not in known_algos:
            problems.append(f"int4_algo_config: unknown method '{algo}'{did_you_mean(algo, known_algos)} "
                            f"(the installed builder accepts {', '.join(known_algos)})")
        options = bo.known_options()
        for key in (config.get("extra_options") or {}):
            if key in RESERVED:
                problems.append(f"extra_options.{key}: not allowed here; {RESERVED[key]}")
            elif options and key not in options:
                hint = did_you_mean(key, options) or ("; `python -m onnxruntime_genai.models.builder --help` "
                                                       "lists the options")
                problems.append(f"extra_options.{key}: unknown builder option{hint}")
        return problems

    # ------------------------------------------------------------------ run

    def run(self, model: ModelHandle, output_dir: Path) -> ModelHandle:
        """Build the ONNX model into ``output_dir`` and return its ONNXModel handle."""
        cfg = self.config
        problems = self.check_config(cfg, self.context.accelerator)
        if problems:
            raise ConfigError([f"ModelBuilder.{p}" for p in problems])
        if model.name != "HfModel":
            raise UserError(f"ModelBuilder: input is a {model.name}; it needs an HfModel (a Hugging Face folder)")
        source = source_folder(model.config)
        if not source.is_dir():
            raise UserError(f"ModelBuilder: model_path '{source}' is not a local folder; the builder runs "
                            "offline, so download the model first and give its folder")
        adapter = model.config.get("adapter_path")
        if adapter and not Path(adapter).is_dir():
            raise UserError(f"ModelBuilder: adapter_path '{adapter}' is not a folder; give the PEFT adapter folder")
        if adapter and model.config.get("quantization"):
            raise UserError("ModelBuilder: the input adapter was trained against 4-bit (QLoRA) weights and "
                            "the builder would apply it to the full-precision ones; add a MergeAdapterWeights "
                            "pass before ModelBuilder")
        if cfg.get("export_adapter") and not adapter:
            raise UserError("ModelBuilder.export_adapter: the input model has no adapter_path to export; "
                            "set export_adapter to false or build from a LoRA/QLoRA output")
        provider = bo.PROVIDERS[self.context.accelerator.execution_provider]
        int8 = self._upgraded(model)
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)

        with tempfile.TemporaryDirectory(dir=output_dir.parent, prefix=".modelbuilder-") as tmp:
            if model.config.get("gguf_file"):
                source = from_gguf(source / str(model.config["gguf_file"]), Path(tmp) / "hf")
            self._build(source, output_dir, provider, Path(tmp) / "cache", adapter, int8)

        for name in ("model.onnx", GENAI_CONFIG):
            if not (output_dir / name).is_file():
                raise RuntimeError(f"onnxruntime-genai's builder finished without writing {name}")
        fields: dict[str, Any] = {"model_path": str(output_dir)}
        if cfg.get("export_adapter"):
            from .adapters import export_lora

            name = cfg.get("adapter_name") or re.sub(r"[^A-Za-z0-9_.-]", "_", Path(adapter).name) or "adapter"
            path = output_dir / f"{name}{ADAPTER_SUFFIX}"
            if not export_lora(output_dir, path):
                raise UserError(f"ModelBuilder.export_adapter: the adapter in {adapter} produced no LoRA "
                                "layers in the graph; check its target_modules")
            fields["adapters"] = {name: str(path)}
            if cfg["activate_adapter"]:  # evaluations of this output then measure the fine-tune, not the base
                fields["active_adapter"] = name
        return self.context.model("ONNXModel", **fields)

    def _upgraded(self, model: ModelHandle) -> list[str]:
        """Decoder layers to keep in 8 bits: the config's ``int8_layers`` and, for an int4 build, the input's.

        A sensitivity pass before this one records its choice on the model handle; a
        build at another precision (int8, fp32, ...) has no 4-bit layers to upgrade.
        """
        if self.config["precision"] != "int4":
            return []
        chosen = list(self.config.get("int8_layers") or [])
        for name in model.config.get("int8_layers") or []:
            if layer_parts(name) is None:
                raise UserError(f"ModelBuilder: the input model's int8_layers entry '{name}' is not a decoder "
                                f"linear layer; correct the handle (e.g. model.layers.3.mlp.down_proj)")
            if name not in chosen:
                chosen.append(name)
        if chosen:
            log.info("ModelBuilder: %d decoder linear layers in int8: %s", len(chosen), ", ".join(chosen))
        return chosen

    def _options(self, adapter: str | None) -> list[str]:
        """The builder's ``KEY=VALUE`` extra options for this config."""
        cfg = self.config
        options: dict[str, Any] = {"hf_token": False}  # local folders only; never ask the hub
        for field in INT4_FIELDS:
            if cfg.get(field) is not None:
                options[bo.quantization_option(field)] = cfg[field]
        for field in ("exclude_embeds", "exclude_lm_head"):
            if cfg.get(field):
                options[field] = True
        if adapter:
            options["adapter_path"] = str(adapter)
        options.update(cfg.get("extra_options") or {})
        return [f"{key}={_option_text(value)}" for key, value in options.items()]

    def _build(self, source: Path, output_dir: Path, provider: str, cache: Path, adapter: str | None,
               int8: list[str]) -> None:
        precision = self.config["precision"]
        keep_lora = self.config.get("export_adapter") and precision in QUANTIZED
        args = (None, str(source), str(output_dir), precision, provider, str(cache))
        log.info("ModelBuilder: %s %s build of %s", precision, provider, source)
        if precision in QUANTIZED:
            from .lazy_weights import LazyWeightsUnsupported

            # Weights read layer by layer from the safetensors files where the model allows it;
            # a model the lazy loader refuses up front gets the whole model loaded, and one that
            # fails later inside the builder (weights read outside the module it converts) is
            # built as the builder alone would build it. A real error recurs there.
            lazy = not adapter
            while True:
                try:
                    self._create(args, source, adapter, streamed=True, lazy=lazy, keep_lora=keep_lora, int8=int8)
                    return
                except UserError:
                    raise
                except LazyWeightsUnsupported as exc:
                    if not lazy:
                        raise
                    log.info("ModelBuilder: layer-by-layer loading not possible (%s); loading the whole model",
                             exc)
                    lazy = False
                except Exception as exc:
                    log.warning("ModelBuilder: the low-memory build failed (%s: %s); building again the "
                                "builder's own way", type(exc).__name__, str(exc).strip()[:200])
                    break
        self._create(args, source, adapter, streamed=False, lazy=False, keep_lora=keep_lora, int8=int8)

    def _create(self, args: tuple, source: Path, adapter: str | None, *, streamed: bool, lazy: bool,
                keep_lora: bool, int8: list[str]) -> None:
        """One run of the builder, with the memory patches (``streamed``, ``lazy``) and the corrections.

        With ``streamed`` the builder's own errors propagate as they are, for the caller to retry
        without the patches; without, they become user errors.
        """
        from .builder_memory import low_memory_build
        from .builder_patches import keep_lora_unquantized, lm_head_by_identity, upgrade_to_int8

        memory = low_memory_build(source, lazy=lazy) if streamed else contextlib.nullcontext()
        # keep_lora_unquantized and upgrade_to_int8 wrap the streamed to_nbits, so they are entered after it
        with _quiet_builder(), memory, lm_head_by_identity() as head_fixed, \
                (keep_lora_unquantized() if keep_lora else contextlib.nullcontext()), \
                (upgrade_to_int8(int8) if int8 else contextlib.nullcontext(True)) as int8_placed:
            from onnxruntime_genai.models.builder import create_model, parse_extra_options

            if not head_fixed:
                check_lm_head(source)
            if not int8_placed:
                raise UserError("ModelBuilder.int8_layers: the installed onnxruntime-genai builder has no "
                                "quantization step to place them in; remove int8_layers or install "
                                "the onnxruntime-genai version modelpress names")
            try:
                options = parse_extra_options(*args, self._options(adapter))
            except (ValueError, NotImplementedError) as exc:
                raise _refused(source, exc) from exc
            try:
                create_model(*args, **options)
            except (ValueError, NotImplementedError) as exc:
                if streamed:
                    raise
                raise _refused(source, exc) from exc


def _refused(source: Path, exc: Exception) -> UserError:
    """The builder raises ValueError and NotImplementedError for options and architectures it rejects."""
    return UserError(f"ModelBuilder: onnxruntime-genai's builder refused {source.name}: "
                     f"{str(exc).strip().splitlines()[0]}; change the pass options or the model")


@contextlib.contextmanager
def _quiet_builder():
    """Route the builder's prints and progress bars to the log; keep the process's logging setup.

    Importing the builder configures the root logger (a stderr handler at
    INFO), which would make every library chatty for the rest of the run.
    """
    root = logging.getLogger()
    root_level, root_handlers = root.level, list(root.handlers)
    quantizer = logging.getLogger("onnxruntime.quantization")
    level = quantizer.level
    quantizer.setLevel(logging.WARNING)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield
    finally:
        quantizer.setLevel(level)
        root.setLevel(root_level)
        root.handlers[:] = root_handlers
        for line in re.split(r"[\r\n]+", out.getvalue() + "\n" + err.getvalue()):
            if line.strip():
                warn = "WARNING" in line or "Warning" in line
                (log.warning if warn else log.debug)("builder: %s", line.strip())
