"""The regeneration stage: a second name for every node whose first name failed the privacy audit, written
without what the auditor flagged. Offline, base clusters are renamed by `core.naming` with the flagged words
excluded and parents by the heuristic parent namer; with Claude, base clusters are renamed from their samples
and parents from their children, each told the auditor's reason. A node with no second name keeps its first
(which then stays unpublished: `core.publication.decide`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel

from clio_dagster.core.audit import OfflineAuditor
from clio_dagster.core.hierarchy import Node, OfflineParentBuilder
from clio_dagster.core.naming import LeafMatch, name_clusters
from clio_dagster.core.taxonomy import Taxonomy
from clio_dagster.llm.base import Regeneration, TaskFailure


def _node(row: Mapping[str, Any]) -> Node:
    return Node(row["node_id"], row["level"], row["name"], row["description"], row["conversations"],
                tuple(row["terms"]))


def regenerate_offline(request: Regeneration, rules: OfflineAuditor, taxonomy: Taxonomy,
                       ) -> dict[int, tuple[str, str]]:
    """Node index → (name, description) for each failing node, by the heuristics."""
    nodes = request.nodes
    regenerated: dict[int, tuple[str, str]] = {}
    flagged_of = {i: frozenset(rules.flagged_terms(nodes[i]["name"], nodes[i]["description"]))
                  for i in request.failing}
    base_failing = {request.base_cluster_of(i): i for i in request.failing_at(base=True)}
    if base_failing:
        matches = {c: LeafMatch(taxonomy.nodes[leaf], similarity or 0.0, bool(matched), margin or 0.0)
                   for c, (leaf, similarity, matched, margin) in request.leaf_of.items() if leaf in taxonomy.nodes}
        members = request.members
        # One naming pass for every failing base cluster, each without its own flagged terms.
        renamed = name_clusters([m.cluster_id for m in members], [m.summary for m in members],
                                [m.user_key for m in members], request.min_unique_users, matches=matches,
                                languages=[m.language for m in members],
                                excluded_by_cluster={c: flagged_of[i] for c, i in base_failing.items()})
        for named in renamed:
            if named.cluster_id in base_failing:
                regenerated[base_failing[named.cluster_id]] = (named.name, named.description)
    for i in request.failing_at(base=False):
        node = nodes[i]
        children = [_node(n) for n in nodes if n["parent_id"] == node["node_id"]]
        siblings = [_node(n) for n in nodes if n["level"] == node["level"] - 1]
        proposal = OfflineParentBuilder.name_group(children, siblings, flagged_of[i])
        regenerated[i] = (proposal.name, proposal.description)
    return regenerated


class RenamesWithFeedback(Protocol):
    def name_cluster_samples(self, samples: dict[int, tuple[list[str], list[str]]],
                             feedback: dict[int, str] | None = None) -> dict[int, Any]: ...

    def rename_parent(self, children: list[list[str]], feedback: list[str | None] | None = None,
                      ) -> list[BaseModel | TaskFailure]: ...


def regenerate_with_llm(request: Regeneration, llm: RenamesWithFeedback) -> dict[int, tuple[str, str]]:
    """Node index → (name, description) for each failing node the LLM renamed, told the auditor's reason."""
    nodes = request.nodes
    regenerated: dict[int, tuple[str, str]] = {}
    base = request.failing_at(base=True)
    summary_of = {m.conversation_id: m.summary for m in request.members}
    named = llm.name_cluster_samples(
        {request.base_cluster_of(i): ([summary_of[c] for c in request.samples.get(request.base_cluster_of(i), [])
                                       if c in summary_of], []) for i in base},
        feedback={request.base_cluster_of(i): request.first[i][1] for i in base},
    )
    for i in base:
        answer = named.get(request.base_cluster_of(i))
        if answer is not None and not isinstance(answer, TaskFailure):
            regenerated[i] = (answer.name, answer.summary)
    parents = request.failing_at(base=False)
    kids: dict[str, list[str]] = defaultdict(list)
    for n in nodes:
        if n["parent_id"]:
            kids[n["parent_id"]].append(f"{n['name']}: {n['description']}")
    answers = llm.rename_parent([kids[nodes[i]["node_id"]] for i in parents], [request.first[i][1] for i in parents])
    for i, answer in zip(parents, answers):
        if not isinstance(answer, TaskFailure):
            regenerated[i] = (answer.name, answer.summary)
    return regenerated


__all__ = ["regenerate_offline", "regenerate_with_llm"]
