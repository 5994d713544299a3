"""k_quant on the CPU, a slice of blocks at a time (the same bytes, a fraction of the memory).

onnxruntime's ``quant_tensor_k_quant_cpu`` searches 20 candidate scales for
every block of ``group_size`` values at once: about ten float32 arrays and a
float64 result as large as the weight. For a 49k-token LM head (28 M values)
that is over 1 GiB, the peak of a whole fine-tune-and-build run. Every step
of the search works on one block (row) alone, so running it on slices of
blocks and joining the results gives exactly the same scales, zero points
and quantized values. The quantized values come back as uint8 (they are
integers in ``[0, 2**bits - 1]``; the caller converts them to uint8 anyway).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

#: blocks quantized together (65,536 blocks of 32 values: 8 MiB of float32 per array)
SLICE_BLOCKS = 1 << 16


def chunked(original, slice_blocks: int = SLICE_BLOCKS):
    """``original`` (``quant_tensor_k_quant_cpu``) run on ``slice_blocks`` blocks at a time."""
    import numpy as np

    def quant_tensor_k_quant_cpu(data, num_bits=4, group_size=32):
        blocks = np.reshape(data, (-1, group_size))
        q_weight = np.empty(blocks.shape, dtype=np.uint8)
        scales, zero_points = [], []
        for start in range(0, blocks.shape[0], slice_blocks):
            q, scale, zp = original(blocks[start:start + slice_blocks], num_bits, group_size)
            q_weight[start:start + slice_blocks] = q
            scales.append(scale)
            zero_points.append(zp)
        return q_weight, np.concatenate(scales), np.concatenate(zero_points)

    quant_tensor_k_quant_cpu.modelpress_chunked = True
    return quant_tensor_k_quant_cpu


@contextlib.contextmanager
def sliced_k_quant() -> Iterator[None]:
    """While active, onnxruntime's CPU k_quant works on slices of blocks (see the module docstring)."""
    try:
        from onnxruntime.quantization.neural_compressor import weight_only
    except ImportError:  # another onnxruntime layout: leave it alone
        yield
        return
    original = getattr(weight_only, "quant_tensor_k_quant_cpu", None)
    if original is None or getattr(original, "modelpress_chunked", False):
        yield
        return
    weight_only.quant_tensor_k_quant_cpu = chunked(original)
    try:
        yield
    finally:
        weight_only.quant_tensor_k_quant_cpu = original
