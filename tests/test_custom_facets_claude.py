"""Custom facets on the claude path, through the real anthropic SDK against the loopback fake of the HTTP API: the
analyst's facets join the one facet call's tool schema, a changed question re-asks only its own facet, and an open
facet never reaches the public DB or the explorer."""

from __future__ import annotations

import json
from datetime import date

import dagster as dg
import duckdb
import pytest

from clio_dagster.assets import DAILY_ASSETS
from clio_dagster.core.custom_facets import parse_facets
from clio_dagster.llm.claude import ClaudeBackend, facets_request_preview
from clio_dagster.llm.estimate import estimate_run
from clio_dagster.llm.schemas import FacetsOutput
from clio_dagster.resources import build_resources
from clio_dagster.settings import ClioSettings
from tests.conftest import write_jsonl
from tests.fake_anthropic import FakeAnthropic
from tests import test_claude_backend
from tests.test_claude_backend import CONVERSATIONS, settings_for
from tests.test_pipeline import _sample_records

LANGUAGE = {"name": "programming_language", "question": "Which programming language is the user working in?",
            "type": "categorical", "values": ["Python", "SQL", "None"]}
FRUSTRATION = {"name": "frustration", "question": "How frustrated is the user?", "type": "numeric", "min": 1, "max": 5}
GOAL = {"name": "goal", "question": "What does the user ultimately want to achieve?", "type": "open",
        "prefill": "The user wants to"}
CORE_FIELDS = set(FacetsOutput.model_fields)
store = test_claude_backend.store  # the LLM store fixture


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


def _schemas(fake: FakeAnthropic) -> list[dict]:
    return [r["json"]["tools"][0]["input_schema"]["properties"] for r in fake.message_requests]


def test_two_custom_facets_join_the_one_facet_call_and_a_changed_question_reasks_only_it(fake, store):
    facets = parse_facets([LANGUAGE, FRUSTRATION])
    first = ClaudeBackend(settings_for(fake), store, custom_facets=facets).extract_facets(CONVERSATIONS)
    # One call per conversation, whose one tool holds the built-in facets and one field per custom facet.
    assert fake.message_calls == len(CONVERSATIONS)
    assert all(set(s) == CORE_FIELDS | {"programming_language", "frustration"} for s in _schemas(fake))
    assert all("How frustrated is the user?" in r["json"]["system"][0]["text"] for r in fake.message_requests)
    by_id = {c.conversation_id: r for c, r in zip(CONVERSATIONS, first)}
    assert by_id["c03"].custom == {"programming_language": "Python", "frustration": 3}  # "learn python decorators"
    assert by_id["c00"].custom["programming_language"] == "None"

    # The frustration question changes: a re-run asks that facet alone; the rest comes from the cache.
    fake.reset_counters()
    changed = parse_facets([LANGUAGE, {**FRUSTRATION, "question": "How annoyed is the user, 1-5?"}])
    backend = ClaudeBackend(settings_for(fake), store, custom_facets=changed)
    again = backend.extract_facets(CONVERSATIONS)
    assert fake.message_calls == len(CONVERSATIONS)
    assert all(set(s) == {"frustration"} for s in _schemas(fake))
    assert all("How annoyed is the user" in r["json"]["system"][0]["text"] for r in fake.message_requests)
    assert [r.custom["programming_language"] for r in again] == [r.custom["programming_language"] for r in first]
    assert [(r.request, r.task, r.language) for r in again] == [(r.request, r.task, r.language) for r in first]

    # Unchanged definitions: nothing is asked at all.
    fake.reset_counters()
    assert ClaudeBackend(settings_for(fake), store, custom_facets=changed).extract_facets(CONVERSATIONS) == again
    assert fake.message_calls == 0

    # Without custom facets the facet call is the built-in one, its answers still cached.
    assert ClaudeBackend(settings_for(fake), store).extract_facets(CONVERSATIONS)[0].custom == {}
    assert fake.message_calls == 0


def test_preview_and_estimate_account_for_custom_facets(fake):
    facets = parse_facets([LANGUAGE, FRUSTRATION, GOAL])
    body = facets_request_preview(CONVERSATIONS[0], settings_for(fake), facets)
    assert set(body["tools"][0]["input_schema"]["properties"]) == CORE_FIELDS | {f.name for f in facets}
    assert body["tools"][0]["input_schema"]["properties"]["goal"]["pattern"] == "^The\\ user\\ wants\\ to"
    settings = settings_for(fake)
    plain, custom = (estimate_run([CONVERSATIONS], settings.models, settings.prices, 8000, 5, 2, 10, custom_facets=f)
                     for f in ((), facets))
    facet_cost = {e.stage: e for e in custom}["facets"]
    assert facet_cost.output_tokens > {e.stage: e for e in plain}["facets"].output_tokens
    assert facet_cost.input_tokens > {e.stage: e for e in plain}["facets"].input_tokens


def test_open_facet_never_reaches_the_public_db_or_the_explorer(tmp_path, monkeypatch):
    day = date(2023, 2, 5)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with FakeAnthropic() as fake:
        settings = ClioSettings(home=tmp_path / "h", llm_backend="claude", claude_base_url=fake.base_url,
                                min_unique_users=3, min_conversations=5, target_cluster_size=20,
                                facets=[LANGUAGE, GOAL])
        write_jsonl(settings.home / "landing" / day.isoformat() / "day.jsonl", _sample_records(day)[:120])
        result = dg.materialize(DAILY_ASSETS, partition_key=day.isoformat(), resources=build_resources(settings),
                                instance=dg.DagsterInstance.ephemeral())
    assert result.success
    with duckdb.connect(str(settings.private_db), read_only=True) as con:
        goals = [json.loads(r[0])["goal"] for r in con.execute(
            "SELECT custom_facets FROM facets ORDER BY conversation_id").fetchall()]
    assert len(goals) == 120 and all(g.startswith("The user wants to ") for g in goals)  # answered, kept private
    with duckdb.connect(str(settings.public_db), read_only=True) as con:
        facets = [r[0] for r in con.execute("SELECT DISTINCT facet FROM cluster_facets ORDER BY 1").fetchall()]
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        dump = "\n".join(" ".join(str(v) for v in row) for t in tables
                         for row in con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall())
    assert "programming_language" in facets and "goal" not in facets
    assert "The user wants to" not in dump and "goal" not in dump.split()
    html = "\n".join(p.read_text(encoding="utf-8") for p in sorted(settings.explorer_dir.glob("*.html")))
    assert "programming_language" in html  # the published facet is shown
    assert "The user wants to" not in html and '"goal"' not in html
