"""Stable topic matching, growth and emerging topics on hand-made vectors."""

from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
import pytest

from dataclasses import replace

from clio_dagster.core.topics import (
    DayCluster, DayClusters, compare_periods, match_topics, nearest_centroid_shares, published_base_nodes,
)

D0 = date(2024, 5, 1)


def vec(*xs: float) -> np.ndarray:
    v = np.array(xs + (0.0,) * (4 - len(xs)), dtype=np.float64)
    return v / np.linalg.norm(v)


def cl(cid: str, v: np.ndarray, share: float = 0.1, level: int = 0, name: str | None = None) -> DayCluster:
    return DayCluster(level, cid, name or f"name {cid}", "desc", int(share * 100), int(share * 50), share, None, v)


def day(offset: int, *clusters: DayCluster) -> DayClusters:
    return DayClusters(D0 + timedelta(days=offset), list(clusters))


def test_one_to_one_matching_takes_the_best_global_assignment():
    a, b = vec(1, 0), vec(0, 1)
    days = [
        day(0, cl("b00001", a), cl("b00002", b)),
        # both of day 1's clusters are close to topic a; only one may take it, the other goes to b or is new
        day(1, cl("b00001", vec(1, 0.05)), cl("b00002", vec(1, 0.9)), cl("b00003", vec(0, 1))),
    ]
    reg = match_topics(days, threshold=0.8)
    by_day = {(r.day, r.cluster_id): r.topic_id for r in reg.topic_days}
    d1 = D0 + timedelta(days=1)
    assert by_day[(D0, "b00001")] == "t0-0001" and by_day[(D0, "b00002")] == "t0-0002"
    assert by_day[(d1, "b00001")] == "t0-0001"
    assert by_day[(d1, "b00003")] == "t0-0002"
    assert by_day[(d1, "b00002")] == "t0-0003"  # no topic left for it: a new one
    assert len({by_day[(d1, c)] for c in ("b00001", "b00002", "b00003")}) == 3


def test_threshold_decides_between_same_and_new_topic():
    days = [day(0, cl("b00001", vec(1, 0))), day(1, cl("b00001", vec(1, 0.6)))]  # cos = 0.857
    assert len(match_topics(days, threshold=0.8).topics) == 1
    assert len(match_topics(days, threshold=0.9).topics) == 2


def test_levels_are_matched_separately_and_ids_name_the_level():
    v = vec(1, 0)
    reg = match_topics([day(0, cl("b00001", v), cl("l1-001", v, level=1)), day(1, cl("b00009", v))])
    assert sorted(reg.topics) == ["t0-0001", "t1-0001"]
    assert reg.topics["t0-0001"].last_seen == D0 + timedelta(days=1)
    assert reg.topics["t1-0001"].last_seen == D0


def test_history_keeps_names_and_first_last_seen():
    reg = match_topics([day(0, cl("b1", vec(1, 0), name="Cooking")), day(2, cl("b1", vec(1, 0.1), name="Recipes")),
                        day(3, cl("b1", vec(1, 0.1), name="Cooking"))])
    topic = reg.topics["t0-0001"]
    assert (topic.first_seen, topic.last_seen, topic.days_seen) == (D0, D0 + timedelta(days=3), 3)
    assert topic.names == ["Cooking", "Recipes"] and topic.latest_name == "Cooking"


def test_result_does_not_depend_on_the_order_days_are_given():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(6, 4))
    days = []
    for i in range(7):
        clusters = [cl(f"b{j:05d}", base[j] + rng.normal(scale=0.3, size=4), share=0.05 + 0.01 * j)
                    for j in range(6) if (i + j) % 4]
        days.append(day(i, *clusters))
    expected = match_topics(days)
    for seed in range(5):
        shuffled = days[:]
        random.Random(seed).shuffle(shuffled)
        got = match_topics(shuffled)
        assert got.topic_days == expected.topic_days
        assert got.emerging == expected.emerging
        assert {k: (t.first_seen, t.last_seen, t.names) for k, t in got.topics.items()} == \
               {k: (t.first_seen, t.last_seen, t.names) for k, t in expected.topics.items()}


