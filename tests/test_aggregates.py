"""Per-node aggregates of the public DB (`core.aggregates`), checked against counts done by hand."""

import math

import polars as pl

from clio_dagster.core.aggregates import facet_breakdowns, node_clusters, node_statistics

# Cluster 0: three conversations by two users; cluster 1: two by two users; cluster 2 (suppressed): one.
CONVERSATIONS = pl.DataFrame({
    "cluster_id": [0, 0, 0, 1, 1, 2],
    "user_hash": ["u1", "u1", "u2", "u3", "u4", "u5"],
    "language": ["English", "English", "French", "English", None, "German"],
    "n_turns": [1, 3, 9, 2, 5, 4],
    "concerning": [1, None, 3, None, None, 5],
    "x": [0.0, 2.0, 1.0, 5.0, 5.0, 9.0],
    "y": [0.0, 0.0, 3.0, 1.0, None, 9.0],
})
# Published: base clusters 0 and 1 and their parent; base cluster 2 sits under the same parent, unpublished.
LEVELS = {"b00000": 0, "b00001": 0, "l1-a": 1}
TREE = {"b00000": "l1-a", "b00001": "l1-a", "b00002": "l1-a", "l1-a": None}


def test_a_parent_holds_only_its_published_childrens_clusters():
    nodes = node_clusters(LEVELS, TREE)
    assert sorted(nodes.iter_rows()) == [("b00000", 0), ("b00001", 1), ("l1-a", 0), ("l1-a", 1)]


def test_node_statistics_average_what_is_known():
    stats = node_statistics(CONVERSATIONS, node_clusters(LEVELS, TREE))
    assert stats["b00000"]["mean_turns"] == (1 + 3 + 9) / 3
    assert stats["b00000"]["concerning_mean"] == 2.0  # the unscored conversation is left out
    assert stats["b00001"]["concerning_mean"] is None
    assert (stats["b00000"]["x"], stats["b00000"]["y"]) == (1.0, 1.0)
    assert math.isclose(stats["b00000"]["spread"], math.sqrt((2 + 2 + 4) / 3))
    # One member has no map point: the node gets no position rather than a wrong one.
    assert stats["b00001"]["x"] is None and stats["l1-a"]["spread"] is None
    assert stats["l1-a"]["mean_turns"] == (1 + 3 + 9 + 2 + 5) / 5  # cluster 2's conversation is not counted


def test_facet_breakdowns_count_conversations_and_distinct_users_per_value():
    rows = facet_breakdowns(CONVERSATIONS, node_clusters(LEVELS, TREE)).rows()
    base = [r for r in rows if r[0] == "b00000"]
    assert base == [
        ("b00000", "language", "English", 2, 1), ("b00000", "language", "French", 1, 1),
        ("b00000", "turns", "1-2", 1, 1), ("b00000", "turns", "3-4", 1, 1), ("b00000", "turns", "9+", 1, 1),
        ("b00000", "concerning", "1", 1, 1), ("b00000", "concerning", "3", 1, 1),
    ]
    parent = {(f, v): (n, u) for node, f, v, n, u in rows if node == "l1-a"}
    assert parent[("language", "English")] == (3, 2)  # u1 twice, u3 once
    assert ("language", None) not in parent and sum(n for (f, _), (n, _) in parent.items() if f == "turns") == 5
