"""Read-after-write: a request never reads a snapshot older than a write already answered.

The measured defect (issue 13, item 1): while one request's refresh of the snapshot was in
flight (a GitHub head check, a re-read of the checkout), every other request answered from
the snapshot it had, even when that snapshot predated a write the API had confirmed; a
deploy sent right after `PUT …/manifest` ran the manifest from before it.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import yaml

from controller.adapters.local_git import Author
from controller.core.models import Manifest
from controller.core.scaffold import render_manifest
from controller.edits.catalog_state import RepoState
from tests.service.conftest import D1_FILE, Harness, HarnessFactory, example_files
from tests.service.fakes import MemorySource


class GatedSource(MemorySource):
    """A source whose revision check can be held open, as a slow GitHub head check is."""

    def __init__(self, files: dict[str, str]) -> None:
        super().__init__(files)
        self.armed = False
        self.entered = threading.Event()
        self.gate = threading.Event()

    def revision(self) -> str:
        if self.armed:
            self.armed = False
            self.entered.set()
            assert self.gate.wait(10), "the gate was never opened"
        return super().revision()


def _domain(harness: Harness, headers: dict[str, str]) -> str:
    response = harness.client.get("/api/v1/deployments/D1BRV40", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]["domain"]


def test_a_read_during_another_requests_refresh_still_sees_an_acknowledged_write(
    make_harness: HarnessFactory,
) -> None:
    source = GatedSource(example_files())
    harness = make_harness(source=source, repo_refresh_seconds=3600.0)
    admin = harness.bearer()
    assert _domain(harness, admin) == "ecommerce.companya.com"
    manifest = yaml.safe_load(source.files[D1_FILE])
    manifest["domain"] = "shop.companya.com"
    written = harness.client.put(
        "/api/v1/deployments/D1BRV40/manifest", json=manifest, headers=admin
    )
    assert written.status_code == 200, written.text
    source.armed = True  # the next revision check hangs, as a slow GitHub call does
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(_domain, harness, admin)
        assert source.entered.wait(10)  # that refresh is in flight now
        threading.Timer(0.5, source.gate.set).start()
        started = time.monotonic()
        concurrent = pool.submit(_domain, harness, admin).result(timeout=30)
        assert concurrent == "shop.companya.com", "answered from before the acknowledged write"
        assert time.monotonic() - started >= 0.3  # it waited for a snapshot new enough
        assert slow.result(timeout=30) == "shop.companya.com"


def test_snapshots_carry_the_writes_they_include_and_answer_at_least_as_new() -> None:
    source = MemorySource(example_files())
    state = RepoState(source, refresh_seconds=3600.0)
    before = state.current()
    assert before.writes_seen == 0 and state.acknowledged == 0
    manifest = yaml.safe_load(source.files[D1_FILE])
    manifest["domain"] = "shop.companya.com"
    text = render_manifest(Manifest.model_validate(manifest))
    result = state.write({D1_FILE: text}, message="edit", author=Author("a", "a@x"))
    assert result.generation == state.acknowledged == 1
    # within the refresh window, but older than the write: not served
    after = state.at_least(result.generation)
    assert after.writes_seen >= 1 and after.revision != before.revision
    assert after.snapshot.deployments["D1BRV40"].manifest.domain == "shop.companya.com"
    assert state.current() is after  # new enough, within the window: kept
    reads = source.reads
    assert state.at_least(0) is after and source.reads == reads
