"""Pass.accepts / Pass.produces: the engine refuses a chain that feeds a pass the wrong model type.

The chain is checked before its first pass runs; a pass that returns a type
it does not declare fails right after it runs. Both are one-line errors
(exit code 2 on the command line).
"""
from __future__ import annotations

import types
from pathlib import Path

import pytest

import modelpress
from modelpress import hookimpl
from modelpress.components import ModelHandle, Pass
from modelpress.errors import UserError
from tests.core import engine_plugin


class BlobModel(ModelHandle):
    name = "BlobModel"
    path_fields = ("model_path",)
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"model_path": {"type": "string", "x-path": True}}, "required": ["model_path"]}


class ToBlob(Pass):
    """TextModel in, BlobModel out (as ModelBuilder: HfModel in, ONNXModel out)."""

    name = "ToBlob"
    accepts = ("TextModel",)
    produces = ("BlobModel",)
    schema = {"type": "object", "additionalProperties": False, "properties": {}}

    def run(self, model, output_dir):
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        out = Path(output_dir) / "blob.bin"
        out.write_bytes(Path(model.config["model_path"]).read_bytes())
        return self.context.model("BlobModel", model_path=str(out))


class TextOnly(Pass):
    """Accepts TextModel only and declares that it returns one."""

    name = "TextOnly"
    accepts = ("TextModel",)
    produces = ("TextModel",)
    schema = {"type": "object", "additionalProperties": False, "properties": {}}

    def run(self, model, output_dir):
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        out = Path(output_dir) / "model.txt"
        out.write_text(Path(model.config["model_path"]).read_text() + "+")
        return model.replace(model_path=str(out))


class LiesAboutOutput(Pass):
    """Declares TextModel but returns a BlobModel: a plugin bug the engine reports."""

    name = "LiesAboutOutput"
    produces = ("TextModel",)
    schema = {"type": "object", "additionalProperties": False, "properties": {}}

    def run(self, model, output_dir):
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        out = Path(output_dir) / "blob.bin"
        out.write_bytes(b"x")
        return self.context.model("BlobModel", model_path=str(out))


class Undeclared(LiesAboutOutput):
    """Returns a BlobModel and declares nothing: the next pass is checked on what it really gets."""

    name = "Undeclared"
    produces = ()


PLUGIN = types.SimpleNamespace(
    register_model_types=hookimpl(lambda register: register(BlobModel)),
    register_passes=hookimpl(lambda register: [register(c) for c in (ToBlob, TextOnly, LiesAboutOutput, Undeclared)]),
)


@pytest.fixture
def registry(register_plugin):
    register_plugin(engine_plugin, name="engine_plugin")
    return register_plugin(PLUGIN, name="contracts_plugin")


def config(tmp_path: Path, passes: dict) -> dict:
    (tmp_path / "base.txt").write_text("base")
    return {"input_model": {"type": "TextModel", "model_path": str(tmp_path / "base.txt")},
            "passes": passes, "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "out")}


def test_matching_types_run(registry, tmp_path):
    result = modelpress.run(config(tmp_path, {"a": {"type": "TextOnly"}, "b": {"type": "ToBlob"}}))
    assert result.output_model.name == "BlobModel"
    assert Path(result.output_model.config["model_path"]).read_bytes() == b"base+"


def test_a_wrong_input_type_is_refused_before_any_pass_runs(registry, tmp_path):
    cfg = config(tmp_path, {"a": {"type": "TextOnly"}, "b": {"type": "ToBlob"}, "c": {"type": "TextOnly"}})
    with pytest.raises(UserError) as err:
        modelpress.run(cfg)
    assert str(err.value) == ("passes.c: TextOnly takes TextModel models but would get a BlobModel model; "
                              "put a pass that produces TextModel before it, or change input_model")
    assert not list((tmp_path / "cache" / "passes").glob("*")), "no pass ran"


def test_a_pass_that_declares_no_output_type_leaves_the_type_open(registry, tmp_path):
    # AppendText declares no produces: TextOnly after it is checked on the model it really gets
    result = modelpress.run(config(tmp_path, {"a": {"type": "AppendText"}, "b": {"type": "TextOnly"}}))
    assert result.output_model.name == "TextModel"
    with pytest.raises(UserError, match=r"^passes\.b: TextOnly takes TextModel models but would get a BlobModel"):
        modelpress.run(config(tmp_path, {"a": {"type": "Undeclared"}, "b": {"type": "TextOnly"}}))
    # the first run cached AppendText and TextOnly; the second ran Undeclared, never TextOnly
    assert len(list((tmp_path / "cache" / "passes").glob("*"))) == 3


def test_the_input_model_is_checked_too(registry, tmp_path):
    (tmp_path / "blob.bin").write_bytes(b"b")
    cfg = config(tmp_path, {"a": {"type": "ToBlob"}})
    cfg["input_model"] = {"type": "BlobModel", "model_path": str(tmp_path / "blob.bin")}
    with pytest.raises(UserError, match=r"^passes\.a: ToBlob takes TextModel models but would get a BlobModel"):
        modelpress.run(cfg)


def test_an_undeclared_output_type_fails_after_the_pass(registry, tmp_path):
    with pytest.raises(UserError) as err:
        modelpress.run(config(tmp_path, {"a": {"type": "LiesAboutOutput"}}))
    assert str(err.value) == ("passes.a: LiesAboutOutput returned a BlobModel model but declares that it "
                              "produces TextModel; report it to the author of the plugin that provides "
                              "LiesAboutOutput")


def test_the_built_in_passes_declare_their_types():
    from modelpress.cli.docgen import builtin_registry

    registry = builtin_registry()
    declared = {r.name: (r.cls.accepts, r.cls.produces) for r in registry.all("pass")}
    assert declared["LoRA"] == declared["QLoRA"] == declared["MergeAdapterWeights"] == (("HfModel",), ("HfModel",))
    assert declared["ModelBuilder"] == (("HfModel",), ("ONNXModel",))
