"""Aggregation thresholds (Clio §2.3, layer 2) and the pooling of small facet values."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

OTHER_VALUE = "Other (each below the user threshold)"


class Suppression(StrEnum):
    MIN_UNIQUE_USERS = "min_unique_users"
    MIN_CONVERSATIONS = "min_conversations"


@dataclass(frozen=True)
class Thresholds:
    min_unique_users: int
    min_conversations: int

    def violations(self, conversations: int, unique_users: int) -> list[Suppression]:
        """Every threshold a cluster misses; a cluster is publishable only when this is empty."""
        failed = []
        if unique_users < self.min_unique_users:
            failed.append(Suppression.MIN_UNIQUE_USERS)
        if conversations < self.min_conversations:
            failed.append(Suppression.MIN_CONVERSATIONS)
        return failed


@dataclass(frozen=True)
class FacetCount:
    cluster_id: int
    facet: str
    value: str
    conversations: int
    users: int


def pool_small_values(counts: Iterable[FacetCount], min_unique_users: int) -> list[FacetCount]:
    """Facet values used by fewer than `min_unique_users` users are merged into one 'Other' row.

    A breakdown like "1 conversation in Icelandic" in a cluster could single a person out; the pooled
    row keeps the totals right without naming the rare value. Its user count is an upper bound (a sum).
    """
    pooled: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    kept: list[FacetCount] = []
    for row in counts:
        if row.users >= min_unique_users:
            kept.append(row)
        else:
            bucket = pooled[(row.cluster_id, row.facet)]
            bucket[0] += row.conversations
            bucket[1] += row.users
    kept.extend(
        FacetCount(cluster_id, facet, OTHER_VALUE, conversations, users)
        for (cluster_id, facet), (conversations, users) in pooled.items()
    )
    return sorted(kept, key=lambda r: (r.cluster_id, r.facet, -r.conversations, r.value))
