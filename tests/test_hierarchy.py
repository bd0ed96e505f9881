import numpy as np
import pytest

from clio_dagster.core.hierarchy import (
    Hierarchy,
    Node,
    OfflineParentBuilder,
    ProposedParent,
    TreeError,
    build_hierarchy,
    level_sizes,
    validate_tree,
)


@pytest.mark.parametrize(
    ("n", "levels", "top", "expected"),
    [(2000, 3, 10, [2000, 141, 10]), (14, 3, 10, [14, 6, 3]), (3, 3, 10, [3]), (1, 3, 10, [1]),
     (100, 2, 10, [100, 10]), (40, 4, 10, [40, 25, 16, 10]), (7, 3, 10, [7])],
)
def test_level_sizes_follow_the_geometric_ratio(n, levels, top, expected):
    assert level_sizes(n, levels, top) == expected


def _base(n=24, seed=0):
    rng = np.random.default_rng(seed)
    topics = ["bread", "python", "garden", "guitar"]
    nodes, vectors = [], []
    centers = rng.normal(size=(4, 16)) * 5
    for i in range(n):
        t = i % 4
        nodes.append(Node(f"b{i:05d}", 0, f"Requests about {topics[t]} {i}", f"terms: {topics[t]}", size=10 + i,
                          terms=(topics[t], f"{topics[t]} tip", f"rare{i}")))
        vectors.append(centers[t] + rng.normal(size=16) * 0.1)
    lookup = {n.text: v for n, v in zip(nodes, vectors)}
    return nodes, lambda texts: np.stack([lookup.get(t, np.zeros(16)) if t in lookup else
                                          np.mean([lookup[k] for k in lookup if k.split(":")[0] in t] or [np.zeros(16)], axis=0)
                                          for t in texts])


def test_offline_hierarchy_is_a_tree_with_counts_that_add_up():
    base, embed = _base()
    tree = build_hierarchy(base, embed, OfflineParentBuilder(), levels=3, n_top=10, seed=0)
    validate_tree(tree)
    levels = sorted({n.level for n in tree.nodes})
    assert levels == [0, 1, 2]
    by_id = {n.node_id: n for n in tree.nodes}
    # every base node has exactly one parent, one level up
    assert all(by_id[tree.parent_of[b.node_id]].level == 1 for b in base)
    tops = [n for n in tree.nodes if n.level == 2]
    assert sum(t.size for t in tops) == sum(b.size for b in base)
    assert all(n.name.startswith("Requests about") for n in tree.nodes if n.level > 0)


def test_offline_parents_group_similar_children_and_name_them_by_shared_terms():
    base, embed = _base()
    tree = build_hierarchy(base, embed, OfflineParentBuilder(), levels=2, n_top=4, seed=0)
    by_id = {n.node_id: n for n in tree.nodes}
    for topic, word in enumerate(["bread", "python", "garden", "guitar"]):
        parents = {tree.parent_of[b.node_id] for b in base[topic::4]}
        assert len(parents) == 1
        parent = by_id[parents.pop()]
        assert word in parent.name
        assert not any(t.startswith("rare") for t in parent.name.split())


def test_offline_hierarchy_is_deterministic():
    base, embed = _base()
    a = build_hierarchy(base, embed, OfflineParentBuilder(), seed=3)
    b = build_hierarchy(base, embed, OfflineParentBuilder(), seed=3)
    assert a.nodes == b.nodes and a.parent_of == b.parent_of


class _SloppyBuilder:
    """Proposes an empty parent, assigns one child twice and forgets another."""

    method = "test"

    def build(self, children, vectors, n_parents, level, seed):
        ids = [c.node_id for c in children]
        return [
            ProposedParent("First", "d", tuple(ids[: len(ids) // 2 + 1])),
            ProposedParent("Empty", "d", ()),
            ProposedParent("Second", "d", tuple(ids[len(ids) // 2 : -1])),  # overlaps one, misses the last
        ]


def test_tree_enforced_whatever_the_builder_returns():
    base, embed = _base(12)
    tree = build_hierarchy(base, embed, _SloppyBuilder(), levels=2, n_top=3)
    validate_tree(tree)
    parents = [n for n in tree.nodes if n.level == 1]
    assert {p.name for p in parents} == {"First", "Second"}  # the empty one is dropped
    assert set(tree.parent_of) == {b.node_id for b in base}  # the forgotten child got a parent


def test_validate_tree_rejects_broken_trees():
    a = Node("a", 0, "a", "", 1)
    p = Node("p", 1, "p", "", 2)
    with pytest.raises(TreeError, match="size differs"):
        validate_tree(Hierarchy(nodes=[a, p], parent_of={"a": "p"}))
    with pytest.raises(TreeError, match="has no parent"):
        validate_tree(Hierarchy(nodes=[a, Node("p", 1, "p", "", 1), Node("b", 0, "b", "", 1)], parent_of={"a": "p"}))
    with pytest.raises(TreeError, match="no children"):
        validate_tree(Hierarchy(nodes=[Node("p", 1, "p", "", 0)], parent_of={}))


def test_taxonomy_parents_are_the_leaves_ancestors_with_ids_that_stay_put():
    from clio_dagster.core.hierarchy import TaxonomyParentBuilder
    from clio_dagster.core.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    python_leaves = [leaf for leaf in taxonomy.leaves if leaf.id.startswith("software.python.")][:2]
    cooking_leaf = next(leaf for leaf in taxonomy.leaves if leaf.id.startswith("everyday.cooking."))
    day_one = [Node("b00000", 0, "a", "x", 30, (), python_leaves[0].id),
               Node("b00001", 0, "b", "y", 20, (), python_leaves[1].id),
               Node("b00002", 0, "c", "z", 25, (), cooking_leaf.id)]
    day_two = [Node("b00000", 0, "c", "z", 5, (), cooking_leaf.id),
               Node("b00001", 0, "a", "x", 40, (), python_leaves[0].id)]

    def embed(texts):
        return np.eye(len(texts), 4, dtype=np.float32)

    trees = [build_hierarchy(day, embed, TaxonomyParentBuilder(taxonomy), levels=3, n_top=10) for day in (day_one, day_two)]
    for tree in trees:
        validate_tree(tree)
    by_id = [{n.node_id: n for n in tree.nodes} for tree in trees]
    assert trees[0].parent_of["b00000"] == trees[0].parent_of["b00001"] == "l1-software.python"
    assert trees[1].parent_of["b00001"] == "l1-software.python"  # the same parent id on another day
    assert trees[0].parent_of["l1-software.python"] == "l2-software"
    assert by_id[0]["l1-software.python"].name == taxonomy.nodes["software.python"].name
    assert by_id[0]["l1-software.python"].size == 50 and by_id[1]["l2-everyday"].size == 5
    # Two levels asked for: topics only.
    two = build_hierarchy(day_one, embed, TaxonomyParentBuilder(taxonomy), levels=2, n_top=10)
    assert {n.level for n in two.nodes} == {0, 1}
