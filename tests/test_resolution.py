from __future__ import annotations

import pytest

from controller.core.catalog import load_snapshot
from controller.core.environments import environment_view
from controller.core.placeholders import MissingOutputError
from controller.core.resolution import resolve_runtime_config


@pytest.fixture
def view(mini_files):
    snapshot = load_snapshot(mini_files)
    return environment_view(snapshot.deployments["D000001"], snapshot.catalog, "dev")


def test_placeholders_take_the_upstream_outputs(view):
    resolved = resolve_runtime_config(view.instances["app"], {"db": {"endpoint": "db.local"}}, {})
    assert resolved.values == {"banner": "db at db.local", "dbEndpoint": "db.local"}
    assert resolved.secret_keys == frozenset()


def test_a_key_fed_by_a_secret_output_becomes_secret(view):
    resolved = resolve_runtime_config(
        view.instances["app"], {"db": {"endpoint": "db.local"}}, {"db": frozenset({"endpoint"})}
    )
    assert resolved.secret_keys == {"banner", "dbEndpoint"}


def test_a_missing_output_names_stack_and_output(view):
    with pytest.raises(MissingOutputError) as caught:
        resolve_runtime_config(view.instances["db"], {"net": {"vpcId": "v"}}, {})
    assert (caught.value.placeholder.stack, caught.value.placeholder.output) == ("net", "subnetIds")
