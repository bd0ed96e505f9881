"""The daily job under the presets that mix or swap backends: claude-names (offline facets, Claude for the
cluster-level tasks) against the Anthropic fake, and local (a self-hosted OpenAI-compatible server) against the
chat-completions fake. The real SDKs talk HTTP to the loopback fakes."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from clio_dagster.settings import ClioSettings
from tests.conftest import write_jsonl
from tests.fake_anthropic import FakeAnthropic
from tests.fake_openai import LOCAL_MODEL, FakeOpenAI, FaultPlan
from tests.test_pipeline import _sample_records
from tests.test_pipeline_claude import _materialize, _meta

DAY = date(2023, 2, 6)
THRESHOLDS = {"min_unique_users": 3, "min_conversations": 5, "target_cluster_size": 15}


@pytest.fixture
def landing(tmp_path, monkeypatch):
    home = tmp_path / "clio"
    write_jsonl(home / "landing" / DAY.isoformat() / "day.jsonl", _sample_records(DAY)[:240])
    return home


def local_settings(home, fake: FakeOpenAI, **extra) -> ClioSettings:
    return ClioSettings(home=home, llm_preset="local", openai_base_url=fake.base_url, openai_model=LOCAL_MODEL,
                        openai_max_retries=4, **THRESHOLDS, **extra)


def _rows(path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _public(settings) -> list[tuple]:
    return _rows(settings.public_db, "SELECT * EXCLUDE (partition_date) FROM published_clusters ORDER BY ALL")


def test_claude_names_makes_no_facet_call_and_at_most_ten_calls_per_base_cluster(landing, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with FakeAnthropic() as fake:
        settings = ClioSettings(home=landing, llm_preset="claude-names", claude_base_url=fake.base_url, **THRESHOLDS)
        first = _materialize(settings)
        assert first.success
        tools = [r["json"]["tool_choice"]["name"] for r in fake.message_requests]
        k = _meta(first, "base_clusters")["k"]
        assert "record_extract_facets" not in tools and "record_screen" not in tools
        assert 0 < fake.message_calls <= 10 * k, (fake.message_calls, k)
        assert sorted(set(tools)) == sorted({"record_name_cluster", "record_propose_parents", "record_dedupe_names",
                                             "record_assign_parent", "record_rename_parent", "record_audit_privacy"})
        facets = _meta(first, "facets")
        assert facets["llm_backend"] == "offline" and facets["heuristic"] is True and "llm_calls" not in facets
        assert _meta(first, "cluster_names")["llm_calls"] == k

        calls = fake.message_calls
        assert _materialize(settings).success
        assert fake.message_calls == calls  # the re-run answers every cluster-level task from the cache

    rows = _rows(settings.public_db, "SELECT level, name, heuristic, naming_method FROM published_clusters "
                                     "ORDER BY cluster_id")
    base = [r for r in rows if r[0] == 0]
    assert base and any(name.startswith("Help with") for _, name, _, _ in base)
    assert {(heuristic, method) for _, _, heuristic, method in base} == {
        (False, "llm: Clio contrastive cluster naming (claude: claude-sonnet-5-5)")}
    assert {m for level, _, _, m in rows if level > 0} == {
        "llm: Clio hierarchizer (propose, dedupe, assign, rename) (claude: claude-sonnet-5-5)"}
    (written_by,) = _rows(settings.public_db, "SELECT llm_backend FROM partition_summaries")[0]
    assert written_by == ("facets: offline; names: claude:claude-sonnet-5-5; hierarchy: claude:claude-sonnet-5-5; "
                          "audit: claude:claude-sonnet-5-5")
    # The offline facets are the heuristic ones, labelled so in the private DB.
    methods = _rows(settings.private_db, "SELECT DISTINCT backend, method FROM facets")
    assert [(b, m.split(":")[0]) for b, m in methods] == [("offline", "heuristic")]


def test_the_local_preset_runs_the_whole_daily_job_and_a_rerun_makes_no_calls(landing):
    with FakeOpenAI() as fake:
        settings = local_settings(landing, fake)
        first = _materialize(settings)
        assert first.success
        assert all(check.passed for check in first.get_asset_check_evaluations())
        facets = _meta(first, "facets")
        assert facets["llm_backend"] == "openai_compatible" and facets["heuristic"] is False
        assert facets["llm_calls"] == facets["dagster/row_count"] == 240 and facets["llm_cost_usd"] == 0
        llm_assets = ["facets", "cluster_names", "hierarchy", "privacy_audit"]
        assert all(_meta(first, asset)["llm_calls"] > 0 for asset in llm_assets)
        calls = fake.message_calls
        assert calls == sum(_meta(first, asset)["llm_calls"] for asset in llm_assets)
        assert {r["model"] for r in fake.completion_requests} == {LOCAL_MODEL}

        second = _materialize(settings)
        assert second.success and fake.message_calls == calls
        assert _meta(second, "facets")["llm_cache_hits"] == 240

    rows = _rows(settings.public_db, "SELECT level, name, heuristic, naming_method FROM published_clusters "
                                     "ORDER BY cluster_id")
    base = [r for r in rows if r[0] == 0]
    assert base and any(name.startswith("Help with") for _, name, _, _ in base)
    assert {(h, m) for _, _, h, m in base} == {(False, f"llm: Clio contrastive cluster naming (openai_compatible: "
                                                      f"{LOCAL_MODEL})")}
    assert _rows(settings.public_db, "SELECT llm_backend FROM partition_summaries") == [("openai_compatible",)]


def test_the_local_preset_gives_the_same_public_db_through_thirty_percent_faults(landing, tmp_path):
    with FakeOpenAI() as clean:
        expected_settings = local_settings(landing, clean)
        assert _materialize(expected_settings).success
    faulty_home = tmp_path / "faulty"
    (faulty_home / "landing").mkdir(parents=True)
    (faulty_home / "landing" / DAY.isoformat()).symlink_to(landing / "landing" / DAY.isoformat())
    plan = FaultPlan(rate=0.3, kinds=("429", "500", "529", "invalid_json", "invalid_schema"), seed=5,
                     retry_after_5xx_s=0.01)
    with FakeOpenAI(faults=plan) as faulty:
        settings = local_settings(faulty_home, faulty)
        result = _materialize(settings)
        assert result.success and len(faulty.fault_log) > 30
    assert _public(settings) == _public(expected_settings)


def test_a_task_routed_to_another_model_uses_it(landing):
    """CLIO_LLM_TASKS: the auditor on a bigger model of the same server, the rest on the default one."""
    with FakeOpenAI(models=(LOCAL_MODEL, "llama-3.3-70b")) as fake:
        settings = local_settings(landing, fake, llm_tasks={"audit_privacy": "openai_compatible:llama-3.3-70b"})
        assert _materialize(settings).success
        by_model = {}
        for body in fake.completion_requests:
            schema = body["response_format"]["json_schema"]["name"]
            by_model.setdefault(schema, set()).add(body["model"])
    assert by_model["record_audit_privacy"] == {"llama-3.3-70b"}
    assert all(models == {LOCAL_MODEL} for name, models in by_model.items() if name != "record_audit_privacy")
