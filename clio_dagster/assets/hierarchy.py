"""hierarchy (candidate tree, private staging) and privacy_audit (the auditor, one regeneration, and the
threshold decisions at every level): the write-audit part of write-audit-publish."""

from collections import Counter, defaultdict

import dagster as dg
import pyarrow as pa

from clio_dagster.assets.daily import EMBEDS, daily_asset
from clio_dagster.core.embedding_cache import embed_with_cache
from clio_dagster.assets.reuse import input_fingerprint, record_outputs, stored_result
from clio_dagster.core.audit import rare_terms_of
from clio_dagster.core.hierarchy import Hierarchy, Node, build_hierarchy
from clio_dagster.core.taxonomy import taxonomy_digest
from clio_dagster.core.privacy import Thresholds
from clio_dagster.core.publication import AuditedName, decide
from clio_dagster.llm.base import Member, Regeneration
from clio_dagster.resources import (
    EmbedderResource,
    LLMResource,
    PipelineConfig,
    ProgressResource,
    WarehouseResource,
    llm_store,
    partition_date,
)
from clio_dagster.storage import load_sql, query_arrow, replace_partition, transaction


def base_node_id(cluster_id: int) -> str:
    return f"b{cluster_id:05d}"


# What the heuristic hierarchy and auditor read (their input fingerprints).
HIERARCHY_READS = {
    "cluster_names": ("cluster_id", "name", "description", "terms", "taxonomy_id", "method"),
    "base_clusters": ("cluster_id", "conversations"),
}
PRIVACY_AUDIT_READS = {
    "hierarchy_nodes": ("level", "node_id", "parent_id", "name", "description", "terms", "conversations"),
    "base_cluster_members": ("cluster_id", "conversation_id"),
    "facets": ("conversation_id", "user_hash", "request", "language_code"),
    "cluster_names": ("cluster_id", "sample_ids", "taxonomy_id", "taxonomy_similarity", "taxonomy_margin",
                      "taxonomy_matched"),
    "base_clusters": ("cluster_id", "conversations", "unique_users"),
}


@daily_asset(
    group_name="naming",
    deps=["cluster_names"],
    pool="llm",
    op_tags=EMBEDS,
)
def hierarchy(
    context: dg.AssetExecutionContext,
    pipeline: PipelineConfig,
    llm: LLMResource,
    embedder: EmbedderResource,
    warehouse: WarehouseResource,
    progress: ProgressResource,
) -> dg.MaterializeResult:
    """Clio's hierarchy over the named base clusters: level sizes by the geometric ratio, parents proposed,
    de-duplicated, assigned and renamed by the LLM (offline: k-means on name embeddings, names from terms).
    Candidate names only: nothing here is public until privacy_audit and published_clusters pass it."""
    day = partition_date(context)
    backend = llm.get(llm_store(context, warehouse), stage="hierarchy")
    with warehouse.get().connect("private") as con:
        if backend.deterministic:
            fingerprint = input_fingerprint(con, "hierarchy", day, HIERARCHY_READS,
                                            [pipeline, llm, embedder, taxonomy_digest(llm.taxonomy)])
            stored = stored_result(con, fingerprint)
            if stored is not None:
                return stored
        rows = query_arrow(con, load_sql("select_base_nodes.sql"), [day]).to_pylist()
    base = [
        Node(base_node_id(r["cluster_id"]), 0, r["name"], r["description"], r["conversations"], tuple(r["terms"]),
             r["taxonomy_id"])
        for r in rows
    ]
    builder = backend.parent_builder()
    def embed(texts: list[str]):
        return embed_with_cache(texts, embedder.get(), warehouse.get()).matrix

    # An LLM's requests (proposals, de-duplication, assignments, renames at each level) are counted as they are
    # found, so the total grows level by level; the heuristic builder reports nothing.
    with progress.start(context, "hierarchy", unit="requests", live=backend.progress_counters) as report, \
            backend.reporting(report):
        tree = build_hierarchy(base, embed, builder, pipeline.hierarchy_levels, pipeline.hierarchy_top,
                               pipeline.seed)
    # Base names as the namer wrote them (its backend may differ from the hierarchy's).
    method = {0: rows[0]["method"] if rows else "", **tree.methods}
    table = pa.table(
        {
            "partition_date": pa.array([day] * len(tree.nodes), pa.date32()),
            "level": pa.array([n.level for n in tree.nodes], pa.int32()),
            "node_id": [n.node_id for n in tree.nodes],
            "parent_id": pa.array([tree.parent_of.get(n.node_id) for n in tree.nodes], pa.string()),
            "name": [n.name for n in tree.nodes],
            "description": [n.description for n in tree.nodes],
            "terms": pa.array([list(n.terms) for n in tree.nodes], pa.list_(pa.string())),
            "conversations": pa.array([n.size for n in tree.nodes], pa.int32()),
            "method": [method[n.level] for n in tree.nodes],
            "taxonomy_id": pa.array([n.taxonomy_id for n in tree.nodes], pa.string()),
        }
    )
    with warehouse.get().connect("private") as con, transaction(con):
        written = replace_partition(con, "hierarchy_nodes", day, table)
        if backend.deterministic:
            record_outputs(con, fingerprint, ["hierarchy_nodes"])
    per_level = Counter(n.level for n in tree.nodes)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "nodes_per_level": {str(k): v for k, v in sorted(per_level.items())},
            "method": builder.method,
            "heuristic": backend.heuristic,
            **backend.usage_metadata(),
            "reused": False,
        }
    )


