"""Clio's multi-level hierarchy (§G.7), with the parent-building step pluggable.

Level sizes follow n_l / n_{l-1} = (n_top / n_base)^(1/(L-1)). At each level the children's
name+description embeddings feed a `ParentBuilder`: the LLM builder (neighbourhoods → propose → dedupe →
assign → rename) or the offline one (k-means on the embeddings, names from the children's terms). Whatever
the builder returns, `build_hierarchy` guarantees a tree: every child gets exactly one parent, empty
parents are dropped, and `validate_tree` checks it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from clio_dagster.core.clustering import kmeans
from clio_dagster.core.taxonomy import DEPTH, Taxonomy


@dataclass(frozen=True)
class Node:
    node_id: str
    level: int
    name: str
    description: str
    size: int  # conversations under the node (weights names; never published from here)
    terms: tuple[str, ...] = ()
    taxonomy_id: str | None = None

    @property
    def text(self) -> str:
        return f"{self.name}: {self.description}"


@dataclass(frozen=True)
class ProposedParent:
    name: str
    description: str
    children: tuple[str, ...]
    terms: tuple[str, ...] = ()
    # A parent that stands for a fixed node (a taxonomy topic) keeps the same id every day.
    node_id: str | None = None
    taxonomy_id: str | None = None


class ParentBuilder(Protocol):
    method: str
    # None: level sizes by Clio's geometric rule; a number: exactly that many levels above the base, kept
    # even where a level groups nothing (a fixed taxonomy).
    fixed_levels: int | None

    def build(self, children: list[Node], vectors: np.ndarray, n_parents: int, level: int, seed: int) -> list[ProposedParent]:
        """Group `children` under about `n_parents` named parents."""


def level_sizes(n_base: int, levels: int, n_top: int) -> list[int]:
    """Cluster counts from the base level up, strictly decreasing; fewer levels when the base is small."""
    if n_base <= 1 or levels <= 1:
        return [n_base]
    # A top level at most a quarter of the base, so a small day still gets a hierarchy worth reading.
    top = min(n_top, n_base // 4)
    if top < 2:
        return [n_base]
    ratio = (top / n_base) ** (1 / (levels - 1))
    sizes = [n_base]
    for level in range(1, levels):
        size = top if level == levels - 1 else max(top, round(n_base * ratio**level))
        if size < sizes[-1]:
            sizes.append(size)
    return sizes


@dataclass
class Hierarchy:
    nodes: list[Node] = field(default_factory=list)
    parent_of: dict[str, str] = field(default_factory=dict)
    methods: dict[int, str] = field(default_factory=dict)

    def children_of(self) -> dict[str, list[str]]:
        children: dict[str, list[str]] = defaultdict(list)
        for child, parent in sorted(self.parent_of.items()):
            children[parent].append(child)
        return children


def build_hierarchy(
    base: Sequence[Node],
    embed: Callable[[list[str]], np.ndarray],
    builder: ParentBuilder,
    levels: int = 3,
    n_top: int = 10,
    seed: int = 0,
) -> Hierarchy:
    tree = Hierarchy(nodes=list(base))
    current = list(base)
    fixed = getattr(builder, "fixed_levels", None)
    sizes = level_sizes(len(base), levels, n_top)[1:] if fixed is None else [0] * min(fixed, levels - 1)
    for level, n_parents in enumerate(sizes, start=1):
        if not current or (fixed is None and len(current) <= 1):
            break
        # A fixed taxonomy places children by their ids; vectors are needed only for a child without one.
        if fixed is None or any(n.taxonomy_id is None for n in current):
            vectors = embed([n.text for n in current])
        else:
            vectors = np.zeros((len(current), 1), dtype=np.float32)
        proposed = builder.build(current, vectors, n_parents, level, seed)
        parents = _as_tree_level(current, proposed, level, vectors)
        if fixed is None and len(parents) >= len(current):
            break  # no grouping happened; stop rather than add a level that says nothing
        by_id = {n.node_id: n for n in current}
        for parent, kids in parents:
            tree.nodes.append(parent)
            for kid in kids:
                tree.parent_of[kid] = parent.node_id
            assert all(k in by_id for k in kids)
        tree.methods[level] = builder.method
        current = [p for p, _ in parents]
    validate_tree(tree)
    return tree


def _as_tree_level(
    children: list[Node], proposed: list[ProposedParent], level: int, vectors: np.ndarray
) -> list[tuple[Node, list[str]]]:
    """Enforce one parent per child (first claim wins; unclaimed children go to the parent whose members'
    centroid is nearest), then drop empty parents and number the rest by size."""
    index = {n.node_id: i for i, n in enumerate(children)}
    owner: dict[str, int] = {}
    for p_index, parent in enumerate(proposed):
        for child in parent.children:
            if child in index and child not in owner:
                owner[child] = p_index
    if not owner:
        proposed = [ProposedParent("All requests", "Every cluster of this level.", tuple(index))]
        owner = {c: 0 for c in index}
    unclaimed = [c for c in index if c not in owner]
    if unclaimed:
        groups: dict[int, list[int]] = defaultdict(list)
        for child, p_index in owner.items():
            groups[p_index].append(index[child])
        centroid_ids = sorted(groups)
        centroids = np.stack([vectors[groups[p]].mean(axis=0) for p in centroid_ids])
        for child in unclaimed:
            nearest = int(np.argmin(np.linalg.norm(centroids - vectors[index[child]], axis=1)))
            owner[child] = centroid_ids[nearest]
    members: dict[int, list[str]] = defaultdict(list)
    for child in children:
        members[owner[child.node_id]].append(child.node_id)
    size_of = {n.node_id: n.size for n in children}
    ordered = sorted(members.items(), key=lambda kv: (-sum(size_of[c] for c in kv[1]), kv[0]))
    result = []
    for rank, (p_index, kids) in enumerate(ordered):
        parent = proposed[p_index]
        result.append(
            (
                Node(
                    node_id=parent.node_id or f"l{level}-{rank:04d}",
                    level=level,
                    name=parent.name,
                    description=parent.description,
                    size=sum(size_of[c] for c in kids),
                    terms=parent.terms,
                    taxonomy_id=parent.taxonomy_id,
                ),
                kids,
            )
        )
    return result


class TreeError(ValueError):
    pass


def validate_tree(tree: Hierarchy) -> None:
    """Single parent, parent one level up, no cycles, no empty parents, sizes add up."""
    by_id = {n.node_id: n for n in tree.nodes}
    if len(by_id) != len(tree.nodes):
        raise TreeError("duplicate node ids")
    top_level = max((n.level for n in tree.nodes), default=0)
    children = tree.children_of()
    for node in tree.nodes:
        parent_id = tree.parent_of.get(node.node_id)
        if node.level < top_level and parent_id is None:
            raise TreeError(f"{node.node_id} (level {node.level}) has no parent")
        if parent_id is not None:
            parent = by_id.get(parent_id)
            if parent is None or parent.level != node.level + 1:
                raise TreeError(f"{node.node_id} has a parent that is not one level up")
        if node.level > 0:
            kids = children.get(node.node_id, [])
            if not kids:
                raise TreeError(f"{node.node_id} has no children")
            if sum(by_id[k].size for k in kids) != node.size:
                raise TreeError(f"{node.node_id}: size differs from its children's total")
    for node in tree.nodes:  # walking up always ends (levels strictly increase)
        seen, current = set(), node.node_id
        while current in tree.parent_of:
            if current in seen:
                raise TreeError("cycle")
            seen.add(current)
            current = tree.parent_of[current]


class OfflineParentBuilder:
    """Parents by seeded k-means on the children's embeddings; names from the children's terms (each of
    which already met the user threshold), weighted by the children's sizes. Heuristic, and labelled so."""

    method = "heuristic: k-means on child embeddings, names from child terms"
    fixed_levels = None

    def build(self, children: list[Node], vectors: np.ndarray, n_parents: int, level: int, seed: int) -> list[ProposedParent]:
        result = kmeans(vectors, n_parents, seed)
        groups: dict[int, list[Node]] = defaultdict(list)
        for child, label in zip(children, result.labels):
            groups[int(label)].append(child)
        return [self.name_group(groups[label], children) for label in sorted(groups)]

    @staticmethod
    def name_group(kids: list[Node], siblings: list[Node], excluded: frozenset[str] = frozenset()) -> ProposedParent:
        """Name a group from the terms its children share, weighted by size, c-TF-IDF against `siblings`;
        `excluded` terms are never used (how a name the auditor rejected is regenerated)."""
        overall: Counter[str] = Counter()
        for child in siblings:
            for term in child.terms:
                overall[term] += child.size
        total = sum(overall.values()) or 1
        weights: Counter[str] = Counter()
        spread: Counter[str] = Counter()  # how many of the children use the term
        for child in kids:
            for term in child.terms:
                if term in excluded or any(part in excluded for part in term.split(" ")):
                    continue
                weights[term] += child.size
                spread[term] += 1
        size = sum(weights.values()) or 1
        # A parent is named by what its children share, not by one child's term.
        shared = [t for t in weights if spread[t] >= min(2, len(kids))]
        scored = sorted(
            shared,
            key=lambda t: (-(weights[t] / size) * math.log(1 + total / overall[t]) * spread[t] / len(kids), t),
        )
        name_terms = scored[:3]
        if name_terms:
            joined = name_terms[0] if len(name_terms) == 1 else ", ".join(name_terms[:-1]) + " and " + name_terms[-1]
            name = f"Requests about {joined}"
        else:
            name = "Requests with no shared terms"
        return ProposedParent(
            name=name,
            description=(
                f"Heuristic (offline) group of {len(kids)} clusters with similar names; most distinctive "
                "terms of its clusters: " + (", ".join(scored[:8]) or "none") + "."
            ),
            children=tuple(c.node_id for c in kids),
            terms=tuple(scored[:8]),
        )


