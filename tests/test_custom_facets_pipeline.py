"""Custom facets end to end, offline: a "programming language" facet answered by regex rules on a day of real
ShareGPT conversations; the public per-cluster breakdown, at every level, equals a count made here by hand from
the raw conversations, with values used by fewer than min_unique_users users pooled into "Other"."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date

import dagster as dg
import duckdb
import pytest

from clio_dagster.assets import DAILY_ASSETS
from clio_dagster.core.privacy import OTHER_VALUE
from clio_dagster.resources import build_resources
from clio_dagster.settings import ClioSettings
from tests.conftest import write_jsonl

DAY = date(2023, 3, 14)
CONVERSATIONS = 300
MIN_USERS = 5
# Checked in this order; the first language with a match in the user's messages is the answer.
RULES = {
    "Python": [r"\bpython\b", r"\bpandas\b", r"\bdjango\b", r"\bdef \w+\("],
    "JavaScript": [r"\bjavascript\b", r"\breact\b", r"\bnode\.?js\b", r"\btypescript\b"],
    "SQL": [r"\bsql\b", r"\bselect .* from\b"],
    "Java": [r"\bjava\b", r"\bspring boot\b"],
    "C/C++": [r"\bc\+\+", r"#include\b"],
}
KEYWORDS = {"Rust": ["rust", "cargo"], "Go": ["golang"]}
LANGUAGE_FACET = {
    "name": "programming_language",
    "question": "Which programming language is the user working in?",
    "type": "categorical",
    "values": ["Python", "JavaScript", "SQL", "Java", "C/C++", "Rust", "Go", "None"],
    "rules": RULES,
    "keywords": KEYWORDS,
    "default": "None",
}
# Never answered offline without an LLM, so it is defined only in the Claude test; a private categorical one here.
PRIVATE_FACET = {"name": "asks_for_code", "question": "Does the user ask for code?", "type": "categorical",
                 "values": ["yes", "no"], "keywords": {"yes": ["code", "script", "function"]}, "default": "no",
                 "publish": False}


def _records(shared_data) -> list[dict]:
    lines = (shared_data / "sharegpt_sample" / "conversations.jsonl").read_text(encoding="utf-8").splitlines()
    records = []
    for i, line in enumerate(lines[:CONVERSATIONS]):
        record = json.loads(line)
        records.append({"id": record["id"], "user_id": f"user-{i:04d}", "timestamp": f"{DAY}T{i % 24:02d}:00:00Z",
                        "messages": record["messages"]})
    return records


def _by_hand(user_text: str) -> str:
    """The facet's rules, applied independently of clio's code: first language in order with a match."""
    patterns = {**RULES, **{v: [rf"(?<![a-z0-9_]){re.escape(k)}(?![a-z0-9_])" for k in ks]
                            for v, ks in KEYWORDS.items()}}
    for value in LANGUAGE_FACET["values"]:
        if any(re.search(p, user_text, re.IGNORECASE) for p in patterns.get(value, [])):
            return value
    return "None"


def _pooled(answers: list[tuple[str, str]]) -> dict[str, int]:
    """{value: conversations} for (value, user) pairs, values of fewer than MIN_USERS users pooled into Other."""
    conversations = Counter(value for value, _ in answers)
    users = {value: len({u for v, u in answers if v == value}) for value in conversations}
    out: dict[str, int] = {}
    for value, n in conversations.items():
        key = value if users[value] >= MIN_USERS else OTHER_VALUE
        out[key] = out.get(key, 0) + n
    return out


@pytest.mark.shared_data
def test_regex_facet_breakdown_matches_a_hand_count_at_every_level(tmp_path, shared_data):
    records = _records(shared_data)
    settings = ClioSettings(home=tmp_path / "h", llm_backend="offline", min_unique_users=MIN_USERS,
                            min_conversations=8, target_cluster_size=25, hierarchy_levels=3,
                            facets=[LANGUAGE_FACET, PRIVATE_FACET])
    write_jsonl(settings.home / "landing" / DAY.isoformat() / "day.jsonl", records)
    result = dg.materialize(DAILY_ASSETS, partition_key=DAY.isoformat(), resources=build_resources(settings),
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())

    by_hand = {r["id"]: _by_hand(" ".join(m["content"] for m in r["messages"] if m["role"] == "user"))
               for r in records}
    user_of = {r["id"]: r["user_id"] for r in records}
    with duckdb.connect(str(settings.private_db), read_only=True) as con:
        members = con.execute("SELECT cluster_id, conversation_id FROM base_cluster_members "
                              "WHERE partition_date = ? ORDER BY 1, 2", [DAY]).fetchall()
        stored = dict(con.execute(
            "SELECT conversation_id, json_extract_string(custom_facets, '$.programming_language') "
            "FROM facets WHERE partition_date = ? ORDER BY 1", [DAY]).fetchall())
    with duckdb.connect(str(settings.public_db), read_only=True) as con:
        clusters = con.execute("SELECT cluster_id, parent_id FROM published_clusters WHERE partition_date = ? "
                               "ORDER BY 1", [DAY]).fetchall()
        public = con.execute("SELECT cluster_id, value, conversations FROM cluster_facets WHERE partition_date = ? "
                             "AND facet = 'programming_language' ORDER BY 1, 2", [DAY]).fetchall()
        private_facet = con.execute("SELECT count(*) FROM cluster_facets WHERE facet = 'asks_for_code'").fetchone()[0]
        questions = con.execute("SELECT facet, question, type FROM facet_questions ORDER BY 1").fetchall()

    # The private DB holds every conversation's answer, as the rules give it.
    assert stored == {cid: by_hand[cid] for cid in stored}
    assert len(stored) == CONVERSATIONS
    assert Counter(stored.values())["Python"] >= MIN_USERS  # the day does use the facet (not vacuous)

    # A published node holds its published children's conversations (a base node: its own cluster's).
    children: dict[str, list[str]] = {}
    for cid, parent in clusters:
        children.setdefault(parent, []).append(cid)
    base_members: dict[str, list[str]] = {}
    for cluster_id, conversation_id in members:
        base_members.setdefault(f"b{cluster_id:05d}", []).append(conversation_id)

    def conversations_of(node: str) -> list[str]:
        own = base_members.get(node, []) if node.startswith("b") else []
        return own + [c for child in children.get(node, []) for c in conversations_of(child)]

    expected = sorted((node, value, n) for node, _ in clusters
                      for value, n in _pooled([(by_hand[c], user_of[c]) for c in conversations_of(node)]).items())
    assert sorted(public) == expected
    assert {node for node, *_ in public} == {node for node, _ in clusters}  # every level has its breakdown
    assert any(value == OTHER_VALUE for _, value, _ in public), "no rare value was pooled"
    assert any(node[0] != "b" for node, *_ in public), "no parent level published"
    # A private facet is answered and stored, but never published.
    assert private_facet == 0
    assert questions == [("programming_language", LANGUAGE_FACET["question"], "categorical")]
