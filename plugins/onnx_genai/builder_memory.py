"""Keep an int4/int8 build's memory near the size of one copy of the weights.

onnxruntime-genai's builder loads the whole PyTorch model, keeps every
weight in the ONNX graph it builds, then copies that graph into one protobuf
(``ir.to_proto``) for the quantizer: three full-precision copies at its peak.
While :func:`low_memory_build` is active, for the same model bytes:

- each initializer is written to a scratch file as soon as the builder makes
  it, and the graph keeps an external reference (``make_initializer``);
- the quantizer gets that graph with external references and loads one
  weight at a time, just around the node it quantizes (the same quantizer
  class, options and per-node code, so the same output bytes); what it
  makes is appended to the scratch file as well;
- with ``lazy=True`` the PyTorch model is built on the meta device and each
  decoder layer, the embedding, the final norm and the LM head read their
  weights from the safetensors files only while the builder converts them
  (:mod:`.lazy_weights`).

Whole-graph algorithms read the graph's weights themselves: RTN and k_quant
(onnxruntime's ``rtn_quantize``) load one weight just before quantizing it,
so they are run with the scratch folder as working directory and find each
weight there; k_quant then quantizes each weight a slice of blocks at a time
(:mod:`.kquant_chunks`). GPTQ gets every weight loaded back into the
protobuf, as the builder gives them. The patches apply to the builder's class only inside the block.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .builder_patches import _builder_model_class
from .kquant_chunks import sliced_k_quant
from .lazy_weights import LazyLoader

log = logging.getLogger(__name__)

#: whole-graph algorithms whose quantizer (onnxruntime's rtn_quantize) reads one weight at a time
READ_AS_NEEDED = ("RTN", "k_quant")
SCRATCH = "modelpress-initializers-"  # + a unique suffix per builder object (MTP heads share the folder)


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
    cls.make_initializer = _externalizing(originals["make_initializer"], stores)
    cls.to_nbits = _streaming_to_nbits(originals["to_nbits"], module, quantizer)
    if lazy:
        loader = LazyLoader(Path(source))
        cls.load_weights = loader.load_weights(originals["load_weights"])
        for name in ("make_embedding", "make_layer", "make_layernorm", "make_lm_head"):
            setattr(cls, name, loader.materializing(originals[name]))
    try:
        with sliced_k_quant():
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

    def externalize_proto(self, tensor):
        """A copy of a TensorProto with raw bytes whose bytes live in the scratch file."""
        import onnx

        if tensor.data_location == onnx.TensorProto.EXTERNAL or not tensor.HasField("raw_data"):
            return tensor
        data = tensor.raw_data  # one copy out of the protobuf, freed on return
        offset = self.file.tell()
        self.file.write(data)
        self.file.flush()
        reference = onnx.TensorProto(name=tensor.name, data_type=tensor.data_type, dims=tensor.dims,
                                     data_location=onnx.TensorProto.EXTERNAL)
        for key, value in (("location", self.location), ("offset", offset), ("length", len(data))):
            entry = reference.external_data.add()
            entry.key, entry.value = key, str(value)
        return reference

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
        # CUDA prepacking reads the quantized weights from the protobuf afterwards: keep them there
        prepacked = self.ep == "cuda" and (getattr(self, "matmul_attrs", {}) or {}).get("weights_prepacked", 0) > 0
        module.MatMulNBitsQuantizer = _streaming_quantizer(quantizer_class, store, keep_outputs=prepacked)
        try:
            model = original(self, *args, **kwargs)
        finally:
            module.MatMulNBitsQuantizer = quantizer_class
        # weights left in float still point into the scratch file; save_model copies them out
        from onnx_ir import external_data

        external_data.set_base_dir(model.graph, store.folder)
        return model
    return to_nbits


def _streaming_quantizer(base, store: _Store, *, keep_outputs: bool):
    class StreamingMatMulNBitsQuantizer(base):
        """The builder's quantizer, fed one weight at a time from the scratch file."""

        def __init__(self, model, *args, **kwargs):
            super().__init__(model, *args, **kwargs)
            if self.algo_config.algorithm in ("DEFAULT", "HQQ") and self.node_quantizer is not None:
                per_node = self.node_quantizer.quantize
                self.node_quantizer.quantize = lambda node, graph_stack: _quantize_one(
                    per_node, node, graph_stack, store, keep_outputs)
            elif self.algo_config.algorithm in READ_AS_NEEDED:
                pass  # int4_quant_algo below reads each weight from the scratch file as it goes
            else:  # other whole-graph algorithms (GPTQ) get every weight loaded at once
                for graph in _graphs(self.model.model.graph):
                    for tensor in graph.initializer:
                        data = _read(tensor, store.folder)
                        if data is not None:
                            del tensor.external_data[:]
                            tensor.data_location = 0  # TensorProto.DEFAULT
                            tensor.raw_data = data

        def int4_quant_algo(self):
            # onnxruntime's rtn_quantize reads each weight with numpy_helper.to_array(tensor,
            # base_dir="") just before quantizing it and then drops it: with the scratch-file
            # references left in place (relative locations) and the scratch folder as the
            # working directory, one float weight is in memory at a time instead of all.
            if self.algo_config.algorithm not in READ_AS_NEEDED:
                return super().int4_quant_algo()
            with _working_directory(store.folder):
                return super().int4_quant_algo()

    return StreamingMatMulNBitsQuantizer


@contextlib.contextmanager
def _working_directory(folder: str) -> Iterator[None]:
    """Run the block in ``folder`` (contextlib.chdir from Python 3.11 on)."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


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


def _quantize_one(quantize, node, graph_stack: list, store: _Store, keep_outputs: bool) -> list:
    """Quantize one node with its weights loaded into a graph of their own.

    The quantizer looks initializers up from the innermost graph outwards and
    adds its outputs next to the weight it found, so a small graph on top of
    the stack receives both; the outputs are then appended to the scratch file
    and the real graph gets references to them (``keep_outputs``: their bytes).
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
                        entry.value = os.path.join(os.path.abspath(store.folder), entry.value)
    if not scratch.initializer:
        return quantize(node, graph_stack)
    loaded = {tensor.name for tensor in scratch.initializer}
    nodes = quantize(node, [*graph_stack, scratch])
    made = [t for t in scratch.initializer if t.name not in loaded]
    if not keep_outputs:
        made = [store.externalize_proto(t) for t in made]
    graph_stack[-1].initializer.extend(made)
    return nodes
