"""k_quant a slice of blocks at a time gives exactly onnxruntime's result (kquant_chunks)."""
import numpy as np
import pytest

pytest.importorskip("onnxruntime")
from onnxruntime.quantization.neural_compressor import weight_only

from modelpress.plugins.onnx_genai.kquant_chunks import chunked, sliced_k_quant


@pytest.mark.parametrize("bits", [4, 8])
def test_slices_give_the_same_bytes(bits):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((96, 40)).astype(np.float32)  # 120 blocks of 32
    data[0, :32] = 0.5  # a constant block (rmin == rmax)
    want = weight_only.quant_tensor_k_quant_cpu(data, bits, 32)
    got = chunked(weight_only.quant_tensor_k_quant_cpu, slice_blocks=7)(data, bits, 32)  # 18 slices, last short
    assert np.array_equal(got[0], want[0].astype(np.uint8))
    assert got[1].dtype == want[1].dtype and np.array_equal(got[1], want[1])
    assert got[2].dtype == want[2].dtype and np.array_equal(got[2], want[2])


def test_patched_only_inside_the_block():
    original = weight_only.quant_tensor_k_quant_cpu
    with sliced_k_quant():
        patched = weight_only.quant_tensor_k_quant_cpu
        assert patched is not original and patched.modelpress_chunked
        with sliced_k_quant():  # nested builds do not slice twice
            assert weight_only.quant_tensor_k_quant_cpu is patched
    assert weight_only.quant_tensor_k_quant_cpu is original