def taxonomy_node_id(level: int, taxonomy_id: str) -> str:
    """The hierarchy node id of a taxonomy node: the same on every day ("l1-software.python")."""
    return f"l{level}-{taxonomy_id}"


class TaxonomyParentBuilder:
    """Offline parents from the taxonomy: a base cluster's parent is its nearest leaf's topic, a topic's parent
    its area, named with the taxonomy's own words, with ids that are the same every day. Heuristic."""

    method = "heuristic: taxonomy ancestors of each base cluster's nearest leaf"

    def __init__(self, taxonomy: Taxonomy):
        self.taxonomy = taxonomy
        self.fixed_levels = DEPTH - 1

    def build(self, children: list[Node], vectors: np.ndarray, n_parents: int, level: int, seed: int) -> list[ProposedParent]:
        groups: dict[str, list[Node]] = defaultdict(list)
        orphans: list[int] = []
        for index, child in enumerate(children):
            if child.taxonomy_id in self.taxonomy.nodes:
                groups[self.taxonomy.ancestor(child.taxonomy_id, level).id].append(child)
            else:
                orphans.append(index)  # left to _as_tree_level: the parent whose members are nearest
        if not groups:
            return []
        parents = []
        for taxonomy_id in sorted(groups):
            node = self.taxonomy.nodes[taxonomy_id]
            kids = groups[taxonomy_id]
            parents.append(ProposedParent(
                name=node.name, description=node.description, children=tuple(c.node_id for c in kids),
                terms=_shared_terms(kids), node_id=taxonomy_node_id(level, taxonomy_id), taxonomy_id=taxonomy_id,
            ))
        return parents


def _shared_terms(kids: list[Node], n: int = 8) -> tuple[str, ...]:
    """The children's terms, weighted by their sizes (kept for the record; taxonomy parents are not named by them)."""
    weights: Counter[str] = Counter()
    for child in kids:
        for term in child.terms:
            weights[term] += child.size
    return tuple(t for t, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:n])
