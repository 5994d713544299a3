"""Keep an int4/int8 build's memory near the size of one copy of the weights.

onnxruntime-genai's builder loads the whole PyTorch model, keeps every
weight in the ONNX graph it builds, then copies that graph into one protobuf
(``ir.to_proto``) for the quantizer: three full-precision copies at its peak.
While :func:`low_memory_build` is active, for the same model bytes:

- each initializer is written to a scratch file as soon as the builder makes
  it, and the graph keeps an external reference (``make_initializer``);
- the quantizer gets that graph with external references and loads one
  weight at a time, just around the node it quantizes (the same quantizer
  class, options and per-node code, so the same output bytes);
- with ``lazy=True`` the PyTorch model is built on the meta device and each
  decoder layer, the embedding, the final norm and the LM head read their
  weights from the safetensors files only while the builder converts them.

Whole-graph algorithms (RTN, k_quant, GPTQ) get every weight loaded back,
as before. The patches apply to the builder's class only inside the block.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)

SCRATCH = "modelpress-initializers-"  # + a unique suffix per builder object (MTP heads share the folder)


class LazyWeightsUnsupported(RuntimeError):
    """The model cannot be read layer by layer; build it the ordinary way."""


def _builder_model_class():
    import onnxruntime_genai.models.builder  # noqa: F401  (puts the builder's folder on sys.path)
    from builders.base import Model  # the module object the builder itself uses

    return Model


@contextlib.contextmanager
def low_memory_build(source: Path, *, lazy: bool) -> Iterator[None]:
    """Patch the builder for a streamed quantized build (see the module docstring)."""
    cls = _builder_model_class()
    module = sys.modules[cls.__module__]
    names = ["make_initializer", "to_nbits"]
    if lazy:
        names += ["load_weights", "make_embedding", "make_layer", "make_layernorm", "make_lm_head"]
    originals = {name: cls.__dict__.get(name) for name in names}
    quantizer = getattr(module, "MatMulNBitsQuantizer", None)
    if None in originals.values() or quantizer is None:  # another builder version: leave it alone
        log.debug("ModelBuilder: builder layout not recognised; building without streaming")
        yield
        return
    stores: list[_Store] = []
    setattr(cls, "make_initializer", _externalizing(originals["make_initializer"], stores))
    setattr(cls, "to_nbits", _streaming_to_nbits(originals["to_nbits"], module, quantizer))
    if lazy:
        loader = _LazyLoader(Path(source))
        setattr(cls, "load_weights", loader.load_weights(originals["load_weights"]))
        for name in ("make_embedding", "make_layer", "make_layernorm", "make_lm_head"):
            setattr(cls, name, loader.materializing(originals[name]))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(cls, name, original)
        for store in stores:
            store.close()


# ------------------------------------------------------------- initializers


class _Store:
    """An append-only scratch file of initializer bytes in the builder's cache folder."""

    def __init__(self, folder: str):
        import tempfile

        os.makedirs(folder, exist_ok=True)
        self.folder = folder
        self.file = tempfile.NamedTemporaryFile(dir=folder, prefix=SCRATCH, suffix=".bin", delete=False)  # noqa: SIM115
        self.location = os.path.basename(self.file.name)

    def externalize(self, tensor: Any):
        import onnx_ir as ir

        offset = self.file.tell()
        self.file.write(_buffer(tensor))
        length = self.file.tell() - offset
        self.file.flush()  # readers map the file while it grows
        return ir.ExternalTensor(self.location, offset, length, tensor.dtype, shape=tensor.shape,
                                 name=tensor.name, base_dir=self.folder)

    def close(self) -> None:
        self.file.close()


