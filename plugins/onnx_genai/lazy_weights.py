"""Read a Hugging Face model's weights module by module while onnxruntime-genai's builder converts it.

The builder loads the whole PyTorch model before it converts the first
layer. :class:`LazyLoader` gives it the same model built on the meta device
(no memory) and fills in one module's weights from the safetensors files
just for the builder call that converts it, then drops them again. Models
it cannot serve raise :class:`LazyWeightsUnsupported` up front; a builder
that reads a weight outside the module it converts fails on the meta
tensor, never silently.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

FLOATS = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


class LazyWeightsUnsupported(RuntimeError):
    """The model cannot be read layer by layer; build it the ordinary way."""


class LazyLoader:
    """A meta-device model whose modules read their weights only while the builder converts them."""

    def __init__(self, source: Path):
        self.source = source
        self.keys: dict[str, str] = {}  # checkpoint key -> safetensors file
        self.names: dict[int, list[str]] = {}  # id(parameter) -> every name it has in the model
        self.prefix: dict[int, str] = {}  # id(module) -> its qualified name

    def load_weights(self, original):
        """A replacement for the builder's ``load_weights`` that returns the meta-device model."""
        loader = self

        def load_weights(self, input_path):
            if "adapter_path" in self.extra_options or self.quant_type is not None or \
                    str(input_path).endswith(".gguf") or "num_hidden_layers" in self.extra_options:
                raise LazyWeightsUnsupported("the input needs the builder's own loader")
            return loader.skeleton(self.model_name_or_path, self.model_type)
        return load_weights

    def skeleton(self, path: str, model_type: str):
        """The model on the meta device, with every parameter's checkpoint key checked."""
        import torch
        from safetensors import safe_open
        from transformers import AutoConfig, AutoModelForCausalLM

        folder = Path(path)
        if folder.resolve() != self.source.resolve() or "ForCausalLM" not in model_type:
            raise LazyWeightsUnsupported(f"{model_type} is loaded by another class")
        files = sorted(folder.glob("*.safetensors"))
        if not files:
            raise LazyWeightsUnsupported("no safetensors files")
        stored = None  # the first floating-point dtype in the checkpoint
        for file in files:
            with safe_open(str(file), "pt") as fh:
                for key in fh.keys():  # noqa: SIM118 (safe_open is not iterable)
                    self.keys[key] = str(file)
                    stored = stored or FLOATS.get(fh.get_slice(key).get_dtype())
        config = AutoConfig.from_pretrained(str(folder))
        # what from_pretrained's default dtype="auto" picks: the config's dtype, else the checkpoint's
        dtype = getattr(config, "dtype", None) or (getattr(torch, stored) if stored else torch.float32)
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        model.eval()
        for name, param in model.named_parameters(remove_duplicate=False):
            self.names.setdefault(id(param), []).append(name)
        for name, module in model.named_modules(remove_duplicate=False):
            self.prefix.setdefault(id(module), name)
        missing = [names[0] for names in self.names.values() if not any(n in self.keys for n in names)]
        if missing:
            raise LazyWeightsUnsupported(f"{missing[0]} is not stored under its own name")
        return model

    def _read(self, param) -> Any:
        import torch
        from safetensors import safe_open

        key = next(n for n in self.names[id(param)] if n in self.keys)
        with safe_open(self.keys[key], "pt") as fh:
            tensor = fh.get_tensor(key)
        return torch.nn.Parameter(tensor.to(param.dtype), requires_grad=False)

    def materializing(self, original):
        """Wrap a builder method so the modules and parameters it is given hold real weights during the call."""
        import torch

        loader = self

        def convert(self, *args, **kwargs):
            if not loader.names:  # the builder's own loader ran
                return original(self, *args, **kwargs)
            args = list(args)
            swapped = []  # (module, name, meta parameter)
            for i, arg in enumerate(args):
                if isinstance(arg, torch.nn.Parameter) and arg.is_meta:
                    args[i] = loader._read(arg)
                elif isinstance(arg, torch.nn.Module) and id(arg) in loader.prefix:
                    for owner in arg.modules():
                        for name, param in list(owner._parameters.items()):
                            if param is not None and param.is_meta:
                                owner._parameters[name] = loader._read(param)
                                swapped.append((owner, name, param))
            try:
                return original(self, *args, **kwargs)
            finally:
                for owner, name, param in swapped:  # drop the weights; the graph has its own copy
                    owner._parameters[name] = param
        return convert
