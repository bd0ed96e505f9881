"""Safety mode (Clio §4): safety_clusters (every candidate cluster, thresholds and auditor off),
coordinated_use (few-account clusters, near-identical requests across many accounts) and coordinated_campaigns
(many accounts sending requests from one template, over a trailing window of days).

Both write to the PRIVATE DB only and are refused unless safety mode is switched on in the settings AND the
run's environment names its operator (clio_dagster/core/safety_mode.py); every attempt is logged in
`safety_runs`. Dagster metadata carries counts only: no names, requests, ids or account hashes.
"""

import warnings
from collections import Counter, defaultdict
from datetime import timedelta

import dagster as dg
import numpy as np
import pyarrow as pa

from clio_dagster.assets.daily import daily_asset
from clio_dagster.core.vectors import arrow_to_vectors
from clio_dagster.assets.hierarchy import base_node_id
from clio_dagster.core.campaigns import CampaignParams, Request, find_campaigns
from clio_dagster.core.coordination import few_account_clusters, near_duplicate_groups
from clio_dagster.core.membership import members_by_node
from clio_dagster.core.privacy import Thresholds
from clio_dagster.core.safety_mode import SafetyRun, check_safety_mode, refusal
from clio_dagster.resources import PipelineConfig, WarehouseResource, partition_date
from clio_dagster.resources.safety import SafetyConfig
from clio_dagster.storage import Warehouse, load_sql, query_arrow, replace_partition, transaction


def record_safety_run(store: Warehouse, run: SafetyRun, run_id: str, step: str, day, namespace: str | None) -> None:
    """Append the attempt to the private DB's `safety_runs` log (creating the safety tables if needed)."""
    with store.connect("private") as con, transaction(con):
        con.execute(load_sql("safety_schema.sql"))
        con.execute(
            "INSERT INTO safety_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run.at, run_id, step, day, namespace, run.operator or "(none)", run.os_user, run.host,
             run.authorised, run.reason],
        )


def authorise(context: dg.AssetExecutionContext, safety: SafetyConfig, warehouse: WarehouseResource) -> SafetyRun:
    """Record who asked for this safety-mode step and when, then refuse unless safety mode is fully enabled."""
    day = partition_date(context)
    run = check_safety_mode(safety.safety_mode)
    record_safety_run(warehouse.get(), run, context.run.run_id, context.asset_key.to_user_string(), day,
                      safety.namespace)
    if not run.authorised:
        raise refusal(run)
    context.log.warning(
        f"SAFETY MODE: {context.asset_key.to_user_string()} for {day} run by {run.operator} (OS user {run.os_user} "
        f"on {run.host}) at {run.at.isoformat()}; thresholds and auditor off, private DB only."
    )
    return run


def _run_metadata(run: SafetyRun) -> dict:
    return {"safety_mode": True, "operator": run.operator, "run_at": run.at.isoformat(),
            "written_to": "private DB only"}


