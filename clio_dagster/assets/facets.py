"""facets: Clio's per-conversation facets through the LLM interface, plus computed facets."""


import time
from collections import Counter

import dagster as dg
import pyarrow as pa

from clio_dagster.core.records import Conversation, Message
from clio_dagster.core.summarize import computed_facets
from clio_dagster.partitions import daily_partitions
from clio_dagster.resources import LLMResource, WarehouseResource, partition_date
from clio_dagster.storage import query_arrow, load_sql, replace_partition, transaction


def read_partition_conversations(warehouse: WarehouseResource, day) -> tuple[list[Conversation], list[str]]:
    """The day's accepted conversations (ordered by id) and their users' keyed hashes."""
    with warehouse.get().connect("private") as con:
        rows = query_arrow(con, load_sql("select_partition_conversations.sql"), [day]).to_pylist()
    conversations = [
        Conversation(
            conversation_id=row["conversation_id"],
            timestamp=row["conversation_ts"],
            messages=tuple(Message(role=m["role"], text=m["text"]) for m in row["messages"]),
        )
        for row in rows
    ]
    return conversations, [row["user_hash"] for row in rows]


@dg.asset(
    partitions_def=daily_partitions,
    group_name="facets",
    kinds={"duckdb"},
    owners=["team:clio"],
    deps=["raw_conversations"],
    pool="llm",
)
def facets(context: dg.AssetExecutionContext, llm: LLMResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Request summary, task, language and concern per conversation (one backend call covers all facets),
    plus turn counts and message lengths computed without an LLM."""
    started = time.perf_counter()
    day = partition_date(context)
    conversations, user_hashes = read_partition_conversations(warehouse, day)
    backend = llm.get()
    results = backend.extract_facets(conversations)
    computed = [computed_facets(c) for c in conversations]

    table = pa.table(
        {
            "partition_date": pa.array([day] * len(conversations), pa.date32()),
            "conversation_id": [c.conversation_id for c in conversations],
            "user_hash": user_hashes,
            "request": [r.request for r in results],
            "task": pa.array([r.task for r in results], pa.string()),
            "language": [r.language for r in results],
            "language_code": [r.language_code for r in results],
            "language_confidence": pa.array([r.language_confidence for r in results], pa.float64()),
            "concerning": pa.array([r.concerning for r in results], pa.int32()),
            "n_turns": pa.array([c["n_turns"] for c in computed], pa.int32()),
            "n_user_turns": pa.array([c["n_user_turns"] for c in computed], pa.int32()),
            "user_chars": pa.array([c["user_chars"] for c in computed], pa.int64()),
            "assistant_chars": pa.array([c["assistant_chars"] for c in computed], pa.int64()),
            "redactions": pa.array([r.redactions for r in results], pa.int32()),
            "summary_truncated": pa.array([r.summary_truncated for r in results], pa.bool_()),
            "backend": [backend.name] * len(results),
            "method": [r.method for r in results],
        }
    )
    with warehouse.get().connect("private") as con, transaction(con):
        written = replace_partition(con, "facets", day, table)

    languages = Counter(r.language for r in results)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "llm_backend": backend.name,
            "heuristic": backend.heuristic,
            "method": results[0].method if results else "",
            "pii_redactions": sum(r.redactions for r in results),
            "summaries_with_redactions": sum(1 for r in results if r.redactions),
            "languages": dict(languages.most_common(10)),
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
