"""Thresholds at every level (parents count only published children) and the auditor's verdicts."""

from clio_dagster.core.hierarchy import Hierarchy, Node
from clio_dagster.core.privacy import Thresholds
from clio_dagster.core.publication import WITHHELD_DESCRIPTION, AuditedName, Decision, decide

OK = 5


def _tree():
    # b0, b1 under p0; b2, b3 under p1; p0, p1 under t0
    base = [Node(f"b{i}", 0, f"base {i}", "d", size) for i, size in enumerate([6, 6, 6, 2])]
    parents = [Node("p0", 1, "parent 0", "d", 12), Node("p1", 1, "parent 1", "d", 8)]
    top = [Node("t0", 2, "top", "d", 20)]
    parent_of = {"b0": "p0", "b1": "p0", "b2": "p1", "b3": "p1", "p0": "t0", "p1": "t0"}
    return Hierarchy(nodes=base + parents + top, parent_of=parent_of)


def _members():
    # conversation index ranges per base cluster; b1's six conversations come from only two users
    return {"b0": range(0, 6), "b1": range(6, 12), "b2": range(12, 18), "b3": range(18, 20)}


USERS = [f"u{i}" for i in range(6)] + ["x", "y", "x", "y", "x", "y"] + [f"v{i}" for i in range(6)] + ["w0", "w1"]


def _audits(**ratings):
    tree = _tree()
    return {n.node_id: AuditedName(n.name, n.description, ratings.get(n.node_id, OK), "r") for n in tree.nodes}


def test_thresholds_at_every_level_and_parents_count_only_published_children():
    decisions = decide(_tree(), _audits(), _members(), USERS, Thresholds(min_unique_users=4, min_conversations=5))
    assert decisions["b0"].decision == Decision.PUBLISH
    assert decisions["b1"].decision == Decision.SUPPRESS_MIN_UNIQUE_USERS  # 6 conversations, 2 users
    assert decisions["b3"].decision == Decision.SUPPRESS_MIN_UNIQUE_USERS
    # p0 has only b0 published: its counts exclude b1's conversations and users
    assert (decisions["p0"].conversations, decisions["p0"].unique_users) == (6, 6)
    assert (decisions["p1"].conversations, decisions["p1"].unique_users) == (6, 6)
    assert (decisions["t0"].conversations, decisions["t0"].unique_users) == (12, 12)
    assert decisions["b0"].public_parent_id == "p0" and decisions["p0"].public_parent_id == "t0"


def test_a_parent_of_only_suppressed_children_is_suppressed():
    decisions = decide(_tree(), _audits(), _members(), USERS, Thresholds(min_unique_users=6, min_conversations=6))
    assert decisions["b0"].decision == Decision.PUBLISH and decisions["b2"].decision == Decision.PUBLISH
    tight = decide(_tree(), _audits(), _members(), USERS, Thresholds(min_unique_users=7, min_conversations=6))
    assert all(not d.decision.published for d in tight.values())
    assert tight["p0"].decision == Decision.SUPPRESS_NO_PUBLISHED_CHILDREN


def test_parent_threshold_can_fail_even_when_children_pass():
    decisions = decide(_tree(), _audits(), _members(), USERS, Thresholds(min_unique_users=6, min_conversations=7))
    # every base cluster has at most 6 conversations: all suppressed, so are their parents
    assert not any(d.decision.published for d in decisions.values())


def test_audit_failure_uses_the_parents_generic_name_or_suppresses():
    decisions = decide(_tree(), _audits(b0=1, p1=2, b2=2), _members(), USERS, Thresholds(4, 5))
    assert decisions["b0"].decision == Decision.PUBLISH_GENERIC_NAME
    assert decisions["b0"].name == "Other requests within: parent 0"
    assert decisions["b0"].description == WITHHELD_DESCRIPTION
    assert decisions["b2"].decision == Decision.SUPPRESS_AUDIT  # its parent failed the audit too
    assert decisions["p1"].decision == Decision.SUPPRESS_NO_PUBLISHED_CHILDREN


def test_auditor_threshold_is_respected():
    strict = decide(_tree(), _audits(b0=3), _members(), USERS, Thresholds(4, 5), min_audit_rating=4)
    lenient = decide(_tree(), _audits(b0=3), _members(), USERS, Thresholds(4, 5), min_audit_rating=3)
    assert strict["b0"].decision == Decision.PUBLISH_GENERIC_NAME
    assert lenient["b0"].decision == Decision.PUBLISH and lenient["b0"].name == "base 0"


def test_public_parent_is_the_published_direct_parent_or_none():
    decisions = decide(_tree(), _audits(p0=1, t0=5), _members(), USERS, Thresholds(4, 5))
    # p0 fails the audit but its parent t0 passes: p0 gets t0's generic name, stays published
    assert decisions["p0"].decision == Decision.PUBLISH_GENERIC_NAME
    assert decisions["b0"].public_parent_id == "p0"
    no_top = decide(_tree(), _audits(p0=1, t0=1), _members(), USERS, Thresholds(4, 5))
    assert no_top["p0"].decision == Decision.SUPPRESS_AUDIT
    assert no_top["b0"].public_parent_id is None  # nearest published ancestor: none
