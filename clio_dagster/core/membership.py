"""Which conversations a node of a cluster tree covers: its own (a base cluster) or its descendants' (a parent)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence


def members_by_node(
    base_members: Mapping[str, Sequence[int]], parent_of: Mapping[str, str | None]
) -> dict[str, list[int]]:
    """Conversation indices per node: each base node's members, added to every ancestor along `parent_of`.

    With the public tree (links only to published parents) this gives the published counts; with the private
    hierarchy it gives every candidate cluster's full membership."""
    members: dict[str, list[int]] = defaultdict(list)
    for node, indices in base_members.items():
        seen = set()
        current: str | None = node
        while current is not None and current not in seen:  # a malformed cycle must not loop forever
            seen.add(current)
            members[current].extend(indices)
            current = parent_of.get(current)
    return {node: sorted(indices) for node, indices in members.items()}
