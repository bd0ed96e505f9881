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


# Privacy-bearing settings a run may make stricter but never looser than the deployment's.
RAISABLE_FLOORS = ("min_unique_users", "min_conversations", "min_audit_rating")
# Switches that loosen the guarantees when on: only the deployment's settings can turn them on.
DEPLOYMENT_ONLY_SWITCHES = ("demo_mode", "safety_mode")


@dataclass(frozen=True)
class PrivacyFloors:
    """The deployment's privacy settings (environment / TOML, read when the code location loads)."""

    min_unique_users: int
    min_conversations: int
    min_audit_rating: int
    demo_mode: bool
    safety_mode: bool

    @classmethod
    def of(cls, settings: object) -> PrivacyFloors:
        return cls(**{name: getattr(settings, name) for name in RAISABLE_FLOORS + DEPLOYMENT_ONLY_SWITCHES})

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.min_unique_users, self.min_conversations)


def floor_refusals(floors: PrivacyFloors, run_values: dict[str, object]) -> list[str]:
    """Why a run's values would weaken the deployment's privacy settings (empty: they do not). `run_values`
    holds whichever of the floor fields and switches the run sets."""
    reasons = []
    for name in RAISABLE_FLOORS:
        value = run_values.get(name)
        if value is not None and value < getattr(floors, name):  # type: ignore[operator]
            reasons.append(f"{name}={value} is below this deployment's floor of {getattr(floors, name)} "
                           f"(CLIO_{name.upper()} or clio.toml); a run may raise it, never lower it")
    for name in DEPLOYMENT_ONLY_SWITCHES:
        if run_values.get(name) and not getattr(floors, name):
            reasons.append(f"{name}=true is off in this deployment (CLIO_{name.upper()} or clio.toml); "
                           "a run cannot switch it on")
    return reasons
