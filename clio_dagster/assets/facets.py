"""facets: Clio's per-conversation facets through the LLM interface, plus computed facets."""


from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
import pyarrow as pa

from clio_dagster.assets.daily import daily_asset
from clio_dagster.assets.reuse import input_fingerprint, record_outputs, stored_result
from clio_dagster.core.custom_facets import answer_nearest, encode_answers
from clio_dagster.core.embedding_cache import embed_with_cache
from clio_dagster.core.progress import Progress
from clio_dagster.core.records import Conversation, Message
from clio_dagster.core.screening import regex_screen
from clio_dagster.core.sharding import shard_of
from clio_dagster.core.summarize import computed_facets
from clio_dagster.llm import TaskFailure
from clio_dagster.resources import (
    EmbedderResource,
    LLMResource,
    ProgressResource,
    WarehouseResource,
    llm_store,
    partition_date,
)
from clio_dagster.storage import load_sql, query_arrow, replace_partition, transaction

# Conversations summarised per step: bounds the raw text held in memory at any n (one page of ~5,000
# conversations is a few tens of MB); the facet rows of all pages are small and written at the end in one go.
FACETS_PAGE_SIZE = 5_000
# What facets reads of raw_conversations (its input fingerprint).
RAW_COLUMNS_READ = ("conversation_id", "user_hash", "conversation_ts", "messages")


def partition_conversation_ids(warehouse: WarehouseResource, day, shard: tuple[int, int] = (0, 1)) -> list[str]:
    """The ids of the day's accepted conversations in id order (only shard i of n of them, for `shard` (i, n))."""
    with warehouse.get().connect("private") as con:
        ids = [r[0] for r in con.execute(
            "SELECT conversation_id FROM raw_conversations WHERE partition_date = ? ORDER BY conversation_id", [day]
        ).fetchall()]
    return shard_of(ids, *shard)


def iter_partition_conversations(
    warehouse: WarehouseResource, day, page_size: int = FACETS_PAGE_SIZE, shard: tuple[int, int] = (0, 1),
    ids: list[str] | None = None,
) -> Iterator[tuple[list[Conversation], list[str]]]:
    """The day's accepted conversations in id order (only shard i of n of them, for `shard` (i, n); or those of
    `ids`, from `partition_conversation_ids`), `page_size` at a time, with their users' keyed hashes. Each page is
    read on its own short connection, so no lock is held while a page is summarised."""
    if ids is None:
        ids = partition_conversation_ids(warehouse, day, shard)
    for start in range(0, len(ids), page_size):
        page = ids[start : start + page_size]
        with warehouse.get().connect("private") as con:
            rows = query_arrow(con, load_sql("select_partition_conversations.sql"),
                               {"day": day, "first": page[0], "last": page[-1]}).to_pylist()
        conversations = [
            Conversation(
                conversation_id=row["conversation_id"],
                timestamp=row["conversation_ts"],
                messages=tuple(Message(role=m["role"], text=m["text"]) for m in row["messages"]),
            )
            for row in rows
        ]
        yield conversations, [row["user_hash"] for row in rows]


def _screen(llm: LLMResource, backend, conversations: list[Conversation]) -> list[bool]:
    if llm.screen_regex:
        return regex_screen(conversations, llm.screen_regex)
    if llm.screen_question:
        answers = backend.screen(conversations, llm.screen_question)
        # A conversation the screener could not judge is left out, not guessed in.
        return [answer is True for answer in answers]
    return [True] * len(conversations)


def _facet_table(day, conversations, user_hashes, results, backend_name: str) -> pa.Table:
    computed = [computed_facets(c) for c in conversations]
    return pa.table(
        {
            "partition_date": pa.array([day] * len(results), pa.date32()),
            "conversation_id": pa.array([c.conversation_id for c in conversations], pa.string()),
            "user_hash": pa.array(user_hashes, pa.string()),
            "request": pa.array([r.request for r in results], pa.string()),
            "task": pa.array([r.task for r in results], pa.string()),
            "language": pa.array([r.language for r in results], pa.string()),
            "language_code": pa.array([r.language_code for r in results], pa.string()),
            "language_confidence": pa.array([r.language_confidence for r in results], pa.float64()),
            "concerning": pa.array([r.concerning for r in results], pa.int32()),
            "n_turns": pa.array([c["n_turns"] for c in computed], pa.int32()),
            "n_user_turns": pa.array([c["n_user_turns"] for c in computed], pa.int32()),
            "user_chars": pa.array([c["user_chars"] for c in computed], pa.int64()),
            "assistant_chars": pa.array([c["assistant_chars"] for c in computed], pa.int64()),
            "redactions": pa.array([r.redactions for r in results], pa.int32()),
            "summary_truncated": pa.array([r.summary_truncated for r in results], pa.bool_()),
            "input_truncated": pa.array([r.input_truncated for r in results], pa.bool_()),
            "backend": pa.array([backend_name] * len(results), pa.string()),
            "method": pa.array([r.method for r in results], pa.string()),
            "custom_facets": pa.array([encode_answers(r.custom) for r in results], pa.string()),
        }
    )


@dataclass(frozen=True)
class FacetPass:
    """What summarising (some of) a day gave: facet rows, the items the LLM could not answer, and how many
    conversations were read and left out by the screener."""

    table: pa.Table
    failures: list[TaskFailure]
    read: int
    screened_out: int


