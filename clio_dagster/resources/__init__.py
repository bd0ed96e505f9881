"""Dagster resources, all built from one `ClioSettings` (see `build_resources`)."""

from __future__ import annotations

import json
import os
from datetime import date

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from clio_dagster.core.embedding import SentenceEmbedder
from clio_dagster.core.ingest import IngestLimits
from clio_dagster.llm import LLMBackend, OfflineBackend
from clio_dagster.llm.claude import ClaudeBackend, ClaudeSettings
from clio_dagster.llm.pricing import DEFAULT_PRICES, ModelPrice
from clio_dagster.llm.schemas import TASK_OUTPUTS
from clio_dagster.llm.store import LLMStore
from clio_dagster.resources.safety import SafetyConfig
from clio_dagster.settings import ClioSettings, SettingsError, load_settings
from clio_dagster.storage import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The private and public DuckDB files; connections are short-lived and taken under a file lock."""

    private_db: str
    public_db: str
    lock_timeout_s: float = 600.0

    def get(self) -> Warehouse:
        return Warehouse(self.private_db, self.public_db, self.lock_timeout_s)

    @property
    def explorer_dir(self) -> Path:
        """The explorer's pages, beside the public DB they are built from."""
        return Path(self.public_db).parent / "explorer"


class PipelineConfig(dg.ConfigurableResource):
    """Thresholds, k rule, seeds and input limits (the non-backend part of ClioSettings)."""

    landing_dir: str
    min_unique_users: int = 10
    min_conversations: int = 20
    target_cluster_size: int = 50
    k_min: int = 2
    k_max: int = 5000
    minibatch_threshold: int = 20_000
    seed: int = 0
    max_message_chars: int = 100_000
    max_conversation_chars: int = 400_000
    landing_lookaround_days: int = 1
    naming_sample_size: int = 50
    hierarchy_levels: int = 3
    hierarchy_top: int = 10
    min_audit_rating: int = 3
    demo_mode: bool = False
    topic_match_threshold: float = 0.8
    topic_window_days: int = 7
    emerging_min_share: float = 0.02
    emerging_growth_factor: float = 2.0

    def ingest_limits(self) -> IngestLimits:
        return IngestLimits(self.max_message_chars, self.max_conversation_chars)

    def user_id_secret(self) -> bytes:
        # Read from the environment at run time so the secret never sits in Dagster's run config.
        return load_settings(demo_mode=self.demo_mode).user_id_secret()


class LLMResource(dg.ConfigurableResource):
    """Chooses the backend for Clio's LLM tasks (`offline` or `claude`) and configures it."""

    backend: str = "offline"
    summary_max_chars: int = 300
    claude_base_url: str | None = None
    claude_model_facets: str = "claude-haiku-5-5"
    claude_model_reasoning: str = "claude-sonnet-5-5"
    claude_temperatures: dict[str, float] = {}
    claude_max_concurrency: int = 8
    claude_max_retries: int = 6
    claude_timeout_s: float = 120.0
    claude_use_batches: bool = False
    claude_batch_poll_interval_s: float = 30.0
    claude_conversation_token_budget: int = 8000
    claude_prices_json: str = ""
    llm_budget_usd: float | None = None
    screen_regex: str | None = None
    screen_question: str | None = None
    seed: int = 0
    # Offline naming: a taxonomy file (None: the shipped one) and the leaf-match threshold in force.
    taxonomy: str | None = None
    taxonomy_min_margin: float = 0.5

    def claude_settings(self) -> ClaudeSettings:
        prices = dict(DEFAULT_PRICES)
        if self.claude_prices_json:
            prices.update({k: ModelPrice(**v) for k, v in json.loads(self.claude_prices_json).items()})
        models = {task: self.claude_model_reasoning for task in TASK_OUTPUTS}
        models.update(extract_facets=self.claude_model_facets, screen=self.claude_model_facets)
        temperatures = {task: 1.0 for task in TASK_OUTPUTS} | dict(self.claude_temperatures)
        max_tokens = {task: 1024 for task in TASK_OUTPUTS} | {"extract_facets": 400, "screen": 50,
                                                              "assign_parent": 300, "dedupe_names": 4096}
        return ClaudeSettings(
            # Read at run time from the environment: the key never enters Dagster's run config.
            api_key=os.environ.get("ANTHROPIC_API_KEY", ""),
            base_url=self.claude_base_url,
            models=models,
            temperatures=temperatures,
            max_tokens=max_tokens,
            prices=prices,
            max_concurrency=self.claude_max_concurrency,
            max_retries=self.claude_max_retries,
            timeout_s=self.claude_timeout_s,
            use_batches=self.claude_use_batches,
            batch_poll_interval_s=self.claude_batch_poll_interval_s,
            conversation_token_budget=self.claude_conversation_token_budget,
            budget_usd=self.llm_budget_usd,
            seed=self.seed,
        )

    def get(self, store: LLMStore | None = None) -> LLMBackend:
        if self.backend == "offline":
            return OfflineBackend(summary_max_chars=self.summary_max_chars, taxonomy=self.taxonomy,
                                  taxonomy_min_margin=self.taxonomy_min_margin)
        if self.backend == "claude":
            return ClaudeBackend(self.claude_settings(), store)
        raise SettingsError(f"Unknown LLM backend {self.backend!r}: use 'offline' or 'claude'.")


class EmbedderResource(dg.ConfigurableResource):
    """sentence-transformers model, loaded once per process on first use."""

    model: str
    device: str = "cpu"
    batch_size: int = 64
    language_neutral: bool = False
    _embedder: SentenceEmbedder | None = PrivateAttr(default=None)

    def get(self) -> SentenceEmbedder:
        if self._embedder is None:
            self._embedder = SentenceEmbedder(self.model, self.device, self.batch_size)
        return self._embedder


def _from_settings(resource: type[dg.ConfigurableResource], settings: ClioSettings, **overrides):
    """A resource whose fields are copied from the settings of the same name (the settings are the one
    source of configuration; resources only carry it into Dagster)."""
    values = {name: getattr(settings, name) for name in resource.model_fields if hasattr(settings, name)}
    return resource(**{**values, **overrides})


def build_resources(settings: ClioSettings | None = None) -> dict[str, dg.ConfigurableResource]:
    settings = settings or load_settings()
    return {
        "warehouse": WarehouseResource(
            private_db=str(settings.private_db),
            public_db=str(settings.public_db),
            lock_timeout_s=settings.lock_timeout_s,
        ),
        "pipeline": _from_settings(PipelineConfig, settings, landing_dir=str(settings.landing_dir)),
        "llm": _from_settings(
            LLMResource,
            settings,
            backend=settings.backend,
            claude_prices_json=json.dumps(settings.claude_prices) if settings.claude_prices else "",
            taxonomy=str(settings.taxonomy.expanduser().resolve()) if settings.taxonomy else None,
            taxonomy_min_margin=settings.leaf_min_margin,
        ),
        "embedder": EmbedderResource(
            model=settings.embedding_model,
            device=settings.embedding_device,
            batch_size=settings.embedding_batch_size,
            language_neutral=settings.language_neutral,
        ),
        "safety": _from_settings(SafetyConfig, settings),
    }


def llm_store(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> LLMStore:
    """Cache, usage and batch records for one asset's run of one partition."""
    return LLMStore(warehouse.get(), run_id=context.run.run_id, asset=context.asset_key.to_user_string(),
                    partition_date=partition_date(context))


def partition_date(context: dg.AssetExecutionContext) -> date:
    """The partition's UTC day, from Dagster's time window (never from the wall clock)."""
    return context.partition_time_window.start.date()
