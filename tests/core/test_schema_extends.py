"""``x-extends``: a component schema built on another one (QLoRA's on LoRA's)."""
from __future__ import annotations

import json

from modelpress.components import Pass


def _package(tmp_path, monkeypatch, name, files):
    pkg = tmp_path / name
    (pkg / "schemas").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name, schema in files.items():
        (pkg / "schemas" / name).write_text(json.dumps(schema))
    monkeypatch.syspath_prepend(str(tmp_path))


BASE = {"type": "object", "additionalProperties": False, "required": ["data"],
        "description": "the base", "x-renamed": {"old": "r"},
        "properties": {"r": {"type": "integer", "default": 8, "description": "rank"},
                       "data": {"type": "string"},
                       "mode": {"enum": ["a", "b"], "default": "a"}}}


def test_extended_schema_merges_objects_and_replaces_the_rest(tmp_path, monkeypatch):
    child = {"x-extends": "base.json", "description": "the child",
             "properties": {"r": {"description": "rank of the child"},  # only the description changes
                            "mode": {"enum": ["c"], "default": "c"},      # a list and a value replace
                            "bits": {"type": "integer", "default": 4}}}   # a new field
    _package(tmp_path, monkeypatch, "extpkg_one", {"base.json": BASE, "child.json": child})

    class Child(Pass):
        name = "Child"
        schema = "extpkg_one:schemas/child.json"

    schema = Child.get_schema()
    assert "x-extends" not in schema
    assert schema["description"] == "the child"
    assert schema["required"] == ["data"] and schema["additionalProperties"] is False
    assert schema["x-renamed"] == {"old": "r"}
    assert schema["properties"]["r"] == {"type": "integer", "default": 8, "description": "rank of the child"}
    assert schema["properties"]["mode"] == {"enum": ["c"], "default": "c"}
    assert list(schema["properties"]) == ["r", "data", "mode", "bits"]  # the base's order, then the new


def test_extends_chains_and_takes_a_package_path(tmp_path, monkeypatch):
    middle = {"x-extends": "base.json", "properties": {"bits": {"type": "integer"}}}
    _package(tmp_path, monkeypatch, "extpkg_two", {"base.json": BASE, "middle.json": middle})

    class Top(Pass):
        name = "Top"
        schema = {"x-extends": "extpkg_two:schemas/middle.json", "properties": {"top": {"type": "boolean"}}}

    assert list(Top.get_schema()["properties"]) == ["r", "data", "mode", "bits", "top"]
    assert BASE["properties"]["r"] == {"type": "integer", "default": 8, "description": "rank"}  # base untouched


def test_a_component_made_from_a_hand_written_config_gets_the_schema_defaults(register_plugin):
    # defaults live in the schema only: the registry fills them for configs that skipped validation
    import types

    from modelpress import hookimpl
    from modelpress.components import RunContext

    class Defaults(Pass):
        name = "Defaults"
        schema = {"type": "object", "properties": {"r": {"type": "integer", "default": 8},
                                                   "mode": {"type": "string", "default": "a"}}}

    registry = register_plugin(types.SimpleNamespace(register_passes=hookimpl(lambda register: register(Defaults))),
                               name="defaults_plugin")
    made = registry.create_pass({"type": "Defaults", "mode": "b"}, RunContext(registry))
    assert dict(made.config) == {"r": 8, "mode": "b"}
    assert Defaults.with_defaults({}) == {"r": 8, "mode": "a"}