@daily_asset(
    group_name="publish",
    deps=["hierarchy"],
    pool="llm",
)
def privacy_audit(
    context: dg.AssetExecutionContext, pipeline: PipelineConfig, llm: LLMResource, warehouse: WarehouseResource,
    progress: ProgressResource,
) -> dg.MaterializeResult:
    """Every candidate name at every level rated 1–5 by the privacy auditor; a failing name is regenerated
    once, then shown under its parent's generic name or suppressed; then the aggregation thresholds at every
    level (a parent counts only its published children). One row per node in cluster_audit says why."""
    day = partition_date(context)
    backend = llm.get(llm_store(context, warehouse), stage="audit")
    with warehouse.get().connect("private") as con:
        if backend.deterministic:
            fingerprint = input_fingerprint(con, "privacy_audit", day, PRIVACY_AUDIT_READS,
                                            [pipeline, llm, taxonomy_digest(llm.taxonomy)])
            stored = stored_result(con, fingerprint)
            if stored is not None:
                return stored
        nodes = query_arrow(con, "SELECT * FROM hierarchy_nodes WHERE partition_date = ? ORDER BY level, node_id",
                            [day]).to_pylist()
        membership = con.execute(load_sql("select_members_with_users.sql"), [day]).fetchall()
        named = con.execute(
            "SELECT cluster_id, sample_ids, taxonomy_id, taxonomy_similarity, taxonomy_matched, taxonomy_margin "
            "FROM cluster_names "
            "WHERE partition_date = ? ORDER BY cluster_id", [day]
        ).fetchall()
        samples = {cluster_id: ids for cluster_id, ids, *_ in named}
        leaf_of = {cluster_id: leaf for cluster_id, _, *leaf in named}
        unnamed = con.execute(load_sql("select_unnamed_clusters.sql"), [day]).fetchall()

    user_of = [user for _, _, user, _, _ in membership]
    members: dict[str, list[int]] = defaultdict(list)
    for index, (cluster_id, *_) in enumerate(membership):
        members[base_node_id(cluster_id)].append(index)
    summaries = [summary for _, _, _, summary, _ in membership]
    auditor = backend.privacy_auditor(rare_terms_of(summaries, user_of, pipeline.min_unique_users))

    # An LLM auditor's requests (first audit, regenerated names, second audit) are counted as they are found.
    with progress.start(context, "privacy_audit", unit="requests", live=backend.progress_counters) as report, \
            backend.reporting(report):
        first = auditor.audit([(n["name"], n["description"]) for n in nodes])
        failing = [i for i, (rating, _) in enumerate(first) if rating < pipeline.min_audit_rating]
        regenerated = backend.regenerate(
            Regeneration(nodes, failing, first, [Member(*row) for row in membership], samples, leaf_of,
                         pipeline.min_unique_users),
            auditor,
        ) if failing else {}
        for i in failing:  # a node with no second name keeps its first, and stays unpublished
            regenerated.setdefault(i, (nodes[i]["name"], nodes[i]["description"]))
        second = dict(zip(failing, auditor.audit([regenerated[i] for i in failing]))) if failing else {}

    audits: dict[str, AuditedName] = {}
    for i, node in enumerate(nodes):
        if i in second and second[i][0] >= pipeline.min_audit_rating:
            name, description = regenerated[i]
            audits[node["node_id"]] = AuditedName(name, description, *second[i])
        else:
            audits[node["node_id"]] = AuditedName(node["name"], node["description"], *(second.get(i) or first[i]))
    tree = Hierarchy(
        nodes=[Node(n["node_id"], n["level"], n["name"], n["description"], n["conversations"]) for n in nodes],
        parent_of={n["node_id"]: n["parent_id"] for n in nodes if n["parent_id"]},
    )
    decisions = decide(tree, audits, members, user_of,
                       Thresholds(pipeline.min_unique_users, pipeline.min_conversations), pipeline.min_audit_rating)

    rows = []
    for i, node in enumerate(nodes):
        d = decisions[node["node_id"]]
        cluster_id = int(node["node_id"][1:]) if node["level"] == 0 else None
        rows.append({
            "partition_date": day, "level": node["level"], "node_id": node["node_id"],
            "sample_ids": list(samples.get(cluster_id, []) if cluster_id is not None else []),
            "proposed_name": node["name"], "proposed_description": node["description"],
            "rating": first[i][0], "reason": first[i][1],
            "regenerated_name": regenerated[i][0] if i in second else None,
            "regenerated_rating": second[i][0] if i in second else None,
            "regenerated_reason": second[i][1] if i in second else None,
            "final_name": d.name or None, "final_description": d.description or None,
            "decision": str(d.decision), "conversations": d.conversations, "unique_users": d.unique_users,
            "public_parent_id": d.public_parent_id,
        })
    for cluster_id, conversations, users in unnamed:
        rows.append({
            "partition_date": day, "level": 0, "node_id": base_node_id(cluster_id),
            "sample_ids": list(samples.get(cluster_id, [])), "proposed_name": "", "proposed_description": "",
            "rating": 0, "reason": "no valid name from the namer", "regenerated_name": None,
            "regenerated_rating": None, "regenerated_reason": None, "final_name": None, "final_description": None,
            "decision": "suppress_unnamed", "conversations": conversations, "unique_users": users,
            "public_parent_id": None,
        })
    table = pa.Table.from_pylist(rows, schema=_AUDIT_SCHEMA)
    with warehouse.get().connect("private") as con, transaction(con):
        written = replace_partition(con, "cluster_audit", day, table)
        if backend.deterministic:
            record_outputs(con, fingerprint, ["cluster_audit"])
    outcome = Counter(r["decision"] for r in rows)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "decisions": dict(sorted(outcome.items())),
            "failed_first_audit": len(failing),
            "passed_after_regeneration": sum(1 for i in failing if second[i][0] >= pipeline.min_audit_rating),
            "min_audit_rating": pipeline.min_audit_rating,
            "auditor": auditor.method,
            **backend.usage_metadata(),
            "reused": False,
        }
    )


_AUDIT_SCHEMA = pa.schema([
    ("partition_date", pa.date32()), ("level", pa.int32()), ("node_id", pa.string()),
    ("sample_ids", pa.list_(pa.string())), ("proposed_name", pa.string()), ("proposed_description", pa.string()),
    ("rating", pa.int32()), ("reason", pa.string()), ("regenerated_name", pa.string()),
    ("regenerated_rating", pa.int32()), ("regenerated_reason", pa.string()), ("final_name", pa.string()),
    ("final_description", pa.string()), ("decision", pa.string()), ("conversations", pa.int32()),
    ("unique_users", pa.int32()), ("public_parent_id", pa.string()),
])
