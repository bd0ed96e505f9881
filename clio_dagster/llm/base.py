"""One interface for the Clio tasks an LLM performs, so assets never depend on a particular backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

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
    method: str


@dataclass(frozen=True)
class NamingInput:
    """Everything a namer may use: the clusters' request summaries and who wrote them (keyed hashes)."""

    labels: Sequence[int]
    summaries: Sequence[str]
    user_keys: Sequence[str]
    min_unique_users: int
    seed: int = 0


class LLMBackend(ABC):
    name: str
    # True when results come from local heuristics rather than a language model; shown wherever output shows.
    heuristic: bool
    naming_method: str

    @abstractmethod
    def extract_facets(self, conversations: Sequence[Conversation]) -> list[FacetResult]:
        """All facets of each conversation, in input order."""

    @abstractmethod
    def name_clusters(self, naming: NamingInput) -> list[ClusterName]:
        """A short name and a description per cluster label, with no private information."""
