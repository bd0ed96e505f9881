"""A day's facets and summary embeddings spread over workers (CLIO_DAY_SHARDS >= 2): graph-backed assets with the
same keys replace `facets` and `summary_embeddings`, each fanning the day out into shard steps that a distributed
executor (Celery, Kubernetes) runs at once, then one step that assembles the day.

Fan-out inside the graph rather than multi-partitions (day × shard): a backfill or a scheduled run stays one run
per day, so the UI's partition grid, the schedule and the queue's one-writer-per-day limit are unchanged, and
clustering, naming, hierarchy and publishing read a whole day with no partition mapping.

- facets: shard i of n summarises slice i of the day's conversations in id order (core/sharding.py) into the
  staging table facet_shards; the assembling step checks that every shard finished, then replaces the day's
  facets from them in one transaction (rows in id order, as one step writes them) and clears the staging rows.
- summary_embeddings: shard i encodes slice i of the day's encoding batches (core/embedding_cache.py: the same
  batches one step encodes, so every vector is bit for bit the same) into the embedding cache; the assembling
  step is the unsharded asset's own code, which then finds every vector cached.

An unchanged day is reused as without shards: each shard sees the stored result and does nothing."""

import dagster as dg
import duckdb

from clio_dagster.assets.daily import EMBEDS, daily_graph_asset, retry_write_conflicts
from clio_dagster.assets.embeddings import (clustered_texts, embeddings_fingerprint, encoding_metadata,
                                            write_summary_embeddings)
from clio_dagster.assets.facets import facet_metadata, facets_fingerprint, summarise_day
from clio_dagster.assets.reuse import record_outputs, stored_result
from clio_dagster.core.embedding_cache import embed_with_cache
from clio_dagster.resources import (EmbedderResource, LLMResource, ProgressResource, WarehouseResource, llm_store,
                                    partition_date)
from clio_dagster.storage import (WarehouseError, query_arrow, replace_partition, replace_shard,
                                  transaction)

# Failures of shard i are kept under this task until the day is assembled, then under the task itself.
FACETS_TASK = "extract_facets"


def _shard_task(shard: int) -> str:
    return f"{FACETS_TASK}#{shard}"


def _facets_shard(shard: int, shards: int, pool: str | None) -> dg.OpDefinition:
    @dg.op(name=f"facets_shard_{shard}", ins={"raw_conversations": dg.In(dg.Nothing)}, out=dg.Out(dg.Nothing),
           pool=pool)
    @retry_write_conflicts
    def facets_shard(context: dg.OpExecutionContext, llm: LLMResource, warehouse: WarehouseResource,
                     progress: ProgressResource, embedder: EmbedderResource) -> None:
        day = partition_date(context)
        store = llm_store(context, warehouse, asset="facets", part=f"shard {shard} of {shards}")
        backend = llm.get(store, stage="facets")
        if backend.deterministic:
            with warehouse.get().connect("private") as con:
                if stored_result(con, facets_fingerprint(con, llm, day, embedder)) is not None:
                    context.add_output_metadata({"reused": True})
                    return
        with progress.start(context, f"facets shard {shard + 1}/{shards}", unit="conversations",
                            live=backend.progress_counters) as report:
            summarised = summarise_day(llm, backend, warehouse, day, (shard, shards), report, embedder)
        store.replace_failures(_shard_task(shard), [(f.item_id, f.reason, f.detail) for f in summarised.failures])
        rows = summarised.table.append_column("shard", [[shard] * summarised.table.num_rows])
        with warehouse.get().connect("private") as con, transaction(con):
            replace_shard(con, "facet_shards", day, shard, rows)
            con.execute("DELETE FROM facet_shard_runs WHERE partition_date = ? AND shard = ?", [day, shard])
            con.execute("INSERT INTO facet_shard_runs VALUES (?, ?, ?, ?, ?)",
                        [day, shard, shards, summarised.read, summarised.screened_out])
        context.add_output_metadata({"conversations": summarised.read, "rows": summarised.table.num_rows,
                                     "screened_out": summarised.screened_out, "failed": len(summarised.failures),
                                     "reused": False, **backend.usage_metadata()})

    return facets_shard


