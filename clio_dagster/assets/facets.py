"""facets: Clio's per-conversation facets through the LLM interface, plus computed facets."""


import time
from collections import Counter

import dagster as dg
import pyarrow as pa

from clio_dagster.core.records import Conversation, Message
from clio_dagster.core.screening import regex_screen
from clio_dagster.core.summarize import computed_facets
from clio_dagster.llm import TaskFailure
from clio_dagster.llm.claude import ClaudeBackend
from clio_dagster.partitions import daily_partitions
from clio_dagster.resources import LLMResource, WarehouseResource, llm_store, partition_date
from clio_dagster.settings import SettingsError
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


def _screen(llm: LLMResource, backend, conversations: list[Conversation]) -> list[bool]:
    if llm.screen_regex:
        return regex_screen(conversations, llm.screen_regex)
    if llm.screen_question:
        if not isinstance(backend, ClaudeBackend):
            raise SettingsError(
                "CLIO_SCREEN_QUESTION needs an LLM (CLIO_LLM_BACKEND=claude); offline, use CLIO_SCREEN_REGEX."
            )
        answers = backend.screen(conversations, llm.screen_question)
        # A conversation the screener could not judge is left out, not guessed in.
        return [answer is True for answer in answers]
    return [True] * len(conversations)


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
    plus turn counts and message lengths computed without an LLM. A screener (regex or yes/no question)
    can restrict the day to a targeted subset; items the LLM could not answer are recorded in llm_failures."""
    started = time.perf_counter()
    day = partition_date(context)
    all_conversations, all_users = read_partition_conversations(warehouse, day)
    store = llm_store(context, warehouse)
    backend = llm.get(store)
    keep = _screen(llm, backend, all_conversations)
    conversations = [c for c, k in zip(all_conversations, keep) if k]
    user_hashes = [u for u, k in zip(all_users, keep) if k]
    outcomes = backend.extract_facets(conversations)
    failures = [o for o in outcomes if isinstance(o, TaskFailure)]
    store.replace_failures("extract_facets", [(f.item_id, f.reason, f.detail) for f in failures])
    rows = [(c, u, o) for c, u, o in zip(conversations, user_hashes, outcomes) if not isinstance(o, TaskFailure)]
    computed = [computed_facets(c) for c, _, _ in rows]
    results = [o for _, _, o in rows]

    table = pa.table(
        {
            "partition_date": pa.array([day] * len(rows), pa.date32()),
            "conversation_id": [c.conversation_id for c, _, _ in rows],
            "user_hash": [u for _, u, _ in rows],
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
            "input_truncated": pa.array([r.input_truncated for r in results], pa.bool_()),
            "backend": [backend.name] * len(results),
            "method": [r.method for r in results],
        }
    )
    with warehouse.get().connect("private") as con, transaction(con):
        written = replace_partition(con, "facets", day, table)

    failure_reasons = Counter(f.reason for f in failures)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "llm_backend": backend.name,
            "heuristic": backend.heuristic,
            "method": results[0].method if results else "",
            "screened_out": len(all_conversations) - len(conversations),
            "failed": len(failures),
            "failure_reasons": dict(sorted(failure_reasons.items())),
            "inputs_truncated": sum(1 for r in results if r.input_truncated),
            "pii_redactions": sum(r.redactions for r in results),
            "summaries_with_redactions": sum(1 for r in results if r.redactions),
            "languages": dict(Counter(r.language for r in results).most_common(10)),
            **backend.usage_metadata(),
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
