"""What may be published: the auditor's verdict and the aggregation thresholds at every level.

A base cluster counts its own conversations and distinct users; a parent counts the union of its
*published* children only, so a suppressed child can never lend its users to a parent. A name the
auditor rejects (after one regeneration) is replaced by a generic name built from its parent's audited
name, or the cluster is suppressed when there is no such parent. Every node gets a recorded decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from clio_dagster.core.hierarchy import Hierarchy
from clio_dagster.core.privacy import Suppression, Thresholds

WITHHELD_DESCRIPTION = "The name of this cluster was withheld by the privacy auditor; it is shown under its parent's topic."


class Decision(StrEnum):
    PUBLISH = "publish"
    PUBLISH_GENERIC_NAME = "publish_generic_name"
    SUPPRESS_AUDIT = "suppress_audit"
    SUPPRESS_MIN_UNIQUE_USERS = "suppress_min_unique_users"
    SUPPRESS_MIN_CONVERSATIONS = "suppress_min_conversations"
    SUPPRESS_NO_PUBLISHED_CHILDREN = "suppress_no_published_children"

    @property
    def published(self) -> bool:
        return self in (Decision.PUBLISH, Decision.PUBLISH_GENERIC_NAME)


@dataclass(frozen=True)
class AuditedName:
    name: str
    description: str
    rating: int
    reason: str


@dataclass(frozen=True)
class NodeDecision:
    node_id: str
    level: int
    decision: Decision
    name: str
    description: str
    conversations: int
    unique_users: int
    public_parent_id: str | None


def decide(
    tree: Hierarchy,
    audits: Mapping[str, AuditedName],
    members: Mapping[str, Sequence[int]],
    user_of: Sequence[str],
    thresholds: Thresholds,
    min_audit_rating: int = 3,
) -> dict[str, NodeDecision]:
    """`members`: base node id → indices of its conversations; `user_of[i]`: the user key of conversation i."""
    children = tree.children_of()
    levels = sorted({n.level for n in tree.nodes})
    by_level = {lvl: sorted((n for n in tree.nodes if n.level == lvl), key=lambda n: n.node_id) for lvl in levels}
    published_members: dict[str, set[int]] = {}
    decisions: dict[str, tuple[Decision, str, str, int, int]] = {}

    for level in levels:
        for node in by_level[level]:
            if level == 0:
                conversation_ids = set(members.get(node.node_id, ()))
            else:
                kids = [k for k in children.get(node.node_id, []) if decisions[k][0].published]
                if not kids:
                    decisions[node.node_id] = (Decision.SUPPRESS_NO_PUBLISHED_CHILDREN, "", "", 0, 0)
                    continue
                conversation_ids = set().union(*(published_members[k] for k in kids))
            n_conversations = len(conversation_ids)
            n_users = len({user_of[i] for i in conversation_ids})
            failed = thresholds.violations(n_conversations, n_users)
            if failed:
                decision = (Decision.SUPPRESS_MIN_UNIQUE_USERS if failed[0] == Suppression.MIN_UNIQUE_USERS
                            else Decision.SUPPRESS_MIN_CONVERSATIONS)
                decisions[node.node_id] = (decision, "", "", n_conversations, n_users)
                continue
            audit = audits[node.node_id]
            if audit.rating >= min_audit_rating:
                decisions[node.node_id] = (Decision.PUBLISH, audit.name, audit.description, n_conversations, n_users)
            else:
                parent = tree.parent_of.get(node.node_id)
                parent_audit = audits.get(parent) if parent else None
                if parent_audit is not None and parent_audit.rating >= min_audit_rating:
                    decisions[node.node_id] = (
                        Decision.PUBLISH_GENERIC_NAME, f"Other requests within: {parent_audit.name}",
                        WITHHELD_DESCRIPTION, n_conversations, n_users,
                    )
                else:
                    decisions[node.node_id] = (Decision.SUPPRESS_AUDIT, "", "", n_conversations, n_users)
                    continue
            published_members[node.node_id] = conversation_ids

    def public_parent(node_id: str) -> str | None:
        # A parent counts exactly its published children, so the public tree links only to a published
        # direct parent; a child whose parent is withheld becomes a root of the public tree.
        parent = tree.parent_of.get(node_id)
        return parent if parent is not None and decisions[parent][0].published else None

    level_of = {n.node_id: n.level for n in tree.nodes}
    return {
        node_id: NodeDecision(node_id, level_of[node_id], d, name, description, n, u,
                              public_parent(node_id) if d.published else None)
        for node_id, (d, name, description, n, u) in decisions.items()
    }
