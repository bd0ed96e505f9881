"""One interface for the Clio tasks an LLM performs, so assets never depend on a particular backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pydantic import BaseModel, Field

from clio_dagster.core.naming import ClusterName
from clio_dagster.core.records import Conversation


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


class LLMBackend(ABC):
    name: str
    # True when results come from local heuristics rather than a language model; shown wherever output shows.
    heuristic: bool
    naming_method: str
    # True when naming needs contrastive samples (NamingInput.samples) rather than every summary.
    contrastive: bool = False

    @abstractmethod
    def extract_facets(self, conversations: Sequence[Conversation]) -> list[FacetResult | TaskFailure]:
        """All facets of each conversation, in input order (a TaskFailure where none could be had)."""

    @abstractmethod
    def name_clusters(self, naming: NamingInput) -> list[ClusterName]:
        """A short name and a description per cluster label, with no private information."""

    def usage_metadata(self) -> dict:
        """Calls, tokens and cost so far (for Dagster metadata); empty for backends that make no calls."""
        return {}

    def flush(self) -> None:
        """Persist whatever the backend buffered (cache entries, usage rows)."""
