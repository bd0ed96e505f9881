"""One interface for the Clio tasks an LLM performs, so assets never depend on a particular backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from pydantic import BaseModel, Field

from clio_dagster.core.naming import ClusterName
from clio_dagster.core.progress import Progress
from clio_dagster.core.records import Conversation
from clio_dagster.settings import SettingsError
from clio_dagster.core.audit import OfflineAuditor
from clio_dagster.core.hierarchy import ParentBuilder


class FacetResult(BaseModel):
    """Clio's facets for one conversation (DESIGN.md §1 step 1), whichever backend produced them."""

    request: str = Field(min_length=1)
    task: str | None = None
    language: str
    language_code: str
    language_confidence: float | None = None
    concerning: int | None = Field(default=None, ge=1, le=5)
    redactions: int = 0
    summary_truncated: bool = False
    # The conversation was cut to the backend's input budget (first request and the end kept).
    input_truncated: bool = False
    method: str
    # Answers to the analyst's custom facets (core/custom_facets.py), by facet name; a facet left unanswered is absent.
    custom: dict[str, str | int] = Field(default_factory=dict)


@dataclass(frozen=True)
class TaskFailure:
    """An item an LLM task could not answer (invalid output after a retry, or an API error after retries)."""

    item_id: str
    reason: str
    detail: str


@dataclass(frozen=True)
class NamingInput:
    """Everything a namer may use: the clusters' request summaries and who wrote them (keyed hashes)."""

    labels: Sequence[int]
    summaries: Sequence[str]
    user_keys: Sequence[str]
    min_unique_users: int
    seed: int = 0
    # cluster id → (in-cluster sample, nearest out-of-cluster sample), for contrastive LLM naming.
    samples: dict[int, tuple[list[str], list[str]]] | None = None
    # Each summary's language (ISO 639-1), for stop words and word segmentation.
    languages: Sequence[str | None] | None = None
    # Row i: the centroid of cluster i; and the pipeline's (cached) embedder, for matching taxonomy leaves.
    centroids: np.ndarray | None = None
    embed: Callable[[list[str]], np.ndarray] | None = None
    embedder_name: str | None = None  # what `embed` runs (a cache key for vectors that never change)
    # Each summary's concern rating (Clio's 1-5 `concerning` facet; None where it was not scored).
    concern: Sequence[int | None] | None = None


@dataclass(frozen=True)
class Member:
    """One clustered conversation as the privacy stages see it."""

    cluster_id: int
    conversation_id: str
    user_key: str
    summary: str
    language: str | None


@dataclass(frozen=True)
class Regeneration:
    """What a regenerator (`llm.regeneration`) reads: the candidate nodes (hierarchy_nodes rows, by level then
    id), the indices of those that failed the audit with their first (rating, reason), every base cluster's
    members, each base cluster's sampled conversation ids, and where the offline namer placed each base cluster
    in the taxonomy (cluster id → (leaf id, similarity, matched, margin))."""

    nodes: Sequence[dict[str, Any]]
    failing: Sequence[int]
    first: Sequence[tuple[int, str]]
    members: Sequence[Member]
    samples: dict[int, Sequence[str]]
    leaf_of: dict[int, tuple]
    min_unique_users: int

    def base_cluster_of(self, index: int) -> int:
        return int(self.nodes[index]["node_id"][1:])

    def failing_at(self, base: bool) -> list[int]:
        return [i for i in self.failing if (self.nodes[i]["level"] == 0) == base]


class PrivacyAuditor(ABC):
    """Rates (name, description) pairs 1–5 (`llm.auditing`); `rules` are the deterministic detectors every
    auditor keeps, also used to tell a regenerated name which words to avoid."""

    method: str
    rules: OfflineAuditor

    @abstractmethod
    def audit(self, items: list[tuple[str, str]]) -> list[tuple[int, str]]:
        """(rating 1–5, reason) per item, in order."""


class LLMRequired(SettingsError):
    """A setting asks the offline backend for what only an LLM can do; the message says what to set."""


class LLMBackend(ABC):
    name: str
    # True when results come from local heuristics rather than a language model; shown wherever output shows.
    heuristic: bool
    # True when the same inputs always give the same outputs, so an unchanged partition keeps its stored output
    # (`assets.reuse`); an LLM's results are reused through its cache instead, so that failed items are retried.
    deterministic: bool = False
    naming_method: str
    # True when naming needs contrastive samples (NamingInput.samples) rather than every summary.
    contrastive: bool = False
    # True when a day's facets go in one call (one Message Batch per day) rather than page by page.
    facets_whole_day: bool = False
    # Where the items this backend finishes are reported, inside `reporting` (a stage's progress); None: nowhere.
    progress: Progress | None = None

    @contextmanager
    def reporting(self, progress: Progress) -> Iterator[Progress]:
        """Items the backend finishes inside the block advance `progress` (and work it finds is announced)."""
        previous, self.progress = self.progress, progress
        try:
            yield progress
        finally:
            self.progress = previous

    def _finished(self, n: int = 1, **counters) -> None:
        if self.progress is not None and n:
            self.progress.advance(n, **counters)

    def progress_counters(self) -> dict[str, Any]:
        """What a progress line adds for this backend (an LLM's calls, tokens, spend); read at each report."""
        return {}

    @abstractmethod
    def extract_facets(self, conversations: Sequence[Conversation]) -> list[FacetResult | TaskFailure]:
        """All facets of each conversation, in input order (a TaskFailure where none could be had)."""

    @abstractmethod
    def name_clusters(self, naming: NamingInput) -> list[ClusterName]:
        """A short name and a description per cluster label, with no private information."""

    def screen(self, conversations: Sequence[Conversation], question: str) -> list[bool | TaskFailure]:
        """Whether each conversation answers yes to `question` (a targeted run's screen); needs an LLM."""
        raise LLMRequired("CLIO_SCREEN_QUESTION needs an LLM for the screen task (CLIO_LLM_BACKEND=claude, or "
                          "CLIO_LLM_TASKS='{\"screen\": \"claude\"}'); offline, use CLIO_SCREEN_REGEX.")

    @abstractmethod
    def parent_builder(self) -> ParentBuilder:
        """What proposes, names and assigns the parents of a day's base clusters (`core.hierarchy`)."""

    @abstractmethod
    def privacy_auditor(self, rare_terms: frozenset[str]) -> PrivacyAuditor:
        """The auditor of candidate names (`llm.auditing`); `rare_terms`: words fewer than min_unique_users
        users wrote, never acceptable in a name."""

    @abstractmethod
    def regenerate(self, request: Regeneration, auditor: PrivacyAuditor) -> dict[int, tuple[str, str]]:
        """A second (name, description) for failing nodes, by node index (`llm.regeneration`)."""

    def usage_metadata(self) -> dict:
        """Calls, tokens and cost so far (for Dagster metadata); empty for backends that make no calls."""
        return {}

    def flush(self) -> None:
        """Persist whatever the backend buffered (cache entries, usage rows)."""
