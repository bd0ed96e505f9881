"""A step whose tasks go to different backends (core/task_routing.py): each task is sent to its own.

Built only where one asset's tasks are split (say, the privacy audit by Claude and the regeneration of base
names offline); otherwise the resource hands the asset the single backend itself. Whatever audits, the
deterministic privacy rules still rate every name: the offline auditor is those rules, and the LLM auditor
lets them lower its rating (`llm.auditing`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from clio_dagster.core.hierarchy import ParentBuilder
from clio_dagster.core.naming import ClusterName
from clio_dagster.core.progress import Progress
from clio_dagster.core.records import Conversation
from clio_dagster.llm.base import (FacetResult, LLMBackend, NamingInput, PrivacyAuditor, Regeneration,
                                   TaskFailure)
from clio_dagster.llm.hierarchy import LLMParentBuilder


class MixedBackend(LLMBackend):
    def __init__(self, by_task: Mapping[str, LLMBackend], name: str):
        self.by_task = dict(by_task)
        self.name = name
        self.backends = list({id(b): b for b in self.by_task.values()}.values())
        self.heuristic = any(b.heuristic for b in self.backends)
        self.deterministic = all(b.deterministic for b in self.backends)

    def _of(self, task: str) -> Any:
        return self.by_task[task]

    # What the namer's backend says of naming.
    @property
    def naming_method(self) -> str:
        return self._of("name_cluster").naming_method

    @property
    def contrastive(self) -> bool:
        return self._of("name_cluster").contrastive

    @property
    def facets_whole_day(self) -> bool:
        return self._of("extract_facets").facets_whole_day

    @contextmanager
    def reporting(self, progress: Progress) -> Iterator[Progress]:
        with ExitStack() as stack:
            for backend in self.backends:
                stack.enter_context(backend.reporting(progress))
            yield progress

    def progress_counters(self) -> dict[str, Any]:
        return _summed([b.progress_counters() for b in self.backends])

    def usage_metadata(self) -> dict:
        return _summed([b.usage_metadata() for b in self.backends])

    def flush(self) -> None:
        for backend in self.backends:
            backend.flush()

    # ---- Clio tasks, each to its backend --------------------------------------------------------
    def extract_facets(self, conversations: Sequence[Conversation]) -> list[FacetResult | TaskFailure]:
        return self._of("extract_facets").extract_facets(conversations)

    def screen(self, conversations: Sequence[Conversation], question: str) -> list[bool | TaskFailure]:
        return self._of("screen").screen(conversations, question)

    def name_clusters(self, naming: NamingInput) -> list[ClusterName]:
        return self._of("name_cluster").name_clusters(naming)

    def name_cluster_samples(self, samples, feedback=None):
        return self._of("name_cluster").name_cluster_samples(samples, feedback)

    def propose_parents(self, neighbourhoods):
        return self._of("propose_parents").propose_parents(neighbourhoods)

    def dedupe_names(self, names, desired):
        return self._of("dedupe_names").dedupe_names(names, desired)

    def assign_parent(self, clusters, parents):
        return self._of("assign_parent").assign_parent(clusters, parents)

    def rename_parent(self, children, feedback=None):
        return self._of("rename_parent").rename_parent(children, feedback)

    def audit_privacy(self, clusters):
        return self._of("audit_privacy").audit_privacy(clusters)

    def parent_builder(self) -> ParentBuilder:
        builder = self._of("rename_parent").parent_builder()
        if isinstance(builder, LLMParentBuilder):  # its four steps may run on different LLM backends
            builder.backend = self
        return builder

    def privacy_auditor(self, rare_terms: frozenset[str]) -> PrivacyAuditor:
        return self._of("audit_privacy").privacy_auditor(rare_terms)

    def regenerate(self, request: Regeneration, auditor: PrivacyAuditor) -> dict[int, tuple[str, str]]:
        """Base clusters renamed by the namer's backend, parents by the renamer's."""
        base, parents = request.failing_at(base=True), request.failing_at(base=False)
        regenerated: dict[int, tuple[str, str]] = {}
        for task, failing in (("name_cluster", base), ("rename_parent", parents)):
            if failing:
                part = dataclasses.replace(request, failing=failing)
                regenerated.update(self._of(task).regenerate(part, auditor))
        return regenerated


def _summed(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Counters of several backends added up (a budget, the same setting for each, is kept as it is)."""
    total: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key == "budget_usd" or not isinstance(value, (int, float)) or isinstance(value, bool):
                total.setdefault(key, value)
            else:
                total[key] = total.get(key, 0) + value
    return total
