"""Connected components and stable person ids on hand-drawn graphs."""

from __future__ import annotations

import pytest

from padan.cluster.components import connected_components
from padan.cluster.ids import assign_person_ids


def comps(spark, nodes, edges):
    n = spark.createDataFrame([(x,) for x in nodes], "id string")
    e = spark.createDataFrame(edges or [], "src string, dst string")
    return connected_components(n, e)


def partition(df, key="component", item="id"):
    groups = {}
    for r in df.collect():
        groups.setdefault(r[key], set()).add(r[item])
    return sorted(sorted(g) for g in groups.values())


def test_components_chain_star_and_singletons(spark):
    nodes = list("abcdefghij")
    # a long chain a-b-c-d-e (needs several rounds), a star f-g, f-h, and singletons i, j
    edges = [("a", "b"), ("c", "b"), ("c", "d"), ("e", "d"), ("f", "g"), ("h", "f")]
    got = comps(spark, nodes, edges)
    assert partition(got) == [["a", "b", "c", "d", "e"], ["f", "g", "h"], ["i"], ["j"]]
    labels = {r.id: r.component for r in got.collect()}
    assert labels["e"] == "a" and labels["h"] == "f"          # the smallest id labels a component


def test_components_long_chain_converges(spark):
    nodes = [f"n{i:03d}" for i in range(60)]
    edges = [(nodes[i], nodes[i + 1]) for i in range(59)]
    got = comps(spark, nodes, edges)
    assert len({r.component for r in got.collect()}) == 1


def _assign(spark, components, previous, run_id):
    c = spark.createDataFrame(components, "id string, component string")
    p = spark.createDataFrame(previous, "unique_id string, person_id string") if previous is not None else None
    a, ch = assign_person_ids(c, p, run_id)
    return ({r.unique_id: r.person_id for r in a.collect()},
            sorted((r.kind, r.old_id, r.new_id, r.records) for r in ch.collect()))


def test_first_run_mints_one_opaque_id_per_component(spark):
    ids, changes = _assign(spark, [("a", "a"), ("b", "a"), ("c", "c")], None, "20261128T000000-aaaa")
    assert ids["a"] == ids["b"] != ids["c"]
    assert all(i.startswith("P20261128T000000-") for i in ids.values())
    assert "a" not in ids["a"].split("-", 1)[1]                 # not derived visibly from the record id
    assert [c[0] for c in changes] == ["new", "new"]


def test_merge_keeps_the_oldest_id_and_retires_the_other(spark):
    prev = [("a", "P1-old"), ("b", "P1-old"), ("c", "P2-new")]
    ids, changes = _assign(spark, [("a", "a"), ("b", "a"), ("c", "a")], prev, "20261129T000000-bbbb")
    assert set(ids.values()) == {"P1-old"}
    assert changes == [("merged", "P2-new", "P1-old", 3)]


def test_merge_keeps_the_oldest_id_even_when_a_newer_one_held_more_records(spark):
    prev = [("a", "P2-new"), ("b", "P2-new"), ("c", "P2-new"), ("d", "P1-old")]
    ids, changes = _assign(spark, [(x, "a") for x in "abcd"], prev, "20261129T000000-bbbb")
    assert set(ids.values()) == {"P1-old"}
    assert changes == [("merged", "P2-new", "P1-old", 4)]


def test_merge_tie_keeps_the_oldest_id(spark):
    prev = [("a", "P2"), ("c", "P1")]
    ids, changes = _assign(spark, [("a", "a"), ("c", "a")], prev, "20261129T000000-bbbb")
    assert set(ids.values()) == {"P1"}
    assert changes == [("merged", "P2", "P1", 2)]


def test_split_largest_part_keeps_id_others_get_new(spark):
    prev = [("a", "P1"), ("b", "P1"), ("c", "P1")]
    ids, changes = _assign(spark, [("a", "a"), ("b", "a"), ("c", "c")], prev, "20261129T000000-cccc")
    assert ids["a"] == ids["b"] == "P1" and ids["c"] != "P1"
    assert changes == [("split", "P1", ids["c"], 1)]


def test_merge_and_split_in_one_run(spark):
    # before: {a,b}=P1, {c,d}=P2 ; after: {a}, {b,c,d}
    prev = [("a", "P1"), ("b", "P1"), ("c", "P2"), ("d", "P2")]
    ids, changes = _assign(spark, [("a", "a"), ("b", "b"), ("c", "b"), ("d", "b")], prev, "20261129T000000-dddd")
    # P2 is held by 2 of {b,c,d}, P1 by 1 of them and by a: P1 goes to the component holding most of it (tie 1:1 ->
    # smallest component 'a'); {b,c,d} keeps P2.
    assert ids["b"] == ids["c"] == ids["d"] == "P2"
    assert ids["a"] == "P1"
    assert changes == []


def test_disappearing_cluster_is_retired_and_new_records_get_new_ids(spark):
    prev = [("a", "P1"), ("x", "P9")]
    ids, changes = _assign(spark, [("a", "a"), ("n", "n")], prev, "20261129T000000-eeee")
    assert ids["a"] == "P1" and ids["n"] not in ("P1", "P9")
    kinds = {(k, o) for k, o, _, _ in changes}
    assert ("retired", "P9") in kinds and ("new", None) in kinds


def test_same_inputs_give_same_ids(spark):
    prev = [("a", "P1"), ("b", "P1"), ("c", "P1")]
    comps_ = [("a", "a"), ("b", "a"), ("c", "c")]
    assert _assign(spark, comps_, prev, "r1") == _assign(spark, comps_, prev, "r1")
