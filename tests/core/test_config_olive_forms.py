"""Every Olive data config form (0.5 to 0.13) migrates to one canonical workflow.

The fixture is the Phi-3 Cookbook's own Olive 0.6.1 config, unchanged
(configs/olive/, see tests/data/README.md); the other forms are the same
workflow written as each Olive release wrote data configs.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from modelpress.cli import main
from modelpress.config import check, load, load_raw, migrate
from modelpress.errors import ConfigError

COOKBOOK = Path(__file__).parent / "configs" / "olive" / "cookbook-phrase-classification.json"
TEMPLATE = "<|user|>\n{phrase}<|end|>\n<|assistant|>\n{tone}<|end|>"
PRE_PROCESS_061 = {"dataset_type": "corpus", "text_cols": ["phrase", "tone"], "text_template": TEMPLATE,
                   "corpus_strategy": "join", "source_max_len": 1024, "pad_to_max_len": False,
                   "use_attention_mask": False}
LOAD = {"data_name": "json", "data_files": "dataset/dataset-classification.json", "split": "train"}
CANONICAL_DATA = {
    "name": "dataset_default_train", "type": "HuggingfaceContainer", "load_dataset_config": LOAD,
    "pre_process_data_config": {"text_cols": ["phrase", "tone"], "text_template": TEMPLATE, "strategy": "join",
                                "max_seq_len": 1024, "pad_to_max_len": False, "use_attention_mask": False}}


def _data_form(form: str) -> dict:
    """The cookbook's data config as the given Olive release wrote it."""
    entry = {"name": "dataset_default_train", "type": "HuggingfaceContainer"}
    if form == "0.5":  # components with type/params, params_config spread by signature
        entry["components"] = {"load_dataset": {"type": "huggingface_dataset", "params": {"split": "train"}},
                               "pre_process_data": {"type": "text_generation_huggingface_pre_process",
                                                    "params": PRE_PROCESS_061}}
        entry["params_config"] = {"data_name": "json", "data_files": "dataset-classification.json",
                                  "model_name": "microsoft/Phi-3-mini-4k-instruct", "task": "text-generation"}
    elif form == "0.6.2":
        entry["load_dataset_config"] = {"params": LOAD}
        entry["pre_process_data_config"] = {"params": PRE_PROCESS_061}
    elif form == "0.7-0.12":
        entry["load_dataset_config"] = {"type": "huggingface_dataset", "params": LOAD}
        entry["pre_process_data_config"] = {"type": "text_generation_huggingface_pre_process",
                                            "params": PRE_PROCESS_061}
        entry["post_process_data_config"] = {"type": "text_generation_post_process"}
        entry["dataloader_config"] = {"type": "default_dataloader", "batch_size": 1}
    elif form == "0.13":
        entry["load_dataset_config"] = dict(LOAD)
        entry["pre_process_data_config"] = {k: v for k, v in CANONICAL_DATA["pre_process_data_config"].items()}
    return entry


@pytest.fixture
def cuda_host(monkeypatch):
    """Validation as on a host with CUDA (the cookbook keeps its GPU accelerator)."""
    monkeypatch.setattr("modelpress.config.host.cuda_missing", lambda: "")


@pytest.fixture
def project(tmp_path) -> Path:
    """A folder with the cookbook's data file in place."""
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "dataset-classification.json").write_text('{"phrase": "I won!", "tone": "joy"}\n')
    return tmp_path


