"""The validator cache: loading the same config again adds nothing, and the cache is bounded."""
from __future__ import annotations

from pathlib import Path

from modelpress.config import load, schema

HERE = Path(__file__).parent


def test_loading_the_same_config_again_adds_no_validator():
    # the Azure ML seed: components, resources in place of paths and a search strategy
    config = HERE / "configs" / "seed-azureml.json"
    load(config)
    size = len(schema._validators)
    for _ in range(3):
        load(config)
    assert len(schema._validators) == size


def test_the_cache_keeps_at_most_max_validators(monkeypatch):
    monkeypatch.setattr(schema, "MAX_VALIDATORS", 4)
    monkeypatch.setattr(schema, "_validators", type(schema._validators)())
    kept = [{"type": "integer", "minimum": i} for i in range(10)]  # schemas built on the fly
    for s in kept:
        schema.validator_for(s)
    assert len(schema._validators) == 4
    assert [entry[0]["minimum"] for entry in schema._validators.values()] == [6, 7, 8, 9]
    # a hit moves a schema to the end, so it outlives the others
    schema.validator_for(kept[6])
    schema.validator_for({"type": "string"})
    assert [entry[0].get("minimum") for entry in schema._validators.values()] == [8, 9, 6, None]
    assert not schema.validator_for(kept[6]).is_valid(5) and schema.validator_for(kept[6]).is_valid(6)
