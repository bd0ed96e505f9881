"""The screener restricts a run to a targeted subset (Clio App. B), by regex offline or by a question with Claude."""

from __future__ import annotations

from datetime import date

import dagster as dg

from clio_dagster.assets import facets, raw_conversations
from clio_dagster.core.records import Conversation, Message
from clio_dagster.core.screening import regex_screen
from clio_dagster.resources import build_resources
from clio_dagster.settings import ClioSettings
from tests.conftest import write_jsonl

DAY = date(2024, 11, 5)


def _records():
    topics = ["who should I vote for in the election", "bake sourdough bread", "election day polling hours",
              "fix my bike chain", "register to vote online"]
    return [{"id": f"r{i}", "user_id": f"u{i}", "timestamp": f"{DAY}T10:00:00Z",
             "messages": [{"role": "user", "content": f"Please help: {t}."}]} for i, t in enumerate(topics)]


def test_regex_screen_matches_user_turns_only():
    convs = [
        Conversation(conversation_id="a", messages=(Message(role="user", text="Election news?"),)),
        Conversation(conversation_id="b", messages=(Message(role="user", text="Hi"),
                                                    Message(role="assistant", text="election"))),
    ]
    assert regex_screen(convs, r"\belection") == [True, False]


def _run(settings, assets):
    return dg.materialize(assets, partition_key=DAY.isoformat(), resources=build_resources(settings),
                          instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def test_regex_screener_keeps_only_matching_conversations(tmp_path):
    settings = ClioSettings(home=tmp_path / "h", llm_backend="offline", screen_regex=r"\b(elect\w*|vote)\b")
    write_jsonl(settings.landing_dir / DAY.isoformat() / "d.jsonl", _records())
    result = _run(settings, [raw_conversations, facets])
    assert result.success
    meta = result.asset_materializations_for_node("facets")[0].metadata
    assert meta["dagster/row_count"].value == 3 and meta["screened_out"].value == 2


def test_screening_question_offline_is_refused_with_advice(tmp_path):
    settings = ClioSettings(home=tmp_path / "h", llm_backend="offline", screen_question="Is this about elections?")
    write_jsonl(settings.landing_dir / DAY.isoformat() / "d.jsonl", _records())
    result = _run(settings, [raw_conversations, facets])
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "needs an LLM" in failure.step_failure_data.error.cause.message


def test_screening_question_with_claude(tmp_path, monkeypatch):
    from tests.fake_anthropic import FakeAnthropic

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with FakeAnthropic() as fake:
        settings = ClioSettings(home=tmp_path / "h", llm_backend="claude", claude_base_url=fake.base_url,
                                screen_question="Is this conversation about an election?")
        write_jsonl(settings.landing_dir / DAY.isoformat() / "d.jsonl", _records())
        result = _run(settings, [raw_conversations, facets])
        assert result.success
        meta = result.asset_materializations_for_node("facets")[0].metadata
        # The fake answers yes when a word of 5+ letters of the question ("election") is in the conversation.
        assert meta["dagster/row_count"].value == 2 and meta["screened_out"].value == 3
