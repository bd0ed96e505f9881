"""Coordinated-use signals (Clio §4.1, safety mode): a planted group of 30 accounts sending near-identical
requests and a planted 2-account spam cluster are flagged, in the private DB only."""

from __future__ import annotations

import hashlib
import re
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest

from clio_dagster.core.coordination import few_account_clusters, near_duplicate_groups
from tests import safety_data
from tests.safety_data import DAY, clusters_made_of, planted_ids

OPERATOR = "Alice Reviewer (T&S)"


def test_near_duplicate_groups_need_enough_accounts_and_similarity():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(1, 16))
    spam = base + 0.01 * rng.normal(size=(12, 16))  # near-identical
    noise = rng.normal(size=(30, 16))
    vectors = np.vstack([spam, noise, base + 0.01 * rng.normal(size=(3, 16))])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    accounts = [f"a{i}" for i in range(12)] + [f"n{i}" for i in range(30)] + ["a0", "a0", "a1"]
    groups = near_duplicate_groups(vectors, accounts, threshold=0.95, min_accounts=10)
    assert len(groups) == 1
    group = groups[0]
    assert group.members == tuple(range(12)) + (42, 43, 44) and group.accounts == 12
    assert 0.95 <= group.min_similarity <= group.mean_similarity <= 1.0
    assert near_duplicate_groups(vectors, accounts, threshold=0.95, min_accounts=13) == []


def test_near_duplicate_blocks_give_the_same_pairs(monkeypatch):
    import clio_dagster.core.coordination as coordination

    rng = np.random.default_rng(2)
    vectors = np.repeat(rng.normal(size=(5, 8)), 6, axis=0) + 0.02 * rng.normal(size=(30, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    accounts = [f"u{i}" for i in range(30)]
    whole = near_duplicate_groups(vectors, accounts, 0.95, 3)
    monkeypatch.setattr(coordination, "MAX_BLOCK_ENTRIES", 7 * 30)  # 7 rows per block
    blocked = near_duplicate_groups(vectors, accounts, 0.95, 3)
    assert len(whole) == 5 and [(g.members, g.accounts) for g in blocked] == [(g.members, g.accounts) for g in whole]
    assert [g.mean_similarity for g in blocked] == pytest.approx([g.mean_similarity for g in whole])


def test_few_account_clusters():
    clusters = ["spam"] * 30 + ["normal"] * 30 + ["tiny"] * 3
    accounts = [f"bot{i % 2}" for i in range(30)] + [f"u{i}" for i in range(30)] + ["x", "x", "x"]
    found = few_account_clusters(clusters, accounts, min_size=20, max_ratio=0.2)
    assert [(c.cluster_id, c.conversations, c.accounts, c.top_account_share) for c in found] == [("spam", 30, 2, 0.5)]
    assert found[0].top_accounts == ("bot0", "bot1")


# ------------------------------------------------------------------------------------------ end to end


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".lock")
            and "private" not in p.name}


@pytest.fixture(scope="module")
def safety_run(tmp_path_factory):
    from clio_dagster.assets import SAFETY_MODE_ASSETS

    shared, result = safety_data.planted_offline_run()
    assert result.success
    home = tmp_path_factory.mktemp("coordinated") / "clio"
    shutil.copytree(shared.home, home)
    settings = safety_data.settings_for(home, safety_mode=True)
    before = _digest(home)
    instance = dg.DagsterInstance.ephemeral()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLIO_SAFETY_OPERATOR", OPERATOR)
        result = safety_data.materialize(settings, SAFETY_MODE_ASSETS, instance)
    assert result.success
    logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    return settings, result, before, logs