@daily_asset(
    group_name="safety",
    deps=["hierarchy"],
)
def safety_clusters(
    context: dg.AssetExecutionContext, pipeline: PipelineConfig, safety: SafetyConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Every candidate cluster of every level with its unaudited name, conversations, accounts and concern
    distribution, without the aggregation thresholds (Clio's safety mode). Private DB only; safety mode only."""
    run = authorise(context, safety, warehouse)
    day = partition_date(context)
    with warehouse.get().connect("private") as con:
        nodes = con.execute("SELECT level, node_id, parent_id, name, description FROM hierarchy_nodes "
                            "WHERE partition_date = ? ORDER BY level, node_id", [day]).fetchall()
        conversations = con.execute(load_sql("select_published_members.sql"), [day]).fetchall()
    base_members: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(conversations):
        base_members[base_node_id(row[0])].append(index)
    members = members_by_node(base_members, {node_id: parent for _, node_id, parent, _, _ in nodes})
    thresholds = Thresholds(pipeline.min_unique_users, pipeline.min_conversations)

    rows = []
    for level, node_id, parent, name, description in nodes:
        idx = members.get(node_id, [])
        concern = Counter(conversations[i][4] for i in idx if conversations[i][4] is not None)
        scored = sum(concern.values())
        accounts = len({conversations[i][1] for i in idx})
        rows.append({
            "partition_date": day, "level": level, "node_id": node_id, "parent_id": parent, "name": name,
            "description": description, "conversations": len(idx), "accounts": accounts,
            "concerning_mean": sum(k * v for k, v in concern.items()) / scored if scored else None,
            **{f"concern_{k}": concern.get(k, 0) for k in range(1, 6)},
            "meets_thresholds": not thresholds.violations(len(idx), accounts),
        })
    with warehouse.get().connect("private") as con, transaction(con):
        written = replace_partition(con, "safety_clusters", day, pa.Table.from_pylist(rows) if rows else [])

    return dg.MaterializeResult(metadata={
        "dagster/row_count": written,
        **_run_metadata(run),
        "clusters_per_level": {str(k): v for k, v in sorted(Counter(r["level"] for r in rows).items())},
        "below_public_thresholds": sum(not r["meets_thresholds"] for r in rows),
    })


@daily_asset(
    group_name="safety",
    deps=["summary_embeddings", "cluster_names"],
)
def coordinated_use(
    context: dg.AssetExecutionContext, safety: SafetyConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Coordinated-use signals for authorised review (Clio §4.1): base clusters whose conversations come from
    few accounts for their size, and groups of at least `coordination_min_accounts` accounts sending
    near-identical requests (summary embeddings with cosine >= `coordination_similarity`, compared across the
    whole partition). Private DB only, with the accounts' keyed hashes; safety mode only."""
    run = authorise(context, safety, warehouse)
    day = partition_date(context)
    with warehouse.get().connect("private") as con:
        table = query_arrow(con, load_sql("select_coordination_inputs.sql"), [day])
        names = dict(con.execute("SELECT cluster_id, name FROM cluster_names WHERE partition_date = ? "
                                 "ORDER BY cluster_id", [day]).fetchall())
    ids = table.column("conversation_id").to_pylist()
    clusters = table.column("cluster_id").to_pylist()
    accounts = table.column("user_hash").to_pylist()
    requests = table.column("request").to_pylist()
    concern = table.column("concerning").to_pylist()
    embedding = table.column("embedding").combine_chunks()
    vectors = arrow_to_vectors(embedding) if ids else np.zeros((0, 1), np.float32)

    def mean_concern(indices) -> float | None:
        values = [concern[i] for i in indices if concern[i] is not None]
        return sum(values) / len(values) if values else None

    few = few_account_clusters(clusters, accounts, safety.coordination_min_cluster_size,
                               safety.coordination_accounts_ratio)
    cluster_rows = [{
        "partition_date": day, "node_id": base_node_id(c.cluster_id), "name": names.get(c.cluster_id, ""),
        "conversations": c.conversations, "accounts": c.accounts, "accounts_ratio": c.accounts_ratio,
        "top_account_share": c.top_account_share, "top_accounts": list(c.top_accounts),
        "concerning_mean": mean_concern([i for i, k in enumerate(clusters) if k == c.cluster_id]),
    } for c in few]

    groups = near_duplicate_groups(vectors, accounts, safety.coordination_similarity, safety.coordination_min_accounts)
    group_rows = []
    for number, group in enumerate(groups, start=1):
        member_vectors = vectors[list(group.members)]
        # The member closest to the group's mean stands for it (a request summary, private like the rest).
        central = group.members[int(np.argmax(member_vectors @ member_vectors.mean(axis=0)))]
        group_rows.append({
            "partition_date": day, "group_id": f"g{number:04d}", "accounts": group.accounts,
            "conversations": len(group.members), "min_similarity": group.min_similarity,
            "mean_similarity": group.mean_similarity,
            "base_clusters": sorted({base_node_id(clusters[i]) for i in group.members}),
            "example_request": requests[central], "concerning_mean": mean_concern(group.members),
            "account_hashes": sorted({accounts[i] for i in group.members}),
            "conversation_ids": sorted(ids[i] for i in group.members),
        })
    with warehouse.get().connect("private") as con, transaction(con):
        replace_partition(con, "coordinated_clusters", day, pa.Table.from_pylist(cluster_rows) if cluster_rows else [])
        replace_partition(con, "coordinated_groups", day, pa.Table.from_pylist(group_rows) if group_rows else [])

    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(cluster_rows) + len(group_rows),
        **_run_metadata(run),
        "conversations": len(ids),
        "few_account_clusters": len(cluster_rows),
        "near_duplicate_groups": len(group_rows),
        "largest_group_accounts": max((g.accounts for g in groups), default=0),
        "similarity_threshold": safety.coordination_similarity,
        "min_accounts": safety.coordination_min_accounts,
    })


def _window_mapping(window_days: int) -> dg.TimeWindowPartitionMapping:
    # Days before the partitions' start are simply absent, not an error (a beta parameter, stable in use).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.TimeWindowPartitionMapping(start_offset=-(window_days - 1), end_offset=0,
                                             allow_nonexistent_upstream_partitions=True)


