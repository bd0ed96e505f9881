"""Stable topics across daily partitions, their trends, and emerging topics (no Dagster here).

Each day's published clusters are matched, level by level, to the topics seen so far:

- Days are processed in date order, always from scratch. The registry is therefore a function of
  the set of published days only: backfilling old days after new ones gives the same result as
  running them in order.
- Matching is one-to-one (Hungarian algorithm on cosine similarity, `linear_sum_assignment`) between
  the day's clusters of a level and every existing topic of that level; a pair is accepted when its
  similarity is >= `threshold`. Unmatched clusters found new topics, with ids `t<level>-<NNNN>` in order
  of creation (day, then level, then cluster id), so ids are deterministic.
- A topic's vector is the normalised MEAN of its members' vectors (not the last-seen one): a topic
  drifts slowly, and a single odd day cannot move it far from what it has been.
- growth of a day's cluster, when the day carries a conversation-level baseline (`baseline_share`, see
  `nearest_centroid_shares`): the share of the day's conversations nearest to the cluster's centroid
  over the mean share of the trailing window's conversations nearest to it. Clusters are cut afresh
  every day, so a cluster whose boundary moved (k-means split or merged neighbours) changes its share
  without any change in what users asked; measuring the same region of embedding space on the trailing
  days cancels that out, and only real change in volume remains.
- Without a baseline (no private embeddings for the window): growth(topic, day) = share(day) / mean share
  over the trailing window: the partitions present in the data within the `window_days` calendar days
  before `day` and not before the topic's first day, counting share 0 on those where the topic was
  absent. None on a topic's first day, when no partition lies in the window, or when the baseline is 0.
- Emerging on a day (never on the first day a level has data, where everything is new), for clusters
  with share >= `min_share`: a topic first seen that day (reason "new") unless its baseline shows the
  same conversations were already there (growth <= `growth_factor`: a new cut of old conversations,
  not a new topic), or a topic seen before whose growth > `growth_factor` (reason "growth").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class DayCluster:
    level: int
    cluster_id: str
    name: str
    description: str
    conversations: int
    users: int
    share: float
    concerning_mean: float | None
    vector: np.ndarray  # unit embedding of "name: description"
    # Share of the day's conversations nearest to this cluster's base centroids, and the same share on
    # each earlier day within `window_days` ((day, share) pairs); None without private embeddings.
    nearest_share: float | None = None
    trailing_nearest: tuple[tuple[date, float], ...] | None = None


@dataclass(frozen=True)
class DayClusters:
    day: date
    clusters: list[DayCluster]


@dataclass
class Topic:
    topic_id: str
    level: int
    first_seen: date
    last_seen: date
    latest_name: str
    latest_description: str
    names: list[str] = field(default_factory=list)  # distinct names, in order of first use
    days_seen: int = 0
    _vector_sum: np.ndarray | None = None

    @property
    def vector(self) -> np.ndarray:
        norm = np.linalg.norm(self._vector_sum)
        return self._vector_sum / norm if norm else self._vector_sum

    def add(self, day: date, cluster: DayCluster) -> None:
        vec = np.asarray(cluster.vector, dtype=np.float64)
        self._vector_sum = vec.copy() if self._vector_sum is None else self._vector_sum + vec
        self.last_seen = day
        self.days_seen += 1
        self.latest_name, self.latest_description = cluster.name, cluster.description
        if cluster.name not in self.names:
            self.names.append(cluster.name)


@dataclass(frozen=True)
class TopicDay:
    topic_id: str
    day: date
    cluster_id: str
    name: str
    conversations: int
    users: int
    share: float
    concerning_mean: float | None
    similarity: float | None  # to the topic before this day (None: the day the topic was founded)
    growth: float | None
    baseline_share: float | None


@dataclass(frozen=True)
class Emerging:
    day: date
    topic_id: str
    level: int
    name: str
    reason: str  # "new" or "growth"
    share: float
    growth: float | None


@dataclass
class Registry:
    days: list[date]
    topics: dict[str, Topic]
    topic_days: list[TopicDay]
    emerging: list[Emerging]


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def nearest_centroid_shares(centroids: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """For each centroid, the fraction of `embeddings` whose nearest centroid (cosine) it is."""
    if len(centroids) == 0:
        return np.zeros(0)
    if len(embeddings) == 0:
        return np.zeros(len(centroids))
    nearest = np.argmax(_unit(np.asarray(embeddings, dtype=np.float32)) @ _unit(np.asarray(centroids, dtype=np.float32)).T,
                        axis=1)
    return np.bincount(nearest, minlength=len(centroids)) / len(embeddings)


def published_base_nodes(tree: dict[str, str | None], published: dict[str, int]) -> dict[str, list[str]]:
    """The published base nodes under every published node (itself, for a base node): a parent is
    published with its published children only, so only chains of published nodes count."""
    under: dict[str, list[str]] = {}
    for node_id, level in sorted(published.items(), key=lambda kv: (kv[1], kv[0])):
        if level == 0:
            under[node_id] = [node_id]
        else:
            under[node_id] = sorted(b for child, parent in tree.items()
                                    if parent == node_id and child in under for b in under[child])
    return under


def match_topics(
    days: list[DayClusters],
    threshold: float = 0.8,
    window_days: int = 7,
    min_share: float = 0.02,
    growth_factor: float = 2.0,
) -> Registry:
    """The registry of stable topics for these days (any order in, processed in date order)."""
    if len({d.day for d in days}) != len(days):
        raise ValueError("each day may appear only once")
    ordered = sorted(days, key=lambda d: d.day)
    topics: dict[str, Topic] = {}
    by_level: dict[int, list[str]] = {}
    counters: dict[int, int] = {}
    matched: list[tuple[date, str, DayCluster, float | None]] = []

    for entry in ordered:
        clusters = sorted(entry.clusters, key=lambda c: (c.level, c.cluster_id))
        for level in sorted({c.level for c in clusters}):
            todays = [c for c in clusters if c.level == level]
            existing = by_level.setdefault(level, [])
            assignment: dict[int, tuple[str, float]] = {}
            if existing:
                a = _unit(np.stack([np.asarray(c.vector, dtype=np.float64) for c in todays]))
                b = np.stack([topics[t].vector for t in existing])
                sims = a @ b.T
                rows, cols = linear_sum_assignment(-sims)
                for r, c in zip(rows, cols):
                    if sims[r, c] >= threshold:
                        assignment[int(r)] = (existing[int(c)], float(sims[r, c]))
            # Update after matching so every cluster of the day is compared to the same topic vectors.
            for i, cluster in enumerate(todays):
                if i in assignment:
                    topic_id, sim = assignment[i]
                else:
                    counters[level] = counters.get(level, 0) + 1
                    topic_id, sim = f"t{level}-{counters[level]:04d}", None
                    topics[topic_id] = Topic(topic_id, level, entry.day, entry.day, cluster.name, cluster.description)
                    existing.append(topic_id)
                topics[topic_id].add(entry.day, cluster)
                matched.append((entry.day, topic_id, cluster, sim))

    all_days = [d.day for d in ordered]
    first_day_of_level = {}
    for day, topic_id, _, _ in matched:
        first_day_of_level.setdefault(topics[topic_id].level, day)
    share_of = {(topic_id, day): c.share for day, topic_id, c, _ in matched}
    topic_days: list[TopicDay] = []
    emerging: list[Emerging] = []
    for day, topic_id, cluster, sim in matched:
        topic = topics[topic_id]
        baseline = None
        if cluster.nearest_share is not None and cluster.trailing_nearest is not None:
            # A new topic is compared with every trailing day (were these conversations there before?);
            # an existing one only with the days since it was founded, as in the fallback below.
            window = [s for d, s in cluster.trailing_nearest if topic.first_seen == day or d >= topic.first_seen]
            baseline = float(np.mean(window)) if window else None
        if baseline is not None:
            growth = cluster.nearest_share / baseline if baseline > 0 else None
        else:
            window = [d for d in all_days
                      if max(day - timedelta(days=window_days), topic.first_seen) <= d < day]
            trailing = float(np.mean([share_of.get((topic_id, d), 0.0) for d in window])) if window else 0.0
            growth = cluster.share / trailing if trailing > 0 else None
        topic_days.append(TopicDay(topic_id, day, cluster.cluster_id, cluster.name, cluster.conversations,
                                   cluster.users, cluster.share, cluster.concerning_mean, sim, growth,
                                   baseline))
        if day == first_day_of_level[topic.level] or cluster.share < min_share:
            continue
        if topic.first_seen == day:
            if growth is not None and growth <= growth_factor:
                continue  # a new cut of conversations the trailing days already had
            emerging.append(Emerging(day, topic_id, topic.level, cluster.name, "new", cluster.share, growth))
        elif growth is not None and growth > growth_factor:
            emerging.append(Emerging(day, topic_id, topic.level, cluster.name, "growth", cluster.share, growth))
    topic_days.sort(key=lambda r: (r.day, r.topic_id))
    emerging.sort(key=lambda r: (r.day, r.topic_id))
    return Registry(all_days, topics, topic_days, emerging)


@dataclass(frozen=True)
class Change:
    topic_id: str
    level: int
    name: str
    kind: str  # "appears", "vanishes", "grows", "shrinks"
    share_before: float
    share_after: float


def compare_periods(
    rows: list[tuple[str, int, str, date, float]],
    before: tuple[date, date],
    after: tuple[date, date],
    factor: float = 1.5,
) -> list[Change]:
    """Topics that appear, vanish, grow or shrink between two inclusive date ranges.

    `rows` are (topic_id, level, latest_name, day, share). Mean share per period counts 0 on the
    period's days with data where the topic is absent. A topic grows when after/before > factor and
    shrinks when before/after > factor."""
    def period_days(span: tuple[date, date]) -> set[date]:
        return {r[3] for r in rows if span[0] <= r[3] <= span[1]}

    days_before, days_after = period_days(before), period_days(after)
    info = {r[0]: (r[1], r[2]) for r in rows}
    totals: dict[str, list[float]] = {t: [0.0, 0.0] for t in info}
    for topic_id, _, _, day, share in rows:
        if day in days_before:
            totals[topic_id][0] += share
        if day in days_after:
            totals[topic_id][1] += share
    changes = []
    for topic_id in sorted(totals):
        sb, sa = totals[topic_id]
        mb = sb / len(days_before) if days_before else 0.0
        ma = sa / len(days_after) if days_after else 0.0
        level, name = info[topic_id]
        if mb == 0 and ma == 0:
            continue
        if mb == 0:
            kind = "appears"
        elif ma == 0:
            kind = "vanishes"
        elif ma / mb > factor:
            kind = "grows"
        elif mb / ma > factor:
            kind = "shrinks"
        else:
            continue
        changes.append(Change(topic_id, level, name, kind, mb, ma))
    order = {"appears": 0, "grows": 1, "shrinks": 2, "vanishes": 3}
    changes.sort(key=lambda c: (order[c.kind], -abs(c.share_after - c.share_before), c.topic_id))
    return changes