def _answer_nearest_offline(llm: LLMResource, backend, embedder: EmbedderResource | None, warehouse: WarehouseResource,
                            outcomes: list) -> None:
    """Offline, the custom facets answered by nearest value on the summary embedding (through the embedding
    cache, which summary_embeddings then reads) join each result's answers."""
    if not backend.heuristic or embedder is None:
        return
    results = [o for o in outcomes if not isinstance(o, TaskFailure)]

    def embed(texts: list[str]):
        return embed_with_cache(texts, embedder.get(), warehouse.get()).matrix

    for result, answers in zip(results, answer_nearest(llm.custom_facets, [r.request for r in results], embed)):
        result.custom.update(answers)


def summarise_day(llm: LLMResource, backend, warehouse: WarehouseResource, day,
                  shard: tuple[int, int] = (0, 1), report: Progress | None = None,
                  embedder: EmbedderResource | None = None) -> FacetPass:
    """Facets of the day's conversations (of shard i of n, for `shard` (i, n)), a page at a time; each conversation
    summarised or screened out advances `report`. `embedder`: for offline custom facets matched by nearest value."""
    page_size = 2**62 if backend.facets_whole_day else FACETS_PAGE_SIZE
    report = report or Progress("facets")
    ids = partition_conversation_ids(warehouse, day, shard)
    report.set_total(len(ids))
    tables, failures = [], []
    read = screened_out = 0
    for page, page_users in iter_partition_conversations(warehouse, day, page_size, ids=ids):
        read += len(page)
        keep = _screen(llm, backend, page)
        conversations = [c for c, k in zip(page, keep) if k]
        user_hashes = [u for u, k in zip(page_users, keep) if k]
        screened_out += len(page) - len(conversations)
        report.advance(len(page) - len(conversations))
        # Only the facet calls advance the count (a screener's calls show in the spend).
        with backend.reporting(report):
            outcomes = backend.extract_facets(conversations)
        _answer_nearest_offline(llm, backend, embedder, warehouse, outcomes)
        failures += [o for o in outcomes if isinstance(o, TaskFailure)]
        ok = [i for i, o in enumerate(outcomes) if not isinstance(o, TaskFailure)]
        tables.append(_facet_table(day, [conversations[i] for i in ok], [user_hashes[i] for i in ok],
                                   [outcomes[i] for i in ok], backend.name))
    table = pa.concat_tables(tables) if tables else _facet_table(day, [], [], [], backend.name)
    return FacetPass(table, failures, read, screened_out)


def facet_metadata(table: pa.Table, failure_reasons: list[str], screened_out: int, backend) -> dict:
    """The facets materialisation's metadata, from the rows written (one day, or the shards' rows)."""
    redactions = table.column("redactions").to_pylist()
    return {
        "dagster/row_count": table.num_rows,
        "llm_backend": backend.name,
        "heuristic": backend.heuristic,
        "method": table.column("method")[0].as_py() if table.num_rows else "",
        "screened_out": screened_out,
        "failed": len(failure_reasons),
        "failure_reasons": dict(sorted(Counter(failure_reasons).items())),
        "inputs_truncated": sum(table.column("input_truncated").to_pylist()),
        "pii_redactions": sum(redactions),
        "summaries_with_redactions": sum(1 for r in redactions if r),
        "languages": dict(Counter(table.column("language").to_pylist()).most_common(10)),
        "custom_facets_answered": sum(1 for a in table.column("custom_facets").to_pylist() if a),
        "reused": False,
    }


def facets_fingerprint(con, llm: LLMResource, day, embedder: EmbedderResource | None = None):
    # The embedder counts only where a custom facet is answered with it (offline nearest-value matching).
    uses_embedder = embedder is not None and any(f.offline_method == "nearest" for f in llm.custom_facets)
    return input_fingerprint(con, "facets", day, {"raw_conversations": RAW_COLUMNS_READ},
                             [llm, embedder] if uses_embedder else [llm])


@daily_asset(
    group_name="facets",
    deps=["raw_conversations"],
    pool="llm",
)
def facets(context: dg.AssetExecutionContext, llm: LLMResource, warehouse: WarehouseResource,
           progress: ProgressResource, embedder: EmbedderResource) -> dg.MaterializeResult:
    """Request summary, task, language, concern and the analyst's custom facets per conversation (one backend call
    covers all facets),
    plus turn counts and message lengths computed without an LLM. A screener (regex or yes/no question)
    can restrict the day to a targeted subset; items the LLM could not answer are recorded in llm_failures.
    The day is read and summarised a page at a time; with a deterministic backend an unchanged day is reused.
    With CLIO_DAY_SHARDS >= 2 the day is summarised in shards instead (assets/shards.py)."""
    day = partition_date(context)
    store = llm_store(context, warehouse)
    backend = llm.get(store, stage="facets")
    if backend.deterministic:
        # LLM results are reused through the LLM cache instead, so that failed items are retried.
        with warehouse.get().connect("private") as con:
            fingerprint = facets_fingerprint(con, llm, day, embedder)
            stored = stored_result(con, fingerprint)
        if stored is not None:
            return stored

    with progress.start(context, "facets", unit="conversations", live=backend.progress_counters) as report:
        summarised = summarise_day(llm, backend, warehouse, day, report=report, embedder=embedder)
    store.replace_failures("extract_facets", [(f.item_id, f.reason, f.detail) for f in summarised.failures])
    with warehouse.get().connect("private") as con, transaction(con):
        replace_partition(con, "facets", day, summarised.table)
        if backend.deterministic:
            record_outputs(con, fingerprint, ["facets"])
    return dg.MaterializeResult(metadata={
        **facet_metadata(summarised.table, [f.reason for f in summarised.failures], summarised.screened_out,
                         backend),
        **backend.usage_metadata(),
    })
