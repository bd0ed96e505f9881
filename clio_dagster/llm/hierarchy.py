"""Clio's LLM hierarchizer step (§G.7) for one level: neighbourhoods of ~40 children by k-means on their
embeddings, parent names proposed per neighbourhood (shown the nearest outside clusters too), de-duplicated
across neighbourhoods, each child assigned to one parent from a shuffled list, then each parent renamed
from its children. Where the LLM fails for an item the step degrades visibly rather than stopping:
proposals de-duplicated by exact text, unassigned children left to the tree builder (nearest parent),
a parent keeps its proposed name."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from clio_dagster.core.clustering import kmeans
from clio_dagster.core.hierarchy import Node, ProposedParent
from clio_dagster.llm.base import LLMBackend, TaskFailure

NEIGHBOURHOOD_SIZE = 40
NEARBY_OUTSIDE = 5


def _match(answer: str, parents: list[str]) -> str | None:
    """The parent the model meant: exact, then case/space-insensitive, then the most shared words."""
    if answer in parents:
        return answer
    folded = {" ".join(p.lower().split()): p for p in parents}
    key = " ".join(answer.lower().split())
    if key in folded:
        return folded[key]
    words = set(key.split())
    best = max(parents, key=lambda p: (len(words & set(p.lower().split())), -parents.index(p)))
    return best if words & set(best.lower().split()) else None


class LLMParentBuilder:
    method = "llm: Clio hierarchizer (propose, dedupe, assign, rename)"

    def __init__(self, backend: LLMBackend, method: str | None = None):  # one with the hierarchizer tasks
        self.backend = backend
        if method is not None:  # with the backend and model that name the parents
            self.method = method

    def build(self, children: list[Node], vectors: np.ndarray, n_parents: int, level: int, seed: int) -> list[ProposedParent]:
        n = len(children)
        k = max(1, math.ceil(n / NEIGHBOURHOOD_SIZE))
        hood = kmeans(vectors, k, seed).labels if k > 1 else np.zeros(n, dtype=np.int32)
        requests = []
        for h in range(int(hood.max()) + 1):
            inside = np.flatnonzero(hood == h)
            if inside.size == 0:
                continue
            centre = vectors[inside].mean(axis=0)
            outside = np.flatnonzero(hood != h)
            nearest = outside[np.argsort(np.linalg.norm(vectors[outside] - centre, axis=1), kind="stable")][:NEARBY_OUTSIDE]
            desired = max(1, round(n_parents * inside.size / n))
            requests.append(([children[i].text for i in inside], [children[i].text for i in nearest], desired))
        proposals = [name for answer in self.backend.propose_parents(requests) if not isinstance(answer, TaskFailure)
                     for name in answer]
        if not proposals:
            return []
        deduped = self.backend.dedupe_names(proposals, n_parents)
        if isinstance(deduped, TaskFailure) or not deduped:
            deduped = list(dict.fromkeys(proposals))
        parent_names = list(dict.fromkeys(deduped))
        assignments = self.backend.assign_parent([c.text for c in children], parent_names)
        members: dict[str, list[Node]] = defaultdict(list)
        for child, answer in zip(children, assignments):
            if isinstance(answer, TaskFailure):
                continue
            parent = _match(answer, parent_names)
            if parent is not None:
                members[parent].append(child)
        named = [p for p in parent_names if members[p]]
        renamed = self.backend.rename_parent([[c.text for c in members[p]] for p in named])
        parents = []
        for proposed_name, answer in zip(named, renamed):
            kids = tuple(c.node_id for c in members[proposed_name])
            if isinstance(answer, TaskFailure):
                parents.append(ProposedParent(proposed_name, "", kids))
            else:
                parents.append(ProposedParent(answer.name, answer.summary, kids))
        return parents
