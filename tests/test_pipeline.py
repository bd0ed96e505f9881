"""End to end: every daily asset over two partitions with an ephemeral instance, on real sample data
plus planted bad records and planted identifiers."""

from __future__ import annotations

import gzip
import json
import re
from datetime import date

import dagster as dg
import pytest

from clio_dagster.assets import DAILY_ASSETS
from clio_dagster.resources import build_resources
from clio_dagster.sample_data import sample_path
from clio_dagster.settings import ClioSettings
from clio_dagster.storage import Warehouse
from tests.conftest import write_jsonl

DAYS = [date(2023, 2, 4), date(2023, 2, 5)]
PER_DAY = 260
SECRET = "pipeline-test-secret"
PLANTED_USER = "planted-user-7f3a9c"
PLANTED_CONVERSATION = "planted-conversation-51be02"
PUBLIC_COLUMNS = {
    "published_clusters": {
        "partition_date", "cluster_id", "level", "parent_id", "name", "description", "conversations",
        "unique_users", "share", "mean_turns", "concerning_mean", "naming_method", "heuristic", "x", "y", "spread",
    },
    "cluster_facets": {"partition_date", "cluster_id", "facet", "value", "conversations"},
    # the analyst's custom facet questions (their own words, no conversation's)
    "facet_questions": {"partition_date", "facet", "question", "type"},
    "partition_summaries": {
        "partition_date", "conversations", "clusters_total", "clusters_published", "suppressed_min_users",
        "suppressed_min_conversations", "suppressed_audit", "published_generic_name", "conversations_in_published",
        "min_unique_users", "min_conversations", "llm_backend", "embedding_model", "generic_share_by_level",
    },
    "topics": {"topic_id", "level", "first_seen", "last_seen", "days_seen", "latest_name", "latest_description",
               "names"},
    "topic_days": {"topic_id", "partition_date", "cluster_id", "name", "conversations", "unique_users", "share",
                   "concerning_mean", "similarity", "growth", "baseline_share"},
    "emerging_topics": {"partition_date", "topic_id", "level", "name", "reason", "share", "growth"},
    "topic_comparisons": {"comparison", "before_start", "before_end", "after_start", "after_end", "factor",
                          "days_before", "days_after"},
    "topic_changes": {"comparison", "topic_id", "level", "name", "kind", "share_before", "share_after"},
    # a view over the three topic tables
    "topic_trends": {"partition_date", "topic_id", "level", "name", "latest_name", "cluster_id", "conversations",
                     "unique_users", "share", "concerning_mean", "growth", "baseline_share", "is_first_day",
                     "emerging_reason"},
    # trust and safety: the classifier comparison, and a view of the concern distribution per cluster
    "cluster_classifier": {"partition_date", "cluster_id", "level", "conversations_scored", "flag_rate", "score_mean",
                           "concerning_mean", "disagreement", "verdict"},
    "classifier_summary": {"partition_date", "level", "classifier_field", "flag_threshold", "clusters",
                           "conversations_scored", "pearson_r"},
    "cluster_concern": {"partition_date", "cluster_id", "level", "parent_id", "name", "conversations", "share",
                        "heuristic", "concerning_mean", "concern_scored", "concern_1", "concern_2", "concern_3",
                        "concern_4", "concern_5", "concern_pooled"},
}