def _buffer(tensor) -> Any:
    """The tensor's bytes in ONNX layout; a view of its array where that layout is the array's own."""
    import numpy as np

    try:
        whole_bytes = tensor.dtype.bitwidth % 8 == 0
    except (TypeError, ValueError):  # strings have no bit width
        whole_bytes = False
    if whole_bytes and sys.byteorder == "little":
        array = tensor.numpy()
        if isinstance(array, np.ndarray) and array.dtype.itemsize * 8 == tensor.dtype.bitwidth \
                and array.dtype.byteorder in "=|<":
            return memoryview(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
    return tensor.tobytes()  # packed 4-bit types and anything unusual: onnx_ir's own encoding


def _externalizing(original, stores: list[_Store]):
    def make_initializer(self, tensor, /, name, **kwargs):
        original(self, tensor, name, **kwargs)
        store = self.__dict__.get("_modelpress_store")
        if store is None:
            store = self._modelpress_store = _Store(self.cache_dir)
            stores.append(store)
        value = self.model.graph.initializers[name]
        value.const_value = store.externalize(value.const_value)
    return make_initializer


def _streaming_to_nbits(original, module, quantizer_class):
    def to_nbits(self, *args, **kwargs):
        store = self.__dict__.get("_modelpress_store")
        if store is None:
            return original(self, *args, **kwargs)
        module.MatMulNBitsQuantizer = _streaming_quantizer(quantizer_class, store.folder)
        try:
            model = original(self, *args, **kwargs)
        finally:
            module.MatMulNBitsQuantizer = quantizer_class
        # weights left in float still point into the scratch file; save_model copies them out
        from onnx_ir import external_data

        external_data.set_base_dir(model.graph, store.folder)
        return model
    return to_nbits


def _streaming_quantizer(base, folder: str):
    class StreamingMatMulNBitsQuantizer(base):
        """The builder's quantizer, fed one weight at a time from the scratch file."""

        def __init__(self, model, *args, **kwargs):
            super().__init__(model, *args, **kwargs)
            if self.algo_config.algorithm in ("DEFAULT", "HQQ") and self.node_quantizer is not None:
                per_node = self.node_quantizer.quantize
                self.node_quantizer.quantize = lambda node, graph_stack: _quantize_one(per_node, node,
                                                                                        graph_stack, folder)
            else:  # whole-graph algorithms read every weight at once
                for graph in _graphs(self.model.model.graph):
                    for tensor in graph.initializer:
                        data = _read(tensor, folder)
                        if data is not None:
                            del tensor.external_data[:]
                            tensor.data_location = 0  # TensorProto.DEFAULT
                            tensor.raw_data = data

    return StreamingMatMulNBitsQuantizer


def _graphs(graph) -> Iterator[Any]:
    import onnx

    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from _graphs(sub)


def _in_scratch(tensor) -> bool:
    import onnx

    return tensor.data_location == onnx.TensorProto.EXTERNAL and any(
        entry.key == "location" and entry.value.startswith(SCRATCH) and os.sep not in entry.value
        for entry in tensor.external_data)


def _read(tensor, folder: str) -> bytes | None:
    """The bytes of an initializer kept in the scratch file (None for any other)."""
    if not _in_scratch(tensor):
        return None
    info = {entry.key: entry.value for entry in tensor.external_data}
    with open(os.path.join(folder, info["location"]), "rb") as fh:
        fh.seek(int(info.get("offset", 0)))
        return fh.read(int(info["length"]))


def _quantize_one(quantize, node, graph_stack: list, folder: str) -> list:
    """Quantize one node with its weights loaded into a graph of their own.

    The quantizer looks initializers up from the innermost graph outwards and
    adds its outputs next to the weight it found, so a small graph on top of
    the stack receives both; the outputs are then moved to the real graph.
    Bytes are never set on the big graph's own tensors: protobuf keeps the
    memory of a message's fields until the whole message is freed.
    """
    import onnx

    wanted = set(node.input)
    scratch = onnx.GraphProto()
    for graph in graph_stack:
        for tensor in graph.initializer:
            if tensor.name in wanted and _in_scratch(tensor):
                # The same reference with an absolute location: the quantizer reads it through
                # onnx_ir as a memory map, so the weight is never copied into the protobuf.
                copy = scratch.initializer.add()
                copy.CopyFrom(tensor)
                for entry in copy.external_data:
                    if entry.key == "location":
                        entry.value = os.path.join(os.path.abspath(folder), entry.value)
    if not scratch.initializer:
        return quantize(node, graph_stack)
    loaded = {tensor.name for tensor in scratch.initializer}
    nodes = quantize(node, [*graph_stack, scratch])
    graph_stack[-1].initializer.extend(t for t in scratch.initializer if t.name not in loaded)
    return nodes


# ------------------------------------------------------------- lazy weights


class _LazyLoader:
    """A meta-device model whose modules read their weights only while the builder converts them."""

    def __init__(self, source: Path):
        self.source = source
        self.keys: dict[str, str] = {}  # checkpoint key -> safetensors file
        self.names: dict[int, list[str]] = {}  # id(parameter) -> every name it has in the model
        self.prefix: dict[int, str] = {}  # id(module) -> its qualified name

    def load_weights(self, original):
        loader = self

        def load_weights(self, input_path):
            if "adapter_path" in self.extra_options or self.quant_type is not None or \
                    str(input_path).endswith(".gguf") or "num_hidden_layers" in self.extra_options:
                raise LazyWeightsUnsupported("the input needs the builder's own loader")
            return loader.skeleton(self.model_name_or_path, self.model_type)
        return load_weights

    def skeleton(self, path: str, model_type: str):
        import torch
        from safetensors import safe_open
        from transformers import AutoConfig, AutoModelForCausalLM

        folder = Path(path)
        if folder.resolve() != self.source.resolve() or "ForCausalLM" not in model_type:
            raise LazyWeightsUnsupported(f"{model_type} is loaded by another class")
        files = sorted(folder.glob("*.safetensors"))
        if not files:
            raise LazyWeightsUnsupported("no safetensors files")
        for file in files:
            with safe_open(str(file), "pt") as fh:
                self.keys.update({key: str(file) for key in fh.keys()})
        config = AutoConfig.from_pretrained(str(folder))
        dtype = getattr(config, "dtype", None) or torch.float32  # what from_pretrained's dtype="auto" picks
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