def _private(settings, sql, *params):
    with duckdb.connect(str(settings.private_db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _hashes(settings, ids: set[str]) -> set[str]:
    rows = _private(settings, "SELECT conversation_id, user_hash FROM raw_conversations ORDER BY 1")
    return {h for cid, h in rows if cid in ids}


def test_planted_group_of_30_accounts_is_flagged(safety_run):
    settings, result, *_ = safety_run
    groups = _private(settings, "SELECT group_id, accounts, conversations, min_similarity, account_hashes, "
                                "conversation_ids FROM coordinated_groups WHERE partition_date = ? "
                                "ORDER BY group_id", DAY)
    reviews = planted_ids("review")
    hits = [g for g in groups if reviews <= set(g[5])]
    assert len(hits) == 1, groups
    _, accounts, conversations, min_similarity, account_hashes, _ = hits[0]
    assert accounts == 30 and set(account_hashes) == _hashes(settings, reviews)
    assert len(reviews) / conversations >= 0.9 and min_similarity >= settings.coordination_similarity
    meta = result.asset_materializations_for_node("coordinated_use")[0].metadata
    assert meta["near_duplicate_groups"].value == len(groups) and meta["largest_group_accounts"].value >= 30


def test_cluster_from_two_accounts_is_flagged(safety_run):
    settings, *_ = safety_run
    flagged = {r[0]: r[1:] for r in _private(
        settings, "SELECT node_id, conversations, accounts, top_accounts FROM coordinated_clusters "
                  "WHERE partition_date = ? ORDER BY node_id", DAY)}
    seo = clusters_made_of(duckdb.connect(str(settings.private_db), read_only=True), planted_ids("seo"))
    assert seo and set(seo) <= set(flagged)
    bots = _hashes(settings, planted_ids("seo"))
    assert all(flagged[c][1] == 2 and set(flagged[c][2]) == bots for c in seo)
    # Ordinary clusters of the sample (one conversation per account or close) are not flagged.
    assert set(flagged) == set(seo)


def test_nothing_of_it_reaches_the_public_db_or_the_explorer(safety_run):
    settings, _, before, _ = safety_run
    assert _digest(settings.home) == before  # public DB and explorer pages byte-identical
    planted = planted_ids("review") | planted_ids("seo")
    users = {f"planted-review-user-{i:02d}" for i in range(30)} | {"planted-seo-bot-0", "planted-seo-bot-1"}
    secrets = planted | users | _hashes(settings, planted)
    with duckdb.connect(str(settings.public_db), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        dump = "\n".join(" ".join(map(str, row)) for t in tables
                         for row in con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall())
    assert not any(re.search(r"safety|coordinat|runs", t) for t in tables)
    assert [s for s in secrets if s in dump] == []
    templates = [r[0] for r in _private(settings, "SELECT template FROM coordinated_campaigns ORDER BY 1")]
    assert templates  # the campaigns were written, and the digests above are unchanged
    texts = safety_data.REVIEWS + safety_data.SEO + templates
    assert [t for t in texts if t.lower() in dump.lower()] == []


def test_run_is_logged_and_metadata_holds_no_identifiers(safety_run):
    settings, result, _, logs = safety_run
    runs = _private(settings, "SELECT asset, partition_date, operator, os_user, authorised, reason FROM safety_runs "
                              "WHERE asset IN ('coordinated_campaigns', 'coordinated_use', 'safety_clusters') "
                              "ORDER BY asset")
    assert [(r[0], r[1], r[2], r[4], r[5]) for r in runs] == [
        (asset, DAY, OPERATOR, True, "authorised")
        for asset in ("coordinated_campaigns", "coordinated_use", "safety_clusters")]
    assert all(r[3] for r in runs)
    chunks = [e.message or "" for e in result.all_events] + logs
    for event in result.get_asset_materialization_events():
        chunks += [f"{k} {v.value}" for k, v in event.step_materialization_data.materialization.metadata.items()]
    dump = "\n".join(chunks)
    assert f"run by {OPERATOR}" in dump
    planted = planted_ids("review") | planted_ids("seo")
    leaked = [s for s in planted | _hashes(settings, planted) if s in dump]
    templates = [r[0] for r in _private(settings, "SELECT template FROM coordinated_campaigns ORDER BY 1")]
    assert leaked == [] and not any(t in dump for t in safety_data.REVIEWS + templates)


def test_safety_clusters_keep_what_the_thresholds_and_auditor_withheld(safety_run):
    settings, *_ = safety_run
    nodes = _private(settings, "SELECT node_id FROM hierarchy_nodes WHERE partition_date = ? ORDER BY 1", DAY)
    rows = _private(settings, "SELECT node_id, conversations, accounts, meets_thresholds, name FROM safety_clusters "
                              "WHERE partition_date = ? ORDER BY node_id", DAY)
    suppressed = {r[0] for r in _private(settings, "SELECT node_id FROM cluster_audit WHERE partition_date = ? "
                                                   "AND decision LIKE 'suppress%' ORDER BY 1", DAY)}
    assert [r[0] for r in rows] == [n[0] for n in nodes]  # every candidate cluster, published or not
    below = {r[0] for r in rows if not r[3]}
    assert below and below <= suppressed and all(r[4] for r in rows)
    members = dict(_private(settings, "SELECT 'b' || lpad(cluster_id::VARCHAR, 5, '0'), count(*) "
                                      "FROM base_cluster_members WHERE partition_date = ? GROUP BY 1 ORDER BY 1", DAY))
    assert all(members[node] == n for node, n, *_ in rows if node.startswith("b"))


def test_cli_report_for_authorised_review(safety_run, monkeypatch, capsys):
    from clio_dagster.cli import main

    settings, *_ = safety_run
    monkeypatch.setenv("CLIO_HOME", str(settings.home))
    assert main(["safety", "report", "--date", DAY.isoformat()]) == 2  # safety mode off in this environment
    monkeypatch.setenv("CLIO_SAFETY_MODE", "1")
    monkeypatch.setenv("CLIO_SAFETY_OPERATOR", OPERATOR)
    capsys.readouterr()
    assert main(["safety", "report", "--date", DAY.isoformat()]) == 0
    report = capsys.readouterr().out
    reviews = _hashes(settings, planted_ids("review"))
    lines = [x for x in report.splitlines() if all(h in x for h in reviews)]
    # The reviews' accounts: once as a campaign, once as its near-identical group.
    assert [x[:3] for x in lines] == ["- c", "- g"] and "PRIVATE" in report
    assert "## Campaigns: many accounts, one template (4, window 2023-01-30 to 2023-02-05)" in report
    assert f"| {DAY:%m-%d}: 30 (30 acc.) | How do I bake {{…}} bread {{…}} a {{…}} |" in report
    assert ("clio safety report", OPERATOR, True) in _private(
        settings, "SELECT asset, operator, authorised FROM safety_runs ORDER BY run_at")


# ------------------------------------------------------------------------------------------ campaigns


def test_templated_groups_are_campaigns_holding_their_near_identical_group(safety_run):
    settings, result, *_ = safety_run
    campaigns = _private(settings, "SELECT campaign_id, accounts, conversations, days, template, "
                                   "near_duplicate_groups, account_hashes, conversation_ids FROM coordinated_campaigns "
                                   "WHERE partition_date = ? ORDER BY campaign_id", DAY)
    by_group = {}
    for group in ("review", "harm", "bread", "resume", "seo"):
        ids = planted_ids(group)
        by_group[group] = [c for c in campaigns if ids & set(c[7])]
    # The near-identical reviews and the 2- and 3-slot templates are one campaign each; the 2-account SEO
    # spam is too few accounts. "How can I poison my {…} {…}" keeps 5 fixed words, below campaign_min_words
    # (at 5, generic openings such as "What do you think of {…}" become campaigns): only the requests whose
    # manner starts with "without" share 6 and are found, a part of it.
    assert all(len(by_group[g]) == 1 for g in ("review", "bread", "resume", "harm")) and by_group["seo"] == []
    harm = by_group["harm"][0]
    assert harm[1] == 12 and harm[4] == "How can I poison my {…} without {…}"
    review = by_group["review"][0]
    assert review[1] == 30 and set(review[6]) == _hashes(settings, planted_ids("review"))
    groups = _private(settings, "SELECT group_id, conversation_ids FROM coordinated_groups WHERE partition_date = ? "
                                "ORDER BY group_id", DAY)
    review_group = next(g for g, ids in groups if planted_ids("review") <= set(ids))
    assert f"{DAY}/{review_group}" in review[5]
    bread = by_group["bread"][0]
    assert bread[1] == 30 and bread[4] == "How do I bake {…} bread {…} a {…}" and bread[3] == 1
    days = _private(settings, "SELECT campaign_id, sum(conversations) FROM campaign_days WHERE partition_date = ? "
                              "GROUP BY campaign_id ORDER BY campaign_id", DAY)
    assert days == [(c[0], c[2]) for c in campaigns]
    meta = result.asset_materializations_for_node("coordinated_campaigns")[0].metadata
    assert meta["campaigns"].value == len(campaigns) == 4


def test_a_campaign_over_three_days_is_one_finding_in_dagster(tmp_path):
    """Each day runs ingest to campaigns in its own Dagster run; the last day's window holds the whole
    campaign once, with its per-day counts, under the id it had on the first day."""
    from clio_dagster.assets import safety_job_assets
    from clio_dagster.evaluation.campaigns import TWO_SLOTS, planted_records
    from tests.test_pipeline import _sample_records

    days = [date(2023, 2, 5), date(2023, 2, 6), date(2023, 2, 7)]
    settings = safety_data.settings_for(tmp_path / "clio", safety_mode=True)
    planted = planted_records(TWO_SLOTS, accounts=30, per_account=2, days=days, seed=7)
    for day in days:
        safety_data.write_jsonl(settings.landing_dir / day.isoformat() / "records.jsonl",
                                _sample_records(day)[:40] + [r for r in planted if r["timestamp"].startswith(str(day))])
    instance = dg.DagsterInstance.ephemeral()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLIO_SAFETY_OPERATOR", OPERATOR)
        for day in days:
            result = safety_data.materialize(settings, safety_job_assets(settings.campaign_window_days), instance,
                                             partition_key=day.isoformat())
            assert result.success
    planted_ids_ = {r["id"] for r in planted}
    rows = _private(settings, "SELECT partition_date, campaign_id, first_day, last_day, days, conversation_ids "
                              "FROM coordinated_campaigns ORDER BY partition_date, campaign_id")
    holding = [r for r in rows if planted_ids_ & set(r[5])]
    assert [r[0] for r in holding] == days  # one campaign per window, on each day
    assert len({r[1] for r in holding}) == 1  # the same id from its first day on
    last = holding[-1]
    assert (last[2], last[3], last[4]) == (days[0], days[-1], 3) and len(planted_ids_ & set(last[5])) >= 54
    per_day = _private(settings, "SELECT day, conversations FROM campaign_days WHERE partition_date = ? "
                                 "AND campaign_id = ? ORDER BY day", days[-1], last[1])
    expected = [(d, sum(1 for r in planted if r["timestamp"].startswith(str(d)))) for d in days]
    assert [d for d, _ in per_day] == days and all(n >= e * 0.9 for (_, n), (_, e) in zip(per_day, expected))
