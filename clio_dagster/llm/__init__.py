"""The LLM interface with Clio's tasks, and its backends."""

from clio_dagster.llm.base import FacetResult, LLMBackend, NamingInput, TaskFailure
from clio_dagster.llm.offline import OfflineBackend

__all__ = ["FacetResult", "LLMBackend", "NamingInput", "OfflineBackend", "TaskFailure"]