def coordinated_campaigns_asset(window_days: int) -> dg.AssetsDefinition:
    """`coordinated_campaigns` whose lineage spans `window_days` days of coordinated_use, so a backfill runs a
    window's earlier days first (the asset reads `campaign_window_days` from the safety resource: build it
    from the same settings, as definitions.py does)."""

    @daily_asset(
        name="coordinated_campaigns",
        group_name="safety",
        deps=[dg.AssetDep("coordinated_use", partition_mapping=_window_mapping(window_days))],
    )
    def coordinated_campaigns(
        context: dg.AssetExecutionContext, safety: SafetyConfig, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Campaigns (Clio §4.1): at least `coordination_min_accounts` accounts sending requests written from
        one template, its varying parts as slots, over the `campaign_window_days` days ending at this one; the
        near-identical groups of those days merge into them. Each campaign with its accounts, conversations,
        days (per-day counts in `campaign_days`), base clusters, template and mean concern. Private DB only,
        with the accounts' keyed hashes; safety mode only."""
        run = authorise(context, safety, warehouse)
        day = partition_date(context)
        start = day - timedelta(days=safety.campaign_window_days - 1)
        with warehouse.get().connect("private") as con:
            rows = con.execute(load_sql("select_campaign_inputs.sql"), [start, day]).fetchall()
            group_rows = con.execute(
                "SELECT partition_date, group_id, conversation_ids FROM coordinated_groups "
                "WHERE partition_date BETWEEN ? AND ? ORDER BY partition_date, group_id", [start, day]).fetchall()
        requests = [Request(key=cid, day=d, account=user, text=text, concern=concern,
                            base_cluster=None if cluster is None else base_node_id(cluster))
                    for d, cid, user, text, concern, cluster in rows]
        index_of = {(r.day, r.key): i for i, r in enumerate(requests)}
        groups = [[index_of[(d, cid)] for cid in ids if (d, cid) in index_of] for d, _, ids in group_rows]
        group_names = [f"{d}/{g}" for d, g, _ in group_rows]
        params = CampaignParams(similarity=safety.campaign_similarity, min_accounts=safety.coordination_min_accounts,
                                min_words=safety.campaign_min_words)
        campaigns = find_campaigns(requests, params, groups=[g for g in groups if g])
        named_groups = [name for name, g in zip(group_names, groups) if g]

        campaign_rows, day_rows = [], []
        for c in campaigns:
            members = [requests[m] for m in c.members]
            campaign_rows.append({
                "partition_date": day, "campaign_id": c.campaign_id, "window_start": start,
                "first_day": c.first_day, "last_day": c.last_day, "days": len(c.per_day), "accounts": c.accounts,
                "conversations": len(members), "variants": c.variants, "template": c.template, "slots": c.slots,
                "template_words": c.template_words, "mean_similarity": c.mean_similarity,
                "concerning_mean": c.concerning_mean,
                "base_clusters": [f"{d}/{node}" for d, node in c.base_clusters if node is not None],
                "near_duplicate_groups": [named_groups[g] for g in c.groups],
                "account_hashes": sorted({r.account for r in members}),
                "conversation_ids": sorted(r.key for r in members),
            })
            day_rows += [{"partition_date": day, "campaign_id": c.campaign_id, "day": d, "conversations": n,
                          "accounts": a} for d, n, a in c.per_day]
        with warehouse.get().connect("private") as con, transaction(con):
            replace_partition(con, "coordinated_campaigns", day,
                              pa.Table.from_pylist(campaign_rows) if campaign_rows else [])
            replace_partition(con, "campaign_days", day, pa.Table.from_pylist(day_rows) if day_rows else [])

        return dg.MaterializeResult(metadata={
            "dagster/row_count": len(campaign_rows),
            **_run_metadata(run),
            "window": f"{start} to {day}",
            "days_with_conversations": len({r.day for r in requests}),
            "conversations": len(requests),
            "campaigns": len(campaigns),
            "campaigns_over_several_days": sum(len(c.per_day) > 1 for c in campaigns),
            "largest_campaign_accounts": max((c.accounts for c in campaigns), default=0),
            "near_duplicate_groups_merged": sum(len(c.groups) for c in campaigns),
        })

    return coordinated_campaigns