def _assemble_facets(con: duckdb.DuckDBPyConnection, day, shards: int):
    """The day's facet rows and failure reasons from its shards, and how many conversations the screener left
    out; refused unless all `shards` shards of this split finished."""
    finished = con.execute("SELECT shard, screened_out FROM facet_shard_runs WHERE partition_date = ? AND shards = ? "
                           "ORDER BY shard", [day, shards]).fetchall()
    missing = sorted(set(range(shards)) - {shard for shard, _ in finished})
    if missing:
        raise WarehouseError(f"The facets of {day} cannot be assembled: shard(s) {missing} of {shards} did not "
                             "finish. Re-run the day.")
    # Rows of shards beyond this split (left by an earlier, larger split that did not finish) do not count.
    table = query_arrow(con, "SELECT * EXCLUDE (shard) FROM facet_shards WHERE partition_date = ? AND shard < ? "
                             "ORDER BY conversation_id", [day, shards])
    reasons = [r[0] for r in con.execute(
        "SELECT reason FROM llm_failures WHERE partition_date = ? AND list_contains(?, task) ORDER BY item_id",
        [day, [_shard_task(i) for i in range(shards)]]).fetchall()]
    return table, reasons, sum(screened_out for _, screened_out in finished)


def _usage(con: duckdb.DuckDBPyConnection, run_id: str, day) -> dict:
    """What this run's shards spent on the LLM for the day's facets (from llm_usage)."""
    calls, input_tokens, output_tokens, cost = con.execute(
        "SELECT count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), coalesce(sum(cost_usd), 0) "
        "FROM llm_usage WHERE run_id = ? AND asset = 'facets' AND partition_date = ?", [run_id, day]).fetchone()
    return {"llm_calls": calls, "llm_input_tokens": input_tokens, "llm_output_tokens": output_tokens,
            "llm_cost_usd": round(cost, 6)}


def _facets_assembly(shards: int) -> dg.OpDefinition:
    @dg.op(name="facets_assembly", ins={f"shard_{i}": dg.In(dg.Nothing) for i in range(shards)},
           out=dg.Out(dg.Nothing))
    @retry_write_conflicts
    def facets_assembly(context: dg.OpExecutionContext, llm: LLMResource, warehouse: WarehouseResource,
                        embedder: EmbedderResource) -> None:
        day = partition_date(context)
        backend = llm.get(llm_store(context, warehouse), stage="facets")
        with warehouse.get().connect("private") as con:
            fingerprint = facets_fingerprint(con, llm, day, embedder)
            stored = stored_result(con, fingerprint) if backend.deterministic else None
        if stored is not None:
            context.add_output_metadata(dict(stored.metadata))
            return
        with warehouse.get().connect("private") as con, transaction(con):
            table, reasons, screened_out = _assemble_facets(con, day, shards)
            replace_partition(con, "facets", day, table)
            con.execute("DELETE FROM llm_failures WHERE partition_date = ? AND task = ?", [day, FACETS_TASK])
            con.execute("UPDATE llm_failures SET task = ? WHERE partition_date = ? AND list_contains(?, task)",
                        [FACETS_TASK, day, [_shard_task(i) for i in range(shards)]])
            con.execute("DELETE FROM llm_failures WHERE partition_date = ? AND task LIKE ?", [day, f"{FACETS_TASK}#%"])
            for staging in ("facet_shards", "facet_shard_runs"):
                con.execute(f"DELETE FROM {staging} WHERE partition_date = ?", [day])
            if backend.deterministic:
                record_outputs(con, fingerprint, ["facets"])
            usage = _usage(con, context.run_id, day) if backend.usage_metadata() else {}
        context.add_output_metadata({**facet_metadata(table, reasons, screened_out, backend), "shards": shards,
                                     **usage})

    return facets_assembly


