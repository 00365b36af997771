"""Secret config values: masked in views and change lists, restored when sent back masked,
resolved from references at run time (a purely computational table)."""

from __future__ import annotations

import pytest

from controller.core.configs import check_value
from controller.core.models import ConfigSpec
from controller.core.secret_config import (
    CHANGED_MASK,
    SECRET_MASK,
    is_literal,
    mask_definition,
    mask_manifest,
    mask_template,
    resolve_secret_references,
    restore_masked,
    secret_reference,
)


def keys(stack: str) -> frozenset[str]:
    return frozenset({"apiKeyValue"}) if stack == "services-api" else frozenset()


def manifest(value: object, stage: object = None) -> dict:
    entry: dict = {"config": {"apiKeyValue": value, "stageName": "v1"}}
    if stage is not None:
        entry["environments"] = {"stage": {"config": {"apiKeyValue": stage}}}
    return {"stacks": {"services-api": entry, "network": {"config": {"apiKeyValue": "x"}}}}


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        pytest.param("hunter2", True, id="text"),
        pytest.param(12345, True, id="number"),
        pytest.param("", False, id="empty"),
        pytest.param(None, False, id="null"),
        pytest.param("{{SECRET:ORIGIN}}", False, id="reference"),
        pytest.param("{{RUNTIME:secrets:appSecretArn}}", False, id="placeholder"),
        pytest.param(SECRET_MASK, False, id="the-mask-itself"),
    ],
)
def test_what_counts_as_a_secret_held_in_clear(value: object, literal: bool) -> None:
    assert is_literal(value) is literal


def test_a_manifest_is_masked_in_its_config_and_per_environment_overrides_only() -> None:
    masked = mask_manifest(manifest("hunter2", stage="stage-secret"), keys)
    api = masked["stacks"]["services-api"]
    assert api["config"] == {"apiKeyValue": SECRET_MASK, "stageName": "v1"}
    assert api["environments"]["stage"]["config"]["apiKeyValue"] == SECRET_MASK
    assert masked["stacks"]["network"]["config"]["apiKeyValue"] == "x"  # not secret there


def test_a_changed_secret_is_marked_changed_and_an_unchanged_one_is_not() -> None:
    before = manifest("old", stage="same")
    after = mask_manifest(manifest("new", stage="same"), keys, before=before)
    api = after["stacks"]["services-api"]
    assert api["config"]["apiKeyValue"] == CHANGED_MASK
    assert api["environments"]["stage"]["config"]["apiKeyValue"] == SECRET_MASK


def test_templates_and_definitions_mask_their_secret_defaults() -> None:
    template = {"defaultConfig": {"services-api": {"apiKeyValue": "t0p"}, "dns": {"ttl": 60}}}
    assert mask_template(template, keys)["defaultConfig"] == {
        "services-api": {"apiKeyValue": SECRET_MASK},
        "dns": {"ttl": 60},
    }
    definition = {"configuration": {"k": {"type": "string", "secret": True, "default": "d"}}}
    assert mask_definition(definition)["configuration"]["k"]["default"] == SECRET_MASK


def test_a_mask_sent_back_keeps_the_stored_value_and_one_with_nothing_behind_it_is_named() -> None:
    current = manifest("hunter2")
    restored, missing = restore_masked(manifest(SECRET_MASK, stage=SECRET_MASK), current, keys)
    assert restored["stacks"]["services-api"]["config"]["apiKeyValue"] == "hunter2"
    assert [place.field for place in missing] == [
        "stacks.services-api.environments.stage.config.apiKeyValue"
    ]


def test_references_are_resolved_from_cloud_secret_variables() -> None:
    assert secret_reference("{{SECRET:DB_PASSWORD}}") == "DB_PASSWORD"
    assert secret_reference("x{{SECRET:DB_PASSWORD}}") is None
    resolved = resolve_secret_references(
        {"a": "{{SECRET:ONE}}", "b": "{{SECRET:TWO}}", "c": 3}, {"CLOUD_SECRET_ONE": "1"}
    )
    assert resolved.values == {"a": "1", "c": 3}
    assert resolved.secret_keys == {"a", "b"} and resolved.unresolved == {"b": "TWO"}


def test_a_bad_secret_value_is_reported_without_echoing_it() -> None:
    spec = ConfigSpec(type="string", secret=True, enum=["a", "b"])
    messages = [message for _, message in check_value("apiKeyValue", spec, 987654321)]
    assert messages == ["config 'apiKeyValue' must be a string, got integer [secret]"]
    messages = [message for _, message in check_value("apiKeyValue", spec, "zzz-secret")]
    assert messages == ["config 'apiKeyValue' must be one of ['a', 'b'], got [secret]"]
    number = ConfigSpec(type="integer", secret=True)
    assert (
        "a {{SECRET:<name>}} reference gives a string"
        in check_value("pin", number, "{{SECRET:PIN}}")[0][1]
    )
