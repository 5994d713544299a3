"""HfModel handle and its InferenceSession, checked against direct torch computation."""
from __future__ import annotations

import json

import pytest

from modelpress.components import Accelerator
from modelpress.errors import UserError


@pytest.fixture(scope="module")
def session(tiny_phi3):
    from modelpress.plugins.huggingface.model import HfModel

    with HfModel({"model_path": str(tiny_phi3)}).open_session(Accelerator()) as s:
        yield s


def test_handle_fields_and_alias(plugin_registry, tiny_phi3):
    handle = plugin_registry.model_handle({"type": "PyTorchModel", "model_path": str(tiny_phi3),
                                           "load_kwargs": {"trust_remote_code": True}})
    assert handle.name == "HfModel" and handle.path_fields == ("model_path", "adapter_path", "gguf_file")
    assert handle.local_paths() == [tiny_phi3]
    assert handle.to_json() == {"type": "HfModel", "model_path": str(tiny_phi3),
                                "load_kwargs": {"trust_remote_code": True}}
    schema = handle.get_schema()
    assert schema["x-renamed"] == {"model_loading_args": "load_kwargs", "from_pretrained_args": "load_kwargs"}
    assert all(schema["properties"][f]["x-path"] for f in handle.path_fields)


def test_detect(tmp_path, tiny_phi3):
    from modelpress.plugins.huggingface.model import HfModel

    assert HfModel.detect(tiny_phi3) == {"model_path": str(tiny_phi3)}
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "genai_config.json").write_text("{}")
    assert HfModel.detect(tmp_path) is None
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_phi3)}))
    assert HfModel.detect(adapter) == {"model_path": str(tiny_phi3), "adapter_path": str(adapter)}


def test_greedy_generation_matches_argmax_loop(session):
    import torch

    prompt = "I am thrilled"
    ids = session.tokenizer(prompt)["input_ids"]
    expected = []
    with torch.no_grad():  # no cache: full forward each step
        for _ in range(12):
            nxt = int(session.model(input_ids=torch.tensor([ids + expected])).logits[0, -1].argmax())
            if nxt in session.eos_ids:
                break
            expected.append(nxt)
    text = session.tokenizer.decode(expected, skip_special_tokens=True)
    pieces = list(session.generate_stream(prompt, max_new_tokens=12))
    assert "".join(pieces) == text and len(pieces) >= 1
    assert session.generate([prompt, prompt], max_new_tokens=12) == [text, text]


def test_chat_template_prompt(session):
    ids = session.prompt_ids("hello", apply_chat_template=True)
    assert session.tokenizer.decode(ids) == "<|user|>\nhello<|end|>\n<|assistant|>\n"


def test_nll_matches_torch(session):
    import torch
    import torch.nn.functional as F

    texts = ["I am happy about the new job", "the storm at night is frightening"]
    got = session.negative_log_likelihood(texts)
    for text, (nll, n) in zip(texts, got, strict=False):
        ids = torch.tensor([session.tokenizer(text)["input_ids"]])
        with torch.no_grad():
            logits = session.model(input_ids=ids).logits[0, :-1]
        assert n == ids.shape[1] - 1
        assert nll == pytest.approx(float(F.cross_entropy(logits, ids[0, 1:], reduction="sum")), rel=1e-5)
    assert session.negative_log_likelihood(["I am happy about the new job"], max_length=3)[0][1] == 2
    assert session.count_tokens("I am happy") == len(session.tokenizer("I am happy", add_special_tokens=False)["input_ids"])


def test_hub_name_offline_is_clear(monkeypatch):
    from modelpress.plugins.huggingface.model import HfModel

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="'someorg/no-such-model' is not a local folder and the Hugging Face hub "
                                        "is unreachable.*HF_HUB_OFFLINE=0"):
        HfModel({"model_path": "someorg/no-such-model"}).open_session(Accelerator())


def test_mlflow_folder_layout(tmp_path, tiny_phi3):
    import shutil

    from modelpress.plugins.huggingface.loading import resolve

    shutil.copytree(tiny_phi3, tmp_path / "data" / "model")
    shutil.copytree(tiny_phi3, tmp_path / "data" / "tokenizer")
    weights, tok, _ = resolve({"model_path": str(tmp_path), "model_file_format": "PyTorch.MLflow"})
    assert weights == str(tmp_path / "data" / "model") and tok == str(tmp_path / "data" / "tokenizer")


def test_unmaterialised_resource_is_clear():
    from modelpress.plugins.huggingface.loading import resolve

    with pytest.raises(UserError, match="azureml_registry_model resource was not downloaded"):
        resolve({"model_path": {"type": "azureml_registry_model", "config": {}}})
