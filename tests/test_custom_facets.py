"""Custom facet definitions (settings TOML / CLIO_FACETS), their offline answers and their breakdowns."""

from __future__ import annotations

import json
from datetime import date

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest

from clio_dagster.core.aggregates import facet_breakdowns, node_clusters
from clio_dagster.core.custom_facets import (
    FacetDefinitionError,
    answer_nearest,
    encode_answers,
    facets_from_json,
    facets_to_json,
    keyword_pattern,
    parse_facets,
    rule_answer,
)
from clio_dagster.llm.base import LLMRequired
from clio_dagster.llm.offline import OfflineBackend
from clio_dagster.settings import ClioSettings, SettingsError, load_settings

LANGUAGE = {"name": "programming_language", "question": "Which programming language?", "type": "categorical",
            "values": ["Python", "SQL", "None"], "rules": {"Python": [r"\bpython\b", r"\.py\b"]},
            "keywords": {"SQL": ["select", "sql"]}, "default": "None"}


@pytest.mark.parametrize("change, message", [
    ({"name": "Bad Name"}, "facet #1, field 'name': must be 1-40 characters"),
    ({"name": "language"}, "'language', field 'name': is a built-in facet"),
    ({"question": ""}, "field 'question': is required"),
    ({"type": "boolean"}, "field 'type': must be one of categorical, numeric, open"),
    ({"values": ["Python"]}, "field 'values': a categorical facet needs at least two distinct values"),
    ({"rules": {"Ruby": ["ruby"]}}, "field 'rules/keywords': 'Ruby' is not one of the facet's values"),
    ({"rules": {"Python": ["(unclosed"]}}, "field 'rules.Python': '(unclosed' is not a valid regex"),
    ({"default": "Perl"}, "field 'default': 'Perl' is not one of the facet's values"),
    ({"colour": "red"}, "field 'colour': unknown field"),
    ({"min": 1}, "field 'min': is for numeric facets only"),
])
def test_invalid_definitions_name_the_facet_and_the_field(change, message):
    with pytest.raises(FacetDefinitionError, match=message.replace("(", r"\(")):
        parse_facets([{**LANGUAGE, **change}])


def test_numeric_and_open_rules():
    with pytest.raises(FacetDefinitionError, match="'mood', field 'min/max': a numeric facet needs integers min < max"):
        parse_facets([{"name": "mood", "question": "How frustrated?", "type": "numeric", "min": 5, "max": 1}])
    with pytest.raises(FacetDefinitionError, match="'goal', field 'publish': an open-text answer is never published"):
        parse_facets([{"name": "goal", "question": "What goal?", "type": "open", "publish": True}])
    with pytest.raises(FacetDefinitionError, match="'goal', field 'values': is for categorical facets only"):
        parse_facets([{"name": "goal", "question": "What goal?", "type": "open", "values": ["a", "b"]}])
    with pytest.raises(FacetDefinitionError, match="'a', field 'name': is defined twice"):
        parse_facets([{"name": "a", "question": "q", "type": "open"}] * 2)
    goal, mood = parse_facets([{"name": "goal", "question": "What goal?", "type": "open"},
                               {"name": "mood", "question": "How frustrated?", "type": "numeric", "min": 1, "max": 5}])
    assert not goal.published and mood.published and goal.offline_method is None


def test_settings_read_facets_from_toml_and_env(tmp_path, monkeypatch):
    toml = tmp_path / "clio.toml"
    toml.write_text("""
[[facets]]
name = "programming_language"
question = "Which programming language?"
type = "categorical"
values = ["Python", "SQL", "None"]
default = "None"
[facets.keywords]
SQL = ["select"]
""")
    monkeypatch.setenv("CLIO_CONFIG", str(toml))
    (facet,) = load_settings().custom_facets
    assert facet.name == "programming_language" and facet.rules == {"SQL": (keyword_pattern("select"),)}
    monkeypatch.setenv("CLIO_FACETS", json.dumps([{"name": "mood", "question": "How frustrated?", "type": "numeric",
                                                   "min": 1, "max": 5}]))
    assert [f.name for f in load_settings().custom_facets] == ["mood"]  # the environment wins over the file
    monkeypatch.setenv("CLIO_FACETS", json.dumps([{"name": "mood", "question": "How frustrated?", "type": "numeric"}]))
    with pytest.raises(SettingsError, match="Invalid CLIO_FACETS.*'mood', field 'min/max'"):
        load_settings()
    monkeypatch.delenv("CLIO_FACETS")
    with pytest.raises(SettingsError, match="CLIO_CLUSTER_FACET='mood' names no custom facet; defined: "
                                            "programming_language"):
        load_settings(cluster_facet="mood")


def test_definitions_survive_the_resource_json():
    facets = parse_facets([LANGUAGE, {"name": "mood", "question": "q?", "type": "numeric", "min": 1, "max": 5}])
    assert facets_from_json(facets_to_json(facets)) == facets


