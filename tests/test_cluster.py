"""Connected components and stable person ids on hand-drawn graphs."""

from __future__ import annotations

import pytest

from padan.cluster.components import connected_components
from padan.cluster.ids import assign_person_ids, assign_person_ids_on_driver


def comps(spark, nodes, edges, driver_max_edges=None):
    n = spark.createDataFrame([(x,) for x in nodes], "id string")
    e = spark.createDataFrame(edges or [], "src string, dst string")
    kw = {} if driver_max_edges is None else {"driver_max_edges": driver_max_edges}
    return connected_components(n, e, **kw)


# The two ways to the components: the driver's union-find (small edge lists) and the Spark rounds
# (driver_max_edges=0); a list one edge over the driver's limit must take the Spark rounds.
PATHS = [None, 0, 3]


def partition(df, key="component", item="id"):
    groups = {}
    for r in df.collect():
        groups.setdefault(r[key], set()).add(r[item])
    return sorted(sorted(g) for g in groups.values())


@pytest.mark.parametrize("driver_max_edges", PATHS)
def test_components_chain_star_and_singletons(spark, driver_max_edges):
    nodes = list("abcdefghij")
    # a long chain a-b-c-d-e (needs several rounds), a star f-g, f-h, a self-loop, singletons i, j
    edges = [("a", "b"), ("c", "b"), ("c", "d"), ("e", "d"), ("f", "g"), ("h", "f"), ("i", "i")]
    got = comps(spark, nodes, edges, driver_max_edges)
    assert partition(got) == [["a", "b", "c", "d", "e"], ["f", "g", "h"], ["i"], ["j"]]
    labels = {r.id: r.component for r in got.collect()}
    assert labels["e"] == "a" and labels["h"] == "f"          # the smallest id labels a component


@pytest.mark.parametrize("driver_max_edges", PATHS)
def test_components_long_chain_converges(spark, driver_max_edges):
    nodes = [f"n{i:03d}" for i in range(60)]
    edges = [(nodes[i], nodes[i + 1]) for i in range(59)]
    got = comps(spark, nodes, edges, driver_max_edges)
    assert {r.component for r in got.collect()} == {"n000"}


def _brute_components(nodes, edges):
    """{node: smallest node of its component} by repeated relaxation (no union-find)."""
    label = {x: x for x in nodes}
    changed = True
    while changed:
        changed = False
        for a, b in edges:
            low = min(label[a], label[b])
            for x in (a, b):
                if label[x] != low:
                    label[x], changed = low, True
    return label


@pytest.mark.parametrize("seed", [1, 2])
def test_driver_and_spark_components_agree_on_random_graphs(spark, seed):
    import random

    rnd = random.Random(seed)
    nodes = [f"{rnd.choice('pq')}:{i:04d}" for i in range(120)]
    edges = [(rnd.choice(nodes), rnd.choice(nodes)) for _ in range(90)]
    want = _brute_components(nodes, edges)
    for limit in (None, 0):
        got = {r.id: r.component for r in comps(spark, nodes, edges, limit).collect()}
        assert got == want


def _order(change):
    return tuple("" if v is None else v for v in change)


def _assign(spark, components, previous, run_id):
    c = spark.createDataFrame(components, "id string, component string")
    p = spark.createDataFrame(previous, "unique_id string, person_id string") if previous is not None else None
    ids = assign_person_ids(c, p, run_id)
    try:
        assert ids.persons() == len({r.component for r in c.collect()})
        got = ({r.unique_id: r.person_id for r in ids.assign.collect()},
               sorted(((r.kind, r.old_id, r.new_id, r.records) for r in ids.changes.collect()), key=_order))
    finally:
        ids.release()
    # The driver's implementation of the same rules (an increment's small graphs) decides the same.
    local = assign_person_ids_on_driver(dict(components), dict(previous or []), run_id)
    assert (local.assign, sorted(local.changes, key=_order)) == got
    assert local.persons == len({comp for _, comp in components})
    return got


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


def _expected(components, previous, run_id):
    """The id rules of padan.cluster.ids, written out plainly over Python dicts."""
    import hashlib
    from collections import Counter

    comp = dict(components)
    prev = dict(previous)
    stamp = "".join(ch for ch in run_id.split("-")[0] if ch.isalnum())[:15]
    mint = {c: f"P{stamp}-" + hashlib.sha256(f"{run_id}|{c}".encode()).hexdigest()[:16] for c in comp.values()}
    size = Counter(comp.values())
    held = Counter((comp[i], old) for i, old in prev.items() if i in comp)
    winner = {}
    for old in set(prev.values()):
        cands = [(-n, c) for (c, o), n in held.items() if o == old]
        winner[old] = min(cands)[1] if cands else None
    won = {c: sorted(o for o, w in winner.items() if w == c) for c in size}
    person = {c: (won[c][0] if won[c] else mint[c]) for c in size}
    changes = []
    for c in size:
        olds = sorted({o for (cc, o) in held if cc == c})
        if not won[c]:
            changes += [("split", o, mint[c], size[c]) for o in olds] or [("new", None, mint[c], size[c])]
        changes += [("merged", o, won[c][0], size[c]) for o in won[c][1:]]
    changes += [("retired", o, None, 0) for o, w in winner.items() if w is None]
    return {i: person[c] for i, c in comp.items()}, sorted(changes, key=_order)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_ids_follow_the_rules_on_random_histories(spark, seed):
    """Random previous clusters and components (records gone, records new, splits, merges, ties):
    the Spark decisions equal the rules written out in plain Python."""
    import random

    rnd = random.Random(seed)
    before = [f"r{i:02d}" for i in range(40)]
    now = [i for i in before if rnd.random() > 0.1] + [f"n{i:02d}" for i in range(8)]
    previous = [(i, f"P2026010{rnd.randint(1, 9)}T000000-{rnd.randint(0, 9):02d}") for i in before]
    groups: dict[int, list[str]] = {}
    for i in now:
        groups.setdefault(rnd.randint(0, 14), []).append(i)
    components = [(i, min(g)) for g in groups.values() for i in g]
    run_id = "20261130T000000-cafe"
    assert _assign(spark, components, previous, run_id) == _expected(components, previous, run_id)
