"""Shared fixtures: isolated CLIO_HOME per test, explicit settings, and the ../shared/data marker."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED_DATA = ROOT.parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason="../shared/data not present (it is in CI); this test reads real data sets from it")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def shared_data() -> Path:
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test sees the developer's CLIO_* variables, API key or ./clio.toml."""
    import os

    for key in list(os.environ):
        if key.startswith("CLIO_") or key in {"ANTHROPIC_API_KEY", "DAGSTER_HOME"}:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CLIO_HMAC_SECRET", "test-secret-0123456789")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path):
    from clio_dagster.settings import ClioSettings

    return ClioSettings(
        home=tmp_path / "clio",
        llm_backend="offline",
        min_unique_users=3,
        min_conversations=5,
        target_cluster_size=20,
    )


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
