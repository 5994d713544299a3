"""QLoRA's schema is LoRA's plus the quantization fields, declared once (``x-extends``)."""
from __future__ import annotations

import json
from importlib import resources

from modelpress.plugins.huggingface.lora import LoRA, QLoRA

QUANTIZATION = ["quant_type", "double_quant", "compute_dtype"]


def test_qlora_schema_extends_lora():
    lora, qlora = LoRA.get_schema(), QLoRA.get_schema()
    assert list(qlora["properties"]) == [*lora["properties"], *QUANTIZATION]
    for key, field in lora["properties"].items():
        if key != "training_args":
            assert qlora["properties"][key] == field, key
    # training_args: LoRA's fields, QLoRA's own description (paged_adamw_32bit is its optimizer)
    assert {k: v for k, v in qlora["properties"]["training_args"].items() if k != "description"} == \
           {k: v for k, v in lora["properties"]["training_args"].items() if k != "description"}
    assert "paged_adamw_32bit" in qlora["properties"]["training_args"]["description"]
    assert qlora["x-renamed"] == lora["x-renamed"] and qlora["required"] == lora["required"]


def test_qlora_file_repeats_no_lora_field():
    text = resources.files("modelpress.plugins.huggingface").joinpath("schemas/QLoRA.json").read_text("utf-8")
    own = json.loads(text)
    assert own["x-extends"] == "LoRA.json"
    assert set(own["properties"]) == {"training_args", *QUANTIZATION}
    assert set(own["properties"]["training_args"]) == {"description"}
