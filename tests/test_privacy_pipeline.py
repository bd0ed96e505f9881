"""Write-audit-publish end to end: a cluster planted with one person's name, email and phone from the PII
data sets never reaches the public DB, with any backend; the public DB is a deterministic tree."""

from __future__ import annotations

import json
import re
from datetime import date

import dagster as dg
import duckdb
import pytest

from clio_dagster.assets import DAILY_ASSETS
from clio_dagster.core.pii import _first_names
from clio_dagster.resources import build_resources
from clio_dagster.settings import ClioSettings
from tests.conftest import write_jsonl
from tests.test_pipeline import _sample_records

DAY = date(2023, 2, 5)
PLANTED_USERS = 15


def _planted_identity(shared_data) -> dict[str, str]:
    """A two-word PERSON whose first name is NOT in the scrubber's list (the hard case), an email, a phone."""
    first_names = {n.lower() for group in _first_names() for n in group}
    found: dict[str, str] = {}
    for line in (shared_data / "pii_presidio_synth" / "synth_dataset_v2.jsonl").read_text().splitlines():
        record = json.loads(line)
        for span in record["spans"]:
            value = record["text"][span["start"] : span["end"]]
            label = span["label"]
            if label == "PERSON" and "person" not in found and re.fullmatch(r"[A-Z][a-z]{3,} [A-Z][a-z]{3,}", value):
                if value.split()[0].lower() not in first_names:
                    found["person"] = value
            elif label == "EMAIL_ADDRESS" and "email" not in found:
                found["email"] = value
            elif label == "PHONE_NUMBER" and "phone" not in found and len(re.sub(r"\D", "", value)) >= 9:
                found["phone"] = value
        if len(found) == 3:
            return found
    raise AssertionError("no planted identity found")


def _landing(home, identity):
    records = _sample_records(DAY)[:200]
    for i in range(PLANTED_USERS):
        records.append({
            "id": f"planted-{i}", "user_id": f"planted-user-{i}", "timestamp": f"{DAY}T09:{i:02d}:00Z",
            "messages": [{"role": "user", "content":
                          f"Please write a reference letter for {identity['person']} (email {identity['email']}, "
                          f"phone {identity['phone']}), who worked with me on the bakery project, version {i}."}],
        })
    write_jsonl(home / "landing" / DAY.isoformat() / "day.jsonl", records)


def _public_dump(settings) -> str:
    con = duckdb.connect(str(settings.public_db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        return "\n".join(" ".join(str(v) for v in row) for t in tables
                         for row in con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()).lower()
    finally:
        con.close()


def _leaks(dump: str, identity) -> list[str]:
    needles = [w.lower() for w in identity["person"].split()] + [identity["email"].lower()]
    needles += [re.sub(r"\D", "", identity["phone"])]
    digits = re.sub(r"\D", "", dump)
    return [n for n in needles if (n in digits if n.isdigit() else n in dump)]


def _materialize(settings):
    return dg.materialize(DAILY_ASSETS, partition_key=DAY.isoformat(), resources=build_resources(settings),
                          instance=dg.DagsterInstance.ephemeral())


@pytest.mark.shared_data
def test_planted_identity_never_published_offline(tmp_path, shared_data):
    identity = _planted_identity(shared_data)
    settings = ClioSettings(home=tmp_path / "h", llm_backend="offline", min_unique_users=5, min_conversations=8,
                            target_cluster_size=25)
    _landing(settings.home, identity)
    result = _materialize(settings)
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    assert _leaks(_public_dump(settings), identity) == []
    # The planted conversations were clustered and are in the private DB (the test is not vacuous).
    con = duckdb.connect(str(settings.private_db), read_only=True)
    planted = con.execute("SELECT count(*) FROM base_cluster_members WHERE conversation_id LIKE 'planted-%'").fetchone()
    con.close()
    assert planted == (PLANTED_USERS,)


@pytest.mark.shared_data
@pytest.mark.parametrize("backend", ["claude", "local"])
def test_planted_identity_never_published_with_an_llm(tmp_path, shared_data, monkeypatch, backend):
    """Claude, or a self-hosted model behind an OpenAI-compatible server (preset local)."""
    from tests.fake_anthropic import FakeAnthropic
    from tests.fake_openai import FakeOpenAI, settings_against

    identity = _planted_identity(shared_data)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    # The fake namer copies frequent summary words into names, so the name can carry the person: the
    # auditor (which knows this person, as a real one recognises a name) must stop it.
    fake_api = {"claude": FakeAnthropic, "local": FakeOpenAI}[backend]
    with fake_api(known_names={identity["person"]}) as fake:
        settings = ClioSettings(home=tmp_path / "h", min_unique_users=5, min_conversations=8, target_cluster_size=25,
                                **settings_against(backend, fake))
        _landing(settings.home, identity)
        result = _materialize(settings)
    assert result.success
    assert _leaks(_public_dump(settings), identity) == []
    con = duckdb.connect(str(settings.private_db), read_only=True)
    flagged = con.execute("SELECT count(*) FROM cluster_audit WHERE rating < 3").fetchone()[0]
    con.close()
    assert flagged >= 1  # the auditor did catch a name carrying the planted identity


def test_public_db_is_deterministic_and_a_tree(tmp_path):
    dumps = []
    for run in ("a", "b"):
        settings = ClioSettings(home=tmp_path / run, llm_backend="offline", min_unique_users=4, min_conversations=6,
                                target_cluster_size=20, hierarchy_levels=3)
        write_jsonl(settings.home / "landing" / DAY.isoformat() / "day.jsonl", _sample_records(DAY)[:240])
        assert _materialize(settings).success
        dumps.append(_public_dump(settings))
        con = duckdb.connect(str(settings.public_db), read_only=True)
        rows = con.execute("SELECT cluster_id, level, parent_id, conversations FROM published_clusters ORDER BY 1").fetchall()
        con.close()
    assert dumps[0] == dumps[1]
    levels = {cid: level for cid, level, _, _ in rows}
    assert max(levels.values()) >= 1, "no hierarchy level was published"
    for cid, level, parent, n in rows:
        if parent is not None:
            assert levels[parent] == level + 1
    for cid, level, _, n in rows:
        kids = [k_n for k, k_level, k_parent, k_n in rows if k_parent == cid]
        if level > 0:
            assert kids and sum(kids) == n  # a parent is exactly its published children