def test_growth_uses_trailing_window_with_zero_for_absent_days():
    a, b = vec(1, 0), vec(0, 1)
    shares = [0.1, 0.1, 0.1, 0.3]
    days = [day(i, cl("b1", a, share=s)) for i, s in enumerate(shares)]
    days[1] = day(1, cl("b2", b, share=0.5))  # topic a absent on day 1: counts as 0
    reg = match_topics(days, window_days=7, growth_factor=2.0)
    growth = {(r.topic_id, (r.day - D0).days): r.growth for r in reg.topic_days}
    assert growth[("t0-0001", 0)] is None  # no earlier day
    assert growth[("t0-0001", 2)] == pytest.approx(0.1 / ((0.1 + 0.0) / 2))
    assert growth[("t0-0001", 3)] == pytest.approx(0.3 / ((0.1 + 0.0 + 0.1) / 3))
    # window of 1 day: only the day before counts
    reg1 = match_topics(days, window_days=1)
    assert {(r.topic_id, (r.day - D0).days): r.growth for r in reg1.topic_days}[("t0-0001", 3)] == pytest.approx(3.0)
    assert {(r.topic_id, (r.day - D0).days): r.growth for r in reg1.topic_days}[("t0-0001", 2)] is None


def test_emerging_new_and_growth_topics():
    a, b, c = vec(1, 0), vec(0, 1), vec(0, 0, 1)
    days = [
        day(0, cl("b1", a, share=0.5), cl("b2", c, share=0.01)),
        day(1, cl("b1", a, share=0.5), cl("b2", c, share=0.01)),
        day(2, cl("b1", a, share=0.4), cl("b2", b, share=0.05), cl("b3", c, share=0.015)),
        day(3, cl("b1", a, share=0.45), cl("b2", b, share=0.01), cl("b3", c, share=0.015)),
        day(4, cl("b1", a, share=1.5), cl("b3", c, share=0.01)),
    ]
    reg = match_topics(days, min_share=0.02, growth_factor=2.0)
    got = [((e.day - D0).days, e.topic_id, e.reason) for e in reg.emerging]
    # day 0 is the first day of data: nothing emerges; c never reaches min_share.
    assert got == [(2, "t0-0003", "new"), (4, "t0-0001", "growth")]
    assert reg.emerging[1].growth == pytest.approx(1.5 / np.mean([0.5, 0.5, 0.4, 0.45]))
    # a new topic below min_share is not emerging
    assert [(e.topic_id, e.reason) for e in match_topics(days, min_share=0.06).emerging] == [("t0-0001", "growth")]


def test_compare_periods_appear_vanish_grow_shrink():
    d = [D0 + timedelta(days=i) for i in range(4)]
    rows = [
        ("t0-0001", 0, "Stable", d[0], 0.2), ("t0-0001", 0, "Stable", d[2], 0.2),
        ("t0-0002", 0, "Old", d[0], 0.1),
        ("t0-0003", 0, "New", d[3], 0.1),
        ("t0-0004", 0, "Up", d[1], 0.1), ("t0-0004", 0, "Up", d[2], 0.4),
        ("t0-0005", 0, "Down", d[0], 0.4), ("t0-0005", 0, "Down", d[3], 0.1),
    ]
    changes = compare_periods(rows, (d[0], d[1]), (d[2], d[3]), factor=1.5)
    assert {(c.topic_id, c.kind) for c in changes} == {
        ("t0-0002", "vanishes"), ("t0-0003", "appears"), ("t0-0004", "grows"), ("t0-0005", "shrinks")}
    up = next(c for c in changes if c.topic_id == "t0-0004")
    assert (up.share_before, up.share_after) == (pytest.approx(0.05), pytest.approx(0.2))


def test_growth_ignores_days_before_a_topic_existed_and_a_levels_first_day_is_not_emerging():
    a, b = vec(1, 0), vec(0, 1)
    days = [day(0, cl("b1", a, share=0.5)), day(1, cl("b1", a, share=0.5)),
            day(2, cl("b1", a, share=0.5), cl("b2", b, share=0.1)),
            day(3, cl("b1", a, share=0.5), cl("b2", b, share=0.15)),
            day(4, cl("b1", a, share=0.5), cl("b2", b, share=0.15), cl("l1", a, share=0.9, level=1))]
    reg = match_topics(days)
    growth = {(r.topic_id, (r.day - D0).days): r.growth for r in reg.topic_days}
    assert growth[("t0-0002", 2)] is None
    assert growth[("t0-0002", 3)] == pytest.approx(1.5)  # only day 2 counts, not the zeros of days 0-1
    assert growth[("t0-0002", 4)] == pytest.approx(0.15 / 0.125)
    # level 1 appears on day 4 for the first time: its topics are not "new" there
    assert [(e.topic_id, e.reason) for e in reg.emerging] == [("t0-0002", "new")]


