from __future__ import annotations

import networkx as nx
import pytest

from controller.core.scheduling import Scheduler


def graph(*edges, nodes=()):
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    return g


# net -> sec -> db ; net -> eks (slow, same layer as sec); lambda depends only on sec
DIAMOND = graph(("net", "sec"), ("sec", "db"), ("net", "eks"), ("sec", "lam"), ("eks", "mon"))


def test_a_stack_starts_when_its_own_dependencies_are_done_not_its_layer():
    s = Scheduler(DIAMOND)
    assert s.ready() == ["net"]
    s.start("net")
    s.finish("net", "succeeded")
    assert sorted(s.ready()) == ["eks", "sec"]
    s.start("eks")
    s.start("sec")
    s.finish("sec", "succeeded")
    # eks (same layer as sec) is still running; db and lam start anyway
    assert sorted(s.ready()) == ["db", "lam"]


def test_skipped_upstream_counts_as_done():
    s = Scheduler(graph(("a", "b")))
    s.start("a")
    s.finish("a", "skipped")
    assert s.ready() == ["b"]


def test_a_failure_blocks_everything_downstream_and_stops_new_starts():
    s = Scheduler(DIAMOND)
    s.start("net")
    s.finish("net", "succeeded")
    s.start("sec")
    s.start("eks")
    s.finish("sec", "failed", "boom")
    assert s.states["db"] == "blocked" and s.states["lam"] == "blocked"
    assert s.reasons["db"] == "upstream sec failed"
    assert s.ready() == []
    assert not s.done()  # eks still running
    s.finish("eks", "succeeded")
    assert s.done()
    assert s.states["mon"] == "cancelled"
    assert "use --continue-on-error" in s.reasons["mon"]


def test_continue_on_error_runs_every_stack_not_downstream_of_the_failure():
    s = Scheduler(DIAMOND, continue_on_error=True)
    for name in ("net",):
        s.start(name)
        s.finish(name, "succeeded")
    s.start("sec")
    s.start("eks")
    s.finish("sec", "failed")
    s.finish("eks", "succeeded")
    assert s.ready() == ["mon"]
    s.start("mon")
    s.finish("mon", "succeeded")
    assert s.done()
    assert s.states == {
        "net": "succeeded",
        "sec": "failed",
        "db": "blocked",
        "eks": "succeeded",
        "lam": "blocked",
        "mon": "succeeded",
    }


def test_stop_lets_running_stacks_finish_and_starts_nothing_new():
    s = Scheduler(graph(nodes=["a", "b", "c"]))
    s.start("a")
    s.stop()
    assert s.ready() == []
    assert not s.done()
    s.finish("a", "succeeded")
    assert s.done()
    assert s.states == {"a": "succeeded", "b": "cancelled", "c": "cancelled"}


def test_the_longest_chain_starts_first():
    g = graph(("long", "tail"), nodes=["short"])
    assert Scheduler(g).ready() == ["long", "short"]


def test_finishing_twice_is_a_bug():
    s = Scheduler(graph(nodes=["a"]))
    s.start("a")
    s.finish("a", "succeeded")
    with pytest.raises(ValueError, match="cannot finish again"):
        s.finish("a", "failed")
