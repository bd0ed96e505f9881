from clio_dagster.core.privacy import OTHER_VALUE, FacetCount, Suppression, Thresholds, pool_small_values


def test_both_thresholds_must_hold():
    t = Thresholds(min_unique_users=10, min_conversations=20)
    assert t.violations(20, 10) == []
    assert t.violations(19, 10) == [Suppression.MIN_CONVERSATIONS]
    assert t.violations(100, 9) == [Suppression.MIN_UNIQUE_USERS]
    assert t.violations(5, 5) == [Suppression.MIN_UNIQUE_USERS, Suppression.MIN_CONVERSATIONS]


def test_rare_facet_values_are_pooled_and_totals_kept():
    rows = [
        FacetCount(0, "language", "English", 40, 30),
        FacetCount(0, "language", "Icelandic", 1, 1),
        FacetCount(0, "language", "Welsh", 2, 2),
        FacetCount(1, "language", "Chinese", 25, 20),
    ]
    pooled = pool_small_values(rows, min_unique_users=5)
    values = {(r.cluster_id, r.value): r.conversations for r in pooled}
    assert values == {(0, "English"): 40, (0, OTHER_VALUE): 3, (1, "Chinese"): 25}
    assert sum(r.conversations for r in pooled) == sum(r.conversations for r in rows)