def _embeddings_shard(shard: int, shards: int) -> dg.OpDefinition:
    @dg.op(name=f"summary_embeddings_shard_{shard}", ins={"facets": dg.In(dg.Nothing)}, out=dg.Out(dg.Nothing),
           tags=EMBEDS)
    @retry_write_conflicts
    def summary_embeddings_shard(context: dg.OpExecutionContext, embedder: EmbedderResource,
                                 warehouse: WarehouseResource, progress: ProgressResource) -> None:
        day = partition_date(context)
        with warehouse.get().connect("private") as con:
            if stored_result(con, embeddings_fingerprint(con, embedder, day)) is not None:
                context.add_output_metadata({"reused": True})
                return
            texts = clustered_texts(con, embedder, day).column("request").to_pylist()
        with progress.start(context, f"summary_embeddings shard {shard + 1}/{shards}", unit="texts") as report:
            result = embed_with_cache(texts, embedder.get(), warehouse.get(), part=(shard, shards), report=report)
        context.add_output_metadata({"texts": len(set(result.hashes)), **encoding_metadata(result), "reused": False})

    return summary_embeddings_shard


def _embeddings_assembly(shards: int) -> dg.OpDefinition:
    @dg.op(name="summary_embeddings_assembly", ins={f"shard_{i}": dg.In(dg.Nothing) for i in range(shards)},
           out=dg.Out(dg.Nothing), tags=EMBEDS)
    @retry_write_conflicts
    def summary_embeddings_assembly(context: dg.OpExecutionContext, embedder: EmbedderResource,
                                    warehouse: WarehouseResource) -> None:
        context.add_output_metadata({**write_summary_embeddings(partition_date(context), embedder, warehouse),
                                     "shards": shards})

    return summary_embeddings_assembly


def _fanned_out(original: dg.AssetsDefinition, upstream: str, shard_ops: list[dg.OpDefinition],
                assembly: dg.OpDefinition) -> dg.AssetsDefinition:
    """`original`'s key, group, kinds, description and automation, computed by `shard_ops` (each after
    `upstream`) and then `assembly`."""
    spec = original.specs_by_key[original.key]

    @daily_graph_asset(name=original.key.path[-1], group_name=spec.group_name, kinds=set(spec.kinds),
                       ins={"upstream": dg.AssetIn(key=upstream, dagster_type=dg.Nothing)},
                       description=spec.description, automation_condition=spec.automation_condition)
    def fanned_out(upstream):
        return assembly(**{f"shard_{i}": op(upstream) for i, op in enumerate(shard_ops)})

    return fanned_out


def sharded_facets(original: dg.AssetsDefinition, shards: int, pool: str | None) -> dg.AssetsDefinition:
    return _fanned_out(original, "raw_conversations", [_facets_shard(i, shards, pool) for i in range(shards)],
                       _facets_assembly(shards))


def sharded_summary_embeddings(original: dg.AssetsDefinition, shards: int) -> dg.AssetsDefinition:
    return _fanned_out(original, "facets", [_embeddings_shard(i, shards) for i in range(shards)],
                       _embeddings_assembly(shards))


def with_day_shards(assets: list[dg.AssetsDefinition], shards: int, llm_pool: str | None) -> list[dg.AssetsDefinition]:
    """`assets` with facets and summary_embeddings fanned out into `shards` shards (unchanged for 1). `llm_pool`:
    the facet shards' pool (None when the backend makes no API calls, so that shards run at once)."""
    if shards == 1:
        return assets
    sharded = []
    for asset in assets:
        if asset.key == dg.AssetKey("facets"):
            asset = sharded_facets(asset, shards, llm_pool)
        elif asset.key == dg.AssetKey("summary_embeddings"):
            asset = sharded_summary_embeddings(asset, shards)
        sharded.append(asset)
    return sharded