def _sample_records(day: date) -> list[dict]:
    with gzip.open(sample_path(), "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    same_day = sorted((r for r in records if r["timestamp"].startswith(day.isoformat())), key=lambda r: r["id"])
    # An even stride keeps every source (and so Chinese as well as English) in the subset.
    return [same_day[i * len(same_day) // PER_DAY] for i in range(PER_DAY)]


def _bad_lines() -> list[str]:
    return [
        '{"messages": [{"role": "user", "content": "unterminated',  # malformed JSON
        json.dumps({"id": "bad-role", "messages": [{"role": "wizard", "content": "hello there"}]}),
        json.dumps({"id": "only-assistant", "messages": [{"role": "assistant", "content": "hi"}]}),
    ]


class PipelineRun:
    def __init__(self, settings: ClioSettings, instance: dg.DagsterInstance):
        self.settings = settings
        self.instance = instance
        self.resources = build_resources(settings)
        self.results: dict[str, dg.ExecuteInProcessResult] = {}

    def materialize(self, day: date) -> dg.ExecuteInProcessResult:
        # The HMAC secret must stay the same across runs, whatever a test's environment says.
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CLIO_HMAC_SECRET", SECRET)
            result = dg.materialize(
                DAILY_ASSETS, partition_key=day.isoformat(), resources=self.resources, instance=self.instance
            )
        self.results[day.isoformat()] = result
        return result

    def warehouse(self) -> Warehouse:
        return self.resources["warehouse"].get()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    home = tmp_path_factory.mktemp("clio")
    settings = ClioSettings(
        home=home, llm_backend="offline", min_unique_users=5, min_conversations=10, target_cluster_size=25
    )
    for day in DAYS:
        records = _sample_records(day)
        # One planted conversation with a distinctive user id and conversation id on the first day.
        if day == DAYS[0]:
            records.append(
                {
                    "id": PLANTED_CONVERSATION,
                    "user_id": PLANTED_USER,
                    "timestamp": f"{day}T12:00:00Z",
                    "messages": [{"role": "user", "content": "How do I bake sourdough bread at home?"}],
                }
            )
        path = write_jsonl(settings.landing_dir / day.isoformat() / "conversations.jsonl", records)
        with path.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(_bad_lines()) + "\n")
    pipeline = PipelineRun(settings, dg.DagsterInstance.ephemeral())
    for day in DAYS:
        assert pipeline.materialize(day).success
    yield pipeline


def _rows(con, sql, *params):
    return con.execute(sql, list(params)).fetchall()


def test_every_step_and_check_succeeds(run):
    for key, result in run.results.items():
        materialized = {m.asset_key.path[-1] for m in result.get_asset_materialization_events()}
        assert materialized == {a.key.path[-1] for a in DAILY_ASSETS}, key
        checks = result.get_asset_check_evaluations()
        assert {c.check_name for c in checks} == {"row_conservation", "thresholds_hold", "no_private_identifiers",
                                                  "audited_names_only", "public_tree_is_consistent"}
        assert all(c.passed for c in checks), [(c.check_name, c.metadata) for c in checks if not c.passed]


def test_named_clusters_published_for_every_partition(run):
    with run.warehouse().connect("public") as con:
        per_day = dict(_rows(con, "SELECT partition_date, count(*) FROM published_clusters GROUP BY 1 ORDER BY 1"))
        names = [r[0] for r in _rows(con, "SELECT name FROM published_clusters ORDER BY partition_date, cluster_id")]
    assert set(per_day) == set(DAYS)
    assert all(n >= 3 for n in per_day.values()), per_day
    # Named by the taxonomy (base clusters by a leaf, parents by a topic or an area), rarely by phrases alone.
    from clio_dagster.core.naming import is_generic_name
    from clio_dagster.core.taxonomy import load_taxonomy

    taxonomy_names = tuple(node.name for node in load_taxonomy().nodes.values())
    assert sum(n.startswith(taxonomy_names) for n in names) >= len(names) * 0.8, names
    assert not [n for n in names if is_generic_name(n)]


def test_thresholds_hold_for_every_published_cluster(run):
    s = run.settings
    with run.warehouse().connect("public") as con:
        rows = _rows(con, "SELECT conversations, unique_users FROM published_clusters ORDER BY cluster_id")
        summaries = _rows(con, "SELECT clusters_total, clusters_published, suppressed_min_users, "
                               "suppressed_min_conversations FROM partition_summaries ORDER BY partition_date")
    assert rows and all(c >= s.min_conversations and u >= s.min_unique_users for c, u in rows)
    for total, published, _, _ in summaries:
        assert 0 < published <= total
    # Independent recount from the private DB: a published base cluster's counts are its members' real
    # counts, and a published parent's are those of the union of its published descendants.
    with run.warehouse().connect("private") as con:
        members = _rows(con, "SELECT m.partition_date, m.cluster_id, f.user_hash FROM base_cluster_members m "
                             "JOIN facets f USING (partition_date, conversation_id) ORDER BY ALL")
    with run.warehouse().connect("public") as con:
        public = _rows(con, "SELECT partition_date, cluster_id, level, parent_id, conversations, unique_users "
                            "FROM published_clusters ORDER BY 1, 3, 2")
    users = {}
    for d, c, u in members:
        users.setdefault((d, f"b{c:05d}"), []).append(u)
    for d, cid, level, parent, n, u in public:
        if level > 0:
            kids = [k for (dd, k, lvl, p, _, _) in public if dd == d and p == cid]
            users[(d, cid)] = [x for k in kids for x in users[(d, k)]]
        assert (len(users[(d, cid)]), len(set(users[(d, cid)]))) == (n, u), cid


def test_no_base_cluster_is_left_too_small_to_publish(run):
    """k-means leaves clusters under min_conversations on these days; their conversations join the nearest
    cluster rather than vanish from every level (merge_undersized_clusters, on by default)."""
    floor = run.settings.min_conversations
    merged = {day: result.asset_materializations_for_node("base_clusters")[0].metadata[
        "undersized_clusters_merged"].value for day, result in run.results.items()}
    assert sum(merged.values()) > 0, merged
    with run.warehouse().connect("private") as con:
        sizes = _rows(con, "SELECT partition_date, k, conversations FROM base_clusters ORDER BY 1, 3")
        conversations = dict(_rows(con, "SELECT partition_date, count(*) FROM summary_embeddings "
                                        "GROUP BY 1 ORDER BY 1"))
    for day in DAYS:
        found = [(k, n) for d, k, n in sizes if d == day]
        assert min(n for _, n in found) >= floor, found
        assert len(found) == found[0][0] - merged[day.isoformat()]
        assert sum(n for _, n in found) == conversations[day]


def test_public_db_columns_are_an_allow_list(run):
    with run.warehouse().connect("public") as con:
        columns = _rows(con, "SELECT table_name, column_name FROM information_schema.columns ORDER BY 1, 2")
    found: dict[str, set[str]] = {}
    for table, column in columns:
        found.setdefault(table, set()).add(column)
    assert found == PUBLIC_COLUMNS


def _private_strings(run) -> tuple[set[str], list[str]]:
    """Identifiers (raw and hashed) and raw user texts of the input."""
    with run.warehouse().connect("private") as con:
        ids = {r[0] for r in _rows(con, "SELECT conversation_id FROM raw_conversations ORDER BY 1")}
        hashes = {r[0] for r in _rows(con, "SELECT user_hash FROM raw_conversations ORDER BY 1")}
        texts = [r[0] for r in _rows(con, "SELECT m.text FROM (SELECT unnest(messages) AS m FROM raw_conversations) ORDER BY 1")]
    user_ids = {PLANTED_USER} | {f"sample-user-{i:04d}" for i in range(900)}
    return ids | hashes | user_ids, texts


def _leaks(haystack: str, identifiers: set[str], texts: list[str]) -> list[str]:
    found = [i for i in identifiers if i in haystack]
    lowered = haystack.lower()
    for text in texts:
        words = re.findall(r"\w+", text.lower())
        # Any run of 6 consecutive words of a raw message counts as raw text.
        for i in range(0, max(0, len(words) - 5)):
            window = " ".join(words[i : i + 6])
            if len(window) > 25 and window in lowered:
                found.append(window)
                break
    return found


def test_no_raw_text_or_ids_in_public_db(run):
    identifiers, texts = _private_strings(run)
    with run.warehouse().connect("public") as con:
        dump = "\n".join(
            " ".join(str(v) for v in row)
            for table in PUBLIC_COLUMNS
            for row in _rows(con, f"SELECT * FROM {table} ORDER BY ALL")
        )
    words = " ".join(re.findall(r"\w+", dump))
    assert _leaks(dump, identifiers, []) == []
    assert _leaks(words, set(), texts) == []


def test_no_raw_text_or_ids_in_any_dagster_metadata(run):
    identifiers, texts = _private_strings(run)
    chunks = []
    for result in run.results.values():
        chunks.extend(event.message or "" for event in result.all_events)
        for materialization in result.get_asset_materialization_events():
            for key, value in materialization.step_materialization_data.materialization.metadata.items():
                chunks.append(f"{key} {value.value}")
        for check in result.get_asset_check_evaluations():
            chunks.extend(f"{k} {v.value}" for k, v in check.metadata.items())
    dump = "\n".join(chunks)
    assert _leaks(dump, identifiers, []) == []
    assert _leaks(" ".join(re.findall(r"\w+", dump)), set(), texts) == []


def test_rejects_quarantined_with_location_and_reason_and_rows_conserved(run):
    with run.warehouse().connect("private") as con:
        quarantined = _rows(con, "SELECT partition_date, source_line, reason FROM quarantine ORDER BY 1, 2")
        stats = _rows(con, "SELECT partition_date, records_in, accepted, quarantined FROM ingest_stats ORDER BY 1")
    first_bad_line = PER_DAY + 2  # the planted record is line PER_DAY + 1 on day 1
    assert [(d, r) for d, _, r in quarantined if d == DAYS[0]] == [
        (DAYS[0], "malformed_json"), (DAYS[0], "unknown_role"), (DAYS[0], "no_user_turn")
    ]
    assert [line for d, line, _ in quarantined if d == DAYS[0]] == [first_bad_line, first_bad_line + 1, first_bad_line + 2]
    assert stats == [(DAYS[0], PER_DAY + 4, PER_DAY + 1, 3), (DAYS[1], PER_DAY + 3, PER_DAY, 3)]


def _snapshot(run) -> dict[str, list]:
    snap = {}
    for database, tables in (
        ("private", ["raw_conversations", "quarantine", "ingest_stats", "facets", "summary_embeddings",
                     "base_cluster_members", "base_clusters", "cluster_names"]),
        ("public", sorted(PUBLIC_COLUMNS)),
    ):
        with run.warehouse().connect(database) as con:
            for table in tables:
                snap[table] = _rows(con, f"SELECT * FROM {table} ORDER BY ALL")
            if database == "private":
                snap["embedding_cache"] = _rows(con, "SELECT model, text_hash FROM embedding_cache ORDER BY ALL")
    return snap


def test_rematerializing_a_partition_is_idempotent_and_leaves_other_days_alone(run):
    before = _snapshot(run)
    result = run.materialize(DAYS[1])
    assert result.success
    after = _snapshot(run)
    for table, rows in before.items():
        assert after[table] == rows, table
        assert len(rows) == len(set(map(repr, rows))), f"duplicate rows in {table}"
    # The second run recomputed nothing: its inputs were unchanged, so the stored vectors were kept
    # (tests/test_reuse.py covers what a change recomputes).
    meta = result.asset_materializations_for_node("summary_embeddings")[0].metadata
    assert meta["reused"].value is True and "encoded" not in meta


def test_facets_are_labelled_heuristic_and_languages_detected(run):
    with run.warehouse().connect("private") as con:
        methods = _rows(con, "SELECT DISTINCT backend, method FROM facets ORDER BY 1")
        languages = dict(_rows(con, "SELECT language, count(*) FROM facets GROUP BY 1 ORDER BY 2 DESC"))
        # the offline concern heuristic scores English conversations only
        concerning = dict(_rows(con, "SELECT language, count(concerning) FROM facets GROUP BY 1 ORDER BY 1"))
    assert len(methods) == 1 and methods[0][0] == "offline" and methods[0][1].startswith("heuristic")
    assert languages.get("English", 0) > 0 and languages.get("Chinese", 0) > 0
    assert concerning["English"] > 0 and concerning["Chinese"] == 0
    with run.warehouse().connect("public") as con:
        assert _rows(con, "SELECT DISTINCT heuristic, naming_method FROM published_clusters")[0][0] is True