def _write(folder: Path, config: dict, name: str = "config.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(config, indent=2))
    return path


def test_the_cookbook_061_config_migrates_with_a_note_per_rewrite(plugin_registry, project, cuda_host):
    wf = load(_write(project, load_raw(COOKBOOK)), plugin_registry)
    data = wf.data_configs["dataset_default_train"]
    assert data["load_dataset_config"]["data_files"] == str(project / "dataset" / "dataset-classification.json")
    pre = data["pre_process_data_config"]
    assert (pre["strategy"], pre["max_seq_len"], pre["text_template"]) == ("join", 1024, TEMPLATE)
    assert (pre["pad_to_max_len"], pre["use_attention_mask"], pre["text_cols"]) == (False, False, ["phrase", "tone"])
    lora = wf.passes[0].alternatives[0]
    assert (lora["r"], lora["alpha"], lora["training_args"]["eval_strategy"]) == (64, 64, "steps")
    assert wf.host == wf.target == "local_system"
    for note in ("data_configs[0].params_config.data_name: moved to data_configs[0].load_dataset_config",
                 "data_configs[0].params_config.component_kwargs.pre_process_data: moved into "
                 "data_configs[0].pre_process_data_config",
                 "data_configs[0].pre_process_data_config.corpus_strategy: renamed to 'strategy'",
                 "data_configs[0].pre_process_data_config.dataset_type: dropped (no longer used)"):
        assert note in wf.notes
    canonical, _ = migrate(load_raw(COOKBOOK), plugin_registry)
    assert canonical["data_configs"] == [CANONICAL_DATA]
    assert migrate(canonical, plugin_registry) == (canonical, [])  # the canonical form is a fixed point


@pytest.mark.parametrize("form", ["0.5", "0.6.2", "0.7-0.12", "0.13"])
def test_every_olive_form_gives_the_cookbooks_workflow(plugin_registry, project, cuda_host, form):
    expected = load(_write(project, load_raw(COOKBOOK), "cookbook.json"), plugin_registry).canonical
    config = load_raw(COOKBOOK)
    config["data_configs"] = [_data_form(form)]
    if form == "0.5":
        config["data_root"] = "dataset"
    if form == "0.13":  # the current flat form, with Olive's extra_args objects
        config["input_model"] = {"type": "HfModel", "model_path": "microsoft/Phi-3-mini-4k-instruct",
                                 "task": "text-generation", "load_kwargs": {"extra_args": {"trust_remote_code": True}}}
        lora = config["passes"]["lora"].pop("config")
        args = lora.pop("training_args")
        args["eval_strategy"] = args.pop("evaluation_strategy")
        lora.update(r=lora.pop("lora_r"), alpha=lora.pop("lora_alpha"),
                    training_args={"seed": args.pop("seed"), "extra_args": args})
        config["passes"]["lora"].update(lora)
    wf = load(_write(project, config), plugin_registry)
    got = copy.deepcopy(wf.canonical)
    if form == "0.7-0.12":  # the dataloader batch size is kept; everything else is the same
        assert got["data_configs"][0].pop("dataloader_config") == {"batch_size": 1}
        expected["data_configs"][0].pop("dataloader_config", None)
    assert got == expected
    assert wf.notes


def test_defaults_olive_061_had_are_named_where_the_config_leaves_them_out(plugin_registry, project, cuda_host):
    joiner = ("data_configs[0].pre_process_data_config.joiner: not set; Olive 0.6.1 put nothing between joined "
              "texts; modelpress, as Olive 0.13, puts \"\\n\\n\": set joiner to \"\" for 0.6.1's blocks")
    strategy = ("data_configs[0].pre_process_data_config.corpus_strategy: not set; Olive 0.6.1 meant line-by-line "
                "(one example per text); modelpress, as Olive 0.13, packs with join: set corpus_strategy to "
                "line-by-line for 0.6.1's examples")
    config = load_raw(COOKBOOK)  # corpus_strategy join, no joiner
    assert joiner in load(_write(project, config), plugin_registry).notes
    kwargs = config["data_configs"][0]["params_config"]["component_kwargs"]["pre_process_data"]
    del kwargs["corpus_strategy"]
    notes = load(_write(project, config), plugin_registry).notes
    assert strategy in notes and joiner in notes
    kwargs.update(corpus_strategy="line-by-line", pad_to_max_len=True, use_attention_mask=True)
    notes = load(_write(project, config), plugin_registry).notes
    assert not [n for n in notes if "not set" in n]
    kwargs.update(corpus_strategy="join", joiner="")  # 0.6.1's blocks, chosen: nothing to say
    wf = load(_write(project, config), plugin_registry)
    assert not [n for n in wf.notes if "not set" in n]
    assert wf.data_configs["dataset_default_train"]["pre_process_data_config"]["joiner"] == ""
    current = load_raw(COOKBOOK)
    current["data_configs"] = [_data_form("0.13")]  # the current form means Olive 0.13's defaults: no note
    assert not [n for n in load(_write(project, current), plugin_registry).notes if "not set" in n]


def test_extra_args_is_flattened_with_a_note(plugin_registry):
    raw = {"input_model": {"type": "HfModel", "model_path": "org/m"},
           "passes": {"lora": {"type": "LoRA", "train_data_config": "d",
                               "training_args": {"extra_args": {"optim_args": "x", "report_to": "none"}}}}}
    canonical, notes = migrate(raw, plugin_registry)
    assert canonical["passes"]["lora"]["training_args"] == {"optim_args": "x", "report_to": "none"}
    assert "passes.lora.training_args.extra_args: flattened into passes.lora.training_args" in notes


def test_the_cookbooks_gpu_accelerator_is_refused_on_a_host_without_cuda(plugin_registry, project, monkeypatch):
    monkeypatch.setattr("modelpress.config.host.cuda_missing", lambda: "no NVIDIA GPU driver found")
    _, workflow, _, problems = check(load_raw(COOKBOOK), plugin_registry, project)
    assert workflow is None
    assert problems == [
        "systems.local_system.config.accelerators: gpu with CUDAExecutionProvider needs CUDA, which this host "
        "cannot provide (no NVIDIA GPU driver found); run on a GPU host, or keep the CPU path: set the accelerator "
        "to {\"device\": \"cpu\", \"execution_providers\": [\"CPUExecutionProvider\"]}"]
    config = load_raw(COOKBOOK)
    config["systems"]["local_system"]["config"]["accelerators"] = [
        {"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}]
    assert load(_write(project, config), plugin_registry).host == "local_system"
    config["engine"]["execution_providers"] = ["CUDAExecutionProvider"]
    _, _, _, problems = check(config, plugin_registry, project)
    assert [p.split(";")[0] for p in problems] == [
        "engine.execution_providers: CUDAExecutionProvider needs CUDA, which this host cannot provide "
        "(no NVIDIA GPU driver found)"]


def test_run_refuses_the_gpu_accelerator_in_one_line_with_and_without_set(plugin_registry, project, monkeypatch,
                                                                          capsys):
    monkeypatch.setattr("modelpress.config.host.cuda_missing", lambda: "no NVIDIA GPU driver found")
    path = _write(project, load_raw(COOKBOOK))
    errors = []
    for extra in ([], ["--set", "passes.lora.config.training_args.max_steps=1"]):
        assert main(["run", "--config", str(path), *extra]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        errors.append([line for line in err.splitlines() if line.startswith("error: ")])
    assert errors[0] == errors[1] and len(errors[0]) == 1
    assert errors[0][0].startswith("error: systems.local_system.config.accelerators: gpu with CUDAExecutionProvider "
                                   "needs CUDA, which this host cannot provide (no NVIDIA GPU driver found)")
    assert not (project / "models").exists()  # nothing ran


def test_torch_build_is_read_without_importing_it(tmp_path):
    from modelpress.config.host import torch_cuda_version

    cpu, gpu = tmp_path / "cpu.py", tmp_path / "gpu.py"
    cpu.write_text("__version__ = '2.13.0+cpu'\ncuda: Optional[str] = None\nhip = None\n")
    gpu.write_text("__version__ = '2.13.0'\ncuda: Optional[str] = '12.8'\n")
    assert torch_cuda_version(cpu) is None
    assert torch_cuda_version(gpu) == "12.8"
    assert torch_cuda_version(tmp_path / "absent.py") == "unknown"


def test_migrate_prints_the_canonical_form_and_exits_2_when_it_is_invalid(plugin_registry, tmp_path, capsys,
                                                                       cuda_host):
    path = _write(tmp_path, load_raw(COOKBOOK))  # its data file is missing here
    assert main(["migrate", str(path)]) == 2
    out, err = capsys.readouterr()
    canonical = json.loads(out)
    assert canonical["data_configs"] == [CANONICAL_DATA]
    assert "# data_configs[0].params_config.split: moved to data_configs[0].load_dataset_config" in err
    problems = [line for line in err.splitlines() if line.startswith("error: ")]
    assert problems == ["error: data_configs[0].params_config.data_files: no such file or folder "
                        f"\"dataset/dataset-classification.json\" (looked in {tmp_path}); fix the path "
                        "(now data_configs[0].load_dataset_config.data_files)"]
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "dataset-classification.json").write_text('{"phrase": "x", "tone": "joy"}\n')
    assert main(["migrate", str(path)]) == 0


def test_olive_pair_datasets_are_refused_not_dropped(plugin_registry):
    config = load_raw(COOKBOOK)
    kwargs = config["data_configs"][0]["params_config"]["component_kwargs"]["pre_process_data"]
    kwargs["dataset_type"] = "pair"
    with pytest.raises(ConfigError) as info:
        migrate(config, plugin_registry)
    assert [p.split(";")[0] for p in info.value.problems] == [
        "data_configs[0].pre_process_data_config.dataset_type: Olive's 'pair' datasets (source and target "
        "columns trained apart) are not supported"]
    _, _, _, problems = check(config, plugin_registry, COOKBOOK.parent)
    assert problems[0].startswith("data_configs[0].params_config.component_kwargs.pre_process_data.dataset_type: "
                                  "Olive's 'pair' datasets")
