"""Dagster resources, all built from one `ClioSettings` (see `build_resources`)."""

from __future__ import annotations

from datetime import date

import dagster as dg
from pydantic import PrivateAttr

from clio_dagster.core.embedding import SentenceEmbedder
from clio_dagster.core.ingest import IngestLimits
from clio_dagster.llm import LLMBackend, OfflineBackend
from clio_dagster.settings import ClioSettings, SettingsError, load_settings
from clio_dagster.storage import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The private and public DuckDB files; connections are short-lived and taken under a file lock."""

    private_db: str
    public_db: str
    lock_timeout_s: float = 600.0

    def get(self) -> Warehouse:
        return Warehouse(self.private_db, self.public_db, self.lock_timeout_s)


class PipelineConfig(dg.ConfigurableResource):
    """Thresholds, k rule, seeds and input limits (the non-backend part of ClioSettings)."""

    landing_dir: str
    min_unique_users: int = 10
    min_conversations: int = 20
    target_cluster_size: int = 50
    k_min: int = 2
    k_max: int = 5000
    minibatch_threshold: int = 200_000
    seed: int = 0
    max_message_chars: int = 100_000
    max_conversation_chars: int = 400_000
    landing_lookaround_days: int = 1
    demo_mode: bool = False

    def ingest_limits(self) -> IngestLimits:
        return IngestLimits(self.max_message_chars, self.max_conversation_chars)

    def user_id_secret(self) -> bytes:
        # Read from the environment at run time so the secret never sits in Dagster's run config.
        return load_settings(demo_mode=self.demo_mode).user_id_secret()


class LLMResource(dg.ConfigurableResource):
    """Chooses the backend for Clio's LLM tasks (`offline` or `claude`)."""

    backend: str = "offline"
    summary_max_chars: int = 300

    def get(self) -> LLMBackend:
        if self.backend == "offline":
            return OfflineBackend(summary_max_chars=self.summary_max_chars)
        raise SettingsError(
            f"LLM backend {self.backend!r} is not available in this version of clio-dagster; "
            "set CLIO_LLM_BACKEND=offline."
        )


class EmbedderResource(dg.ConfigurableResource):
    """sentence-transformers model, loaded once per process on first use."""

    model: str
    device: str = "cpu"
    batch_size: int = 64
    _embedder: SentenceEmbedder | None = PrivateAttr(default=None)

    def get(self) -> SentenceEmbedder:
        if self._embedder is None:
            self._embedder = SentenceEmbedder(self.model, self.device, self.batch_size)
        return self._embedder


def build_resources(settings: ClioSettings | None = None) -> dict[str, dg.ConfigurableResource]:
    settings = settings or load_settings()
    return {
        "warehouse": WarehouseResource(
            private_db=str(settings.private_db),
            public_db=str(settings.public_db),
            lock_timeout_s=settings.lock_timeout_s,
        ),
        "pipeline": PipelineConfig(
            landing_dir=str(settings.landing_dir),
            min_unique_users=settings.min_unique_users,
            min_conversations=settings.min_conversations,
            target_cluster_size=settings.target_cluster_size,
            k_min=settings.k_min,
            k_max=settings.k_max,
            minibatch_threshold=settings.minibatch_threshold,
            seed=settings.seed,
            max_message_chars=settings.max_message_chars,
            max_conversation_chars=settings.max_conversation_chars,
            landing_lookaround_days=settings.landing_lookaround_days,
            demo_mode=settings.demo_mode,
        ),
        "llm": LLMResource(backend=settings.backend, summary_max_chars=settings.summary_max_chars),
        "embedder": EmbedderResource(
            model=settings.embedding_model,
            device=settings.embedding_device,
            batch_size=settings.embedding_batch_size,
        ),
    }


def partition_date(context: dg.AssetExecutionContext) -> date:
    """The partition's UTC day, from Dagster's time window (never from the wall clock)."""
    return context.partition_time_window.start.date()
