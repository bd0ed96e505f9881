"""One settings model for the whole product: environment variables `CLIO_*` and an optional TOML file.

Precedence (highest first): explicit keyword arguments, environment variables, the TOML file named by
`CLIO_CONFIG` (or `./clio.toml` when present), defaults. Dagster resources are built from this model
in `clio_dagster.resources`, so the UI, the CLI and tests all read the same values.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from clio_dagster.core.embedding import BUNDLED_EMBEDDING_MODEL
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEMO_HMAC_SECRET = "clio-demo-secret-not-for-real-data"


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
    # None means: claude when ANTHROPIC_API_KEY is set, else offline.
    llm_backend: Literal["offline", "claude"] | None = None

    # Privacy thresholds (Clio §2.3 layer 2): a cluster is published only if it meets both.
    min_unique_users: int = Field(default=10, ge=1)
    min_conversations: int = Field(default=20, ge=1)

    # k = clamp(n / target_cluster_size, k_min, k_max), never more than n.
    target_cluster_size: int = Field(default=50, ge=2)
    k_min: int = Field(default=2, ge=1)
    k_max: int = Field(default=5000, ge=1)
    # MiniBatchKMeans above this many points (full k-means below).
    minibatch_threshold: int = Field(default=200_000, ge=1)
    seed: int = 0

    embedding_model: str = BUNDLED_EMBEDDING_MODEL
    embedding_batch_size: int = Field(default=64, ge=1)
    embedding_device: str = "cpu"

    summary_max_chars: int = Field(default=300, ge=40)
    max_message_chars: int = Field(default=100_000, ge=1)
    max_conversation_chars: int = Field(default=400_000, ge=1)
    # Landing folders of neighbouring days scanned for records whose own timestamp belongs to a partition.
    landing_lookaround_days: int = Field(default=1, ge=0, le=31)

    hmac_secret: SecretStr | None = None
    # Demo mode allows the fixed demo HMAC secret; never use it for real data.
    demo_mode: bool = False

    partitions_start: date = date(2023, 1, 1)
    lock_timeout_s: float = Field(default=600.0, gt=0)

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
        return self

    @property
    def backend(self) -> Literal["offline", "claude"]:
        if self.llm_backend is not None:
            return self.llm_backend
        return "claude" if os.environ.get("ANTHROPIC_API_KEY") else "offline"

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def private_db(self) -> Path:
        return self.home / "private.duckdb"

    @property
    def public_db(self) -> Path:
        return self.home / "public.duckdb"

    @property
    def explorer_dir(self) -> Path:
        return self.home / "explorer"

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
    except ValueError as exc:  # pydantic's ValidationError names the field and the rule
        raise SettingsError(f"Invalid clio configuration: {exc}") from exc