def test_nearest_centroid_shares_count_each_embedding_once_by_cosine():
    centroids = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    # scale does not matter (cosine); the last point is nearest to the third centroid
    points = np.array([[5.0, 0.1], [0.2, 3.0], [0.1, 0.9], [-2.0, 0.5]])
    assert nearest_centroid_shares(centroids, points).tolist() == [0.25, 0.5, 0.25]
    assert nearest_centroid_shares(centroids, np.zeros((0, 2))).tolist() == [0.0, 0.0, 0.0]


def test_published_base_nodes_follow_published_chains_only():
    tree = {"b00001": "l1-0001", "b00002": "l1-0001", "b00003": "l1-0002", "l1-0001": "l2-0001", "l1-0002": "l2-0001"}
    published = {"b00001": 0, "b00003": 0, "l1-0001": 1, "l1-0002": 1, "l2-0001": 2}  # b00002 suppressed
    under = published_base_nodes(tree, published)
    assert under == {"b00001": ["b00001"], "b00003": ["b00003"], "l1-0001": ["b00001"], "l1-0002": ["b00003"],
                     "l2-0001": ["b00001", "b00003"]}


def _with_nearest(cluster: DayCluster, today: float, trailing: list[tuple[int, float]]) -> DayCluster:
    return replace(cluster, nearest_share=today, trailing_nearest=tuple((D0 + timedelta(days=o), s) for o, s in trailing))


def test_a_new_cut_of_old_conversations_is_not_emerging_but_a_new_region_is():
    a, b, c = vec(1, 0), vec(0, 1), vec(0, 0, 1)
    days = [day(0, cl("b00001", a, 0.5), cl("b00002", b, 0.5)),
            # day 1: cluster "b00002" got a name unlike any topic's (new topic), yet the trailing day had as many
            # conversations nearest to it; "b00003" is a region nobody asked about the day before
            day(1, _with_nearest(cl("b00001", a, 0.4), 0.4, [(0, 0.5)]),
                _with_nearest(cl("b00002", vec(0, 0.3, 1, 0.2), 0.4), 0.4, [(0, 0.5)]),
                _with_nearest(cl("b00003", c, 0.2), 0.2, [(0, 0.01)]))]
    reg = match_topics(days, threshold=0.95, min_share=0.05, growth_factor=2.0)
    new = {(e.topic_id, e.reason) for e in reg.emerging}
    by_cluster = {r.cluster_id: r for r in reg.topic_days if r.day == D0 + timedelta(days=1)}
    assert new == {(by_cluster["b00003"].topic_id, "new")}
    assert by_cluster["b00002"].growth == pytest.approx(0.8) and by_cluster["b00002"].baseline_share == 0.5
    assert by_cluster["b00003"].growth == pytest.approx(20.0)


def test_conversation_growth_of_an_existing_topic_counts_only_days_since_it_was_founded():
    a, b = vec(1, 0), vec(0, 1)
    days = [day(0, cl("b00001", a, 0.9)),
            day(1, _with_nearest(cl("b00001", a, 0.7), 0.7, [(0, 0.9)]),
                _with_nearest(cl("b00002", b, 0.3), 0.3, [(0, 0.0)])),
            # day 2: b's baseline is day 1 only (0.3), not the day before it existed (0.0)
            day(2, _with_nearest(cl("b00001", a, 0.4), 0.4, [(0, 0.9), (1, 0.7)]),
                _with_nearest(cl("b00002", b, 0.6), 0.6, [(0, 0.0), (1, 0.3)]))]
    reg = match_topics(days, threshold=0.9, min_share=0.05, growth_factor=1.5)
    d2 = {r.cluster_id: r for r in reg.topic_days if r.day == D0 + timedelta(days=2)}
    assert d2["b00002"].baseline_share == pytest.approx(0.3) and d2["b00002"].growth == pytest.approx(2.0)
    assert d2["b00001"].baseline_share == pytest.approx(0.8) and d2["b00001"].growth == pytest.approx(0.5)
    assert [(e.day, e.reason) for e in reg.emerging] == [(D0 + timedelta(days=1), "new"), (D0 + timedelta(days=2), "growth")]
