"""Test only: one small LoRA workflow, and its adapter trained on the local
system once per test session, which the PythonEnvironment and AzureML tests
compare their own adapters with (same seed, same data, same adapter); the
tiny Phi-3 laid out as an Azure ML registry model; training rows uploaded to
the stand-in's datastore."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

_local: dict[str, Path] = {}


def write_train_data(folder: Path) -> Path:
    """Twelve rows in the tone dataset's shape (phrase, tone)."""
    tones = ["joy", "fear", "sadness", "surprise"]
    rows = [{"phrase": f"I cannot believe what just happened at the party {i}", "tone": tones[i % 4]}
            for i in range(12)]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def workflow(model: Path, data_files, *, systems: dict | None = None, host: str = "local",
             work: Path) -> dict:
    """A LoRA workflow (3 steps, rank 4) on ``model``; ``data_files`` a path or a resource."""
    return {
        "input_model": {"type": "HfModel", "model_path": str(model)},
        "systems": systems or {},
        "data_configs": [{"name": "train", "type": "HuggingfaceContainer",
                          "load_dataset_config": {"data_name": "json", "data_files": data_files, "split": "train"},
                          "pre_process_data_config": {"text_template": "### Text: {phrase}\n### The tone is: {tone}",
                                                      "max_seq_len": 32}}],
        "passes": {"lora": {"type": "LoRA", "r": 4, "alpha": 8, "train_data_config": "train",
                            "training_args": {"seed": 0, "max_steps": 3, "per_device_train_batch_size": 2,
                                              "logging_steps": 1}}},
        "host": host, "evaluate_input_model": False,
        "cache_dir": str(work / "cache"), "output_dir": str(work / "output"), "log_severity_level": 1,
    }


def adapter_tensors(adapter_dir) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(adapter_dir) / "adapter_model.safetensors"))


def local_adapter(model: Path) -> Path:
    """The adapter the local system trains with :func:`workflow` (cached per session)."""
    key = str(model)
    if key not in _local:
        import modelpress

        work = Path(tempfile.mkdtemp(prefix="lora-local-"))
        data = write_train_data(work / "data")
        result = modelpress.run(workflow(model, str(data), work=work))
        _local[key] = Path(result.output_model.config["adapter_path"])
    return _local[key]


def mlflow_layout(model: Path, folder: Path) -> Path:
    """The tiny Phi-3 as an Azure ML registry serves Phi-3: an MLflow model folder."""
    weights, tokenizer = folder / "data" / "model", folder / "data" / "tokenizer"
    weights.mkdir(parents=True)
    tokenizer.mkdir(parents=True)
    for f in model.iterdir():
        target = tokenizer if f.name.startswith(("tokenizer", "special_tokens", "chat_template")) else weights
        shutil.copy(f, target / f.name)
    (folder / "MLmodel").write_text("flavors:\n  transformers:\n    task: text-generation\n")
    return folder


def upload_train_data(url: str) -> list[dict]:
    """Rows with the seed template's columns, uploaded to the datastore through the stand-in."""
    from azure.storage.blob import BlobClient

    tones = ["joy", "fear", "sadness", "surprise"]
    rows = [{"Question": f"What is the tone of: I cannot believe what happened {i}?", "Best Answer": tones[i % 4]}
            for i in range(24)]
    blob = BlobClient.from_blob_url(f"{url}/standinstore/azureml-blobstore/phi3/train_data.json")
    blob.upload_blob("".join(json.dumps(r) + "\n" for r in rows).encode(), overwrite=True)
    return rows