def test_a_changed_question_changes_only_its_version():
    a, b = parse_facets([LANGUAGE, {"name": "mood", "question": "q?", "type": "numeric", "min": 1, "max": 5}])
    a2, b2 = parse_facets([{**LANGUAGE, "question": "Which language of programming?"},
                           {"name": "mood", "question": "q?", "type": "numeric", "min": 1, "max": 5}])
    assert a.version() != a2.version() and b.version() == b2.version()
    # Offline-only fields (rules) do not change what Claude is asked.
    (a3,) = parse_facets([{**LANGUAGE, "rules": {}}])
    assert a3.version() == a.version()


def test_rules_take_the_first_value_in_order_then_the_default():
    (facet,) = parse_facets([LANGUAGE])
    assert rule_answer(facet, "SELECT name FROM t in my python script") == "Python"  # Python is listed first
    assert rule_answer(facet, "how do I select rows?") == "SQL"
    assert rule_answer(facet, "selection of wines") == "None"  # keywords match whole words only
    assert rule_answer(facet, "帮我写SQL查询") == "SQL"  # also beside CJK text, where \b finds no word boundary
    (no_default,) = parse_facets([{**LANGUAGE, "default": None}])
    assert rule_answer(no_default, "bake bread") is None


def test_nearest_value_on_the_summary_embedding():
    (facet,) = parse_facets([{"name": "topic", "question": "Topic?", "type": "categorical",
                              "values": ["cooking", "coding"], "descriptions": {"coding": "programming help"},
                              "min_similarity": 0.5}])
    assert facet.offline_method == "nearest" and facet.value_texts() == ["cooking", "coding: programming help"]
    vectors = {"cooking": [1.0, 0.0], "coding: programming help": [0.0, 1.0],
               "bake a cake": [0.9, 0.1], "fix my loop": [0.2, 0.8], "hello": [-1.0, -1.0]}

    def embed(texts):
        return np.array([vectors[t] for t in texts])

    assert answer_nearest([facet], ["bake a cake", "fix my loop", "hello"], embed) == [
        {"topic": "cooking"}, {"topic": "coding"}, {}]  # below min_similarity and no default: no answer


def test_offline_refuses_an_open_question():
    facets = parse_facets([{"name": "goal", "question": "What goal?", "type": "open"}])
    with pytest.raises(LLMRequired, match="custom facet 'goal' is open: it needs an LLM"):
        OfflineBackend(custom_facets=facets)


def test_breakdowns_count_published_custom_facets_only():
    facets = parse_facets([LANGUAGE, {"name": "mood", "question": "q?", "type": "numeric", "min": 1, "max": 5},
                           {"name": "goal", "question": "What goal?", "type": "open"},
                           {**LANGUAGE, "name": "private_language", "publish": False}])
    answers = [{"programming_language": "Python", "mood": 2, "goal": "secret plan", "private_language": "SQL"},
               {"programming_language": "Python", "mood": 4},
               {"programming_language": "SQL"}]
    conversations = pl.DataFrame({"cluster_id": [0, 0, 0], "user_hash": ["u1", "u2", "u2"],
                                  "language": ["English"] * 3, "n_turns": [2, 2, 2], "concerning": [None] * 3,
                                  "x": [0.0] * 3, "y": [0.0] * 3,
                                  "custom_facets": [encode_answers(a) for a in answers]},
                                 schema_overrides={"concerning": pl.Int32})
    rows = facet_breakdowns(conversations, node_clusters({"b00000": 0}, {}), facets).rows()
    custom = [r for r in rows if r[1] not in ("language", "turns", "concerning")]
    assert custom == [("b00000", "programming_language", "Python", 2, 2),
                      ("b00000", "programming_language", "SQL", 1, 1),
                      ("b00000", "mood", "2", 1, 1), ("b00000", "mood", "4", 1, 1)]


def test_clustering_on_a_facet_embeds_its_answers(tmp_path):
    from clio_dagster.assets import DAILY_ASSETS
    from clio_dagster.resources import build_resources
    from tests.conftest import write_jsonl
    from tests.test_pipeline import _sample_records

    day = date(2023, 2, 5)
    topic = {"name": "topic", "question": "Cooking or not?", "type": "categorical", "values": ["cooking", "other"],
             "keywords": {"cooking": ["recipe", "bake", "cook", "cake", "bread", "soup"]}, "default": "other"}
    settings = ClioSettings(home=tmp_path / "h", llm_backend="offline", min_unique_users=3, min_conversations=5,
                            target_cluster_size=20, facets=[topic], cluster_facet="topic")
    write_jsonl(settings.home / "landing" / day.isoformat() / "day.jsonl", _sample_records(day)[:160])
    assets = [a for a in DAILY_ASSETS if a.key.to_user_string() in (
        "raw_conversations", "facets", "summary_embeddings", "base_clusters")]
    result = dg.materialize(assets, partition_key=day.isoformat(), resources=build_resources(settings),
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    with duckdb.connect(str(settings.private_db), read_only=True) as con:
        per_cluster = con.execute("""
            SELECT m.cluster_id, list(DISTINCT json_extract_string(f.custom_facets, '$.topic') ORDER BY 1)
            FROM base_cluster_members m JOIN facets f USING (partition_date, conversation_id)
            GROUP BY 1 ORDER BY 1""").fetchall()
    answers = {v for _, values in per_cluster for v in values}
    assert answers == {"cooking", "other"}  # both answers occur
    assert all(len(values) == 1 for _, values in per_cluster), per_cluster  # every cluster holds one answer
