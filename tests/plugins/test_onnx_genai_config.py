"""ModelBuilder's config checks and the plugin's import cost (no model is built here)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from modelpress import config as mp_config
from modelpress.components import Accelerator
from modelpress.errors import ConfigError
from modelpress.plugins.onnx_genai import ModelBuilder, builder_options

CPU = Accelerator()
CUDA = Accelerator("gpu", "CUDAExecutionProvider")


def workflow(tmp_path, builder: dict, accelerators=None) -> dict:
    cfg = {"input_model": {"type": "HfModel", "model_path": str(tmp_path)},
           "passes": {"builder": {"type": "ModelBuilder", **builder}}}
    if accelerators:
        cfg["systems"] = {"local": {"type": "LocalSystem", "accelerators": accelerators}}
    return cfg


def test_fp16_on_cpu_is_a_config_error(plugin_registry, tmp_path):
    with pytest.raises(ConfigError) as err:
        mp_config.load(workflow(tmp_path, {"precision": "fp16"}), registry=plugin_registry, base_dir=tmp_path)
    assert err.value.problems == [
        "passes.builder.precision: fp16 is not supported on CPUExecutionProvider by onnxruntime-genai's "
        "builder; use fp32, int4 or int8"]


def test_fp16_on_cuda_is_accepted(plugin_registry, tmp_path, monkeypatch):
    monkeypatch.setattr("modelpress.config.host.cuda_missing", lambda: "")  # as on a host with CUDA
    gpu = [{"device": "gpu", "execution_providers": ["CUDAExecutionProvider"]}]
    wf = mp_config.load(workflow(tmp_path, {"precision": "fp16"}, gpu), registry=plugin_registry, base_dir=tmp_path)
    assert wf.passes[0].alternatives[0]["precision"] == "fp16"
    assert ModelBuilder.check_config({"precision": "bf16"}, CUDA) == []
    assert ModelBuilder.check_config({"precision": "bf16"}, CPU)[0].startswith("precision: bf16 is not supported")


def test_unknown_provider_is_named():
    lines = ModelBuilder.check_config({"precision": "int4"}, Accelerator("npu", "QNNExecutionProvider"))
    assert len(lines) == 1 and "QNNExecutionProvider" in lines[0] and "CPUExecutionProvider" in lines[0]


def test_extra_options_unknown_key_says_did_you_mean(plugin_registry, tmp_path):
    cfg = workflow(tmp_path, {"precision": "int4", "extra_options": {"prune_lm_hed": True, "foo_bar_baz": 1}})
    with pytest.raises(ConfigError) as err:
        mp_config.load(cfg, registry=plugin_registry, base_dir=tmp_path)
    assert err.value.problems[0] == ("passes.builder.extra_options.prune_lm_hed: unknown builder option; "
                                     "did you mean 'prune_lm_head'?")
    assert err.value.problems[1].startswith("passes.builder.extra_options.foo_bar_baz: unknown builder option; ")
    assert "--help" in err.value.problems[1]


def test_extra_options_known_keys_pass_and_reserved_keys_point_to_fields():
    assert ModelBuilder.check_config({"precision": "int4", "extra_options": {"prune_lm_head": True}}, CPU) == []
    lines = ModelBuilder.check_config(
        {"precision": "int4", "extra_options": {"block_size": 64, "adapter_path": "x"}}, CPU)
    assert lines == ["extra_options.block_size: not allowed here; use the int4_block_size field",
                     "extra_options.adapter_path: not allowed here; it comes from the input model's adapter_path"]


def test_int4_fields_need_a_quantized_precision_and_a_known_algorithm():
    lines = ModelBuilder.check_config({"precision": "fp32", "int4_block_size": 64}, CPU)
    assert lines == ["int4_block_size: applies to int4 and int8 precision only; remove it or set precision to int4"]
    lines = ModelBuilder.check_config({"precision": "int4", "int4_algo_config": "kquant"}, CPU)
    assert len(lines) == 1 and "did you mean 'k_quant'?" in lines[0]
    assert ModelBuilder.check_config({"precision": "int8", "int4_algo_config": "rtn", "int4_block_size": 64}, CPU) == []


def test_options_are_read_from_the_installed_builder():
    options = builder_options.known_options()
    # A few the builder has documented for many releases, and our own field mapping.
    assert {"prune_lm_head", "exclude_embeds", "exclude_lm_head", "adapter_path", "hf_token"} <= set(options)
    assert builder_options.quantization_option("int4_block_size") in options
    assert ("fp16", "cpu") not in builder_options.valid_pairs()
    assert ("int4", "cpu") in builder_options.valid_pairs()


def test_schema_rejects_unknown_precision(plugin_registry, tmp_path):
    with pytest.raises(ConfigError) as err:
        mp_config.load(workflow(tmp_path, {"precision": "int3"}), registry=plugin_registry, base_dir=tmp_path)
    assert err.value.problems[0].startswith("passes.builder.precision")


def test_importing_the_plugin_stays_light():
    code = ("import sys, modelpress.plugins.onnx_genai as p; p.ModelBuilder.check_config({'precision': 'int4'}, "
            "__import__('modelpress.components').components.Accelerator()); "
            "print(sorted(m for m in ('torch', 'transformers', 'onnxruntime_genai', 'onnx_ir', 'onnx') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_building_leaves_the_process_logging_setup_alone():
    # Importing onnxruntime-genai's builder installs a root handler at INFO.
    code = ("import logging; from modelpress.plugins.onnx_genai.model_builder import _quiet_builder\n"
            "before = (logging.getLogger().level, list(logging.getLogger().handlers))\n"
            "with _quiet_builder():\n"
            "    import onnxruntime_genai.models.builder\n"
            "    inside = (logging.getLogger().level, list(logging.getLogger().handlers))\n"
            "print(inside != before, (logging.getLogger().level, list(logging.getLogger().handlers)) == before)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
